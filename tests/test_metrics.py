"""The metrics of DATA_SPEC section 3 and the analyst tables of section 5, checked
against figures computed by hand from a small warehouse: a handful of districts,
school years 2023-24 and 2024-25 (plus one 2021-22 enrollment file), built once for
the module with run_dbt_build.

The districts (directory 2023-24, then 2024-25):
  10001 Alpha      LEA, ISD 50001 both years; all five families both years
  10002 Beta       LEA, ISD 50001 in 2023-24, moved to ISD 50002 in 2024-25
  10003 Gamma      PSA; no data in 2023-24, connectivity only in 2024-25
  10004 Delta      LEA, in the 2023-24 directory only (its 2024-25 file is orphaned)
  10005 Epsilon    LEA, new in the 2024-25 directory; staffing and PL only
  50001, 50002     the two ISDs; no data
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from dbt_fixtures import (
    CONFIG_DIR,
    connectivity,
    create_warehouse,
    devices,
    district,
    enrollment,
    insert_rows,
    one,
    pl,
    query,
    staffing,
)
from flows.warehouse.transform import DbtBuildSummary, run_dbt_build

# the fast tier (make test-fast) runs the whole module: one dbt build of a tiny warehouse
pytestmark = pytest.mark.fast

Y1, Y2 = "2023-24", "2024-25"
approx = pytest.approx


def _directory(con: duckdb.DuckDBPyConnection) -> None:
    first = [
        district("10001", "Alpha Public Schools", "LEA", "50001", "city", email="data@alpha.example"),
        district("10002", "Beta Community Schools", "LEA", "50001", "rural"),
        district("10003", "Gamma Academy", "PSA", "50001", "suburb"),
        district("10004", "Delta Schools", "LEA", "50002", "town"),
        district("50001", "Washtenaw ISD", "ISD", "50001"),
        district("50002", "Kent ISD", "ISD", "50002"),
    ]
    insert_rows(con, "districts", first, received_seq=1, effective_school_year=Y1)
    # two files claim 2024-25: the draft (received first) loses to the final one
    draft = [district("10002", "Beta DRAFT", "LEA", "50001", "rural")]
    insert_rows(con, "districts", draft, received_seq=2, effective_school_year=Y2)
    second = [
        district("10001", "Alpha Public Schools", "LEA", "50001", "city", email="data@alpha.example"),
        district("10002", "Beta Community Schools", "LEA", "50002", "rural"),  # moved ISD
        district("10003", "Gamma Academy", "PSA", "50001", "suburb"),
        district("50001", "Washtenaw ISD", "ISD", "50001"),
        district("50002", "Kent ISD", "ISD", "50002"),
        district("10005", "Epsilon Schools", "LEA", "50002", "town"),  # new; 10004 is gone
    ]
    insert_rows(con, "districts", second, received_seq=3, effective_school_year=Y2)


def _year_2023_24(con: duckdb.DuckDBPyConnection) -> None:
    # 10001: everything
    insert_rows(
        con,
        "enrollment",
        [enrollment(Y1, "10001", "00101", 300), enrollment(Y1, "10001", "00102", 200)],
        received_seq=10,
    )
    insert_rows(
        con,
        "staffing",
        [staffing(Y1, "10001", teachers=40, building_leaders=4, district_leaders=2, tech_staff=5)],
        received_seq=11,
    )
    insert_rows(
        con,
        "devices",
        [
            devices(Y1, "10001", "00101", "chromebook", "student", 400, over_5_years=100, take_home=300),
            devices(Y1, "10001", "00102", "tablet", "student", 100),
            devices(Y1, "10001", "00102", "laptop", "teacher", 30, over_5_years=10, take_home=20),
            devices(Y1, "10001", "00101", "desktop", "shared", 20, over_5_years=20),
            devices(Y1, "10001", "00101", "hotspot", "student", 50, take_home=50),  # not a computing device
            devices(Y1, "10001", "00101", "interactive_display", "teacher", 10, over_5_years=5),  # nor this
        ],
        received_seq=12,
    )
    insert_rows(
        con,
        "connectivity",
        [connectivity(Y1, "10001", mbps=400, wifi_pct=90, monthly_cost=1200, without_home_internet=50, hotspots=40)],
        received_seq=13,
    )
    insert_rows(
        con,
        "pl_participation",
        [
            pl(Y1, "10001", "T1", "teacher", "A1", fmt="online", framework="TPACK", hours=5),
            pl(Y1, "10001", "T1", "teacher", "A2", fmt="online", framework="OER", hours=3),  # same teacher again
            pl(Y1, "10001", "T2", "teacher", "A3", kind="workshop", fmt="face_to_face", framework="SAMR", hours=6),
            pl(Y1, "10001", "L1", "building_leader", "A4", kind="pln_meeting", fmt="face_to_face", hours=2),
            pl(Y1, "10001", "L2", "district_leader", "A5", fmt="blended", framework="CBE", hours=4),
            pl(Y1, "10001", "S1", "tech_staff", "A6", kind="skill_assessment", fmt="online", hours=1),
        ],
        received_seq=14,
    )
    # 10002: no devices, no PL
    insert_rows(con, "enrollment", [enrollment(Y1, "10002", "00201", 1000)], received_seq=15)
    insert_rows(
        con,
        "staffing",
        [staffing(Y1, "10002", teachers=50, building_leaders=3, district_leaders=1, tech_staff=2)],
        received_seq=16,
    )
    insert_rows(
        con,
        "connectivity",
        [
            connectivity(
                Y1, "10002", mbps=2000, wifi_pct=100, monthly_cost=2000, without_home_internet=100, hotspots=100
            )
        ],
        received_seq=17,
    )
    # 10004: enrollment only
    insert_rows(con, "enrollment", [enrollment(Y1, "10004", "00401", 100)], received_seq=18)


def _year_2024_25(con: duckdb.DuckDBPyConnection) -> None:
    # 10001: everything; its devices file is resubmitted with fewer rows
    insert_rows(
        con,
        "enrollment",
        [enrollment(Y2, "10001", "00101", 330), enrollment(Y2, "10001", "00102", 220)],
        received_seq=30,
    )
    insert_rows(
        con,
        "staffing",
        [staffing(Y2, "10001", teachers=44, building_leaders=4, district_leaders=2, tech_staff=5)],
        received_seq=31,
    )
    insert_rows(
        con,
        "devices",
        [
            devices(Y2, "10001", "00101", "chromebook", "student", 400),
            devices(Y2, "10001", "00102", "tablet", "student", 100),
            devices(Y2, "10001", "00102", "laptop", "teacher", 40),
        ],
        received_seq=32,
    )
    insert_rows(
        con,
        "connectivity",
        [connectivity(Y2, "10001", mbps=660, wifi_pct=95, monthly_cost=1320, without_home_internet=55, hotspots=55)],
        received_seq=33,
    )
    insert_rows(
        con,
        "pl_participation",
        [
            pl(Y2, "10001", "T1", "teacher", "B1", fmt="online", framework="TPACK", hours=2),
            pl(Y2, "10001", "T3", "teacher", "B2", fmt="online", hours=2),
            pl(Y2, "10001", "T4", "teacher", "B3", fmt="face_to_face", hours=1),
            pl(Y2, "10001", "L1", "building_leader", "B4", kind="pln_meeting", fmt="face_to_face", hours=1),
        ],
        received_seq=34,
    )
    # 10002: every family, but zero denominators: no staff, only hotspots, nobody without home internet
    insert_rows(con, "enrollment", [enrollment(Y2, "10002", "00201", 1000)], received_seq=35)
    insert_rows(
        con,
        "staffing",
        [staffing(Y2, "10002", teachers=0, building_leaders=0, district_leaders=0, tech_staff=0)],
        received_seq=36,
    )
    insert_rows(
        con, "devices", [devices(Y2, "10002", "00201", "hotspot", "student", 30, take_home=30)], received_seq=37
    )
    insert_rows(
        con,
        "connectivity",
        [connectivity(Y2, "10002", mbps=500, wifi_pct=80, monthly_cost=1000, without_home_internet=0, hotspots=0)],
        received_seq=38,
    )
    insert_rows(con, "pl_participation", [pl(Y2, "10002", "E1", "support_staff", "C1", hours=1)], received_seq=44)
    # 10003: connectivity only
    insert_rows(
        con,
        "connectivity",
        [connectivity(Y2, "10003", mbps=100, wifi_pct=50, monthly_cost=500, without_home_internet=10, hotspots=5)],
        received_seq=39,
    )
    # 10001 resubmits devices: one row replaces the three rows of file 32
    insert_rows(
        con,
        "devices",
        [
            devices(Y2, "10001", "00101", "chromebook", "student", 600, over_5_years=60, take_home=600),
        ],
        received_seq=40,
    )
    # 10005: staffing and PL; more leaders in PL than on staff (a warning, not an error)
    insert_rows(
        con,
        "staffing",
        [staffing(Y2, "10005", teachers=10, building_leaders=1, district_leaders=1, tech_staff=1)],
        received_seq=41,
    )
    insert_rows(
        con,
        "pl_participation",
        [
            pl(Y2, "10005", "L1", "building_leader", "D1", kind="pln_meeting", fmt="face_to_face", hours=1),
            pl(Y2, "10005", "L2", "building_leader", "D2", kind="pln_meeting", fmt="face_to_face", hours=1),
            pl(Y2, "10005", "L3", "district_leader", "D3", fmt="online", hours=1),
        ],
        received_seq=42,
    )
    # 10004 is not in the 2024-25 directory: its file reaches raw but no mart
    insert_rows(con, "enrollment", [enrollment(Y2, "10004", "00401", 90)], received_seq=43)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, DbtBuildSummary]:
    db_path = tmp_path_factory.mktemp("metrics") / "warehouse.duckdb"
    create_warehouse(db_path)
    con = duckdb.connect(str(db_path))
    try:
        _directory(con)
        # an older year: 2022-23 is missing, so 2023-24 has no previous year
        insert_rows(con, "enrollment", [enrollment("2021-22", "10001", "00101", 450)], received_seq=9)
        _year_2023_24(con)
        _year_2024_25(con)
    finally:
        con.close()
    summary = run_dbt_build(db_path)
    return db_path, summary


@pytest.fixture(scope="module")
def db(built) -> Path:
    return built[0]


def district_row(db: Path, district_code: str, school_year: str) -> dict:
    return one(
        db,
        "select * from marts.district_year_metrics where district_code = ? and school_year = ?",
        [district_code, school_year],
    )


def state_row(db: Path, school_year: str) -> dict:
    return one(db, "select * from marts.state_year_metrics where school_year = ?", [school_year])


def metric_value(db: Path, scope: str, district_code: str | None, metric: str, school_year: str) -> dict:
    return one(
        db,
        "select * from marts.metric_values where scope = ? and district_code is not distinct from ?"
        " and metric = ? and school_year = ?",
        [scope, district_code, metric, school_year],
    )


# ---- district metrics -------------------------------------------------------------------


def test_device_metrics_count_computing_devices_only(db):
    row = district_row(db, "10001", Y1)
    # student computing devices: chromebook 400 + tablet 100 (the 50 hotspots do not count)
    assert row["student_devices"] == 500
    assert row["students_per_device"] == approx(500 / 500)  # 300 + 200 students
    # teacher computing devices: laptop 30 (not the interactive displays) / 40 teachers
    assert row["teacher_device_coverage_pct"] == approx(100 * 30 / 40)
    # over five years, computing devices of every user group: (100 + 0 + 10 + 20) / (400 + 100 + 30 + 20)
    assert row["aging_device_share_pct"] == approx(100 * 130 / 550)
    # student computing devices going home: (300 + 0) / 500
    assert row["take_home_share_pct"] == approx(100 * 300 / 500)


def test_connectivity_metrics(db):
    row = district_row(db, "10001", Y1)
    assert row["kbps_per_student"] == approx(400 * 1000 / 500)  # 800 kbps
    assert row["meets_bandwidth_target"] is False  # 800 < 1000
    assert row["wifi_classrooms_covered_pct"] == approx(90)
    assert row["cost_per_mbps_usd"] == approx(1200 / 400)
    assert row["home_internet_gap_pct"] == approx(100 * 50 / 500)
    assert row["hotspot_coverage_pct"] == approx(100 * 40 / 50)
    beta = district_row(db, "10002", Y1)
    assert beta["kbps_per_student"] == approx(2000 * 1000 / 1000)
    assert beta["meets_bandwidth_target"] is True  # 2000 >= 1000


def test_pl_rates_count_distinct_educators_by_key(db):
    row = district_row(db, "10001", Y1)
    # teachers T1 (two records) and T2 = 2 distinct, of 40
    assert row["teachers_in_pl"] == 2
    assert row["teacher_pl_rate_pct"] == approx(100 * 2 / 40)
    # leaders L1 (building) and L2 (district) = 2, of 4 + 2
    assert row["leader_count"] == 6
    assert row["leaders_in_pl"] == 2
    assert row["leader_pl_rate_pct"] == approx(100 * 2 / 6)
    # tech staff S1 = 1, of 5
    assert row["tech_staff_pl_rate_pct"] == approx(100 * 1 / 5)


def test_pl_hours_and_participants(db):
    row = district_row(db, "10001", Y1)
    assert row["pl_hours_online"] == approx(5 + 3 + 1)  # T1 A1, T1 A2, S1 A6
    assert row["pl_hours_face_to_face"] == approx(6 + 2)  # T2 A3, L1 A4
    assert row["pl_hours_blended"] == approx(4)  # L2 A5
    assert row["tpack_samr_participants"] == 2  # T1 (TPACK), T2 (SAMR)
    assert row["pln_leader_participants"] == 1  # L1
    assert row["oer_participants"] == 1  # T1
    assert row["cbe_participants"] == 1  # L2
    assert row["skill_assessment_participants"] == 1  # S1
    # 2024-25: PL published without blended activities -> 0 hours, known
    assert district_row(db, "10001", Y2)["pl_hours_blended"] == 0


def test_data_complete_needs_all_five_families(db):
    assert district_row(db, "10001", Y1)["data_complete"] is True
    beta = district_row(db, "10002", Y1)  # no devices, no PL
    assert (
        beta["has_enrollment"],
        beta["has_staffing"],
        beta["has_devices"],
        beta["has_connectivity"],
        beta["has_pl_participation"],
    ) == (True, True, False, True, False)
    assert beta["data_complete"] is False
    assert district_row(db, "10002", Y2)["data_complete"] is True


def test_metrics_are_null_when_a_needed_family_is_missing(db):
    beta = district_row(db, "10002", Y1)  # enrollment, staffing, connectivity; no devices, no PL
    for metric in (
        "student_devices",
        "students_per_device",
        "teacher_device_coverage_pct",
        "aging_device_share_pct",
        "take_home_share_pct",
        "teacher_pl_rate_pct",
        "leader_pl_rate_pct",
        "pl_hours_online",
        "tpack_samr_participants",
        "skill_assessment_participants",
    ):
        assert beta[metric] is None, metric
    gamma = district_row(db, "10003", Y2)  # connectivity only: no enrollment -> no per-student figure
    assert gamma["student_count"] is None
    assert gamma["kbps_per_student"] is None
    assert gamma["meets_bandwidth_target"] is None
    assert gamma["home_internet_gap_pct"] is None
    assert gamma["cost_per_mbps_usd"] == approx(500 / 100)  # connectivity alone suffices
    assert gamma["hotspot_coverage_pct"] == approx(100 * 5 / 10)
    silent = district_row(db, "10003", Y1)  # nothing published: every metric unknown, never 0
    assert silent["student_count"] is None and silent["pl_hours_online"] is None
    assert silent["data_complete"] is False


def test_rates_are_null_when_the_denominator_is_zero(db):
    beta = district_row(db, "10002", Y2)
    # every family published, but 0 student computing devices (only hotspots)
    assert beta["student_devices"] == 0
    assert beta["students_per_device"] is None  # 1000 / 0
    assert beta["take_home_share_pct"] is None  # 0 / 0
    assert beta["aging_device_share_pct"] is None  # 0 / 0
    # no staff at all
    assert beta["teacher_device_coverage_pct"] is None
    assert beta["teacher_pl_rate_pct"] is None
    assert beta["leader_pl_rate_pct"] is None
    # nobody without home internet
    assert beta["hotspot_coverage_pct"] is None
    assert beta["home_internet_gap_pct"] == 0  # 0 / 1000 is a known 0


def test_latest_submission_replaces_district_rows(db):
    row = district_row(db, "10001", Y2)
    # file 40 (one chromebook row) replaces file 32 (three rows) whole: the 100
    # tablets and 40 teacher laptops of file 32 are gone
    assert row["student_devices"] == 600
    assert row["teacher_devices"] == 0
    assert row["computing_devices"] == 600
    assert row["students_per_device"] == approx(550 / 600)
    assert row["teacher_device_coverage_pct"] == 0  # 0 / 44: a known 0, not null
    assert row["aging_device_share_pct"] == approx(100 * 60 / 600)
    assert row["take_home_share_pct"] == approx(100 * 600 / 600)
    published = query(
        db,
        "select distinct received_seq from intermediate.int_devices__published"
        " where district_code = '10001' and school_year = ?",
        [Y2],
    )
    assert published == [{"received_seq": 40}]


def test_rates_are_not_capped_and_over_100_is_a_warning(built):
    db, summary = built
    epsilon = district_row(db, "10005", Y2)
    assert epsilon["leader_pl_rate_pct"] == approx(100 * 3 / 2)  # 3 leaders in PL, 1 + 1 on staff
    warning = next(n for n in summary.warnings if "leader_pl_rate_pct" in n.name)
    assert warning.failures == 1
    assert "Resolve" in warning.description
    assert not summary.failures


# ---- directory and history --------------------------------------------------------------


def test_district_that_moved_isd_shows_the_isd_of_each_year(db):
    assert district_row(db, "10002", Y1)["isd_code"] == "50001"
    assert district_row(db, "10002", Y2)["isd_code"] == "50002"
    versions = query(
        db,
        "select isd_code, valid_from_school_year, valid_to_school_year, is_current"
        " from marts.dim_district_history where district_code = '10002'"
        " order by valid_from_school_year",
    )
    assert versions == [
        {"isd_code": "50001", "valid_from_school_year": Y1, "valid_to_school_year": Y1, "is_current": False},
        {"isd_code": "50002", "valid_from_school_year": Y2, "valid_to_school_year": None, "is_current": True},
    ]


def test_unchanged_district_keeps_one_open_version(db):
    versions = query(db, "select * from marts.dim_district_history where district_code = '10001'")
    assert len(versions) == 1
    assert versions[0]["k_district_version"] == f"10001:{Y1}"
    assert versions[0]["valid_to_school_year"] is None and versions[0]["is_current"] is True
    assert versions[0]["data_contact_email"] == "data@alpha.example"


def test_later_directory_file_for_the_same_year_wins(db):
    # the draft 2024-25 directory (received first) named 10002 "Beta DRAFT"
    assert district_row(db, "10002", Y2)["district_name"] == "Beta Community Schools"
    names = {r["district_name"] for r in query(db, "select district_name from marts.dim_district_history")}
    assert "Beta DRAFT" not in names


def test_district_absent_from_a_later_directory_ends(db):
    delta = one(db, "select * from marts.dim_district_history where district_code = '10004'")
    assert delta["valid_to_school_year"] == Y1 and delta["is_current"] is False
    assert district_row(db, "10004", Y1)["student_count"] == 100
    assert (
        query(db, "select * from marts.district_year_metrics where district_code = '10004' and school_year = ?", [Y2])
        == []
    )


def test_data_of_a_district_outside_the_directory_is_a_warning(built):
    _, summary = built
    warning = summary.node("assert_published_districts_are_in_the_directory")
    assert warning.status == "warn"
    assert warning.failures == 1  # 10004's 2024-25 enrollment


def test_rows_are_the_directory_in_effect_for_every_year_on_record(db):
    rows = query(
        db,
        "select school_year, count(*) as districts from marts.district_year_metrics"
        " group by school_year order by school_year",
    )
    # 2021-22 precedes the first directory and uses it (6 districts); 2024-25: 10004 out, 10005 in
    assert rows == [
        {"school_year": "2021-22", "districts": 6},
        {"school_year": Y1, "districts": 6},
        {"school_year": Y2, "districts": 6},
    ]
    assert district_row(db, "10005", Y2)["district_name"] == "Epsilon Schools"
    assert (
        query(db, "select * from marts.district_year_metrics where district_code = '10005' and school_year = ?", [Y1])
        == []
    )


# ---- state figures ------------------------------------------------------------------------


def test_state_counts_sum_published_districts(db):
    state = state_row(db, Y1)
    assert state["student_count"] == 500 + 1000 + 100  # 10001, 10002, 10004
    assert state["student_devices"] == 500  # 10001 only
    assert state["pl_hours_online"] == approx(9)
    assert state["districts_in_directory"] == 6
    assert state["districts_reporting"] == 3  # 10001, 10002, 10004
    assert state["districts_complete"] == 1
    assert state["data_complete"] is False
    assert state_row(db, Y2)["student_count"] == 550 + 1000  # 10004's orphaned 90 not counted


def test_state_rates_sum_numerators_and_denominators_where_both_are_published(db):
    y1 = state_row(db, Y1)
    # kbps: 10001 (400 Mbps, 500 students) and 10002 (2000, 1000); 10004 has students but no connectivity
    assert y1["kbps_per_student"] == approx((400 + 2000) * 1000 / (500 + 1000))
    assert y1["meets_bandwidth_target"] is True  # 1600 >= 1000
    # students per device: only 10001 has devices, so only its 500 students count
    assert y1["students_per_device"] == approx(500 / 500)
    assert y1["hotspot_coverage_pct"] == approx(100 * (40 + 100) / (50 + 100))
    assert y1["cost_per_mbps_usd"] == approx((1200 + 2000) / (400 + 2000))
    # teacher PL: 10002 has staffing but no PL, so its 50 teachers are left out
    assert y1["teacher_pl_rate_pct"] == approx(100 * 2 / 40)
    assert y1["wifi_classrooms_covered_pct"] == approx((90 + 100) / 2)  # mean of the districts' figures

    y2 = state_row(db, Y2)
    # 10003 has bandwidth but no enrollment: excluded from kbps, included in cost per Mbps
    assert y2["kbps_per_student"] == approx((660 + 500) * 1000 / (550 + 1000))
    assert y2["meets_bandwidth_target"] is False  # 748 < 1000
    assert y2["cost_per_mbps_usd"] == approx((1320 + 1000 + 500) / (660 + 500 + 100))
    assert y2["home_internet_gap_pct"] == approx(100 * (55 + 0) / (550 + 1000))
    assert y2["hotspot_coverage_pct"] == approx(100 * (55 + 0 + 5) / (55 + 0 + 10))
    # PL and staffing both published: 10001 (3 of 44), 10002 (0 of 0), 10005 (0 of 10)
    assert y2["teacher_pl_rate_pct"] == approx(100 * 3 / (44 + 0 + 10))
    assert y2["leader_pl_rate_pct"] == approx(100 * (1 + 0 + 3) / (6 + 0 + 2))
    assert y2["students_per_device"] == approx((550 + 1000) / (600 + 0))
    assert y2["districts_with_bandwidth_data"] == 2
    assert y2["districts_meeting_bandwidth_target"] == 1  # 10001: 1200 kbps


# ---- change from the previous year --------------------------------------------------------


def test_change_from_previous_year_is_value_minus_previous_value(db):
    change = metric_value(db, "district", "10001", "student_count", Y2)
    assert (change["value"], change["previous_value"]) == (550, 500)
    assert change["change_from_previous_year"] == 50
    spd = metric_value(db, "district", "10001", "students_per_device", Y2)
    assert spd["change_from_previous_year"] == approx(550 / 600 - 500 / 500)
    state = metric_value(db, "state", None, "kbps_per_student", Y2)
    assert state["change_from_previous_year"] == approx(
        (660 + 500) * 1000 / (550 + 1000) - (400 + 2000) * 1000 / (500 + 1000)
    )


def test_change_is_null_when_either_year_is_unknown(db):
    # 10003: cost per Mbps known in 2024-25 only
    assert metric_value(db, "district", "10003", "cost_per_mbps_usd", Y2)["change_from_previous_year"] is None
    # 10002: students per device unknown in 2023-24 (no devices) and null in 2024-25 (0 devices)
    assert metric_value(db, "district", "10002", "students_per_device", Y2)["change_from_previous_year"] is None
    # 2023-24 follows 2022-23, which is not on record; 2021-22 is not "the year before"
    first = metric_value(db, "district", "10001", "student_count", Y1)
    assert first["previous_value"] is None and first["change_from_previous_year"] is None


def test_booleans_are_1_or_0_in_metric_values(db):
    assert metric_value(db, "district", "10002", "meets_bandwidth_target", Y1)["value"] == 1
    assert metric_value(db, "district", "10001", "meets_bandwidth_target", Y1)["value"] == 0
    assert metric_value(db, "district", "10001", "data_complete", Y2)["value"] == 1


def test_metric_values_cover_every_metric_of_the_spec_for_every_district_and_the_state(db):
    catalog = yaml.safe_load((CONFIG_DIR / "metrics.yml").read_text())["metrics"]
    metrics = {r["metric"] for r in query(db, "select distinct metric from marts.metric_values")}
    assert metrics == set(catalog)
    counts = one(
        db,
        "select count(*) filter (where scope = 'district') as district_rows,"
        " count(*) filter (where scope = 'state') as state_rows from marts.metric_values",
    )
    # 3 school years x 6 districts in the directory x 24 metrics; 3 x 24 for the state
    assert counts == {"district_rows": 3 * 6 * len(catalog), "state_rows": 3 * len(catalog)}


# ---- objectives -----------------------------------------------------------------------


def test_objective_progress_has_state_and_district_rows_with_targets_from_config(db):
    targets = yaml.safe_load((CONFIG_DIR / "metrics.yml").read_text())["targets"]
    state = one(
        db,
        "select * from marts.objective_progress where objective_id = 'G4.S3.A'"
        " and metric = 'kbps_per_student' and scope = 'state' and school_year = ?",
        [Y2],
    )
    assert state["district_code"] is None
    assert state["value"] == approx(1160 * 1000 / 1550)
    assert state["target"] == targets["kbps_per_student"]["target"]
    assert state["meets_target"] is False
    district = one(
        db,
        "select * from marts.objective_progress where objective_id = 'G4.S1.D'"
        " and metric = 'students_per_device' and district_code = '10001' and school_year = ?",
        [Y2],
    )
    assert district["scope"] == "district"
    assert district["target"] == targets["students_per_device"]["target"]  # <= 1.0
    assert district["meets_target"] is True  # 550 / 600 = 0.92
    assert district["change_from_previous_year"] == approx(550 / 600 - 1.0)
    untargeted = one(
        db,
        "select * from marts.objective_progress where objective_id = 'G4.S4.A.a'"
        " and metric = 'pl_hours_online' and district_code = '10001' and school_year = ?",
        [Y2],
    )
    assert untargeted["value"] == approx(4) and untargeted["target"] is None and untargeted["meets_target"] is None


def test_objective_progress_rows_per_objective_metric(db):
    config = yaml.safe_load((CONFIG_DIR / "metrics.yml").read_text())
    pairs = sum(len(m) for m in config["objective_metrics"].values())
    rows = one(
        db, "select count(*) as n, count(distinct objective_id || metric) as pairs from marts.objective_progress"
    )
    # per objective x metric: 3 years x (6 districts + the state)
    assert rows == {"n": pairs * 3 * 7, "pairs": pairs}


def test_every_catalog_objective_has_metrics_or_a_reason(db):
    config = yaml.safe_load((CONFIG_DIR / "metrics.yml").read_text())
    rows = {r["objective_id"]: r for r in query(db, "select * from marts.objectives")}
    catalog = yaml.safe_load((CONFIG_DIR / "roadmap_goal4.yml").read_text())
    ids = [catalog["goal"]["id"]]
    for strategy in catalog["strategies"]:
        ids.append(strategy["id"])
        for objective in strategy["objectives"]:
            ids.append(objective["id"])
            ids.extend(sub["id"] for sub in objective.get("sub", []))
    assert sorted(rows) == sorted(ids)
    assert [r["objective_id"] for r in sorted(rows.values(), key=lambda r: r["sort_order"])] == ids
    for objective_id, row in rows.items():
        if objective_id in config["objective_metrics"]:
            assert row["is_measured"] is True and row["unmeasured_reason"] is None
            assert sorted(row["metrics"].split(", ")) == sorted(config["objective_metrics"][objective_id])
        else:
            assert row["is_measured"] is False and row["metrics"] is None
            assert row["unmeasured_reason"] == " ".join(config["unmeasured"][objective_id].split())
    assert rows["G4.S3.B.a"]["level"] == "sub_objective" and rows["G4.S3.B.a"]["parent_id"] == "G4.S3.B"
    assert rows["G4.S3.B.a"]["strategy_id"] == "G4.S3"
