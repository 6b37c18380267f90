"""Connectivity against the national benchmarks (review.sections.connectivity), the
state's part; the figures are formatted by ``flows.report.connectivity`` (shared with
the ISD pages). Also the introduction's lines on the benchmarks and on which of them
this review's targets follow, worded from the configured values."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from .. import charts, connectivity
from ..cells import anchor, bandwidth_text, by_metric, price_text
from ..collect import metric_target
from ..config import ReportConfig


def section(data: dict, cfg: ReportConfig) -> dict[str, Any]:
    sy, years = data["school_year"], data["years"]
    bench = connectivity.benchmarks(data["benchmarks"], cfg.benchmarks)
    conn_rows = connectivity.rows(data["connectivity"], None, years)
    conn_by_year = {r["school_year"]: r for r in conn_rows}
    conn_charts = [
        Markup(
            charts.figure_html(
                charts.trend_figure(years, [conn_by_year.get(y, {}).get(key) for y in years], unit="percent"),
                f"chart-connectivity-{anchor(key)}",
            )
        )
        for key in ("long_students_pct", "long_districts_pct")
    ]
    return dict(
        benchmarks=list(bench.values()),
        benchmark_by_name=bench,
        connectivity=conn_rows,
        conn_current=next((r for r in conn_rows if r["school_year"] == sy), None),
        conn_charts=conn_charts,
        national_context=[{"text": t, "source": src} for t, src in cfg.national_context],
        intro_benchmarks=_intro(data, cfg, bench),
        goal_words=connectivity.goal_words(bench),
    )


def _intro(data: dict, cfg: ReportConfig, bench: dict[str, connectivity.Benchmark]) -> dict[str, Any]:
    """The introduction's benchmark lines: the goals' values and whether this review's
    bandwidth and cost targets are those goals or other values (the wording is the
    template's)."""
    trends = by_metric(data["trends"])
    long_value = bench["long_term_kbps_per_student"].value
    affordable_value = bench["affordable_cost_per_mbps_usd"].value
    bw_target, _ = metric_target(cfg.metric("kbps_per_student"), trends.get("kbps_per_student", []))
    cost_target, _ = metric_target(cfg.metric("cost_per_mbps_usd"), trends.get("cost_per_mbps_usd", []))
    return {
        "affordable": price_text(affordable_value) or "(not configured)",
        "bandwidth_target": bandwidth_text(bw_target),
        "bandwidth_is_long": bw_target is not None and long_value is not None and bw_target == long_value,
        "cost_target": price_text(cost_target),
        "cost_is_affordable": cost_target is not None
        and affordable_value is not None
        and cost_target == affordable_value,
    }
