"""No file can stop the night (docs/when_things_go_wrong.md): whatever one landing file
holds, the run goes on, publishes everything else with the figures it would have had
without that file, and the file is on record and in the state's alert.

Each poison file below once made every nightly run fail (or silently did harm); here
they all arrive in one night beside good files, and the marts must equal those of the
same night without them."""

from __future__ import annotations

import email
import email.policy
import os
from pathlib import Path

import duckdb
import pytest

from landing_files import CONNECTIVITY, DEVICES, DIRECTORY_HEADER, DIRECTORY_ROWS, ENROLLMENT, STAFFING, Landing

pytestmark = pytest.mark.slow

DISTRICT_METRICS = (
    "student_count, student_devices, teacher_device_coverage_pct, kbps_per_student, cost_per_mbps_usd, "
    "home_internet_gap_pct, hotspot_coverage_pct, data_complete"
)


def write_good_night(landing: Landing) -> None:
    landing.csv(
        "districts_2024-25.csv",
        DIRECTORY_HEADER,
        DIRECTORY_ROWS
        + [
            "01030,Cedar\u0085Falls\u2028Schools,LEA,01000,Alcona,rural,data@cedar.example.org",
        ],
    )
    landing.csv(
        "enrollment_2024-25.csv",
        ENROLLMENT,
        [
            "2024-25,01010,00101,Alcona Elementary,300",
            "2024-25,01020,00201,Bay Harbor K-12,400",
            "2024-25,01030,00301,Cedar Falls,150",
            "2024-25,01700,00701,Lighthouse Academy,120",
        ],
    )
    landing.csv(
        "staffing_2024-25.csv",
        STAFFING,
        [
            "2024-25,01010,30,3,2,2",
            "2024-25,01020,25,2,1,1",
            "2024-25,01700,8,1,1,1",
        ],
    )
    landing.csv(
        "devices_2024-25.csv",
        DEVICES,
        [
            "2024-25,01010,00101,chromebook,student,280,20,100",
            "2024-25,01010,00101,laptop,teacher,30,10,0",
            "2024-25,01020,00201,chromebook,student,400,0,0",
        ],
    )
    landing.csv(
        "connectivity_2024-25.csv",
        CONNECTIVITY,
        [
            "2024-25,01010,550,,95,1100,60,50,15",
            "2024-25,01020,300,1000,100,300,,0,0",
        ],
    )


# name -> bytes: each once stopped every night, or did harm without a word
POISON: dict[str, bytes] = {
    # a Unicode line break in a name reaches an e-mail subject (district 01030 has an
    # issue, so it is mailed); full-width and Arabic-Indic digits pass Python's \d
    "staffing_2024-25_01030.csv": (STAFFING + "\n2024-25,01030,\uff11\uff12,1,1,1\n").encode(),
    "connectivity_2024-25_01030.csv": (CONNECTIVITY + "\n2024-25,01030,100,,90,\u0661\u0662\u0663,,5,1\n").encode(),
    "districts_\uff12\uff10\uff12\uff15-\uff12\uff16.csv": (
        DIRECTORY_HEADER + "\n" + "\n".join(DIRECTORY_ROWS) + "\n"
    ).encode(),
    "enrollment_2024-25_fullwidth.csv": (
        ENROLLMENT + "\n2024-25,\uff10\uff11\uff10\uff11\uff10,00101,X,5\n"
        "2024-25,\uff10\uff11\uff10\uff12\uff10,00201,Y,6\n"
    ).encode(),
    # counts beyond what SQL types hold, alone or summed
    "devices_2024-25_01700.csv": (DEVICES + "\n2024-25,01700,00701,tablet,student,9223372036854775808,0,0\n").encode(),
    "enrollment_2024-25_01700.csv": (ENROLLMENT + "\n2024-25,01700,00701,Lighthouse,99999999999\n").encode(),
    "staffing_2024-25_01700.csv": (STAFFING + "\n2024-25,01700,5000000000000000000,1,1,1\n").encode(),
    # a district sends a two-row directory: it would cut the state directory to two
    # districts and redirect 01010's alerts
    "districts_2024-25_01010.csv": (
        DIRECTORY_HEADER + "\n01000,Alpha ISD,ISD,01000,Alcona,rural,isd@alpha.example.org\n"
        "01010,Alcona Community Schools,LEA,01000,Alcona,rural,attacker@evil.example.com\n"
    ).encode(),
    # a year that has not begun
    "enrollment_2030-31_01010.csv": (ENROLLMENT + "\n2030-31,01010,00101,Alcona Elementary,9999\n").encode(),
    # a hidden file, and a header of 10,000 columns
    ".enrollment_2024-25.csv": (ENROLLMENT + "\n2024-25,01010,00101,Hidden,1\n").encode(),
    "staffing_2024-25_wide.csv": (
        ",".join(f"c{i}" for i in range(10_000)) + "\n" + ",".join("1" * 10_000) + "\n"
    ).encode(),
}


# good files that once stopped the night: a name as long as the file system allows
# (the archive's temporary name was longer still)
LONG_NAME = "devices_2024-25_" + "x" * 235 + ".csv"
LONG_NAME_FILE = (DEVICES + "\n2024-25,01030,00301,laptop,teacher,20,5,0\n").encode()


def _marts(warehouse: Path) -> dict:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            "districts": con.execute(
                f"select district_code, school_year, {DISTRICT_METRICS} from marts.district_year_metrics "
                "where district_code <> '01030' order by all"
            ).fetchall(),
            "years": con.execute("select distinct school_year from marts.district_year_metrics order by 1").fetchall(),
            "directory": con.execute(
                "select district_code, district_name, data_contact_email from marts.dim_district_history "
                "where is_current order by 1"
            ).fetchall(),
        }
    finally:
        con.close()


def test_poison_files_never_stop_the_night_and_change_no_other_figure(prefect_server, tmp_path, monkeypatch):
    from flows.nightly import nightly

    clean = Landing(tmp_path / "clean")
    write_good_night(clean)
    nightly(landing_dir=str(clean.path), warehouse=str(tmp_path / "clean" / "wh.duckdb"), with_report=False)

    landing = Landing(tmp_path / "landing")
    write_good_night(landing)
    for name, data in POISON.items():
        landing.write(name, data)
    landing.write(LONG_NAME, LONG_NAME_FILE)
    warehouse = tmp_path / "warehouse" / "roadmap.duckdb"
    monkeypatch.setenv("ROADMAP_ALERT_TO", "state@example.org")
    summary = nightly(landing_dir=str(landing.path), warehouse=str(warehouse), with_report=False)
    assert summary.status == "succeeded"

    assert _marts(warehouse) == _marts(tmp_path / "clean" / "wh.duckdb")

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        on_record = dict(con.execute("select file_name, status from audit.files").fetchall())
        rules = {
            name: sorted(
                {r[0] for r in con.execute("select rule from audit.issues where file_name = ?", [name]).fetchall()}
            )
            for name in POISON
        }
    finally:
        con.close()
    for name in POISON:
        assert name in on_record, f"{name!r} is not on record"
        assert on_record[name] != "loaded", name
        assert rules[name], f"no issue names {name!r}"
    assert on_record[LONG_NAME] == "loaded"
    assert on_record["districts_2024-25_01010.csv"] == "waiting"
    assert "directory_change_unconfirmed" in rules["districts_2024-25_01010.csv"]
    assert on_record["enrollment_2030-31_01010.csv"] == "waiting"
    assert rules[".enrollment_2024-25.csv"] == ["hidden_file"]
    assert rules["staffing_2024-25_wide.csv"] == ["too_many_columns"]
    assert "out_of_range" in rules["devices_2024-25_01700.csv"]

    # the state's alert names every poison file; the district with a line break in its
    # name got its own message, with a one-line subject
    pending = sorted((warehouse.parent / "outbox" / "pending").rglob("*.eml"))
    messages = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in pending]
    state = next(m for m in messages if m["To"] == "state@example.org")
    state_text = "\n".join(
        part.get_payload(decode=True).decode("utf-8", "replace")
        for part in state.walk()
        if part.get_content_maintype() == "text" or part.get_filename()
    )
    for name in POISON:
        assert name in state_text, f"the state's alert does not name {name!r}"
    cedar = next(m for m in messages if m["To"] == "data@cedar.example.org")
    assert "Cedar Falls Schools" in cedar["Subject"] and len(cedar["Subject"].splitlines()) == 1


def test_a_file_still_being_written_waits_for_the_next_run(tmp_path, monkeypatch):
    from flows.settings import Settings
    from landing_files import run_ingestion

    monkeypatch.setattr(Settings, "settle_seconds", property(lambda self: 60.0))
    landing = Landing(tmp_path / "landing")
    landing.directory()
    upload = landing.csv("enrollment_2024-25.csv", ENROLLMENT, ["2024-25,01010,00101,Alcona"])  # truncated so far
    os.utime(upload)  # modified just now
    con, loaded, note = run_ingestion(landing.path, tmp_path / "wh.duckdb")
    assert [f.file_name for f in loaded] == ["districts_2024-25.csv"]
    assert "still being written" in note and "enrollment_2024-25.csv" in note
    assert con.execute("select count(*) from audit.files where file_name = 'enrollment_2024-25.csv'").fetchall() == [
        (0,)
    ]
    con.close()
    landing.csv("enrollment_2024-25.csv", ENROLLMENT, ["2024-25,01010,00101,Alcona Elementary,300"])  # finished, older
    con, loaded, _ = run_ingestion(landing.path, tmp_path / "wh.duckdb", run_id="run-2")
    assert [(f.file_name, f.status) for f in loaded] == [("enrollment_2024-25.csv", "loaded")]


def test_negative_zero_is_stored_as_zero(tmp_path):
    from landing_files import run_ingestion

    landing = Landing(tmp_path / "landing")
    landing.directory()
    landing.csv("connectivity_2024-25.csv", CONNECTIVITY, ["2024-25,01010,550,-0,95,-0,60,50,15"])
    con, _, _ = run_ingestion(landing.path, tmp_path / "wh.duckdb")
    (cost, wan) = con.execute("select monthly_internet_cost_usd, wan_bandwidth_mbps from raw.connectivity").fetchall()[
        0
    ]
    assert (str(cost), str(wan)) == ("0.0", "0.0")


# ----------------------------------------------------------- files over several nights


ALL_MARTS = (
    "district_year_metrics",
    "state_year_metrics",
    "isd_year_metrics",
    "metric_values",
    "objective_progress",
    "objectives",
    "dim_district_history",
)


def _all_marts(warehouse: Path) -> dict[str, list]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {t: con.execute(f"select * from marts.{t} order by all").fetchall() for t in ALL_MARTS}
    finally:
        con.close()


def _split_over_nights(files: list[Path], nights: int, seed: int) -> list[list[Path]]:
    """Files to nights at random, in any order of families and years; only a district's
    later submission of one family and year never comes before its earlier one (it would
    then be the earlier one: received order is the order files arrive)."""
    import random

    from flows.ingest.families import parse_landing_name

    rng = random.Random(seed)
    by_group: dict[tuple, list[Path]] = {}
    for f in sorted(files, key=lambda p: (p.stat().st_mtime, p.name)):
        name = parse_landing_name(f.name)
        by_group.setdefault((name.family, name.school_year) if name else (f.name,), []).append(f)
    out: list[list[Path]] = [[] for _ in range(nights)]
    for group in by_group.values():
        for f, night in zip(group, sorted(rng.randrange(nights) for _ in group), strict=True):
            out[night].append(f)
    return out


@pytest.mark.parametrize("nights,seed", [(3, 1), pytest.param(4, 7, marks=pytest.mark.extended)])
def test_files_split_over_nights_give_the_marts_of_one_night(prefect_server, tmp_path, nights, seed):
    from flows.nightly import nightly
    from roadmap_demo_data.generate import generate_landing

    source = tmp_path / "all"
    generate_landing(source, districts=24, years=2, seed=seed, defects=0.08)
    nightly(landing_dir=str(source), warehouse=str(tmp_path / "one" / "wh.duckdb"), with_report=False)

    landing = tmp_path / "landing"
    landing.mkdir()
    warehouse = tmp_path / "split" / "wh.duckdb"
    for files in _split_over_nights(list(source.iterdir()), nights, seed):
        for f in files:
            target = landing / f.name
            target.write_bytes(f.read_bytes())
            os.utime(target, (f.stat().st_mtime, f.stat().st_mtime))
        nightly(landing_dir=str(landing), warehouse=str(warehouse), with_report=False)

    one, split = _all_marts(tmp_path / "one" / "wh.duckdb"), _all_marts(warehouse)
    for table in ALL_MARTS:
        assert split[table] == one[table], f"marts.{table} differs when the files come over {nights} nights"


# ------------------------------------------------------- a build that fails on data


def test_a_build_that_fails_on_new_data_holds_back_the_culprit_and_publishes_the_rest(
    prefect_server, tmp_path, monkeypatch
):
    """Data that passes every check of its file but makes the build fail (here: a data
    test added to a copy of the dbt project fails on a student count of 7777): the run
    finds the submission, holds it back with the build's message, and publishes the rest."""
    import shutil

    import flows.warehouse.transform
    from flows.nightly import nightly

    project = tmp_path / "dbt_project"
    shutil.copytree(
        flows.warehouse.transform.DEFAULT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs")
    )
    (project / "tests" / "assert_no_poison_count.sql").write_text(
        "select district_code, school_year from {{ ref('district_year_metrics') }} where student_count = 7777\n"
    )
    monkeypatch.setattr(flows.warehouse.transform, "DEFAULT_PROJECT_DIR", project)

    landing = Landing(tmp_path / "landing")
    write_good_night(landing)
    warehouse = tmp_path / "warehouse" / "roadmap.duckdb"
    nightly(landing_dir=str(landing.path), warehouse=str(warehouse), with_report=False)
    before = _marts(warehouse)

    landing.csv("enrollment_2024-25_01020.csv", ENROLLMENT, ["2024-25,01020,00201,Bay Harbor K-12,7777"])
    landing.csv("enrollment_2024-25_01010.csv", ENROLLMENT, ["2024-25,01010,00101,Alcona Elementary,310"])
    landing.csv("staffing_2024-25_01020.csv", STAFFING, ["2024-25,01020,26,2,1,1"])
    summary = nightly(landing_dir=str(landing.path), warehouse=str(warehouse), with_report=False)
    assert summary.status == "succeeded" and "transform_failed" in summary.message

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        student_counts = dict(
            con.execute(
                "select district_code, student_count from marts.district_year_metrics where school_year = '2024-25'"
            ).fetchall()
        )
        teachers = dict(
            con.execute(
                "select district_code, teacher_count from marts.district_year_metrics where school_year = '2024-25'"
            ).fetchall()
        )
        (issue,) = con.execute(
            "select file_name, district_code, message from audit.issues where rule = 'transform_failed'"
        ).fetchall()
        files = dict(con.execute("select file_name, status from audit.files").fetchall())
    finally:
        con.close()
    assert student_counts["01020"] == 400  # its last good enrollment stays published
    assert student_counts["01010"] == 310 and teachers["01020"] == 26  # the rest of the night is published
    assert issue[:2] == ("enrollment_2024-25_01020.csv", "01020") and "assert_no_poison_count" in issue[2]
    assert files["enrollment_2024-25_01020.csv"] == "rejected"
    assert before["districts"] != _marts(warehouse)["districts"]
