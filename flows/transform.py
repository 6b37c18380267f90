"""The transform stage (docs/ARCHITECTURE.md): `dbt build` (models + data tests) of
`dbt_project/` on the run's work copy of the warehouse, in-process.

    summary = run_dbt_build(Path("data/warehouse/roadmap.duckdb.building"))

The DuckDB file is handed to dbt through the environment variable
ROADMAP_DBT_DB_PATH, which dbt_project/profiles.yml reads; the profile sets
`keep_open: false`, so the file is closed when the build returns and the publish
stage can open or move it at once. Close your own read-write connections to the file
before the build: dbt needs to write it.

Outcome:
- every model built and every error-severity test passed: a DbtBuildSummary, whose
  `warnings` lists the warn-severity tests that found rows (e.g. rates over 100 %);
- anything else (a model error, a failing test, dbt unable to run at all): raises
  DbtBuildFailed, whose message names each failing node, its failure count, what
  the test checks and how to resolve it (the test's description) and the first
  failing rows. Nothing is swallowed; the work copy must then not be published.

dbt's target and log directories go to a temporary directory removed afterwards,
so builds never write into the repository and parallel builds do not collide.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
DB_PATH_ENV_VAR = "ROADMAP_DBT_DB_PATH"
MEMORY_LIMIT_ENV_VAR = "ROADMAP_DUCKDB_MEMORY_LIMIT"
EXAMPLE_ROWS = 3  # failing rows quoted per failing or warning test

# dbt keeps global state (flags, adapters, event manager) per process: one build at
# a time, and the environment variable is set only for the duration of one build.
_BUILD_LOCK = threading.Lock()

_FAILED_STATUSES = {"error", "fail", "runtime error"}


@dataclass(frozen=True)
class DbtNodeResult:
    """The outcome of one node of the build (a model, a data test, ...)."""

    unique_id: str
    name: str
    resource_type: str  # model, test, seed, snapshot, ...
    status: str  # success, error, pass, fail, warn, skipped
    severity: str | None = None  # a test's configured severity: error or warn
    rule: str | None = None  # a test's meta.rule, an audit.issues rule id (e.g. rate_over_100)
    failures: int | None = None  # rows a test returned
    message: str | None = None
    description: str = ""  # the test's what / when it matters / how to resolve
    attached_to: str | None = None  # the model a generic test is defined on
    column_name: str | None = None  # the column a generic test is defined on
    relation: str | None = None  # the relation a model built
    execution_time: float = 0.0
    compiled_sql: str | None = None  # a test's query: run it to list the failing rows
    example_rows: tuple[dict[str, Any], ...] = ()  # the first rows a failing or warning test returned

    @property
    def failed(self) -> bool:
        return self.status in _FAILED_STATUSES

    def describe(self) -> str:
        on = f" (on {self.attached_to})" if self.attached_to else ""
        if self.resource_type == "test" and self.status in ("fail", "warn"):
            count = self.failures if self.failures is not None else "?"
            what = f"{self.status}, {count} failing row(s)"
        elif self.message and self.status not in ("success", "pass"):
            what = f"{self.status}: {self.message}"
        else:
            what = self.status
        text = f"{self.resource_type} {self.name}{on}: {what}"
        if self.description:
            text += "\n      " + self.description
        for row in self.example_rows:
            text += "\n      e.g. " + ", ".join(f"{k}={v}" for k, v in row.items())
        return text


@dataclass(frozen=True)
class DbtBuildSummary:
    """What `dbt build` did: every node with its status, in execution order."""

    db_path: Path
    nodes: tuple[DbtNodeResult, ...]
    elapsed_seconds: float
    select: str | None = None

    @property
    def failures(self) -> tuple[DbtNodeResult, ...]:
        return tuple(n for n in self.nodes if n.failed)

    @property
    def warnings(self) -> tuple[DbtNodeResult, ...]:
        return tuple(n for n in self.nodes if n.status == "warn")

    @property
    def skipped(self) -> tuple[DbtNodeResult, ...]:
        return tuple(n for n in self.nodes if n.status == "skipped")

    @property
    def models(self) -> tuple[DbtNodeResult, ...]:
        return tuple(n for n in self.nodes if n.resource_type == "model")

    @property
    def tests(self) -> tuple[DbtNodeResult, ...]:
        return tuple(n for n in self.nodes if n.resource_type == "test")

    def node(self, name: str) -> DbtNodeResult:
        for n in self.nodes:
            if n.name == name or n.unique_id == name:
                return n
        raise KeyError(name)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for n in self.nodes:
            out[n.status] = out.get(n.status, 0) + 1
        return out

    def describe(self) -> str:
        counts = ", ".join(f"{v} {k}" for k, v in sorted(self.counts().items()))
        lines = [f"dbt build of {self.db_path} in {self.elapsed_seconds:.1f}s: {counts or 'nothing to do'}"]
        for n in self.failures + self.warnings:
            lines.append("  - " + n.describe())
        skipped_models = [n.name for n in self.skipped if n.resource_type == "model"]
        if skipped_models:
            lines.append("  models skipped: " + ", ".join(skipped_models))
        return "\n".join(lines)


class DbtBuildFailed(RuntimeError):
    """dbt build did not succeed: a model failed, an error-severity test found rows,
    or dbt could not run. `summary` is None when dbt could not start the build."""

    def __init__(self, message: str, summary: DbtBuildSummary | None = None) -> None:
        super().__init__(message)
        self.summary = summary

    @property
    def failures(self) -> tuple[DbtNodeResult, ...]:
        return self.summary.failures if self.summary else ()


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _node_result(result: Any) -> DbtNodeResult:
    node = result.node
    resource_type = str(getattr(node, "resource_type", "") or "")
    description = (getattr(node, "description", "") or "").strip()
    meta = getattr(getattr(node, "config", None), "meta", None) or getattr(node, "meta", None) or {}
    if not description and isinstance(meta, dict):
        description = str(meta.get("description") or "").strip()
    attached = getattr(node, "attached_node", None)
    failures = getattr(result, "failures", None)
    severity = getattr(getattr(node, "config", None), "severity", None) if resource_type == "test" else None
    return DbtNodeResult(
        unique_id=node.unique_id,
        name=node.name,
        resource_type=resource_type,
        status=str(result.status),
        severity=str(severity).lower() if severity else None,
        rule=str(meta["rule"]) if isinstance(meta, dict) and meta.get("rule") else None,
        failures=int(failures) if failures is not None else None,
        message=(str(result.message).strip() or None) if result.message is not None else None,
        description=" ".join(description.split()),
        attached_to=attached.split(".")[-1] if attached else None,
        column_name=getattr(node, "column_name", None) if resource_type == "test" else None,
        relation=getattr(node, "relation_name", None) if resource_type == "model" else None,
        execution_time=float(getattr(result, "execution_time", 0.0) or 0.0),
        compiled_sql=getattr(node, "compiled_code", None) if resource_type == "test" else None,
    )


_IDENTIFYING_COLUMNS = ("scope", "district_code", "district_name", "school_year", "family", "metric", "objective_id")


def _identifying(row: dict[str, Any], column_name: str | None, limit: int = 8) -> dict[str, Any]:
    """A failing row narrowed to what identifies it (district, year, ...) and the
    tested column, when the test returns whole rows of a wide model."""
    if len(row) <= limit:
        return row
    keep = [c for c in _IDENTIFYING_COLUMNS if c in row]
    if column_name and column_name in row and column_name not in keep:
        keep.append(column_name)
    if len(keep) < 2:
        keep += [c for c in row if c not in keep][: limit - len(keep)]
    return {c: row[c] for c in row if c in keep}


def _with_example_rows(db_path: Path, nodes: tuple[DbtNodeResult, ...]) -> tuple[DbtNodeResult, ...]:
    """Attach the first rows each failing or warning test returns (which district,
    which year), so the message says what to fix. Best effort: the build outcome
    does not depend on it."""
    wanted = [n for n in nodes if n.resource_type == "test" and n.status in ("fail", "warn") and n.compiled_sql]
    if not wanted:
        return nodes
    import duckdb

    examples: dict[str, tuple[dict[str, Any], ...]] = {}
    try:
        con = duckdb.connect(str(db_path), read_only=True)
    except Exception as error:  # noqa: BLE001 - examples are optional
        log.debug("no example rows: cannot open %s: %s", db_path, error)
        return nodes
    try:
        for node in wanted:
            try:
                cursor = con.execute(f"select * from ({node.compiled_sql}) as failing_rows limit {EXAMPLE_ROWS}")
                names = [d[0] for d in cursor.description]
                examples[node.unique_id] = tuple(
                    _identifying(dict(zip(names, row)), node.column_name) for row in cursor.fetchall()
                )
            except Exception as error:  # noqa: BLE001
                log.debug("no example rows for %s: %s", node.name, error)
    finally:
        con.close()
    return tuple(replace(n, example_rows=examples.get(n.unique_id, ())) for n in nodes)


_LEVELS = {"info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


def _run_logger() -> logging.Logger | logging.LoggerAdapter:
    """The Prefect run logger when a flow or task runs (its records reach the Prefect
    UI), else this module's logger."""
    try:
        from prefect import get_run_logger

        return get_run_logger()
    except Exception:  # noqa: BLE001 - outside a Prefect run
        return logging.getLogger("flows.transform.dbt")


def _event_logger(logger):
    """A dbt callback: each of dbt's own lines (`1 of 128 START ...`, `Done. PASS=...`)
    as a log record of `logger`. Captured here, in the task's thread, because dbt fires
    events from its worker threads, which have no Prefect run context."""

    def on_event(event) -> None:
        info = event.info
        level = _LEVELS.get(info.level)
        if level is None or not info.msg:
            return
        # dbt's warnings repeat what the summary reports per test; keep them at INFO here
        logger.log(min(level, logging.INFO) if level == logging.WARNING else level, "dbt: %s", info.msg)

    return on_event


def run_dbt_build(
    db_path: Path, *, project_dir: Path | None = None, select: str | None = None, memory_limit: str | None = None
) -> DbtBuildSummary:
    """Run `dbt build` of dbt_project/ (or project_dir) on the DuckDB file db_path.

    select: a dbt node selection (e.g. "+objectives"); None builds everything. With
    a selection, only the data tests whose parents are all selected run.
    Returns the summary; raises DbtBuildFailed on any model error or failing test.
    """
    from dbt.cli.main import dbtRunner  # heavy import: only when a build runs

    db_path = Path(db_path).resolve()
    project_dir = Path(project_dir or DEFAULT_PROJECT_DIR).resolve()
    if not db_path.is_file():
        raise FileNotFoundError(f"warehouse file {db_path} does not exist (create it and load raw first)")
    if not (project_dir / "dbt_project.yml").is_file():
        raise FileNotFoundError(f"{project_dir} is not a dbt project (no dbt_project.yml)")

    with _BUILD_LOCK, tempfile.TemporaryDirectory(prefix="roadmap-dbt-") as work_dir:
        args = [
            "build",
            "--project-dir", str(project_dir),
            "--profiles-dir", str(project_dir),
            "--target-path", str(Path(work_dir) / "target"),
            "--log-path", str(Path(work_dir) / "logs"),
            "--no-partial-parse",
            "--no-send-anonymous-usage-stats",
            "--no-version-check",
            "--no-use-colors",
            # dbt prints nothing itself: every line goes through `on_event` below to the
            # Prefect run logger (the Prefect UI's run log and the run's log file)
            "--log-level", "none",
            "--log-level-file", "none",
        ]
        if select:
            # only the tests whose every parent is selected: a relationships test
            # between a selected and an unselected model would read a missing table
            args += ["--select", select, "--indirect-selection", "cautious"]
        log.info("dbt %s", " ".join(args))
        started = time.monotonic()
        env = {DB_PATH_ENV_VAR: str(db_path), "DO_NOT_TRACK": "1"}
        if memory_limit:
            env[MEMORY_LIMIT_ENV_VAR] = memory_limit  # read by profiles.yml
        with _environment(env):
            outcome = dbtRunner(callbacks=[_event_logger(_run_logger())]).invoke(args)
        elapsed = time.monotonic() - started

    if outcome.exception is not None:
        error = outcome.exception
        if not isinstance(error, Exception):  # a signal (SIGTERM, Ctrl-C) stopped the run: not a dbt failure
            raise error
        raise DbtBuildFailed(
            f"dbt build could not run on {db_path}: {type(error).__name__}: {error}"
        ) from error
    run_results = getattr(outcome.result, "results", None)
    if run_results is None:
        raise DbtBuildFailed(f"dbt build could not run on {db_path}: dbt returned no node results")

    summary = DbtBuildSummary(
        db_path=db_path,
        nodes=_with_example_rows(db_path, tuple(_node_result(r) for r in run_results)),
        elapsed_seconds=elapsed,
        select=select,
    )
    for warning in summary.warnings:
        log.warning("dbt warning: %s", warning.describe())

    if summary.failures or not outcome.success:
        lines = [f"dbt build failed on {db_path}: {len(summary.failures)} failing node(s)"]
        for failure in summary.failures:
            lines.append("  - " + failure.describe())
        skipped_models = [n.name for n in summary.skipped if n.resource_type == "model"]
        if skipped_models:
            lines.append("  models not built because of the failures above: " + ", ".join(skipped_models))
        if not summary.failures:
            lines.append("  dbt reported failure without a failing node; see the dbt output above")
        raise DbtBuildFailed("\n".join(lines), summary)

    log.info(summary.describe())
    return summary
