"""Everything the review shows, read from the warehouse in a few set-based queries
(``queries``) once suppression is decided: the rows of every section, kept as records
or, for the large ones (districts, their figures), as DataFrames."""

from __future__ import annotations

from typing import Any

from ..school_years import previous_school_year
from . import queries
from .cells import records
from .config import Metric, ReportConfig, catalog_from_config
from .year import YearChoice


def collect(con, cfg: ReportConfig, choice: YearChoice) -> dict[str, Any]:
    sy = choice.school_year
    prev = previous_school_year(sy)
    years = choice.shown_years
    recognition = cfg.review.section("recognition")

    objectives = records(queries.objectives(con))
    if not any(o.get("level") == "strategy" for o in objectives):
        objectives = catalog_from_config(cfg)
    check_review_config(cfg, objectives)

    trends = records(queries.metric_trends(con, years))
    known_metrics = sorted({t["metric"] for t in trends})
    measured: list[str] = []
    for o in objectives:
        for m in objective_metrics(o, cfg):
            if m not in measured:
                measured.append(m)
    numeric = [m for m in measured if not cfg.metric(m).is_boolean]
    boolean = [m for m in measured if cfg.metric(m).is_boolean]
    gap_metrics = [m.name for m in cfg.target_metrics if not m.is_boolean and m.name in known_metrics]
    all_metrics = [m for m in cfg.metrics if m in known_metrics] + [m for m in known_metrics if m not in cfg.metrics]

    trend_rows: dict[str, list[dict]] = {}
    for t in trends:
        trend_rows.setdefault(t["metric"], []).append(t)
    # the metrics of the district pages' small charts: those with a target
    series_metrics = [
        m
        for m in all_metrics
        if not cfg.metric(m).is_boolean and metric_target(cfg.metric(m), trend_rows.get(m, []))[0] is not None
    ]
    top_n = cfg.review.section("gap_analysis").top_n
    return dict(
        school_year=sy,
        previous_year=prev,
        years=years,
        choice=choice,
        objectives=objectives,
        trends=trends,
        summary=records(queries.metric_summary(con, sy)),
        dist=records(queries.distribution_stats(con, sy, numeric)) if numeric else [],
        shares=records(queries.share_meeting_by_group(con, sy, boolean)) if boolean else [],
        gap=records(queries.gap_analysis(con, sy, gap_metrics, top_n)) if gap_metrics else [],
        gap_counts=records(queries.published_counts(con, sy, gap_metrics)) if gap_metrics else [],
        gap_metrics=gap_metrics,
        improved=records(queries.most_improved(con, sy, prev, recognition.metrics, recognition.top_n)),
        eligible=records(queries.eligible_for_recognition(con, sy, prev, recognition.metrics)),
        districts=queries.districts(con, sy),
        quarantined=records(queries.quarantined(con, sy)),
        file_errors=records(queries.file_level_errors(con, sy)),
        files=records(queries.files_summary(con, sy)),
        as_of=queries.last_file_received(con),
        state=records(queries.state_years(con, [sy, prev])),
        history=queries.district_history(con, all_metrics, years, series_metrics),
        all_metrics=all_metrics,
        connectivity=queries.connectivity_figures(con, years),
        benchmarks=queries.connectivity_benchmarks(con),
        isds=queries.isds(con, sy),
        isd_figures=queries.isd_figures(con, sy, all_metrics),
    )


def check_review_config(cfg: ReportConfig, objectives: list[dict[str, Any]]) -> None:
    """Every objective that config/metrics.yml ``review`` names is in the catalog, and
    every metric it names is in the metric catalog: a renamed objective or metric is
    an error that says where to rename it, not a review naming what no longer exists."""
    known = {o["objective_id"] for o in objectives}
    problems = []
    for name, s in cfg.review.sections.items():
        for key, ids in (("objectives", s.objectives), ("linked_from", s.linked_from)):
            problems += [f"review.sections.{name}.{key}: {i}" for i in ids if i not in known]
        if s.criterion is not None and s.criterion not in known:
            problems.append(f"review.sections.{name}.criterion: {s.criterion}")
        problems += [f"review.sections.{name}.metrics: {m}" for m in s.metrics if m not in cfg.metrics]
    problems += [f"review.headline_metrics: {m}" for m in cfg.review.headline_metrics if m not in cfg.metrics]
    if problems:
        raise ValueError(
            "config/metrics.yml names objectives or metrics that are not in the catalog "
            "(roadmap_goal4.yml, metrics.yml `metrics`): rename or remove them:\n  - " + "\n  - ".join(problems)
        )


def objective_metrics(o: dict, cfg: ReportConfig) -> list[str]:
    if not o.get("is_measured"):
        return []
    raw = o.get("metrics")
    if raw:
        return [m.strip() for m in str(raw).split(",") if m.strip()]
    return list(cfg.objective_metrics.get(o["objective_id"], ()))


def metric_target(meta: Metric, trend_rows: list[dict]) -> tuple[float | None, str | None]:
    """The target as stored in the marts, else as configured."""
    for t in trend_rows:
        if t.get("target") is not None and t.get("comparison") in (">=", "<="):
            return float(t["target"]), t["comparison"]
    return (meta.target, meta.comparison) if meta.has_target else (None, None)
