"""The nightly flow end to end (Prefect + Great Expectations + DuckDB + dbt): a landing
folder written by hand to DATA_SPEC gives the numbers its definitions give by hand, and
generated data with defects quarantines exactly what the generator says it broke."""

from __future__ import annotations

import duckdb
import pytest

from landing_files import CONNECTIVITY, DEVICES, DIRECTORY_HEADER, DIRECTORY_ROWS, ENROLLMENT, PL, STAFFING

pytestmark = pytest.mark.slow


def write_hand_landing(landing) -> None:
    landing.csv("districts_2024-25.csv", DIRECTORY_HEADER, DIRECTORY_ROWS)
    landing.csv(
        "enrollment_2023-24.csv",
        ENROLLMENT,
        [
            "2023-24,01010,00101,Alcona Elementary,300",
            "2023-24,01010,00102,Alcona High,200",
            "2023-24,01020,00201,Bay Harbor K-12,400",
        ],
    )
    # upper-case padded headers, a byte-order mark, columns in another order
    landing.csv(
        "enrollment_2024-25.csv",
        " STUDENT_COUNT ,School_Year,DISTRICT_CODE,Building_Code,BUILDING_NAME",
        [
            "300,2024-25,01010,00101,Alcona Elementary",
            '250,2024-25,01010,00102,"Alcona High, North Campus"',
            "400,2024-25,01020,00201,Bay Harbor K-12",
            "120,2024-25,01700,00701,Lighthouse Academy",
        ],
        bom=True,
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
            "2024-25,01010,00102,laptop,student,220,30,0",
            "2024-25,01010,00101,laptop,teacher,30,10,0",
            "2024-25,01010,00101,hotspot,student,15,0,15",
            "2024-25,01020,00201,chromebook,student,400,0,0",
            "2024-25,01020,00201,laptop,teacher,20,5,0",
            "2024-25,01700,00701,tablet,student,60,0,0",
        ],
    )
    landing.csv(
        "connectivity_2024-25.csv",
        CONNECTIVITY,
        [
            "2024-25,01010,550,,95,1100,60,50,15",
            "2024-25,01020,300,1000,100,300,,0,0",
            "2024-25,01700,200,,80,500,85,10,2",
            "2024-25,09999,100,,80,500,85,10,2",  # a district in no directory
        ],
    )
    landing.csv(
        "pl_participation_2024-25.csv",
        PL,
        [
            "2024-25,01010,L1,building_leader,A10,Leading change,workshop,MACUL,face_to_face,none,2,2024-10-01",
            "2024-25,01010,L1,building_leader,A11,Regional PLN,pln_meeting,ISD,face_to_face,none,1,2024-11-05",
            "2024-25,01010,L2,district_leader,A12,ISTE for leaders,course,ISTE,online,ISTE_Standards,1,2025-01-15",
            "2024-25,01010,T1,teacher,A1,TPACK basics,course,REMC,online,TPACK,2,2024-09-01",
            "2024-25,01010,T2,teacher,A2,SAMR in class,workshop,REMC,face_to_face,SAMR,3,2024-09-20",
            "2024-25,01010,X1,tech_staff,A3,Skills check,skill_assessment,EduPaths,blended,none,1.5,2025-03-02",
            "2024-25,01020,T9,teacher,A4,Open resources,course,TRIG,online,OER,4,2025-02-01",
        ],
    )
    # later: 01020 resubmits its devices (replaces both rows), 01010 sends a bad staffing
    # file (held back: its statewide staffing stays published), 01700 sends enrollment
    # in Windows-1252 (rejected: its statewide enrollment stays published)
    landing.csv(
        "devices_2024-25_01020.csv",
        DEVICES,
        [
            "2024-25,01020,00201,chromebook,student,380,0,0",
            "2024-25,01020,00201,laptop,teacher,25,5,0",
        ],
    )
    landing.csv("staffing_2024-25_01010.csv", STAFFING, ["2024-25,01010,thirty,3,2,2"])
    landing.write(
        "enrollment_2024-25_01700.csv",
        ENROLLMENT + "\n2024-25,01700,00701,Académie Lighthouse,999\n",
        encoding="cp1252",
    )


def metrics(con, school_year: str) -> dict[str, dict]:
    cur = con.execute("select * from marts.district_year_metrics where school_year = ?", [school_year])
    names = [d[0] for d in cur.description]
    return {row[names.index("district_code")]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}


def test_hand_written_landing_folder_gives_the_hand_computed_metrics(prefect_server, landing, tmp_path):
    from flows.nightly import nightly

    write_hand_landing(landing)
    warehouse = tmp_path / "warehouse" / "roadmap.duckdb"
    summary = nightly(landing_dir=str(landing.path), warehouse=str(warehouse), with_report=False)
    assert summary.status == "succeeded"

    con = duckdb.connect(str(warehouse), read_only=True)
    m = metrics(con, "2024-25")
    a, b, psa, isd = m["01010"], m["01020"], m["01700"], m["01000"]
    approx = pytest.approx

    # 01010: 550 students; student computing devices 280 + 220 = 500 (the hotspot is not one)
    assert a["student_count"] == 550 and a["student_devices"] == 500
    assert a["students_per_device"] == approx(550 / 500)
    assert a["teacher_device_coverage_pct"] == approx(100 * 30 / 30)
    assert a["aging_device_share_pct"] == approx(100 * (20 + 30 + 10) / (280 + 220 + 30))
    assert a["take_home_share_pct"] == approx(100 * 100 / 500)
    assert a["kbps_per_student"] == approx(550 * 1000 / 550) and a["meets_bandwidth_target"] is True
    assert a["cost_per_mbps_usd"] == approx(1100 / 550)
    assert a["home_internet_gap_pct"] == approx(100 * 50 / 550)
    assert a["hotspot_coverage_pct"] == approx(100 * 15 / 50)
    # the bad staffing resubmission was held back: 30 teachers, 3 + 2 leaders, 2 tech staff
    assert a["leader_pl_rate_pct"] == approx(100 * 2 / (3 + 2))
    assert a["teacher_pl_rate_pct"] == approx(100 * 2 / 30)
    assert a["tech_staff_pl_rate_pct"] == approx(100 * 1 / 2)
    assert (a["pl_hours_face_to_face"], a["pl_hours_online"], a["pl_hours_blended"]) == approx((2 + 1 + 3, 1 + 2, 1.5))
    assert (
        a["tpack_samr_participants"],
        a["pln_leader_participants"],
        a["oer_participants"],
        a["cbe_participants"],
        a["skill_assessment_participants"],
    ) == (2, 1, 0, 0, 1)
    assert a["data_complete"] is True

    # 01020: its later devices file replaced both rows: 380 student, 25 teacher devices
    assert b["student_devices"] == 380
    assert b["students_per_device"] == approx(400 / 380)
    assert b["teacher_device_coverage_pct"] == approx(100 * 25 / 25)
    assert b["aging_device_share_pct"] == approx(100 * 5 / (380 + 25))
    assert b["kbps_per_student"] == approx(300 * 1000 / 400) and b["meets_bandwidth_target"] is False
    assert b["hotspot_coverage_pct"] is None  # no student without home internet: 0 / 0
    assert b["leader_pl_rate_pct"] == 0 and b["oer_participants"] == 1

    # 01700: the Windows-1252 resubmission was rejected; the statewide enrollment stands
    assert psa["student_count"] == 120 and psa["students_per_device"] == approx(120 / 60)
    assert psa["teacher_device_coverage_pct"] == 0  # devices published, no teacher devices
    assert psa["kbps_per_student"] == approx(200 * 1000 / 120)
    assert psa["leader_pl_rate_pct"] is None and psa["pl_hours_online"] is None  # no PL file: unknown, not 0
    assert psa["data_complete"] is False

    # the ISD sent nothing: its row is there, every metric unknown
    assert isd["student_count"] is None and isd["students_per_device"] is None and isd["data_complete"] is False

    # state figures sum numerators and denominators over districts that published both
    (state,) = con.execute(
        "select student_count, student_devices, students_per_device, kbps_per_student, meets_bandwidth_target "
        "from marts.state_year_metrics where school_year = '2024-25'"
    ).fetchall()
    assert state[0] == 1070 and state[1] == 940
    assert state[2] == approx(1070 / 940)
    assert state[3] == approx((550 + 300 + 200) * 1000 / 1070) and state[4] is False

    # change from the previous year
    (change,) = con.execute(
        "select change_from_previous_year from marts.metric_values where scope = 'district' "
        "and district_code = '01010' and metric = 'student_count' and school_year = '2024-25'"
    ).fetchall()
    assert change[0] == approx(550 - 500)

    # quarantine: exactly the rules, files and districts the rules say
    held = sorted(
        con.execute(
            "select file_name, district_code, rule from audit.issues where severity = 'error' order by all"
        ).fetchall()
    )
    assert held == [
        ("connectivity_2024-25.csv", "09999", "unknown_district"),
        ("enrollment_2024-25_01700.csv", "01700", "encoding_not_utf8"),
        ("staffing_2024-25_01010.csv", "01010", "bad_type"),
    ]
    lines = dict(con.execute("select file_name, line from audit.issues where severity = 'error'").fetchall())
    assert lines["connectivity_2024-25.csv"] == 5 and lines["staffing_2024-25_01010.csv"] == 2
    con.close()


def test_generated_defects_quarantine_exactly_the_districts_the_generator_broke(demo_warehouse):
    con = duckdb.connect(str(demo_warehouse.warehouse), read_only=True)
    blocking = [d for d in demo_warehouse.manifest.defects if d.severity == "error"]
    assert blocking, "the demo data should contain defects"
    issues = con.execute("select file_name, district_code, rule from audit.issues where severity = 'error'").fetchall()
    for d in blocking:
        # every injected error is reported with its rule, on its file, for its district
        # (a whole-file problem may be reported for the file alone)
        assert any(
            f == d.file_name and r == d.rule and (dc == d.district_code or (dc is None and d.whole_file))
            for f, dc, r in issues
        ), d
    # and the rows held back are exactly those of the (file, district) pairs it broke
    held = set(
        con.execute(
            "select f.file_name, c.district_code from audit.load_counts c join audit.files f using (file_id) "
            "where c.rows_quarantined > 0"
        ).fetchall()
    )
    broken = {(d.file_name, d.district_code) for d in blocking if not d.whole_file}
    assert held == broken
    # files refused as a whole (no row could be read) are exactly the whole-file defects
    unreadable = {
        r[0]
        for r in con.execute(
            "select file_name from audit.files f where status = 'rejected' "
            "and not exists (select 1 from audit.load_counts c where c.file_id = f.file_id)"
        ).fetchall()
    }
    assert unreadable == {d.file_name for d in blocking if d.whole_file}
    con.close()


def test_marts_have_the_names_and_grain_analysts_are_promised(demo_warehouse):
    con = duckdb.connect(str(demo_warehouse.warehouse), read_only=True)

    def one(sql):
        return con.execute(sql).fetchall()[0][0]

    assert one("select count(*) from marts.district_year_metrics") > 0
    assert one("select count(*) - count(distinct (district_code, school_year)) from marts.district_year_metrics") == 0
    assert one("select count(*) - count(distinct school_year) from marts.state_year_metrics") == 0
    assert (
        one(
            "select count(*) - count(distinct (objective_id, metric, school_year, scope, coalesce(district_code, ''))) "
            "from marts.objective_progress"
        )
        == 0
    )
    assert one("select count(*) from marts.objective_progress where scope = 'state' and district_code is not null") == 0
    catalog = one("select count(*) from marts.objectives")
    assert catalog == one("select count(*) from marts.objectives where is_measured or unmeasured_reason is not null")
    import yaml

    from conftest import REPO

    doc = yaml.safe_load((REPO / "config" / "roadmap_goal4.yml").read_text())
    ids = {doc["goal"]["id"]}
    for strategy in doc["strategies"]:
        ids.add(strategy["id"])
        for objective in strategy["objectives"]:
            ids.add(objective["id"])
            ids.update(sub["id"] for sub in objective.get("sub", []))
    assert {r[0] for r in con.execute("select objective_id from marts.objectives").fetchall()} == ids
    con.close()
