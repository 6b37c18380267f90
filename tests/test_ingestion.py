"""Reading, validating and loading landing files (DATA_SPEC sections 1, 2 and 4),
on small files written in each test. No dbt here: these check what reaches `raw`
and `audit`."""

from __future__ import annotations

import json

import pytest

from landing_files import CONNECTIVITY, DEVICES, ENROLLMENT, PL, STAFFING, issues, run_ingestion

GOOD_ENROLLMENT = [
    "2024-25,01010,00101,Alcona Elementary,300",
    "2024-25,01010,00102,Alcona High,250",
    "2024-25,01020,00201,Bay Harbor K-12,400",
]


def rows_of(con, sql, params=None):
    return con.execute(sql, params or []).fetchall()


def test_bom_and_upper_case_padded_headers_are_read(landing, tmp_path):
    landing.directory()
    landing.csv(
        "enrollment_2024-25.csv",
        " SCHOOL_YEAR ,District_Code,  BUILDING_CODE,Building_Name ,STUDENT_COUNT",
        GOOD_ENROLLMENT,
        bom=True,
    )
    con, loaded, _ = run_ingestion(landing.path, tmp_path / "wh.duckdb")
    assert rows_of(con, "select district_code, building_code, student_count from raw.enrollment order by 2") == [
        ("01010", "00101", 300),
        ("01010", "00102", 250),
        ("01020", "00201", 400),
    ]
    assert [i for i in issues(con) if i["severity"] == "error"] == []


@pytest.mark.fast
def test_codes_keep_their_leading_zeros(landing, tmp_path):
    landing.directory()
    landing.csv("enrollment_2024-25.csv", ENROLLMENT, GOOD_ENROLLMENT)
    con, _, _ = run_ingestion(landing.path, tmp_path / "wh.duckdb")
    codes = {r[0] for r in rows_of(con, "select district_code from raw.enrollment")}
    assert codes == {"01010", "01020"}


def test_line_numbers_point_at_the_physical_line_even_after_quoted_newlines(landing, tmp_path):
    landing.directory()
    landing.csv(
        "enrollment_2024-25.csv",
        ENROLLMENT,
        ['2024-25,01010,00101,"Alcona\nElementary, North",300', "2024-25,01020,00201,Bay Harbor,-4"],
    )
    con, _, _ = run_ingestion(landing.path, tmp_path / "wh.duckdb")
    bad = [i for i in issues(con) if i["rule"] == "out_of_range"]
    assert [(i["line"], i["district_code"], i["value"]) for i in bad] == [(4, "01020", "-4")]
    assert rows_of(con, "select building_name, _line from raw.enrollment") == [("Alcona\nElementary, North", 2)]


BLOCKING_CASES = [
    # (rule, file name, header, bad row for district 01020, column reported)
    ("bad_type", "staffing_2024-25.csv", STAFFING, '2024-25,01020,"1,000",2,1,1', "teacher_count"),
    (
        "bad_type",
        "connectivity_2024-25.csv",
        CONNECTIVITY,
        "2024-25,01020,500 Mbps,,90,400,50,10,5",
        "internet_bandwidth_mbps",
    ),
    ("out_of_range", "staffing_2024-25.csv", STAFFING, "2024-25,01020,-3,2,1,1", "teacher_count"),
    (
        "out_of_range",
        "connectivity_2024-25.csv",
        CONNECTIVITY,
        "2024-25,01020,0,,90,400,50,10,5",
        "internet_bandwidth_mbps",
    ),
    (
        "out_of_range",
        "connectivity_2024-25.csv",
        CONNECTIVITY,
        "2024-25,01020,500,,120,400,50,10,5",
        "wifi_classrooms_covered_pct",
    ),
    (
        "out_of_range",
        "connectivity_2024-25.csv",
        CONNECTIVITY,
        "2024-25,01020,500,,90,400,95,10,5",
        "erate_discount_pct",
    ),
    ("required_value_missing", "staffing_2024-25.csv", STAFFING, "2024-25,01020,,2,1,1", "teacher_count"),
    ("school_year_mismatch", "staffing_2024-25.csv", STAFFING, "2023-24,01020,20,2,1,1", "school_year"),
    ("unknown_district", "staffing_2024-25.csv", STAFFING, "2024-25,09999,20,2,1,1", "district_code"),
    ("bad_code_format", "staffing_2024-25.csv", STAFFING, "2024-25,1020,20,2,1,1", "district_code"),
    ("value_not_allowed", "devices_2024-25.csv", DEVICES, "2024-25,01020,00201,toaster,student,10,0,0", "device_type"),
    ("value_not_allowed", "devices_2024-25.csv", DEVICES, "2024-25,01020,00201,laptop,parents,10,0,0", "user_group"),
    (
        "count_exceeds_device_count",
        "devices_2024-25.csv",
        DEVICES,
        "2024-25,01020,00201,laptop,student,10,11,0",
        "devices_over_5_years",
    ),
    (
        "count_exceeds_device_count",
        "devices_2024-25.csv",
        DEVICES,
        "2024-25,01020,00201,laptop,student,10,0,12",
        "take_home_count",
    ),
    (
        "building_not_in_enrollment",
        "devices_2024-25.csv",
        DEVICES,
        "2024-25,01020,00999,laptop,student,10,0,0",
        "building_code",
    ),
    (
        "out_of_range",
        "pl_participation_2024-25.csv",
        PL,
        "2024-25,01020,E9,teacher,A1,Intro,course,REMC,online,TPACK,0,2024-09-01",
        "hours",
    ),
    (
        "out_of_range",
        "pl_participation_2024-25.csv",
        PL,
        "2024-25,01020,E9,teacher,A1,Intro,course,REMC,online,TPACK,41,2024-09-01",
        "hours",
    ),
    (
        "date_outside_school_year",
        "pl_participation_2024-25.csv",
        PL,
        "2024-25,01020,E9,teacher,A1,Intro,course,REMC,online,TPACK,2,2025-07-01",
        "completed_on",
    ),
    (
        "bad_type",
        "pl_participation_2024-25.csv",
        PL,
        "2024-25,01020,E9,teacher,A1,Intro,course,REMC,online,TPACK,2,09/01/2024",
        "completed_on",
    ),
    (
        "bad_type",
        "pl_participation_2024-25.csv",
        PL,
        "2024-25,01020,E9,teacher,A1,Intro,course,REMC,online,TPACK,2,2025-02-30",
        "completed_on",
    ),
    (
        "value_not_allowed",
        "pl_participation_2024-25.csv",
        PL,
        "2024-25,01020,E9,principal,A1,Intro,course,REMC,online,TPACK,2,2024-09-01",
        "role",
    ),
]

GOOD_ROWS = {
    "staffing_2024-25.csv": ["2024-25,01010,30,3,2,1"],
    "connectivity_2024-25.csv": ["2024-25,01010,600,1000,95,500,60,40,20"],
    "devices_2024-25.csv": ["2024-25,01010,00101,chromebook,student,280,20,100"],
    "pl_participation_2024-25.csv": ["2024-25,01010,E1,teacher,A1,Intro,course,REMC,online,TPACK,2,2024-09-01"],
}


@pytest.mark.parametrize(
    "rule,name,header,bad_row,column", BLOCKING_CASES, ids=[f"{c[0]}-{c[4]}" for c in BLOCKING_CASES]
)
def test_blocking_error_holds_back_only_that_districts_rows(landing, tmp_path, rule, name, header, bad_row, column):
    landing.directory()
    landing.csv("enrollment_2024-25.csv", ENROLLMENT, GOOD_ENROLLMENT)
    # district 01020 sends one good row and one bad row; 01010 only good rows
    good_other = bad_row.replace("toaster", "laptop").replace("parents", "student")
    landing.csv(name, header, GOOD_ROWS[name] + [bad_row])
    con, loaded, _ = run_ingestion(landing.path, tmp_path / "wh.duckdb")
    family = name.split("_20")[0]
    found = [i for i in issues(con) if i["file_name"] == name and i["severity"] == "error"]
    assert {(i["rule"], i["line"], i["column_name"]) for i in found} >= {(rule, 3, column)}
    bad_district = bad_row.split(",")[1]
    assert all(i["district_code"] == bad_district for i in found)
    # the other district's rows are in raw, the bad district's are not
    loaded_districts = {r[0] for r in rows_of(con, f"select distinct district_code from raw.{family}")}
    assert loaded_districts == {"01010"}
    quarantined = rows_of(
        con,
        "select district_code, line, row_json from audit.quarantine_rows where file_id in "
        "(select file_id from audit.files where file_name = ?)",
        [name],
    )
    assert [(q[0], q[1]) for q in quarantined] == [(bad_district, 3)]
    status = rows_of(con, "select status, rows_loaded, rows_quarantined from audit.files where file_name = ?", [name])
    assert status == [("partially_loaded", 1, 1)]
    del good_other


@pytest.mark.fast
def test_key_duplicated_with_different_values_blocks_the_district(landing, tmp_path):
    landing.directory()
    landing.csv(
        "staffing_2024-25.csv", STAFFING, ["2024-25,01010,30,3,2,1", "2024-25,01020,20,2,1,1", "2024-25,01020,21,2,1,1"]
    )
    con, _, _ = run_ingestion(landing.path, tmp_path / "wh.duckdb")
    found = [(i["rule"], i["line"], i["district_code"]) for i in issues(con) if i["severity"] == "error"]
    assert found == [("duplicate_key_conflict", 3, "01020"), ("duplicate_key_conflict", 4, "01020")]
    assert rows_of(con, "select district_code from raw.staffing") == [("01010",)]


def test_warnings_are_recorded_and_the_rows_load(landing, tmp_path):
    landing.directory()
    landing.csv(
        "staffing_2024-25.csv",
        STAFFING + ",notes",
        ["2024-25,01010,30,3,2,1,x", "2024-25,01010,30,3,2,1,x", "2024-25,01020,20,2,1,1,"],
    )
    landing.csv(
        "pl_participation_2024-25.csv",
        PL,
        [
            "2024-25,01010,E1,teacher,A1,Intro,course,REMC,online,TPACK,2,2024-09-01",
            "2024-25,01010,E1,teacher,A1,Intro again,course,REMC,online,TPACK,3,2024-09-01",
        ],
    )
    con, _, _ = run_ingestion(landing.path, tmp_path / "wh.duckdb")
    found = sorted((i["rule"], i["line"], i["severity"]) for i in issues(con))
    assert found == [
        ("duplicate_pl_record", 3, "warning"),
        ("exact_duplicate_row", 3, "warning"),
        ("extra_column", 1, "warning"),
    ]
    assert rows_of(con, "select district_code, teacher_count from raw.staffing order by 1") == [
        ("01010", 30),
        ("01020", 20),
    ]
    # the PL record is counted once: the first line is kept
    assert rows_of(con, "select activity_title, hours, _line from raw.pl_participation") == [("Intro", 2.0, 2)]


@pytest.mark.fast
def test_file_not_in_utf8_is_rejected_with_its_line(landing, tmp_path):
    landing.directory()
    landing.write(
        "enrollment_2024-25_01010.csv",
        ENROLLMENT + "\n2024-25,01010,00101,Escuela Señor,300\n",
        encoding="cp1252",
    )
    con, loaded, _ = run_ingestion(landing.path, tmp_path / "wh.duckdb")
    (issue,) = [i for i in issues(con) if i["file_name"] == "enrollment_2024-25_01010.csv"]
    assert issue["rule"] == "encoding_not_utf8" and issue["line"] == 2
    assert "UTF-8" in issue["message"]
    assert rows_of(con, "select count(*) from raw.enrollment") == [(0,)]
    assert rows_of(con, "select status from audit.files where file_name = 'enrollment_2024-25_01010.csv'") == [
        ("rejected",)
    ]


@pytest.mark.fast
def test_missing_required_column_rejects_the_whole_file(landing, tmp_path):
    landing.directory()
    landing.csv("staffing_2024-25.csv", "school_year,district_code,teacher_count", ["2024-25,01010,30"])
    con, _, _ = run_ingestion(landing.path, tmp_path / "wh.duckdb")
    (issue,) = issues(con)
    assert issue["rule"] == "missing_required_column"
    assert "building_leader_count" in issue["message"] and "tech_staff_count" in issue["message"]


def test_file_name_matching_no_family_is_reported_not_loaded(landing, tmp_path):
    landing.directory()
    landing.csv("laptops_2024-25.csv", STAFFING, ["2024-25,01010,30,3,2,1"])
    con, _, _ = run_ingestion(landing.path, tmp_path / "wh.duckdb")
    (issue,) = issues(con)
    assert issue["rule"] == "unrecognised_file_name" and "laptops_2024-25.csv" in issue["message"]


def test_file_already_received_is_not_loaded_twice(landing, tmp_path):
    landing.directory()
    landing.csv("staffing_2024-25.csv", STAFFING, ["2024-25,01010,30,3,2,1"])
    db = tmp_path / "wh.duckdb"
    con, loaded, _ = run_ingestion(landing.path, db, run_id="run-1")
    con.close()
    # the same bytes under another name, and the original again
    landing.write("staffing_2024-25_copy.csv", (landing.path / "staffing_2024-25.csv").read_bytes())
    con, loaded, _ = run_ingestion(landing.path, db, run_id="run-2")
    assert loaded == []
    assert rows_of(con, "select count(*) from raw.staffing") == [(1,)]


def test_received_order_is_modification_time_then_name(landing, tmp_path):
    landing.directory()
    landing.csv("staffing_2024-25_b.csv", STAFFING, ["2024-25,01010,31,3,2,1"], mtime=1_800_000_000)
    landing.csv("staffing_2024-25_a.csv", STAFFING, ["2024-25,01010,32,3,2,1"], mtime=1_800_000_000)
    landing.csv("staffing_2024-25_0.csv", STAFFING, ["2024-25,01010,30,3,2,1"], mtime=1_700_000_000)
    con, _, _ = run_ingestion(landing.path, tmp_path / "wh.duckdb")
    order = rows_of(con, "select file_name from audit.files where family = 'staffing' order by received_seq")
    assert [r[0] for r in order] == ["staffing_2024-25_0.csv", "staffing_2024-25_a.csv", "staffing_2024-25_b.csv"]


def test_raw_files_are_kept_in_the_archive(landing, tmp_path):
    landing.directory()
    src = landing.csv("staffing_2024-25.csv", STAFFING, ["2024-25,01010,30,3,2,1"])
    con, _, _ = run_ingestion(landing.path, tmp_path / "wh.duckdb")
    (archived,) = rows_of(con, "select archive_path from audit.files where file_name = 'staffing_2024-25.csv'")
    from pathlib import Path

    assert Path(archived[0]).read_bytes() == src.read_bytes()


@pytest.mark.fast
def test_educator_id_is_replaced_by_its_keyed_hash_before_it_is_written(landing, tmp_path):
    from flows.ingest.pseudonymize import hmac_hex

    landing.directory()
    landing.csv(
        "pl_participation_2024-25.csv",
        PL,
        [
            "2024-25,01010,STAFF-4711,teacher,A1,Intro,course,REMC,online,TPACK,2,2024-09-01",
            "2024-25,01020,STAFF-0815,teacher,A2,More,workshop,ISTE,blended,SAMR,-1,2024-09-02",
        ],
    )
    db = tmp_path / "wh.duckdb"
    con, _, _ = run_ingestion(landing.path, db, key=b"k1")
    assert rows_of(con, "select educator_key from raw.pl_participation") == [(hmac_hex(b"k1", "01010", "STAFF-4711"),)]
    (quarantined,) = rows_of(con, "select row_json from audit.quarantine_rows")
    assert json.loads(quarantined[0])["educator_key"] == hmac_hex(b"k1", "01020", "STAFF-0815")
    con.close()
    assert b"STAFF-4711" not in db.read_bytes() and b"STAFF-0815" not in db.read_bytes()


def test_pl_files_wait_when_no_pseudonym_key_is_set(landing, tmp_path):
    landing.directory()
    landing.csv(
        "pl_participation_2024-25.csv", PL, ["2024-25,01010,E1,teacher,A1,Intro,course,REMC,online,TPACK,2,2024-09-01"]
    )
    landing.csv("staffing_2024-25.csv", STAFFING, ["2024-25,01010,30,3,2,1"])
    db = tmp_path / "wh.duckdb"
    con, _, note = run_ingestion(landing.path, db, key=None)
    assert "ROADMAP_PSEUDONYM_KEY" in note and "pl_participation_2024-25.csv" in note
    assert rows_of(con, "select count(*) from raw.pl_participation") == [(0,)]
    assert rows_of(con, "select count(*) from raw.staffing") == [(1,)]
    # not marked as received: it loads once the key is set
    con.close()
    con, loaded, _ = run_ingestion(landing.path, db, key=b"k", run_id="run-2")
    assert [f.file_name for f in loaded] == ["pl_participation_2024-25.csv"]


def test_a_file_whose_checks_could_not_run_waits_unjudged_and_loads_when_they_can(landing, tmp_path, monkeypatch):
    """An expectation that could not run is neither a pass nor bad data: the file is
    held, not judged (nothing of it loads, it is not rejected), the run goes on, and the
    next run, with the checks working again, loads it in its received order."""
    from flows.ingest import expectations, suites

    suite = suites.family_suite("staffing")
    broken = suites.Suite(
        "staffing",
        suite.expectations
        + (
            suites.Expectation(
                "expect_column_values_to_not_be_null",
                {"column": "no_such_column"},
                rule="required_value_missing",
                severity="error",
                message="x",
            ),
        ),
    )
    original = suites.family_suite
    monkeypatch.setattr(suites, "family_suite", lambda name: broken if name == "staffing" else original(name))
    expectations._suite.cache_clear()
    db = tmp_path / "wh.duckdb"
    try:
        landing.directory()
        landing.csv("staffing_2024-25.csv", STAFFING, ["2024-25,01010,30,3,2,1"])
        landing.csv("enrollment_2024-25.csv", ENROLLMENT, GOOD_ENROLLMENT)
        con, loaded, _ = run_ingestion(landing.path, db)
    finally:
        expectations._suite.cache_clear()
    status = {f.file_name: f.status for f in loaded}
    assert status["staffing_2024-25.csv"] == "waiting" and status["enrollment_2024-25.csv"] == "loaded"
    assert rows_of(con, "select count(*) from raw.staffing") == [(0,)]
    assert rows_of(con, "select count(*) from audit.quarantine_rows") == [(0,)]
    (issue,) = [i for i in issues(con) if i["file_name"] == "staffing_2024-25.csv"]
    assert issue["rule"] == "file_could_not_be_processed" and "no_such_column" in issue["message"]
    assert "tried again by the next run" in issue["message"]
    assert rows_of(con, "select status, waiting_for from audit.files where file_name = 'staffing_2024-25.csv'") == [
        ("waiting", "pipeline_fault")
    ]
    seq = rows_of(con, "select received_seq from audit.files where file_name = 'staffing_2024-25.csv'")
    con.close()
    monkeypatch.undo()
    expectations._suite.cache_clear()
    con, loaded, _ = run_ingestion(landing.path, db, run_id="run-2")
    assert [(f.file_name, f.status) for f in loaded] == [("staffing_2024-25.csv", "loaded")]
    assert rows_of(con, "select teacher_count, _received_seq from raw.staffing") == [(30, seq[0][0])]


@pytest.mark.fast
def test_committed_suites_match_the_file_families():
    from flows.ingest.families import FAMILIES
    from flows.ingest.suites import suite_for, suite_path

    for name, family in FAMILIES.items():
        committed = json.loads(suite_path(name).read_text())
        assert committed == suite_for(family).config(), (
            f"expectations/{name}.json is stale: run python -m flows.ingest.suites --write-suites"
        )


@pytest.mark.fast
def test_hmac_in_duckdb_equals_the_standard_library():
    import duckdb

    from flows.ingest.pseudonymize import hmac_hex, pseudonymize_table

    for key in (
        b"short",
        b"x" * 64,
        b"a much longer key than one sha-256 block of sixty-four bytes, to be hashed first",
    ):
        con = duckdb.connect()
        con.execute(
            "create temp table t as select * "
            "from (values ('01010', 'E-1'), ('99999', 'Ñoño 7')) v(district_code, educator_id)"
        )
        pseudonymize_table(con, "t", key)
        assert con.execute("select educator_key from t").fetchall() == [
            (hmac_hex(key, "01010", "E-1"),),
            (hmac_hex(key, "99999", "Ñoño 7"),),
        ]
