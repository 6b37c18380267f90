"""What the annual review reads from ``config/``: metric labels, units and targets
(metrics.yml), the objective catalog (roadmap_goal4.yml) and the privacy threshold
(roadmap.yml ``privacy.min_cell_size``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..settings import config_location, read_config_folder

# Units whose values are true/false (stored as 1/0 in marts.metric_values).
BOOLEAN_UNIT = "boolean"


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: str
    description: str = ""
    families: tuple[str, ...] = ()
    target: float | None = None
    comparison: str | None = None  # '>=' or '<='
    target_source: str | None = None

    @property
    def is_boolean(self) -> bool:
        return self.unit == BOOLEAN_UNIT

    @property
    def has_target(self) -> bool:
        return self.target is not None and self.comparison in (">=", "<=")


@dataclass(frozen=True)
class ReviewSection:
    """One of the review's own sections (config/metrics.yml ``review.sections``): the
    objectives its heading names, those whose entry links to it, and for the
    recognition section the objective of its criterion, its metrics and how many
    districts it lists per metric."""

    objectives: tuple[str, ...] = ()
    linked_from: tuple[str, ...] = ()
    criterion: str | None = None
    metrics: tuple[str, ...] = ()
    top_n: int = 10


@dataclass(frozen=True)
class ReviewConfig:
    """config/metrics.yml ``review``: the metrics of the headline cards and the review's
    sections (connectivity, gap_analysis, recognition, data_quality)."""

    headline_metrics: tuple[str, ...] = ()
    sections: dict[str, ReviewSection] = field(default_factory=dict)

    def section(self, name: str) -> ReviewSection:
        return self.sections.get(name) or ReviewSection()

    def see_also(self, objective_id: str) -> list[str]:
        """The sections an objective's entry links to, in configuration order."""
        return [name for name, s in self.sections.items() if objective_id in s.linked_from]


REVIEW_SECTIONS = ("connectivity", "gap_analysis", "recognition", "data_quality")


def review_from_yaml(review: Any) -> ReviewConfig:
    """``review`` of config/metrics.yml, checked (ValueError names the key at fault)."""
    review = review or {}
    if not isinstance(review, dict):
        raise ValueError("review in config/metrics.yml must be a mapping (headline_metrics, sections)")

    def ids(value: Any, key: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"{key} in config/metrics.yml must be a list of names, e.g. [G4.S1.E]")
        return tuple(value)

    sections: dict[str, ReviewSection] = {}
    for name, spec in (review.get("sections") or {}).items():
        key = f"review.sections.{name}"
        if name not in REVIEW_SECTIONS:
            raise ValueError(f"{key} in config/metrics.yml: unknown section; known: {', '.join(REVIEW_SECTIONS)}")
        spec = spec or {}
        top_n = spec.get("top_n", 10)
        if not isinstance(top_n, int) or isinstance(top_n, bool) or top_n < 1:
            raise ValueError(f"{key}.top_n in config/metrics.yml must be a positive integer")
        criterion = spec.get("criterion")
        sections[str(name)] = ReviewSection(
            objectives=ids(spec.get("objectives"), f"{key}.objectives"),
            linked_from=ids(spec.get("linked_from"), f"{key}.linked_from"),
            criterion=None if criterion is None else str(criterion),
            metrics=ids(spec.get("metrics"), f"{key}.metrics"),
            top_n=top_n,
        )
    return ReviewConfig(
        headline_metrics=ids(review.get("headline_metrics"), "review.headline_metrics"),
        sections=sections,
    )


@dataclass(frozen=True)
class ReportConfig:
    metrics: dict[str, Metric]
    objective_metrics: dict[str, tuple[str, ...]]
    unmeasured: dict[str, str]
    goal: dict[str, Any]
    min_cell_size: int = 10
    strategies: list[dict[str, Any]] = field(default_factory=list)
    # district_year_metrics columns whose group totals are (or may be) published:
    # complementary suppression protects every group of each (privacy.groupings)
    groupings: tuple[str, ...] = ("locale", "district_type", "isd_code")
    # the review's default year: the latest with at least this share of the directory's
    # districts data_complete (report.default_year_min_complete_share)
    default_year_min_complete_share: float = 0.5
    # connectivity_benchmarks of metrics.yml: name -> {value, label, source}
    benchmarks: dict[str, dict[str, Any]] = field(default_factory=dict)
    # national_context of metrics.yml: (text, source), quoted by the connectivity section
    national_context: tuple[tuple[str, str | None], ...] = ()
    # review of metrics.yml: the headline metrics and the objectives of the review's sections
    review: ReviewConfig = field(default_factory=ReviewConfig)

    def metric(self, name: str) -> Metric:
        if name in self.metrics:
            return self.metrics[name]
        # A metric the marts know and the config does not: still show it, plainly.
        return Metric(name=name, label=name.replace("_", " "), unit="")

    @property
    def target_metrics(self) -> list[Metric]:
        return [m for m in self.metrics.values() if m.has_target]


def load_config(config_dir: Path) -> ReportConfig:
    # flows/settings.py reads and parses the files (a file that is absent reads as {}: defaults)
    folder, settings_file = config_location(config_dir)  # a folder, or the settings file --config named
    files = read_config_folder(folder, settings_file=settings_file, missing_ok=True)
    metrics_yml, roadmap_yml, goal_yml = files.metrics, files.roadmap, files.catalog

    targets = metrics_yml.get("targets") or {}
    metrics: dict[str, Metric] = {}
    for name, spec in (metrics_yml.get("metrics") or {}).items():
        spec = spec or {}
        t = targets.get(name) or {}
        metrics[name] = Metric(
            name=name,
            label=str(spec.get("label", name)),
            unit=str(spec.get("unit", "")),
            description=str(spec.get("description", "")),
            families=tuple(spec.get("families") or ()),
            target=float(t["target"]) if "target" in t else None,
            comparison=t.get("comparison"),
            target_source=t.get("source"),
        )

    privacy = roadmap_yml.get("privacy") or {}
    min_cell = int(privacy.get("min_cell_size") or 10)
    if min_cell < 1:
        raise ValueError("privacy.min_cell_size must be a positive integer")
    groupings = privacy.get("groupings", ["locale", "district_type", "isd_code"]) or []
    if not isinstance(groupings, list) or not all(isinstance(g, str) and g for g in groupings):
        raise ValueError(
            "privacy.groupings must be a list of district_year_metrics columns, e.g. [locale, district_type, isd_code]"
        )
    report = roadmap_yml.get("report") or {}
    share = float(report.get("default_year_min_complete_share", 0.5))
    if not 0 <= share <= 1:
        raise ValueError("report.default_year_min_complete_share must be between 0 and 1")

    return ReportConfig(
        metrics=metrics,
        objective_metrics={k: tuple(v or ()) for k, v in (metrics_yml.get("objective_metrics") or {}).items()},
        unmeasured=dict(metrics_yml.get("unmeasured") or {}),
        goal=dict(goal_yml.get("goal") or {}),
        min_cell_size=min_cell,
        strategies=list(goal_yml.get("strategies") or []),
        groupings=tuple(groupings),
        default_year_min_complete_share=share,
        benchmarks={
            str(k): dict(v)
            for k, v in (metrics_yml.get("connectivity_benchmarks") or {}).items()
            if isinstance(v, dict)
        },
        national_context=tuple(
            (_squash(c.get("text")), _squash(c.get("source")) or None)
            for c in (metrics_yml.get("national_context") or [])
            if isinstance(c, dict) and c.get("text")
        ),
        review=review_from_yaml(metrics_yml.get("review")),
    )


def _squash(text: Any) -> str:
    return " ".join(str(text or "").split())


def catalog_from_config(cfg: ReportConfig) -> list[dict[str, Any]]:
    """The objective catalog as rows shaped like marts.objectives, from roadmap_goal4.yml
    and metrics.yml (used when the warehouse holds no catalog)."""
    rows: list[dict[str, Any]] = []
    goal = cfg.goal
    goal_id = goal.get("id", "G4")

    def add(oid, parent, sid, stitle, level, text):
        metrics = cfg.objective_metrics.get(oid)
        rows.append(
            dict(
                objective_id=oid,
                parent_id=parent,
                strategy_id=sid,
                strategy_title=stitle,
                level=level,
                objective_text=_squash(text),
                sort_order=len(rows) + 1,
                is_measured=bool(metrics),
                metrics=",".join(metrics) if metrics else None,
                unmeasured_reason=None if metrics else cfg.unmeasured.get(oid, "Not collected."),
            )
        )

    add(goal_id, None, None, None, "goal", goal.get("statement", ""))
    for s in cfg.strategies:
        stitle = _squash(s.get("title"))
        add(s["id"], goal_id, s["id"], stitle, "strategy", stitle)
        for o in s.get("objectives") or []:
            add(o["id"], s["id"], s["id"], stitle, "objective", o.get("text"))
            for so in o.get("sub") or []:
                add(so["id"], o["id"], s["id"], stitle, "sub_objective", so.get("text"))
    return rows
