"""The dbt project and its runner: schemas, contracts, documentation and data tests
of dbt_project/, targets read from config, failures raised with what to fix, the
warehouse file released after a build, and the reference loader's checks."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest
import yaml

from dbt_fixtures import (
    CONFIG_DIR,
    DBT_PROJECT_DIR,
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
from flows.warehouse.reference import load_reference, read_reference
from flows.warehouse.transform import DbtBuildFailed, DbtBuildSummary, run_dbt_build

SY = "2024-25"
MODEL_SCHEMAS = ("staging", "intermediate", "marts")

# the connectivity benchmarks of the state and of each ISD (DATA_SPEC section 3)
AREA_CONNECTIVITY_COLUMNS = (
    "districts_meeting_short_term_goal",
    "districts_meeting_long_term_goal",
    "districts_meeting_short_term_goal_pct",
    "districts_meeting_long_term_goal_pct",
    "students_with_bandwidth_data",
    "students_meeting_short_term_goal",
    "students_meeting_long_term_goal",
    "students_meeting_short_term_goal_pct",
    "students_meeting_long_term_goal_pct",
    "districts_with_wan_data",
    "districts_meeting_wan_goal",
    "districts_meeting_wan_goal_pct",
    "districts_with_cost_data",
    "cost_per_mbps_usd_q1",
    "cost_per_mbps_usd_median",
    "cost_per_mbps_usd_q3",
    "districts_above_affordable_cost",
    "districts_above_affordable_cost_pct",
    "districts_below_long_term_goal",
    "districts_could_meet_goal_within_budget",
)

# docs/ARCHITECTURE.md "Marts": the columns each mart must have
MART_COLUMNS = {
    "district_year_metrics": [
        "k_district_year",
        "district_code",
        "school_year",
        "district_name",
        "isd_code",
        "district_type",
        "locale",
        "county",
        "student_count",
        "student_devices",
        "students_per_device",
        "teacher_device_coverage_pct",
        "aging_device_share_pct",
        "take_home_share_pct",
        "kbps_per_student",
        "meets_bandwidth_target",
        "wifi_classrooms_covered_pct",
        "cost_per_mbps_usd",
        "home_internet_gap_pct",
        "hotspot_coverage_pct",
        "leader_pl_rate_pct",
        "teacher_pl_rate_pct",
        "tech_staff_pl_rate_pct",
        "pl_hours_face_to_face",
        "pl_hours_online",
        "pl_hours_blended",
        "tpack_samr_participants",
        "pln_leader_participants",
        "oer_participants",
        "cbe_participants",
        "skill_assessment_participants",
        "data_complete",
        "has_enrollment",
        "has_staffing",
        "has_devices",
        "has_connectivity",
        "has_pl_participation",
        "teacher_count",
        "leader_count",
        "tech_staff_count",
        "teacher_devices",
        "leaders_in_pl",
        "teachers_in_pl",
        "tech_staff_in_pl",
        "students_without_home_internet",
        "hotspots_loaned",
        # the connectivity benchmarks (issue 13)
        "meets_short_term_bandwidth_goal",
        "meets_long_term_bandwidth_goal",
        "wan_bandwidth_mbps",
        "wan_kbps_per_student",
        "meets_wan_goal",
        "above_affordable_cost",
        "affordable_bandwidth_mbps",
        "affordable_kbps_per_student",
        "could_meet_goal_within_budget",
    ],
    "state_year_metrics": [
        "school_year",
        "student_count",
        "kbps_per_student",
        "meets_bandwidth_target",
        "data_complete",
        "teacher_count",
        "districts_in_directory",
        "districts_reporting",
        "districts_complete",
        "districts_with_bandwidth_data",
        "districts_meeting_bandwidth_target",
        *AREA_CONNECTIVITY_COLUMNS,
    ],
    "isd_year_metrics": [
        "k_isd_year",
        "isd_code",
        "school_year",
        "isd_name",
        "student_count",
        "kbps_per_student",
        "meets_bandwidth_target",
        "data_complete",
        "teacher_count",
        "districts_in_directory",
        "districts_reporting",
        "districts_complete",
        "districts_with_bandwidth_data",
        "districts_meeting_bandwidth_target",
        *AREA_CONNECTIVITY_COLUMNS,
    ],
    "metric_values": [
        "scope",
        "district_code",
        "school_year",
        "metric",
        "value",
        "previous_value",
        "change_from_previous_year",
        "target",
        "comparison",
        "meets_target",
    ],
    "submission_status": [
        "k_submission",
        "district_code",
        "school_year",
        "family",
        "district_name",
        "district_type",
        "isd_code",
        "status",
        "received",
        "published",
        "received_at",
        "file_name",
        "file_id",
        "rows_loaded",
        "rows_held_back",
        "held_for",
        "deadline",
    ],
    "objective_progress": [
        "objective_id",
        "metric",
        "school_year",
        "scope",
        "district_code",
        "value",
        "target",
        "meets_target",
        "change_from_previous_year",
    ],
    "objectives": [
        "objective_id",
        "parent_id",
        "strategy_id",
        "strategy_title",
        "level",
        "objective_text",
        "sort_order",
        "is_measured",
        "metrics",
        "unmeasured_reason",
    ],
    "dim_district_history": [
        "k_district_version",
        "district_code",
        "district_name",
        "district_type",
        "isd_code",
        "county",
        "locale",
        "data_contact_email",
        "valid_from_school_year",
        "valid_to_school_year",
        "is_current",
    ],
}


def _small_district(con: duckdb.DuckDBPyConnection, code: str = "10001", seq: int = 10) -> None:
    """One district with all five families for 2024-25: 500 students, 400 Mbps (800 kbps)."""
    insert_rows(con, "enrollment", [enrollment(SY, code, "00101", 500)], received_seq=seq)
    insert_rows(
        con,
        "staffing",
        [staffing(SY, code, teachers=20, building_leaders=2, district_leaders=1, tech_staff=2)],
        received_seq=seq + 1,
    )
    insert_rows(con, "devices", [devices(SY, code, "00101", "chromebook", "student", 500)], received_seq=seq + 2)
    insert_rows(
        con,
        "connectivity",
        [connectivity(SY, code, mbps=400, wifi_pct=100, monthly_cost=400, without_home_internet=20, hotspots=20)],
        received_seq=seq + 3,
    )
    insert_rows(con, "pl_participation", [pl(SY, code, "T1", "teacher", "A1")], received_seq=seq + 4)


def _warehouse(path: Path, config_dir: Path = CONFIG_DIR) -> Path:
    create_warehouse(path, config_dir)
    con = duckdb.connect(str(path))
    try:
        insert_rows(
            con,
            "districts",
            [
                district("10001", "Alpha Public Schools", "LEA", "50001"),
                district("50001", "Washtenaw ISD", "ISD", "50001"),
            ],
            received_seq=1,
            effective_school_year=SY,
        )
        _small_district(con)
    finally:
        con.close()
    return path


def _config_with(tmp_path: Path, edit) -> Path:
    config_dir = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config_dir)
    metrics = yaml.safe_load((config_dir / "metrics.yml").read_text())
    edit(metrics)
    (config_dir / "metrics.yml").write_text(yaml.safe_dump(metrics, sort_keys=False))
    return config_dir


def _opens_in_another_process(db_path: Path) -> subprocess.CompletedProcess:
    """Open the file read-write from a separate process (DuckDB allows one writer)."""
    code = (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
        "con.execute('select count(*) from information_schema.tables').fetchall(); con.close()"
    )
    return subprocess.run([sys.executable, "-c", code, str(db_path)], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, DbtBuildSummary]:
    """One build of a one-district warehouse whose config lowers the bandwidth target to 500 kbps."""
    tmp = tmp_path_factory.mktemp("project")

    def lower_bandwidth_target(metrics):
        metrics["targets"]["kbps_per_student"]["target"] = 500

    config_dir = _config_with(tmp, lower_bandwidth_target)
    db_path = _warehouse(tmp / "warehouse.duckdb", config_dir)
    return db_path, run_dbt_build(db_path)


def _model_yaml() -> dict[str, dict]:
    models: dict[str, dict] = {}
    for path in (DBT_PROJECT_DIR / "models").rglob("*.yml"):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            models[model["name"]] = model
    return models


def _model_files() -> dict[str, Path]:
    return {p.stem: p for p in (DBT_PROJECT_DIR / "models").rglob("*.sql")}


# ---- the build ----------------------------------------------------------------------------


def test_build_succeeds_and_reports_every_node(built):
    _, summary = built
    assert not summary.failures and not summary.warnings and not summary.skipped
    assert {n.name for n in summary.models} == set(_model_files())
    assert all(n.status == "success" for n in summary.models)
    assert summary.tests and all(n.status == "pass" for n in summary.tests)


def test_targets_come_from_config_not_sql(built):
    db, _ = built
    row = one(
        db,
        "select kbps_per_student, meets_bandwidth_target from marts.district_year_metrics"
        " where district_code = '10001'",
    )
    assert row["kbps_per_student"] == pytest.approx(400 * 1000 / 500)  # 800 kbps
    assert row["meets_bandwidth_target"] is True  # against the configured 500, not 1000
    target = one(
        db, "select target, comparison from marts.metric_values where metric = 'kbps_per_student' and scope = 'state'"
    )
    assert target == {"target": 500.0, "comparison": ">="}


def test_models_land_in_schemas_named_staging_intermediate_marts(built):
    db, _ = built
    schemas = {r["schema_name"] for r in query(db, "select schema_name from information_schema.schemata")}
    assert set(MODEL_SCHEMAS) <= schemas
    assert not [s for s in schemas if s.startswith("main_")]
    tables = query(
        db,
        "select table_schema, table_name, table_type from information_schema.tables"
        " where table_schema in ('staging', 'intermediate', 'marts')",
    )
    files = _model_files()
    assert sorted(t["table_name"] for t in tables) == sorted(files)
    for t in tables:
        # staging and the latest-submission models are views (each is read once);
        # everything built on them is a table
        is_view = t["table_schema"] == "staging" or t["table_name"].endswith("__published")
        assert t["table_type"] == ("VIEW" if is_view else "BASE TABLE"), t
        assert files[t["table_name"]].parent.name == t["table_schema"], t


@pytest.mark.fast
def test_model_names_follow_the_layer_conventions():
    for name, path in _model_files().items():
        layer = path.parent.name
        if layer == "staging":
            # stg_<source: who sends it>__<table>
            assert re.fullmatch(r"stg_(district_files|reference|audit)__\w+", name), name
        elif layer == "intermediate":
            assert name.startswith("int_"), name
    assert {n for n, p in _model_files().items() if p.parent.name == "marts"} == set(MART_COLUMNS)


def test_each_model_has_its_own_yaml_beside_its_sql():
    """One <model>.yml per model, next to <model>.sql, describing that model alone;
    sources keep one YAML per source (_<source>__sources.yml)."""
    files = _model_files()
    for path in (DBT_PROJECT_DIR / "models").rglob("*.yml"):
        content = yaml.safe_load(path.read_text()) or {}
        if path.name.endswith("__sources.yml"):
            assert set(content) == {"version", "sources"} and len(content["sources"]) == 1, path
            assert path.name == f"_{content['sources'][0]['name']}__sources.yml", path
            continue
        assert [m["name"] for m in content.get("models", [])] == [path.stem], path
        assert files.get(path.stem, Path()).parent == path.parent, path
    assert {p.stem for p in (DBT_PROJECT_DIR / "models").rglob("*.yml")} >= set(files)


def test_marts_have_the_architecture_columns_and_enforced_contracts(built):
    db, _ = built
    models = _model_yaml()
    for mart, required in MART_COLUMNS.items():
        spec = models[mart]
        assert spec["config"]["contract"]["enforced"] is True, mart
        declared = {c["name"]: c["data_type"] for c in spec["columns"]}  # KeyError: a column without a type
        built_columns = {
            r["column_name"]: r["data_type"]
            for r in query(
                db,
                "select column_name, data_type from information_schema.columns"
                " where table_schema = 'marts' and table_name = ?",
                [mart],
            )
        }
        assert set(required) <= set(built_columns), (mart, set(required) - set(built_columns))
        assert set(declared) == set(built_columns), mart
        for column, data_type in declared.items():
            assert built_columns[column] == data_type.upper(), (mart, column)


def test_metric_columns_have_the_architecture_types(built):
    db, _ = built
    types = {
        r["column_name"]: r["data_type"]
        for r in query(
            db,
            "select column_name, data_type from information_schema.columns"
            " where table_schema = 'marts' and table_name = 'district_year_metrics'",
        )
    }
    assert types["student_count"] == types["tpack_samr_participants"] == types["leaders_in_pl"] == "BIGINT"
    assert types["students_per_device"] == types["pl_hours_online"] == types["kbps_per_student"] == "DOUBLE"
    assert types["meets_bandwidth_target"] == types["data_complete"] == types["has_devices"] == "BOOLEAN"


def test_every_model_and_column_is_described(built):
    db, _ = built
    models = _model_yaml()
    for name, path in _model_files().items():
        assert name in models, f"{name} has no YAML entry"
        spec = models[name]
        assert (spec.get("description") or "").strip(), f"{name} has no description"
        built_columns = [
            r["column_name"]
            for r in query(
                db,
                "select column_name from information_schema.columns where table_schema = ? and table_name = ?"
                " order by ordinal_position",
                [path.parent.name, name],
            )
        ]
        described = {c["name"]: (c.get("description") or "").strip() for c in spec.get("columns", [])}
        assert set(described) == set(built_columns), (name, set(built_columns) ^ set(described))
        assert all(described.values()), (name, [c for c, d in described.items() if not d])


def test_every_source_table_and_column_is_described(built):
    db, _ = built
    sources = {}
    for path in (DBT_PROJECT_DIR / "models").rglob("*.yml"):
        for source in (yaml.safe_load(path.read_text()) or {}).get("sources", []):
            sources[source["schema"]] = source
    assert set(sources) == {"raw", "reference", "audit"}
    for schema, source in sources.items():
        assert source["description"].strip()
        tables = {t["name"]: t for t in source["tables"]}
        built_tables = {
            r["table_name"]
            for r in query(db, "select table_name from information_schema.tables where table_schema = ?", [schema])
        }
        if schema == "audit":  # the pipeline's record: dbt reads some of its tables
            assert set(tables) <= built_tables, schema
        else:
            assert set(tables) == built_tables, schema
        for name, table in tables.items():
            assert table["description"].strip(), name
            columns = {c["name"]: c["description"].strip() for c in table["columns"]}
            built_columns = {
                r["column_name"]
                for r in query(
                    db,
                    "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
                    [schema, name],
                )
            }
            assert set(columns) == built_columns, (schema, name)
            assert all(columns.values()), (schema, name)


def test_every_data_test_says_what_when_and_how_to_resolve(built):
    _, summary = built
    assert len(summary.tests) > 50
    for test in summary.tests:
        text = test.description
        assert "What:" in text and "When it matters:" in text and "Resolve:" in text, test.name


def test_rates_over_100_are_warn_severity_tests(built):
    _, summary = built
    rate_tests = [t for t in summary.tests if re.search(r"_pct.*100", t.name)]
    names = " ".join(t.name for t in rate_tests)
    for metric in (
        "teacher_device_coverage_pct",
        "home_internet_gap_pct",
        "hotspot_coverage_pct",
        "leader_pl_rate_pct",
        "teacher_pl_rate_pct",
        "tech_staff_pl_rate_pct",
    ):
        assert metric in names, metric
    assert all(t.severity == "warn" and t.rule == "rate_over_100" for t in rate_tests)
    assert summary.node("assert_published_districts_are_in_the_directory").severity == "warn"
    assert summary.node("staffing_published_once_per_district_year").severity == "error"


def test_rates_over_100_have_one_owner_the_warn_tests_whose_findings_reach_audit_issues(tmp_path):
    """The warn tests of rule rate_over_100 store their failing rows; record_test_findings
    writes them into audit.issues with the rule, family, column, value and message the
    alerts and the report read, only for the district-years the run loaded."""
    from flows.warehouse import audit
    from flows.warehouse.transform import record_test_findings, stored_rate_tests

    assert {metric: family for _, metric, family in stored_rate_tests()} == {
        "teacher_device_coverage_pct": "devices",
        "home_internet_gap_pct": "connectivity",
        "hotspot_coverage_pct": "connectivity",
        "leader_pl_rate_pct": "pl_participation",
        "teacher_pl_rate_pct": "pl_participation",
        "tech_staff_pl_rate_pct": "pl_participation",
    }
    db_path = tmp_path / "warehouse.duckdb"
    create_warehouse(db_path)
    con = duckdb.connect(str(db_path))
    try:
        insert_rows(
            con,
            "districts",
            [district("10001", "Alpha", "LEA", "50001"), district("10002", "Beta", "LEA", "50001")],
            received_seq=1,
            effective_school_year=SY,
        )
        for seq, (code, teacher_devices) in enumerate((("10001", 30), ("10002", 25)), start=1):
            insert_rows(con, "enrollment", [enrollment(SY, code, "00101", 500)], received_seq=10 * seq)
            staffing_row = staffing(SY, code, teachers=20, building_leaders=2, district_leaders=1, tech_staff=2)
            insert_rows(con, "staffing", [staffing_row], received_seq=10 * seq + 1)
            insert_rows(
                con,
                "devices",
                [
                    devices(SY, code, "00101", "chromebook", "student", 500),
                    devices(SY, code, "00101", "laptop", "teacher", teacher_devices),
                ],
                received_seq=10 * seq + 2,
            )
        audit.ensure_audit_schema(con)
        # this run loaded 10001's devices; 10002's data came with an earlier run
        con.execute("insert into audit.load_counts values ('run-2', 'f2', 'devices', ?, '10001', 2, 0)", [SY])
        con.execute("insert into audit.load_counts values ('run-1', 'f1', 'devices', ?, '10002', 2, 0)", [SY])
    finally:
        con.close()
    summary = run_dbt_build(db_path)
    found = [t for t in summary.warnings if t.rule == "rate_over_100"]
    assert [(t.column_name, t.failures) for t in found] == [("teacher_device_coverage_pct", 2)]

    con = duckdb.connect(str(db_path))
    try:
        record_test_findings(con, "run-2")
        issues = con.execute("select * from audit.issues").fetchall()
    finally:
        con.close()
    assert issues == [
        (
            "run-2",
            None,
            None,
            "devices",
            SY,
            "10001",
            None,
            "rate_over_100",
            "warning",
            "teacher_device_coverage_pct",
            "150.0",
            "teacher_device_coverage_pct is 150.0 (over 100): it is published as computed; "
            "check the counts it is built from",
        )
    ]


@pytest.mark.fast
def test_profile_reads_the_path_from_the_environment_and_keeps_one_connection():
    profile = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())["roadmap_warehouse"]
    output = profile["outputs"][profile["target"]]
    assert output["type"] == "duckdb"
    assert output["path"] == "{{ env_var('ROADMAP_DBT_DB_PATH') }}"
    # one connection for the whole build; flows.warehouse.transform closes it afterwards
    # (test_the_file_is_released_in_this_process_before_it_is_renamed)
    assert output["keep_open"] is True
    assert output["threads"] in (1, 2)
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    assert project["name"] == "roadmap_warehouse" and project["profile"] == "roadmap_warehouse"
    assert project["models"]["roadmap_warehouse"]["+materialized"] == "table"


@pytest.mark.fast
def test_dbt_needs_no_packages():
    for name in ("packages.yml", "dependencies.yml", "package-lock.yml"):
        assert not (DBT_PROJECT_DIR / name).exists(), name


@pytest.mark.fast
def test_sql_is_lower_case_and_staging_is_source_then_renamed():
    upper = re.compile(r"\b(SELECT|FROM|WHERE|JOIN|GROUP BY|ORDER BY|WITH|AS|CASE|WHEN|UNION)\b")
    for path in DBT_PROJECT_DIR.rglob("*.sql"):
        if "target" in path.parts:
            continue
        code = re.sub(r"--[^\n]*|\{#.*?#\}", "", path.read_text(), flags=re.S)
        assert not upper.search(code), path
    for name, path in _model_files().items():
        if name.startswith("stg_"):
            code = path.read_text()
            assert (
                "with source as" in code and "renamed as" in code and code.rstrip().endswith("select * from renamed")
            ), name


# ---- failures and the file lock ---------------------------------------------------------------


def test_failing_data_test_raises_dbt_build_failed_naming_the_node(tmp_path):
    db_path = _warehouse(tmp_path / "warehouse.duckdb")
    con = duckdb.connect(str(db_path))
    try:
        # a second, different staffing row for the district in the same file: the
        # validation stage should have blocked it; the data test must stop the build
        insert_rows(
            con,
            "staffing",
            [
                staffing(SY, "10001", teachers=20, building_leaders=2, district_leaders=1, tech_staff=2),
                staffing(SY, "10001", teachers=99, building_leaders=2, district_leaders=1, tech_staff=2),
            ],
            received_seq=50,
        )
    finally:
        con.close()

    with pytest.raises(DbtBuildFailed) as raised:
        run_dbt_build(db_path)

    message = str(raised.value)
    assert "staffing_published_once_per_district_year" in message
    assert "on int_staffing__published" in message
    assert "1 failing row" in message
    assert "Resolve:" in message and "duplicate_key_conflict" in message
    assert "district_code=10001" in message  # the failing row, quoted
    assert "district_year_metrics" in message  # named among the models not built
    failure = raised.value.failures[0]
    assert (failure.status, failure.failures, failure.severity) == ("fail", 1, "error")
    assert failure.compiled_sql and "int_staffing__published" in failure.compiled_sql
    # the file is released even when the build fails
    opened = _opens_in_another_process(db_path)
    assert opened.returncode == 0, opened.stderr


def test_model_error_raises_dbt_build_failed(tmp_path):
    db_path = _warehouse(tmp_path / "warehouse.duckdb")
    con = duckdb.connect(str(db_path))
    try:
        con.execute("drop table reference.metric_targets")  # a source a model reads is gone
    finally:
        con.close()
    with pytest.raises(DbtBuildFailed) as raised:
        run_dbt_build(db_path)
    assert "model stg_reference__metric_targets" in str(raised.value)
    assert raised.value.failures[0].status == "error"


def test_warehouse_file_can_be_opened_right_after_the_build(tmp_path):
    db_path = _warehouse(tmp_path / "warehouse.duckdb")
    summary = run_dbt_build(db_path, select="stg_reference__metrics")
    assert [n.name for n in summary.models] == ["stg_reference__metrics"]
    opened = _opens_in_another_process(db_path)
    assert opened.returncode == 0, opened.stderr
    con = duckdb.connect(str(db_path))  # and read-write in this process
    con.close()


def _handles_on(path: Path) -> list[str]:
    """What this process has open on the file or its WAL (Linux)."""
    fds = Path("/proc/self/fd")
    found = []
    for entry in fds.iterdir():
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        if target in (str(path), str(path) + ".wal"):
            found.append(target)
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to list open files")
def test_the_file_is_released_in_this_process_before_it_is_renamed(tmp_path):
    """What the publish stage does right after the build: rename the work copy over the
    published file; the next night puts a new work copy at the same path and opens it
    in the same process (a served flow runs night after night in one process)."""
    work = _warehouse(tmp_path / "roadmap.duckdb.building")
    run_dbt_build(work)
    assert _handles_on(work) == []
    published = tmp_path / "roadmap.duckdb"
    os.replace(work, published)
    assert _opens_in_another_process(published).returncode == 0

    fresh = duckdb.connect(str(work))  # a new file at the old path, as the next night's work copy
    try:
        fresh.execute("create table next_night as select 1 as marker")
        assert fresh.execute(
            "select count(*) from information_schema.schemata where schema_name = 'marts'"
        ).fetchall() == [(0,)], "the connection reached the renamed file, not the new one"
    finally:
        fresh.close()
    assert one(published, "select count(*) as n from information_schema.tables where table_name = 'next_night'") == {
        "n": 0
    }


def _partial_parse_file(db_path: Path) -> Path:
    return db_path.parent / ".dbt" / db_path.name / "target" / "partial_parse.msgpack"


def test_dbt_parses_only_what_changed_keeping_its_target_beside_the_warehouse(tmp_path):
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    (tmp_path / "w").mkdir()
    db_path = _warehouse(tmp_path / "w" / "roadmap.duckdb")
    run_dbt_build(db_path, project_dir=project)
    saved = _partial_parse_file(db_path)
    assert saved.is_file()
    assert not (project / "target").exists() and not (project / "logs").exists()  # nothing in the project
    parsed = (saved.stat().st_mtime_ns, saved.read_bytes())

    # nothing changed: dbt reuses its manifest as it is
    second = run_dbt_build(db_path, project_dir=project)
    assert second.models and (saved.stat().st_mtime_ns, saved.read_bytes()) == parsed

    # a model changed: dbt re-parses it, and the build has it
    model = project / "models" / "marts" / "objectives.sql"
    model.write_text(
        model.read_text().replace(
            "cast(catalog.objective_text as varchar) as objective_text",
            "cast(upper(catalog.objective_text) as varchar) as objective_text",
        )
    )
    third = run_dbt_build(db_path, project_dir=project, incremental=True)
    assert third.mode == "full" and "dbt project" in third.reason
    assert saved.read_bytes() != parsed[1]
    text = one(db_path, "select objective_text from marts.objectives where objective_id = 'G4'")["objective_text"]
    assert text == text.upper() and any(c.isalpha() for c in text)

    # a manifest saved by another dbt version is not reused
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.manifest import extended_mashumaro_encoder, extended_mashumuro_decoder
    from dbt.version import __version__

    manifest = Manifest.from_msgpack(saved.read_bytes(), decoder=extended_mashumuro_decoder)
    manifest.metadata.dbt_version = "1.10.0"
    saved.write_bytes(manifest.to_msgpack(extended_mashumaro_encoder))
    run_dbt_build(db_path, project_dir=project)
    manifest = Manifest.from_msgpack(saved.read_bytes(), decoder=extended_mashumuro_decoder)
    assert manifest.metadata.dbt_version == __version__

    # half a manifest (a run killed while dbt wrote it): parsed again, the build succeeds
    saved.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    assert run_dbt_build(db_path, project_dir=project).models
    Manifest.from_msgpack(saved.read_bytes(), decoder=extended_mashumuro_decoder)  # whole again


def test_two_warehouses_built_in_one_process_keep_their_own_parse_state(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _warehouse(tmp_path / "a" / "roadmap.duckdb")
    second = _warehouse(tmp_path / "b" / "roadmap.duckdb")
    con = duckdb.connect(str(second))
    try:  # the second district resubmitted its enrollment
        insert_rows(con, "enrollment", [enrollment(SY, "10001", "00101", 700)], received_seq=30)
    finally:
        con.close()
    run_dbt_build(first)
    parsed = _partial_parse_file(first).read_bytes()
    run_dbt_build(second)
    assert _partial_parse_file(second).is_file()
    summary = run_dbt_build(first)  # after another file's build: its own manifest, reused as it was
    assert summary.models and summary.db_path == first.resolve()
    assert _partial_parse_file(first).read_bytes() == parsed
    # each build read and wrote its own file
    for db_path, students in ((first, 500), (second, 700)):
        assert one(db_path, "select student_count from marts.district_year_metrics where district_code = '10001'") == {
            "student_count": students
        }


class _FullParses(logging.Handler):
    """Counts dbt's "Unable to do partial parsing" lines: a parse from scratch (flows.warehouse.transform
    passes dbt's lines on)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record):
        self.count += "Unable to do partial parsing" in record.getMessage()


@pytest.fixture
def full_parses():
    counter, logger = _FullParses(), logging.getLogger("flows.warehouse.transform.dbt")
    level = logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.INFO)
    yield counter
    logger.removeHandler(counter)
    logger.setLevel(level)


def test_with_a_parse_cache_a_new_warehouse_starts_from_the_manifest_another_one_saved(
    tmp_path, monkeypatch, full_parses
):
    for folder in ("a", "b", "c", "d"):
        (tmp_path / folder).mkdir()
    monkeypatch.delenv("ROADMAP_DBT_PARSE_CACHE", raising=False)
    # no cache: every file is parsed from scratch, as before (the profile hash holds the path)
    run_dbt_build(_warehouse(tmp_path / "a" / "roadmap.duckdb"))
    run_dbt_build(_warehouse(tmp_path / "b" / "roadmap.duckdb"))
    assert full_parses.count == 2

    full_parses.count = 0
    monkeypatch.setenv("ROADMAP_DBT_PARSE_CACHE", str(tmp_path / "cache"))
    first = _warehouse(tmp_path / "c" / "roadmap.duckdb")
    second = _warehouse(tmp_path / "d" / "roadmap.duckdb")
    con = duckdb.connect(str(second))
    try:  # the second file's district resubmitted its enrollment
        insert_rows(con, "enrollment", [enrollment(SY, "10001", "00101", 700)], received_seq=30)
    finally:
        con.close()
    run_dbt_build(first)
    assert full_parses.count == 1  # nothing saved yet for this project and file name
    assert len(list((tmp_path / "cache").glob("*/partial_parse.msgpack"))) == 1
    run_dbt_build(second)
    assert full_parses.count == 1  # started from the first file's manifest
    # each build read and wrote its own file
    for db_path, students in ((first, 500), (second, 700)):
        assert one(db_path, "select student_count from marts.district_year_metrics where district_code = '10001'") == {
            "student_count": students
        }

    # a manifest in the cache that cannot be read: parsed again from scratch, the build stands
    entry = next((tmp_path / "cache").glob("*/partial_parse.msgpack"))
    entry.write_bytes(entry.read_bytes()[:100])
    (tmp_path / "e").mkdir()
    assert run_dbt_build(_warehouse(tmp_path / "e" / "roadmap.duckdb")).models
    assert len(entry.read_bytes()) > 100  # replaced by the good one


def test_dbt_is_imported_only_when_a_build_runs(tmp_path):
    db_path = _warehouse(tmp_path / "roadmap.duckdb")
    run_dbt_build(db_path)
    code = (
        "import sys; from pathlib import Path\n"
        "import flows.cli, flows.nightly\n"
        "from flows.warehouse.transform import run_dbt_build\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'dbt'], 'dbt imported at start'\n"
        "summary = run_dbt_build(Path(sys.argv[1]), incremental=True)\n"
        "assert summary.mode == 'up to date', summary.mode\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'dbt'], 'dbt imported for no build'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(db_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.fast
def test_missing_warehouse_file_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        run_dbt_build(tmp_path / "nowhere.duckdb")


# ---- reference loader ------------------------------------------------------------------------


@pytest.mark.fast
def test_reference_flattens_the_catalog_in_document_order():
    con = duckdb.connect()
    load_reference(con, CONFIG_DIR)
    load_reference(con, CONFIG_DIR)  # rewriting is idempotent
    rows = con.execute(
        "select objective_id, parent_id, strategy_id, level, sort_order from reference.objectives order by sort_order"
    ).fetchall()
    assert rows[:5] == [
        ("G4", None, None, "goal", 1),
        ("G4.S1", "G4", "G4.S1", "strategy", 2),
        ("G4.S1.A", "G4.S1", "G4.S1", "objective", 3),
        ("G4.S1.B", "G4.S1", "G4.S1", "objective", 4),
        ("G4.S1.B.a", "G4.S1.B", "G4.S1", "sub_objective", 5),
    ]
    assert con.execute("select count(*) from reference.objective_metrics").fetchall() == [(26,)]
    target = con.execute(
        "select comparison, target from reference.metric_targets where metric = 'students_per_device'"
    ).fetchall()
    assert target == [("<=", 1.0)]
    families = con.execute("select source_families from reference.metrics where metric = 'data_complete'")
    assert families.fetchall() == [("enrollment, staffing, devices, connectivity, pl_participation",)]
    con.close()


@pytest.mark.fast
def test_reference_rejects_an_objective_neither_mapped_nor_unmeasured(tmp_path):
    config_dir = _config_with(tmp_path, lambda m: m["unmeasured"].pop("G4.S1.F"))
    with pytest.raises(ValueError, match=r"neither mapped.*G4\.S1\.F"):
        read_reference(config_dir)


@pytest.mark.fast
def test_reference_rejects_an_unknown_mapped_metric(tmp_path):
    config_dir = _config_with(tmp_path, lambda m: m["objective_metrics"]["G4.S1.A"].append("leader_happiness"))
    con = duckdb.connect()
    with pytest.raises(ValueError, match="G4.S1.A is mapped to unknown metric 'leader_happiness'"):
        load_reference(con, config_dir)
    # nothing was written
    assert con.execute(
        "select count(*) from information_schema.tables where table_schema = 'reference'"
    ).fetchall() == [(0,)]
    con.close()


@pytest.mark.fast
def test_reference_rejects_a_target_for_an_unknown_metric(tmp_path):
    config_dir = _config_with(
        tmp_path, lambda m: m["targets"].update({"joy_pct": {"comparison": ">=", "target": 1, "source": "x"}})
    )
    with pytest.raises(ValueError, match="unknown metric 'joy_pct'"):
        read_reference(config_dir)


@pytest.mark.fast
def test_reference_uses_the_default_bandwidth_target_when_none_is_configured(tmp_path):
    config_dir = _config_with(tmp_path, lambda m: m["targets"].pop("kbps_per_student"))
    targets = {t[0]: t for t in read_reference(config_dir).metric_targets}
    assert targets["kbps_per_student"][1:3] == (">=", 1000.0)


@pytest.mark.parametrize("handler", ["roadmap nightly", "a Prefect flow run"])
def test_a_stop_during_the_build_stops_the_build_call_even_where_dbt_caught_it(tmp_path, handler):
    """SIGTERM while dbt runs a node: dbt may report the stop as that node's failure, which
    the nightly run would treat as bad data (hold back, publish the rest). The build call
    unwinds with what the SIGTERM handler in place raised (the CLI's Stopped, or the
    TerminationSignal of the handler a Prefect flow run installs), whatever dbt made of it."""
    import logging
    import signal

    from prefect.exceptions import TerminationSignal

    from flows import stopping

    def prefect_bridge(signum, frame):
        raise TerminationSignal(signal=signum)

    on_term, expected = {
        "roadmap nightly": (stopping.stop, stopping.Stopped),
        "a Prefect flow run": (prefect_bridge, TerminationSignal),
    }[handler]

    db_path = _warehouse(tmp_path / "warehouse.duckdb", _config_with(tmp_path, lambda metrics: None))

    class StopAtFirstNode(logging.Handler):
        sent = False

        def emit(self, record):
            if not self.sent and re.search(r"\d+ of \d+ START", record.getMessage()):
                self.sent = True
                os.kill(os.getpid(), signal.SIGTERM)

    handler = StopAtFirstNode()
    dbt_lines = logging.getLogger("flows.warehouse.transform.dbt")  # dbt's own lines, outside a Prefect run
    dbt_lines.addHandler(handler)
    level = dbt_lines.level
    dbt_lines.setLevel(logging.INFO)
    previous = signal.signal(signal.SIGTERM, on_term)
    stopping.reset()
    before = set(threading.enumerate())
    try:
        with pytest.raises(expected):
            run_dbt_build(db_path)
        # dbt's threads finished the nodes they ran: one still in DuckDB when Python exits
        # aborts the process ("terminate called ... FATAL: exception not rethrown")
        left = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
        assert left == [], left
    finally:
        signal.signal(signal.SIGTERM, previous)
        dbt_lines.removeHandler(handler)
        dbt_lines.setLevel(level)
        stopping.reset()
    assert handler.sent
