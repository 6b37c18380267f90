"""The transform stage (docs/ARCHITECTURE.md): `dbt build` (models + data tests) of
`dbt_project/` on the run's work copy of the warehouse, in-process.

    summary = run_dbt_build(Path("data/warehouse/roadmap.duckdb.building"))        # everything
    summary = run_dbt_build(work_copy, incremental=True)                           # the nightly run

The DuckDB file is handed to dbt through the environment variable
ROADMAP_DBT_DB_PATH, which dbt_project/profiles.yml reads. The profile sets
`keep_open: true` (one connection for the whole build instead of one per node); when
dbt returns, the connection dbt-duckdb keeps is closed here and the process is
checked to hold no handle on the file, so the publish stage can rename it at once.
Close your own read-write connections to the file before the build: dbt needs to
write it.

Incremental builds (`incremental=True`; see plan_build): every build records in the
file's `audit.dbt_builds` what it was built from (a fingerprint of the dbt project
and the dbt and DuckDB versions; the state of each raw and reference table). The
next build compares: when the project changed, no build is recorded or a model's
relation is missing, everything is built; when some source tables changed, only the
models downstream of them (`--select source:district_files.devices+ ...`) with every data test
on those models; when nothing changed, dbt does not run at all (and is not even
imported). The caller passes nothing about what changed: it is read from the file.

Outcome:
- every model built and every error-severity test passed: a DbtBuildSummary, whose
  `warnings` lists the warn-severity tests that found rows (e.g. rates over 100 %),
  and whose `mode` and `reason` say what was built and why;
- anything else (a model error, a failing test, dbt unable to run at all): raises
  DbtBuildFailed, whose message names each failing node, its failure count, what
  the test checks and how to resolve it (the test's description) and the first
  failing rows. Nothing is swallowed; the work copy must then not be published.

dbt's target (its partially parsed manifest, compiled SQL) and log directories live
beside the DuckDB file, `<dir>/.dbt/<file name>/` (default_state_dir): never in the
repository, stable from one night to the next (the work copy's path does not change),
so dbt re-parses only the project files that changed, and one directory per file, so
two warehouses built by one process never share a manifest. dbt itself re-parses
everything when its version, the profile (including the DuckDB path), the vars or
dbt_project.yml change; a manifest it cannot read is parsed again from scratch.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import stopping
from ..settings import DBT_PROJECT_DIR, read_yaml

log = logging.getLogger(__name__)

DEFAULT_PROJECT_DIR = DBT_PROJECT_DIR
DB_PATH_ENV_VAR = "ROADMAP_DBT_DB_PATH"
MEMORY_LIMIT_ENV_VAR = "ROADMAP_DUCKDB_MEMORY_LIMIT"
PARSE_CACHE_ENV_VAR = "ROADMAP_DBT_PARSE_CACHE"  # see "the shared parse cache" below
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
    mode: str = "full"  # full, incremental (only what depends on changed sources) or up to date (no build)
    reason: str = ""  # why this mode: what changed since the last recorded build

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
        how = f" ({self.mode}: {self.reason})" if self.reason else ""
        lines = [f"dbt build of {self.db_path} in {self.elapsed_seconds:.1f}s{how}: {counts or 'nothing to do'}"]
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
    except Exception as error:  # examples are optional
        log.debug("no example rows: cannot open %s: %s", db_path, error)
        return nodes
    try:
        for node in wanted:
            try:
                cursor = con.execute(f"select * from ({node.compiled_sql}) as failing_rows limit {EXAMPLE_ROWS}")
                names = [d[0] for d in cursor.description]
                examples[node.unique_id] = tuple(
                    _identifying(dict(zip(names, row, strict=True)), node.column_name) for row in cursor.fetchall()
                )
            except Exception as error:
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
    except Exception:  # outside a Prefect run
        return logging.getLogger("flows.warehouse.transform.dbt")


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


def default_state_dir(db_path: Path) -> Path:
    """Where dbt keeps its target (the partially parsed manifest, compiled SQL) and
    logs for builds of db_path: beside the file, never in the repository, one
    directory per DuckDB file path (for the nightly run: its work copy,
    `<warehouse dir>/.dbt/<warehouse name>.building/`)."""
    db_path = Path(db_path).resolve()
    return db_path.parent / ".dbt" / db_path.name


def _prepare_state_dir(state: Path, project_dir: Path) -> None:
    """Keep dbt's saved manifest only while it belongs to this project directory.

    dbt re-parses by itself whatever changed in the project (files, dbt_project.yml,
    vars, profile, the DuckDB path, dbt's version: its partial-parse checks), but it
    names files relative to the project root, so a manifest parsed from another copy
    of the project would be reused with that copy's paths."""
    state.mkdir(parents=True, exist_ok=True)
    marker = state / "project_dir"
    recorded = marker.read_text() if marker.is_file() else None
    if recorded != str(project_dir):
        shutil.rmtree(state / "target", ignore_errors=True)
        tmp = marker.with_name(marker.name + ".tmp")
        tmp.write_text(str(project_dir))
        os.replace(tmp, marker)


# ------------------------------------------------------------ the shared parse cache
#
# A machine that builds many warehouse files (a test suite, a set of per-district
# sandboxes) parses the same project once per file: dbt ties its saved manifest to the
# DuckDB path through the profile hash, although the path never reaches a model. With
# ROADMAP_DBT_PARSE_CACHE=DIR, the profile hash leaves the path out (the database name,
# settings and every other connection key stay in it), a file's first build starts from
# the manifest another file of the same name and project saved in DIR, and every build
# leaves its manifest there (written whole, then renamed). dbt still checks everything
# else as usual and parses what changed. Unset (the nightly deployment), nothing changes.


def _parse_cache_entry(project_dir: Path, db_path: Path) -> Path | None:
    root = os.environ.get(PARSE_CACHE_ENV_VAR)
    if not root:
        return None
    from dbt.version import __version__

    # the database name dbt-duckdb derives from the file name is part of every relation
    key = hashlib.sha256(f"{project_dir}\0{db_path.name}\0{__version__}".encode()).hexdigest()[:24]
    return Path(root) / key / "partial_parse.msgpack"


def _seed_from_parse_cache(entry: Path | None, target: Path) -> None:
    saved = target / "partial_parse.msgpack"
    if entry is None or saved.exists() or not entry.is_file():
        return
    _copy_whole(entry, saved)


def _save_to_parse_cache(entry: Path | None, target: Path) -> None:
    saved = target / "partial_parse.msgpack"
    if entry is None or not saved.is_file():
        return
    try:
        if entry.is_file() and entry.read_bytes() == saved.read_bytes():
            return
        _copy_whole(saved, entry)
    except OSError as exc:  # a cache: the build stands without it
        log.debug("could not save dbt's manifest in the parse cache %s: %s", entry, exc)


def _copy_whole(source: Path, target: Path) -> None:
    """Copy source to target so that readers of target see the old file or the whole new
    one (another process may read or write the same cache entry at the same time)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


@functools.cache
def _profile_hash_without_path() -> None:
    """Make dbt's partial-parse profile hash leave out the DuckDB path, in this process,
    for builds run with ROADMAP_DBT_PARSE_CACHE set (read at each check)."""
    import pprint

    from dbt.contracts.files import FileHash
    from dbt.parser.manifest import ManifestLoader

    original = ManifestLoader.build_manifest_state_check

    def build_manifest_state_check(self):
        state_check = original(self)
        if os.environ.get(PARSE_CACHE_ENV_VAR):
            keys = sorted(item for item in self.root_project.credentials.connection_info() if item[0] != "path")
            state_check = replace(state_check, profile_hash=FileHash.from_contents(pprint.pformat(keys)))
        return state_check

    ManifestLoader.build_manifest_state_check = build_manifest_state_check


def _handles_on(db_path: Path) -> list[str]:
    """The file descriptors of this process open on db_path or its WAL (Linux: from
    /proc/self/fd; elsewhere nothing can be checked and the list is empty)."""
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.is_dir():
        return []
    wanted = {str(db_path), str(db_path) + ".wal"}
    held = []
    for entry in fd_dir.iterdir():
        try:
            target = os.readlink(entry)
        except OSError:  # closed meanwhile
            continue
        if target in wanted:
            held.append(f"fd {entry.name} -> {target}")
    return held


def _release_duckdb(db_path: Path) -> None:
    """Close the DuckDB database dbt-duckdb kept open for the build (the profile sets
    `keep_open: true`, so one connection serves every node), and check that this
    process holds no handle on the file any more.

    dbt-duckdb keeps its environment, with the open connection, in a class attribute
    that outlives the build, and DuckDB caches an open database per path for the
    process: left open, the next `duckdb.connect` of the work copy's path in this
    process would reach the old file after the publish stage renamed it."""
    import sys

    connections = sys.modules.get("dbt.adapters.duckdb.connections")
    if connections is None:  # dbt never got as far as loading the adapter
        return
    manager = connections.DuckDBConnectionManager
    with manager._LOCK:
        environment, manager._ENV = manager._ENV, None
    if environment is not None:
        environment.close()
    held = _handles_on(db_path)
    if held:
        gc.collect()  # a cursor only the garbage collector still references
        held = _handles_on(db_path)
    if held:
        raise DbtBuildFailed(
            f"dbt build left {db_path} open in this process ({', '.join(held)}); it cannot be published safely. "
            "This is a bug in flows/warehouse/transform.py or dbt-duckdb: report it with the dbt-duckdb version."
        )


# ------------------------------------------------------------- warn tests -> audit.issues
#
# Rates over 100 (DATA_SPEC section 2) have one owner: the warn tests of rule
# rate_over_100 on marts.district_year_metrics (its YAML says which rates, and meta.family
# which family a finding is about). dbt stores their failing rows in
# dbt_test__audit.<test name>; record_test_findings writes them into audit.issues, where
# the alerts and the report read every other warning.

TEST_FAILURES_SCHEMA = "dbt_test__audit"
_RATE_TESTS_YAML = Path("models") / "marts" / "district_year_metrics.yml"


def stored_rate_tests(project_dir: Path | None = None) -> list[tuple[str, str, str]]:
    """(test name, rate column, family) of each warn test of rule rate_over_100 on
    marts.district_year_metrics that stores its failures."""
    path = Path(project_dir or DEFAULT_PROJECT_DIR) / _RATE_TESTS_YAML
    found = []
    for model in read_yaml(path)["models"]:
        for column in model.get("columns") or []:
            for test in column.get("data_tests") or []:
                spec = next(iter(test.values())) if isinstance(test, dict) else None
                config = (spec or {}).get("config") or {}
                meta = config.get("meta") or {}
                if meta.get("rule") == "rate_over_100" and config.get("store_failures"):
                    found.append((spec["name"], column["name"], meta["family"]))
    return found


def record_test_findings(con: Any, run_id: str, project_dir: Path | None = None) -> None:
    """Write what the warn tests of rule rate_over_100 found (their stored failing rows)
    into audit.issues, one warning per district, school year and rate, for the
    district-years this run loaded rows for (each is raised once, by the run that loaded
    the data it is about). con: a read-write connection to the built work copy."""
    stored = {
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [TEST_FAILURES_SCHEMA]
        ).fetchall()
    }
    parts = [
        f"""
        select $run_id, null, null, '{family}', m.school_year, m.district_code, null, 'rate_over_100', 'warning',
               '{metric}', round(m.{metric}, 1)::varchar,
               '{metric} is ' || round(m.{metric}, 1)::varchar || ' (over 100): it is published as computed; '
               || 'check the counts it is built from'
        from {TEST_FAILURES_SCHEMA}."{test}" m
        where exists (
            select 1 from audit.load_counts c
            where c.run_id = $run_id and c.rows_loaded > 0
              and c.district_code = m.district_code and c.school_year = m.school_year
        )"""
        for test, metric, family in stored_rate_tests(project_dir)
        if test in stored  # a test that never ran on this file has found nothing
    ]
    if parts:
        con.execute("insert into audit.issues" + "\nunion all".join(parts), {"run_id": run_id})


# ------------------------------------------------------------------ incremental builds
#
# Each successful build records in audit.dbt_builds what it was built from: the
# fingerprint of the dbt project (its files and the versions of dbt and DuckDB) and
# the state of every source table (raw: append-only, so row count and sums of the
# lineage columns; reference: its whole content). The next build compares:
#   - project changed, no build recorded, a model relation missing: everything;
#   - some source tables changed: only the models downstream of them
#     (`source:district_files.devices+` ...) and every data test on those models; the other
#     models depend on nothing that changed, so their tables in the work copy are
#     already what a full rebuild would write;
#   - nothing changed: no dbt build at all.

BUILDS_TABLE = "audit.dbt_builds"
SOURCE_SCHEMAS = ("raw", "reference")
# the dbt source that reads each schema, where it is named otherwise (the sender: the
# districts' files are DuckDB's schema raw)
DBT_SOURCE_NAMES = {"raw": "district_files"}
# audit tables dbt reads (marts.submission_status): their changes rebuild what depends on them
AUDIT_SOURCES = ("audit.submissions", "audit.files", "audit.issues")
MODEL_SCHEMAS = ("staging", "intermediate", "marts")
_PROJECT_IGNORED = {"target", "logs", "dbt_packages", ".user.yml"}
_VERSIONED = ("dbt-core", "dbt-duckdb", "duckdb")

_BUILDS_DDL = f"""
create table if not exists {BUILDS_TABLE} (
    build_seq bigint not null,
    built_at timestamp with time zone not null,
    mode varchar not null,
    reason varchar,
    selected varchar,
    project_fingerprint varchar not null,
    sources varchar not null,
    relations varchar not null,
    models integer,
    tests integer,
    seconds double
)"""


@dataclass(frozen=True)
class BuildPlan:
    """What an incremental build does: `mode` full, incremental or up to date, with
    the dbt selection (incremental) and the reason, for the log and audit.dbt_builds."""

    mode: str
    reason: str
    select: str | None = None
    changed: tuple[str, ...] = ()  # the source tables that changed ("raw.devices", ...)
    project_fingerprint: str = ""
    sources: dict[str, str] | None = None  # source table -> its state now
    relations: tuple[str, ...] = ()  # model relations of the last build (incremental, up to date)


def project_fingerprint(project_dir: Path) -> str:
    """SHA-256 of every file of the dbt project (names and bytes; not target/ or logs/)
    and of the installed versions of dbt-core, dbt-duckdb and duckdb."""
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256()
    for path in sorted(Path(project_dir).rglob("*")):
        relative = path.relative_to(project_dir)
        if relative.parts[0] in _PROJECT_IGNORED or not path.is_file():
            continue
        digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for package in _VERSIONED:
        try:
            digest.update(f"{package}=={version(package)}\0".encode())
        except PackageNotFoundError:
            digest.update(f"{package} missing\0".encode())
    return digest.hexdigest()


def source_states(con: Any) -> dict[str, str]:
    """The state of every table of the raw and reference schemas (and AUDIT_SOURCES), as one text per
    table (schema and columns included). Raw is append-only: its row count and the
    sums of _received_seq and _line change with any load. Reference is small and
    rewritten by every run: its whole content is hashed."""
    columns: dict[str, list[str]] = {}
    for schema, table, column, data_type in con.execute(
        "select table_schema, table_name, column_name, data_type from information_schema.columns"
        " where table_schema in ('raw', 'reference')"
        " or (table_schema || '.' || table_name) in (" + ", ".join(f"'{t}'" for t in AUDIT_SOURCES) + ")"
        " order by table_schema, table_name, ordinal_position"
    ).fetchall():
        columns.setdefault(f"{schema}.{table}", []).append(f"{column} {data_type}")
    if not columns:
        return {}
    parts = []
    for name, cols in columns.items():
        schema, table = name.split(".")
        relation = f'"{schema}"."{table}"'
        if name in AUDIT_SOURCES:  # rewritten in place by each run: the whole content, by a hash of each row
            state = "count(*) || ':' || coalesce(sum(hash(t)), 0)"
        elif {"_received_seq BIGINT", "_line BIGINT"} <= set(cols):
            state = (
                "count(*) || ':' || coalesce(max(_received_seq), 0) || ':' || coalesce(sum(_received_seq), 0)"
                " || ':' || coalesce(sum(_line), 0)"
            )
        else:
            state = (
                "count(*) || ':' || "
                "coalesce(md5(string_agg(cast(t as varchar), chr(10) order by cast(t as varchar))), '')"
            )
        parts.append(f"select '{name}' as name, {state} as state from {relation} as t")
    states = dict(con.execute(" union all ".join(parts)).fetchall())
    return {
        name: hashlib.sha256((", ".join(cols) + "|" + states[name]).encode()).hexdigest()[:32]
        for name, cols in columns.items()
    }


def _dbt_source(table: str) -> str:
    """The dbt source of a source table: raw.devices -> district_files.devices."""
    schema, name = table.split(".", 1)
    return f"{DBT_SOURCE_NAMES.get(schema, schema)}.{name}"


def _model_relations(con: Any) -> tuple[str, ...]:
    rows = con.execute(
        "select table_schema || '.' || table_name from information_schema.tables"
        " where table_schema in ('staging', 'intermediate', 'marts') order by 1"
    ).fetchall()
    return tuple(r[0] for r in rows)


def _last_build(con: Any) -> dict[str, Any] | None:
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'audit' and table_name = 'dbt_builds'"
    ).fetchall()[0][0]
    if not exists:
        return None
    cursor = con.execute(f"select * from {BUILDS_TABLE} order by build_seq desc limit 1")
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    return dict(zip(names, rows[0], strict=True)) if rows else None


def plan_build(db_path: Path, project_dir: Path | None = None) -> BuildPlan:
    """Compare the warehouse's sources and the dbt project with those of the last
    build recorded in the file (audit.dbt_builds) and say what must be built."""
    import duckdb

    project_dir = Path(project_dir or DEFAULT_PROJECT_DIR).resolve()
    fingerprint = project_fingerprint(project_dir)
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        sources = source_states(con)
        last = _last_build(con)
        relations = _model_relations(con)
    finally:
        con.close()
    full = functools.partial(BuildPlan, "full", project_fingerprint=fingerprint, sources=sources)
    if last is None:
        return full("no earlier build recorded in this warehouse")
    if last["project_fingerprint"] != fingerprint:
        return full("the dbt project or the versions of dbt or DuckDB changed since the last build")
    built_relations = tuple(json.loads(last["relations"]))
    missing = sorted(set(built_relations) - set(relations))
    if missing:
        return full(f"model relation(s) missing since the last build: {', '.join(missing[:5])}")
    before = json.loads(last["sources"])
    if set(before) - set(sources):
        return full(f"source table(s) gone since the last build: {', '.join(sorted(set(before) - set(sources)))}")
    changed = tuple(sorted(name for name in sources if before.get(name) != sources[name]))
    built_at = last["built_at"]
    if not changed:
        return BuildPlan(
            "up to date",
            f"no source changed since the build of {built_at:%Y-%m-%d %H:%M:%S %Z}",
            project_fingerprint=fingerprint,
            sources=sources,
            relations=built_relations,
        )
    return BuildPlan(
        "incremental",
        f"changed since the build of {built_at:%Y-%m-%d %H:%M:%S %Z}: {', '.join(changed)}",
        select=" ".join(f"source:{_dbt_source(name)}+" for name in changed),
        changed=changed,
        project_fingerprint=fingerprint,
        sources=sources,
        relations=built_relations,
    )


def _record_build(db_path: Path, plan: BuildPlan, summary: DbtBuildSummary) -> None:
    """One row in audit.dbt_builds of the file just built: what the next build compares with."""
    import duckdb

    con = duckdb.connect(str(db_path))
    try:
        relations = _model_relations(con) if plan.mode == "full" else plan.relations
        con.execute("create schema if not exists audit")
        con.execute(_BUILDS_DDL)
        con.execute(
            f"insert into {BUILDS_TABLE} select coalesce(max(build_seq), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
            f" from {BUILDS_TABLE}",
            [
                dt.datetime.now(dt.UTC),
                plan.mode,
                plan.reason,
                plan.select,
                plan.project_fingerprint,
                json.dumps(plan.sources or {}, sort_keys=True),
                json.dumps(list(relations)),
                len(summary.models),
                len(summary.tests),
                round(summary.elapsed_seconds, 3),
            ],
        )
    finally:
        con.close()  # checkpoints


# ------------------------------------------------------------------------- the build


def run_dbt_build(
    db_path: Path,
    *,
    project_dir: Path | None = None,
    select: str | None = None,
    memory_limit: str | None = None,
    state_dir: Path | None = None,
    incremental: bool = False,
) -> DbtBuildSummary:
    """Run `dbt build` of dbt_project/ (or project_dir) on the DuckDB file db_path.

    select: a dbt node selection (e.g. "+objectives"); None builds everything. With
    a selection, only the data tests whose parents are all selected run.
    incremental: build only what depends on the sources that changed since the last
    build recorded in the file (see plan_build); nothing when none did. Every build
    without `select` records what it was built from in audit.dbt_builds.
    state_dir: where dbt keeps its target and logs (default: default_state_dir).
    Returns the summary; raises DbtBuildFailed on any model error or failing test.
    """
    db_path = Path(db_path).resolve()
    project_dir = Path(project_dir or DEFAULT_PROJECT_DIR).resolve()
    if not db_path.is_file():
        raise FileNotFoundError(f"warehouse file {db_path} does not exist (create it and load raw first)")
    if not (project_dir / "dbt_project.yml").is_file():
        raise FileNotFoundError(f"{project_dir} is not a dbt project (no dbt_project.yml)")

    with _BUILD_LOCK:
        plan = None
        if select is None:
            plan = plan_build(db_path, project_dir)
            if not incremental and plan.mode != "full":
                plan = replace(plan, mode="full", reason="full build asked for", select=None, changed=())
            log.debug("dbt build of %s: %s (%s)", db_path, plan.mode, plan.reason)
            select = plan.select
        if plan is not None and plan.mode == "up to date":
            summary = DbtBuildSummary(db_path, (), 0.0, mode=plan.mode, reason=plan.reason)
        else:
            summary = _invoke_build(db_path, project_dir, select, memory_limit, state_dir, plan)
        if plan is not None:
            _record_build(db_path, plan, summary)
    log.info(summary.describe())
    return summary


def _invoke_build(
    db_path: Path,
    project_dir: Path,
    select: str | None,
    memory_limit: str | None,
    state_dir: Path | None,
    plan: BuildPlan | None,
) -> DbtBuildSummary:
    from dbt.cli.main import dbtRunner  # heavy import: only when a build runs

    held = _handles_on(db_path)
    if held:
        raise DbtBuildFailed(
            f"{db_path} is open in this process ({', '.join(held)}): close your connections to it before the build"
        )
    state = Path(state_dir).resolve() if state_dir else default_state_dir(db_path)
    _prepare_state_dir(state, project_dir)
    parse_cache = _parse_cache_entry(project_dir, db_path)
    if parse_cache is not None:
        _profile_hash_without_path()
        _seed_from_parse_cache(parse_cache, state / "target")
    args = [
        "build",
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(state / "target"),
        "--log-path",
        str(state / "logs"),
        # the file log keeps each node's start, end and errors, not every statement
        # (debug costs ~10 % of a small build's CPU); the SQL dbt ran is in target/run
        "--log-level-file",
        "info",
        # dbt prints nothing itself: every line goes through `on_event` below to the
        # Prefect run logger (the Prefect UI's run log and the run's log file)
        "--log-level",
        "none",
        "--partial-parse",
        "--no-write-json",
        "--no-send-anonymous-usage-stats",
        "--no-version-check",
        "--no-use-colors",
        # the dbt unit tests (fixed rows -> expected rows, `unit_tests:` in the model
        # YAML) prove the SQL, not the night's data: the test suite runs them
        # (tests/test_dbt_unit_tests.py), a night does not spend time on them
        "--exclude-resource-type",
        "unit_test",
    ]
    if select and plan is not None:
        # every model not selected is in the file already, as the last build left
        # it: every test on a selected model runs, whatever its other parents
        args += ["--select", select, "--indirect-selection", "eager"]
    elif select:
        # only the tests whose every parent is selected: a relationships test
        # between a selected and an unselected model would read a missing table
        args += ["--select", select, "--indirect-selection", "cautious"]
    log.info("dbt %s", " ".join(args))
    started = time.monotonic()
    env = {DB_PATH_ENV_VAR: str(db_path), "DO_NOT_TRACK": "1"}
    if memory_limit:
        env[MEMORY_LIMIT_ENV_VAR] = memory_limit  # read by profiles.yml
    try:
        with _environment(env), stopping.remembered(as_ctrl_c=True):
            outcome = dbtRunner(callbacks=[_event_logger(_run_logger())]).invoke(args)
    finally:
        _release_duckdb(db_path)
    elapsed = time.monotonic() - started
    _save_to_parse_cache(parse_cache, state / "target")
    stopping.raise_if_requested()  # dbt reports a SIGTERM during a node as that node's failure

    if outcome.exception is not None:
        error = outcome.exception
        if not isinstance(error, Exception):  # a signal (SIGTERM, Ctrl-C) stopped the run: not a dbt failure
            raise error
        raise DbtBuildFailed(f"dbt build could not run on {db_path}: {type(error).__name__}: {error}") from error
    run_results = getattr(outcome.result, "results", None)
    if run_results is None:
        raise DbtBuildFailed(f"dbt build could not run on {db_path}: dbt returned no node results")

    summary = DbtBuildSummary(
        db_path=db_path,
        nodes=_with_example_rows(db_path, tuple(_node_result(r) for r in run_results)),
        elapsed_seconds=elapsed,
        select=select,
        mode=plan.mode if plan else "selected",
        reason=plan.reason if plan else "",
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
    return summary
