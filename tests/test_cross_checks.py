"""The warnings that need more than one file (flows/ingest/cross_checks.py) judge each
district-year by its latest submission, the rule dbt applies to everything published:
a later file replaces the earlier one whole, so a swing or a staffing shortfall that a
correction removed is not reported, and one that a correction brought is."""

from __future__ import annotations

import pytest

from landing_files import ENROLLMENT, PL, STAFFING, Landing, issues, run_ingestion


def _warnings(con, rule: str) -> dict[str, str]:
    return {i["district_code"]: i["value"] for i in issues(con) if i["rule"] == rule}


@pytest.mark.fast
def test_a_year_over_year_swing_is_judged_on_the_latest_submission(tmp_path):
    landing = Landing(tmp_path / "landing")
    landing.directory()
    landing.csv(
        "enrollment_2023-24.csv",
        ENROLLMENT,
        ["2023-24,01010,00101,Alcona HS,100", "2023-24,01020,00201,Bay HS,100"],
    )
    # the first 2024-25 file swings 01010 (+100 %); its correction (received later) does not,
    # and the correction brings a swing to 01020
    landing.csv(
        "enrollment_2024-25.csv",
        ENROLLMENT,
        ["2024-25,01010,00101,Alcona HS,200", "2024-25,01020,00201,Bay HS,105"],
    )
    landing.csv(
        "enrollment_2024-25_v2.csv",
        ENROLLMENT,
        ["2024-25,01010,00101,Alcona HS,105", "2024-25,01020,00201,Bay HS,200"],
    )
    con, loaded, _ = run_ingestion(landing.path, tmp_path / "w.duckdb")
    try:
        assert {f.file_name: f.status for f in loaded if f.family == "enrollment"} == {
            "enrollment_2023-24.csv": "loaded",
            "enrollment_2024-25.csv": "loaded",
            "enrollment_2024-25_v2.csv": "loaded",
        }
        assert _warnings(con, "yoy_student_count_swing") == {"01020": "100 -> 200"}
    finally:
        con.close()


@pytest.mark.fast
def test_pl_leaders_are_compared_with_the_latest_staffing_file(tmp_path):
    landing = Landing(tmp_path / "landing")
    landing.directory()
    # 01010: 5 leaders on staff, corrected to 1; 01020: 1 leader, corrected to 5
    landing.csv("staffing_2024-25.csv", STAFFING, ["2024-25,01010,20,4,1,1", "2024-25,01020,20,1,0,1"])
    landing.csv("staffing_2024-25_v2.csv", STAFFING, ["2024-25,01010,20,1,0,1", "2024-25,01020,20,4,1,1"])
    leaders = [
        f"2024-25,{district},{educator},building_leader,A1,Intro,course,REMC,online,TPACK,2,2024-09-01"
        for district in ("01010", "01020")
        for educator in ("E1", "E2")
    ]
    landing.csv("pl_participation_2024-25.csv", PL, leaders)
    con, loaded, _ = run_ingestion(landing.path, tmp_path / "w.duckdb")
    try:
        assert all(f.status == "loaded" for f in loaded if f.family in ("staffing", "pl_participation")), loaded
        assert _warnings(con, "pl_leaders_exceed_staffing") == {"01010": "2 > 1"}
    finally:
        con.close()
