"""Property: for any single landing file a careless or hostile sender can make, the
nightly run exits cleanly, the file is on record, and every figure built from the other
files is what it was without it.

The file is drawn from a generator of hostile files: names of every family (and none),
hidden, long or non-ASCII; bytes in other encodings or none at all; headers shuffled,
short, wide or repeated; values that are huge, negative, non-ASCII digits, line and
paragraph separators, quotes, formulas, empty. Its rows name district 01030 (which has
no other data) or codes that are no district; the other districts' figures must not move."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landing_files import CONNECTIVITY, DEVICES, DIRECTORY_HEADER, ENROLLMENT, PL, STAFFING, Landing
from test_containment import write_good_night

pytestmark = pytest.mark.slow

HEADERS = {
    "districts": DIRECTORY_HEADER,
    "enrollment": ENROLLMENT,
    "staffing": STAFFING,
    "devices": DEVICES,
    "connectivity": CONNECTIVITY,
    "pl_participation": PL,
}
METRICS = (
    "student_count, student_devices, students_per_device, teacher_device_coverage_pct, aging_device_share_pct, "
    "take_home_share_pct, kbps_per_student, cost_per_mbps_usd, home_internet_gap_pct, hotspot_coverage_pct, "
    "leader_pl_rate_pct, teacher_pl_rate_pct, tech_staff_pl_rate_pct, data_complete"
)

WEIRD_TEXT = [
    "",
    " ",
    "\u0085",
    "\u2028",
    "\u2029",
    "\r",
    "\n",
    '"',
    '""',
    "=cmd|' /C calc'!A0",
    "-0",
    "+1",
    "1e9",
    "\uff11\uff12",
    "\u0661\u0662",
    "\u00a0",
    "\ufeff",
    "\x00",
    "NaN",
    "inf",
    "9223372036854775808",
    "99999999999",
    "5000000000000000000",
    "-1",
    "0.5",
    "2024-25",
    "2030-31",
    "\uff12\uff10\uff12\uff14-\uff12\uff15",
    "01030",
    "1030",
    "\uff10\uff11\uff10\uff13\uff10",
    "99999",
    "x" * 5000,
    "2024-13-45",
    "2025-02-30",
]
GOOD_VALUES = {
    "school_year": "2024-25",
    "district_code": "01030",
    "building_code": "00301",
    "building_name": "Cedar",
    "student_count": "150",
    "teacher_count": "10",
    "building_leader_count": "1",
    "district_leader_count": "1",
    "tech_staff_count": "1",
    "device_type": "laptop",
    "user_group": "student",
    "device_count": "100",
    "devices_over_5_years": "10",
    "take_home_count": "5",
    "internet_bandwidth_mbps": "200",
    "wan_bandwidth_mbps": "",
    "wifi_classrooms_covered_pct": "90",
    "monthly_internet_cost_usd": "300",
    "erate_discount_pct": "",
    "students_without_home_internet": "5",
    "hotspots_loaned": "2",
    "educator_id": "E1",
    "role": "teacher",
    "activity_id": "A1",
    "activity_title": "Intro",
    "activity_kind": "course",
    "provider": "REMC",
    "format": "online",
    "framework": "TPACK",
    "hours": "2",
    "completed_on": "2024-09-01",
    "district_name": "Cedar",
    "district_type": "LEA",
    "isd_code": "01000",
    "county": "Alcona",
    "locale": "rural",
    "data_contact_email": "data@cedar.example.org",
}


def _csv_field(value: str) -> str:
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


@st.composite
def hostile_files(draw):
    family = draw(st.sampled_from(sorted(HEADERS)))
    columns = HEADERS[family].split(",")
    kind = draw(st.sampled_from(["rows", "rows", "rows", "bytes", "header"]))
    name = draw(
        st.sampled_from(
            [
                f"{family}_2024-25_01030.csv",
                f"{family}_2024-25.csv",
                f"{family}_2024-25_{'y' * 200}.csv",
                f".{family}_2024-25.csv",
                f"{family}_2030-31_01030.csv",
                f"{family}_1999-00.csv",
                "readme.txt",
                f"{family}_2024\uff0d25.csv",
                f"{family}_2024-25_\u2028.csv",
                f"{family.upper()}_2024-25.CSV",
            ]
        )
    )
    if kind == "bytes":
        data = draw(st.binary(max_size=300))
    else:
        header = list(columns)
        if kind == "header":
            header = draw(st.permutations(header))
            header = header + draw(st.lists(st.sampled_from(["extra", "", header[0], "x" * 300]), max_size=3))
            header = header[: draw(st.integers(min_value=1, max_value=len(header)))]
        rows = []
        for _ in range(draw(st.integers(min_value=0, max_value=6))):
            row = [GOOD_VALUES.get(c, "1") for c in header]
            for _ in range(draw(st.integers(min_value=0, max_value=3))):
                if row:
                    i = draw(st.integers(min_value=0, max_value=len(row) - 1))
                    row[i] = draw(st.sampled_from(WEIRD_TEXT) | st.text(max_size=12))
            rows.append(",".join(_csv_field(v) for v in row))
        text = "\n".join([",".join(header), *rows]) + draw(st.sampled_from(["\n", "", "\r\n", ",,,,\n"]))
        encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "cp1252"]))
        data = text.encode(encoding, errors="replace")
    return name, data


def _district_figures(warehouse: Path) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            f"select district_code, school_year, {METRICS} from marts.district_year_metrics "
            "where district_code in ('01010', '01020', '01700') order by all"
        ).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def baseline(prefect_server, tmp_path_factory):
    from flows.nightly import nightly

    root = tmp_path_factory.mktemp("baseline")
    landing = Landing(root / "landing")
    write_good_night(landing)
    warehouse = root / "warehouse" / "roadmap.duckdb"
    nightly(landing_dir=str(landing.path), warehouse=str(warehouse), with_report=False)
    return landing.path, warehouse, _district_figures(warehouse)


@settings(
    max_examples=24 if os.environ.get("ROADMAP_TEST_EXTENDED") == "1" else 8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(hostile=hostile_files())
def test_any_single_landing_file_leaves_the_night_running_and_the_other_figures_as_they_were(
    baseline, tmp_path_factory, hostile
):
    from flows.nightly import nightly

    good_landing, good_warehouse, figures = baseline
    root = tmp_path_factory.mktemp("hostile")
    landing = root / "landing"
    shutil.copytree(good_landing, landing)
    warehouse = root / "warehouse" / "roadmap.duckdb"
    warehouse.parent.mkdir(parents=True)
    shutil.copyfile(good_warehouse, warehouse)
    shutil.copytree(good_warehouse.parent / "archive", warehouse.parent / "archive")
    name, data = hostile
    try:
        (landing / name).write_bytes(data)
    except OSError:  # a name this file system refuses cannot be sent either
        return
    summary = nightly(landing_dir=str(landing), warehouse=str(warehouse), with_report=False)
    assert summary.status == "succeeded"
    assert _district_figures(warehouse) == figures
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        # by its bytes: the hostile file may replace a good file of the same name (a district
        # sending its file again), whose record stays
        on_record = con.execute(
            "select count(*) from audit.files where file_id = ? and file_name = ?",
            [hashlib.sha256(data).hexdigest(), name],
        ).fetchall()[0][0]
    finally:
        con.close()
    assert on_record == 1, f"{name!r} is not on record"
