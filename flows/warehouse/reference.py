"""The `reference` schema (docs/ARCHITECTURE.md): the objective catalog, the
objective-metric map, the metric catalog and the targets, rewritten from `config/`
by every run so that changing a number in `config/metrics.yml` changes the next
build (dbt reads these tables; no target is written in SQL).

    reference.objectives            objective_id, parent_id, strategy_id, strategy_title,
                                    level, objective_text, sort_order
    reference.objective_metrics     objective_id, metric
    reference.objective_unmeasured  objective_id, reason
    reference.metric_targets        metric, comparison, target, target_source
    reference.metrics               metric, label, unit, description, source_families
    reference.connectivity_benchmarks  benchmark, value, label, source

The configuration is checked before anything is written: every objective of the
catalog must be mapped to metrics or listed as unmeasured with a reason, and every
mapped or targeted metric must be in the metric catalog. An inconsistent configuration
raises ValueError (a file that is not valid YAML, or holds an unknown top-level key:
ConfigError, from flows/settings.py, which reads and parses the files) and leaves the
existing reference tables untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ..ingest.families import YEARLY_FAMILIES
from ..settings import CATALOG_FILE, METRICS_FILE, ConfigFolder, Settings, load_settings, read_config_folder

OBJECTIVE_CATALOG_FILE = CATALOG_FILE
METRIC_CATALOG_FILE = METRICS_FILE

COMPARISONS = (">=", "<=")

# The connectivity benchmarks dbt reads (config/metrics.yml: connectivity_benchmarks).
# Every one must be configured: the marts' flags and shares are built on them.
CONNECTIVITY_BENCHMARKS = (
    "short_term_kbps_per_student",
    "long_term_kbps_per_student",
    "wan_kbps_per_student",
    "affordable_cost_per_mbps_usd",
)

# DATA_SPEC section 3: meets_bandwidth_target compares kbps_per_student with "the
# configured target (default 1000 kbps, the long-term FCC/SETDA goal)". The default
# applies only when config/metrics.yml configures no kbps_per_student target.
DEFAULT_BANDWIDTH_TARGET = {
    "comparison": ">=",
    "target": 1000.0,
    "source": "DATA_SPEC default: long-term FCC/SETDA internet access goal, 1 Mbps per student",
}

REFERENCE_DDL = {
    "objectives": """
        create or replace table reference.objectives (
            objective_id varchar not null primary key,
            parent_id varchar,
            strategy_id varchar,
            strategy_title varchar,
            level varchar not null,
            objective_text varchar not null,
            sort_order integer not null
        )""",
    "objective_metrics": """
        create or replace table reference.objective_metrics (
            objective_id varchar not null,
            metric varchar not null,
            primary key (objective_id, metric)
        )""",
    "objective_unmeasured": """
        create or replace table reference.objective_unmeasured (
            objective_id varchar not null primary key,
            reason varchar not null
        )""",
    "metric_targets": """
        create or replace table reference.metric_targets (
            metric varchar not null primary key,
            comparison varchar not null,
            target double not null,
            target_source varchar
        )""",
    "connectivity_benchmarks": """
        create or replace table reference.connectivity_benchmarks (
            benchmark varchar not null primary key,
            value double not null,
            label varchar,
            source varchar
        )""",
    "metrics": """
        create or replace table reference.metrics (
            metric varchar not null primary key,
            label varchar,
            unit varchar,
            description varchar,
            source_families varchar
        )""",
}


@dataclass(frozen=True)
class ObjectiveRow:
    objective_id: str
    parent_id: str | None
    strategy_id: str | None
    strategy_title: str | None
    level: str
    objective_text: str
    sort_order: int


@dataclass(frozen=True)
class ReferenceData:
    objectives: list[ObjectiveRow]
    objective_metrics: list[tuple[str, str]]  # (objective_id, metric)
    objective_unmeasured: list[tuple[str, str]]  # (objective_id, reason)
    metric_targets: list[tuple[str, str, float, str | None]]  # (metric, comparison, target, source)
    metrics: list[tuple[str, str | None, str | None, str | None, str]]  # (metric, label, unit, description, families)
    connectivity_benchmarks: list[tuple[str, float, str | None, str | None]] = ()  # (benchmark, value, label, source)
    national_context: list[tuple[str, str | None]] = ()  # (text, source)


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def flatten_objectives(catalog: dict[str, Any]) -> list[ObjectiveRow]:
    """goal -> strategies -> objectives -> sub-objectives, in document order."""
    goal = catalog.get("goal")
    if not isinstance(goal, dict) or not goal.get("id"):
        raise ValueError(f"{OBJECTIVE_CATALOG_FILE}: the catalog needs a `goal` with an `id`")
    rows: list[ObjectiveRow] = []

    def add(
        objective_id: Any,
        parent_id: str | None,
        strategy_id: str | None,
        strategy_title: str | None,
        level: str,
        text: Any,
    ) -> None:
        if not objective_id:
            raise ValueError(f"{OBJECTIVE_CATALOG_FILE}: a {level} under {parent_id} has no id")
        if not _text(text):
            raise ValueError(f"{OBJECTIVE_CATALOG_FILE}: {objective_id} has no text")
        rows.append(
            ObjectiveRow(str(objective_id), parent_id, strategy_id, strategy_title, level, _text(text), len(rows) + 1)
        )

    goal_id = str(goal["id"])
    goal_text = goal.get("statement") or goal.get("title")
    add(goal_id, None, None, None, "goal", goal_text)
    for strategy in catalog.get("strategies") or []:
        strategy_id = str(strategy.get("id") or "")
        strategy_title = _text(strategy.get("title"))
        add(strategy_id, goal_id, strategy_id, strategy_title, "strategy", strategy_title)
        for objective in strategy.get("objectives") or []:
            objective_id = str(objective.get("id") or "")
            add(objective_id, strategy_id, strategy_id, strategy_title, "objective", objective.get("text"))
            for sub in objective.get("sub") or []:
                add(sub.get("id"), objective_id, strategy_id, strategy_title, "sub_objective", sub.get("text"))

    seen: set[str] = set()
    duplicates = sorted({r.objective_id for r in rows if r.objective_id in seen or seen.add(r.objective_id)})
    if duplicates:
        raise ValueError(f"{OBJECTIVE_CATALOG_FILE}: objective ids used more than once: {', '.join(duplicates)}")
    return rows


def read_reference(config_dir: Path | ConfigFolder) -> ReferenceData:
    """Check config/roadmap_goal4.yml and config/metrics.yml: of the config folder
    `config_dir`, or as parsed already (flows/settings.py reads and parses them)."""
    config = config_dir if isinstance(config_dir, ConfigFolder) else read_config_folder(config_dir)
    config_dir = config.folder
    catalog = config.catalog
    metric_config = config.metrics

    objectives = flatten_objectives(catalog)
    objective_ids = [o.objective_id for o in objectives]
    known_objectives = set(objective_ids)

    metric_catalog = metric_config.get("metrics") or {}
    if not isinstance(metric_catalog, dict) or not metric_catalog:
        raise ValueError(f"{METRIC_CATALOG_FILE}: `metrics` must map each metric name to its definition")
    metrics: list[tuple[str, str | None, str | None, str | None, str]] = []
    for name, spec in metric_catalog.items():
        spec = spec or {}
        families = spec.get("families") or []
        unknown_families = [f for f in families if f not in YEARLY_FAMILIES]
        if unknown_families:
            raise ValueError(
                f"{METRIC_CATALOG_FILE}: metric {name} names unknown source families "
                f"{unknown_families}; known: {', '.join(YEARLY_FAMILIES)}"
            )
        metrics.append(
            (
                str(name),
                spec.get("label"),
                spec.get("unit"),
                _text(spec.get("description")) or None,
                ", ".join(families),
            )
        )
    known_metrics = {m[0] for m in metrics}

    mapping = metric_config.get("objective_metrics") or {}
    unmeasured = metric_config.get("unmeasured") or {}
    problems: list[str] = []

    not_in_catalog = sorted((set(mapping) | set(unmeasured)) - known_objectives)
    if not_in_catalog:
        problems.append(
            "objectives in objective_metrics/unmeasured that are not in "
            f"{OBJECTIVE_CATALOG_FILE}: {', '.join(not_in_catalog)}"
        )
    both = sorted(set(mapping) & set(unmeasured))
    if both:
        problems.append(f"objectives both mapped to metrics and listed as unmeasured: {', '.join(both)}")
    neither = [o for o in objective_ids if o not in mapping and o not in unmeasured]
    if neither:
        problems.append(
            "objectives neither mapped in objective_metrics nor listed in unmeasured "
            f"(add the metrics that measure them, or the reason they cannot be measured): {', '.join(neither)}"
        )

    objective_metrics: list[tuple[str, str]] = []
    for objective_id, metric_names in mapping.items():
        if isinstance(metric_names, str):
            metric_names = [metric_names]
        if not metric_names:
            problems.append(f"objective {objective_id} is mapped to no metric; list it in unmeasured instead")
            continue
        for metric in metric_names:
            if metric not in known_metrics:
                problems.append(f"objective {objective_id} is mapped to unknown metric {metric!r}")
            elif (str(objective_id), metric) not in objective_metrics:
                objective_metrics.append((str(objective_id), str(metric)))

    objective_unmeasured: list[tuple[str, str]] = []
    for objective_id, reason in unmeasured.items():
        if not _text(reason):
            problems.append(f"unmeasured objective {objective_id} has no reason")
        else:
            objective_unmeasured.append((str(objective_id), _text(reason)))

    targets = dict(metric_config.get("targets") or {})
    targets.setdefault("kbps_per_student", DEFAULT_BANDWIDTH_TARGET)
    metric_targets: list[tuple[str, str, float, str | None]] = []
    for metric, spec in targets.items():
        spec = spec or {}
        if metric not in known_metrics:
            problems.append(f"target configured for unknown metric {metric!r}")
            continue
        comparison = spec.get("comparison")
        if comparison not in COMPARISONS:
            problems.append(f"target of {metric}: comparison must be one of {COMPARISONS}, got {comparison!r}")
            continue
        try:
            target = float(spec.get("target"))
        except (TypeError, ValueError):
            problems.append(f"target of {metric}: target must be a number, got {spec.get('target')!r}")
            continue
        metric_targets.append((str(metric), comparison, target, _text(spec.get("source")) or None))

    benchmarks, context = read_connectivity_benchmarks(metric_config, problems)

    if problems:
        raise ValueError(f"reference configuration in {config_dir} is inconsistent:\n  - " + "\n  - ".join(problems))
    return ReferenceData(
        objectives, objective_metrics, objective_unmeasured, metric_targets, metrics, benchmarks, context
    )


def read_connectivity_benchmarks(
    metric_config: dict[str, Any], problems: list[str]
) -> tuple[list[tuple[str, float, str | None, str | None]], list[tuple[str, str | None]]]:
    """connectivity_benchmarks and national_context of config/metrics.yml, checked:
    every benchmark of CONNECTIVITY_BENCHMARKS with a number > 0 (problems appended)."""
    section = metric_config.get("connectivity_benchmarks")
    benchmarks: list[tuple[str, float, str | None, str | None]] = []
    if not isinstance(section, dict):
        problems.append(
            f"{METRIC_CATALOG_FILE}: `connectivity_benchmarks` must map each of "
            f"{', '.join(CONNECTIVITY_BENCHMARKS)} to its value, label and source"
        )
        section = {}
    for name in CONNECTIVITY_BENCHMARKS:
        spec = section.get(name)
        if not isinstance(spec, dict):
            if section:
                problems.append(f"connectivity benchmark {name} is not configured (value, label, source)")
            continue
        value = spec.get("value")
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if isinstance(value, bool) or not number > 0 or number == float("inf"):
            problems.append(f"connectivity benchmark {name}: value must be a number > 0, got {value!r}")
            continue
        benchmarks.append((name, number, _text(spec.get("label")) or None, _text(spec.get("source")) or None))
    unknown = sorted(set(section) - set(CONNECTIVITY_BENCHMARKS))
    if unknown:
        problems.append(
            f"unknown connectivity benchmarks {', '.join(map(str, unknown))}; "
            f"known: {', '.join(CONNECTIVITY_BENCHMARKS)}"
        )
    context: list[tuple[str, str | None]] = []
    for i, item in enumerate(metric_config.get("national_context") or [], start=1):
        if not isinstance(item, dict) or not _text(item.get("text")):
            problems.append(f"national_context item {i} needs a text (and its source)")
            continue
        context.append((_text(item["text"]), _text(item.get("source")) or None))
    return benchmarks, context


def load_reference(con: duckdb.DuckDBPyConnection, config_dir: Path | Settings) -> None:
    """(Re)write the reference schema from config_dir (see the module docstring): a config
    folder, or the settings of the run (whose files were parsed when it started).

    Raises ValueError, before writing anything, when the configuration is
    inconsistent. Opens no transaction itself; wrap the call in one for an
    all-or-nothing rewrite.
    """
    from ..ingest.collection import deadlines, write_deadlines

    settings = config_dir if isinstance(config_dir, Settings) else load_settings(config_dir)
    data = read_reference(settings.files or read_config_folder(settings.config_dir, settings_file=settings.config_file))
    collection = deadlines(settings)
    inserts = {
        "objectives": (
            "insert into reference.objectives values (?, ?, ?, ?, ?, ?, ?)",
            [
                (o.objective_id, o.parent_id, o.strategy_id, o.strategy_title, o.level, o.objective_text, o.sort_order)
                for o in data.objectives
            ],
        ),
        "objective_metrics": ("insert into reference.objective_metrics values (?, ?)", data.objective_metrics),
        "objective_unmeasured": ("insert into reference.objective_unmeasured values (?, ?)", data.objective_unmeasured),
        "metric_targets": ("insert into reference.metric_targets values (?, ?, ?, ?)", data.metric_targets),
        "metrics": ("insert into reference.metrics values (?, ?, ?, ?, ?)", data.metrics),
        "connectivity_benchmarks": (
            "insert into reference.connectivity_benchmarks values (?, ?, ?, ?)",
            list(data.connectivity_benchmarks),
        ),
    }

    # No transaction of its own: the caller may hold one (the load stage writes the
    # work copy, published only when the whole run succeeds), and everything that
    # can be wrong with the configuration was checked above, before any write.
    con.execute("create schema if not exists reference")
    for table, ddl in REFERENCE_DDL.items():
        con.execute(ddl)
        sql, rows = inserts[table]
        if rows:
            con.executemany(sql, rows)
    write_deadlines(con, collection)
