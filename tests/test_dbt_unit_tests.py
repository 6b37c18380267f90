"""The dbt unit tests of dbt_project/ (`unit_tests:` in the model YAML: fixed rows in,
expected rows out) for the metric formulas: latest_submission, ratio, summed_ratio,
meets_target, previous_school_year, the device and PL counts. They run here, through
dbt against a warehouse built by the real dbt build (a unit test reads the column
types of its inputs' relations), and never in the nightly build: flows/warehouse/transform.py
excludes the unit_test resource type."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from dbt_fixtures import DBT_PROJECT_DIR, create_warehouse
from flows.warehouse.transform import DB_PATH_ENV_VAR, _release_duckdb, run_dbt_build


def _defined_unit_tests(project_dir: Path) -> dict[str, str]:
    """unit test name -> the model it tests, from the model YAML files."""
    found = {}
    for path in (project_dir / "models").rglob("*.yml"):
        for test in (yaml.safe_load(path.read_text()) or {}).get("unit_tests", []):
            found[test["name"]] = test["model"]
    return found


def run_unit_tests(db_path: Path, project_dir: Path, state_dir: Path, monkeypatch) -> dict[str, str]:
    """`dbt test --select test_type:unit` in this process: unit test name -> status."""
    from dbt.cli.main import dbtRunner

    monkeypatch.setenv(DB_PATH_ENV_VAR, str(db_path))
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    args = ["test", "--select", "test_type:unit", "--project-dir", str(project_dir)]
    args += ["--profiles-dir", str(project_dir), "--target-path", str(state_dir / "target")]
    args += ["--log-path", str(state_dir / "logs"), "--log-level", "none", "--no-send-anonymous-usage-stats"]
    try:
        outcome = dbtRunner().invoke(args)
    finally:
        _release_duckdb(db_path)
    assert outcome.exception is None, outcome.exception
    return {r.node.name: str(r.status) for r in outcome.result.results if r.node.resource_type == "unit_test"}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    """An empty warehouse (raw tables, reference from config) built by the real dbt build."""
    db_path = tmp_path_factory.mktemp("unit") / "warehouse.duckdb"
    create_warehouse(db_path)
    summary = run_dbt_build(db_path)
    # the build does not run them: a night is not slowed by them
    assert not [n for n in summary.nodes if n.resource_type == "unit_test"]
    return db_path


def test_every_unit_test_of_the_metric_formulas_passes(warehouse, tmp_path, monkeypatch):
    defined = _defined_unit_tests(DBT_PROJECT_DIR)
    # the models whose SQL holds the metric macros
    assert {
        "int_enrollment__published",  # latest_submission
        "int_school_years",  # previous_school_year
        "int_devices__district_years",
        "int_pl_participation__district_years",
        "district_year_metrics",  # ratio, meets_target, kbps_per_student
        "state_year_metrics",  # summed_ratio, area_metric_aggregates
    } <= set(defined.values())
    statuses = run_unit_tests(warehouse, DBT_PROJECT_DIR, tmp_path, monkeypatch)
    assert statuses == dict.fromkeys(defined, "pass")


# A rule broken in each of three macros, in one copy of the project (one dbt run): the
# unit test of each broken rule fails, the others still pass (so the tests can fail, and
# each fails for its own rule).
MUTATIONS = (
    # (file, text, replaced by, the unit test that must fail)
    (
        "macros/latest_submission.sql",
        "max({{ sequence_column }})",
        "min({{ sequence_column }})",
        "latest_submission_replaces_earlier_files_whole",
    ),
    # the state sums districts with either side published
    (
        "macros/metrics.sql",
        "' is not null and '",
        "' is not null or '",
        "state_rates_sum_only_districts_publishing_both_sides",
    ),
    # the previous school year drops the decade
    ("macros/school_years.sql", "% 100", "% 10", "previous_school_year_of_each_year_on_record"),
)


def test_a_broken_formula_fails_its_unit_test_and_only_that_one(warehouse, tmp_path, monkeypatch):
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    for path, old, new, _ in MUTATIONS:
        source = (project / path).read_text()
        assert old in source, (path, old)
        (project / path).write_text(source.replace(old, new))
    statuses = run_unit_tests(warehouse, project, tmp_path / "state", monkeypatch)
    failing = {test for *_, test in MUTATIONS}
    assert statuses == {name: "fail" if name in failing else "pass" for name in _defined_unit_tests(project)}
