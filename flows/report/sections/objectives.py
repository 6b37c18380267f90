"""The review's body: each strategy of the catalog with its objectives, and for every
measured objective its metrics (the state figure, its change, the target, the districts
meeting it, the trend and the spread by locale and type). Objectives these data cannot
measure are listed apart with the reason."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from ...school_years import previous_school_year
from .. import charts
from ..cells import anchor, by_metric, cell, change_cell, target_text, value_cell
from ..collect import metric_target, objective_metrics
from ..config import ReportConfig
from ..suppression import fmt_value, marker

# the review's own sections an objective's entry can link to (review.sections.*.linked_from)
SECTION_LINKS = {
    "connectivity": ("#connectivity", "Connectivity against the national benchmarks"),
    "gap_analysis": ("#gap-analysis", "Gap analysis: the districts furthest from each target"),
    "recognition": ("#recognition", "Recognition: the most-improved districts"),
    "data_quality": ("#data-quality", "Data quality: incomplete and quarantined submissions"),
}


def section(data: dict[str, Any], cfg: ReportConfig) -> tuple[list[dict], list[dict], dict[str, list[str]]]:
    """(strategies, unmeasured objectives, metric -> the objectives it measures)."""
    sy, years = data["school_year"], data["years"]
    has_prev = data["previous_year"] in years
    trends_by_metric = by_metric(data["trends"])
    summary = {s["metric"]: s for s in data["summary"]}
    dist_by_metric = by_metric(data["dist"])
    shares_by_metric = by_metric(data["shares"])
    objectives = data["objectives"]

    strategies = []
    unmeasured = []
    metric_objectives: dict[str, list[str]] = {}
    blocks: dict[str, dict] = {}
    for s_i, s in enumerate([o for o in objectives if o.get("level") == "strategy"], start=1):
        sid = s["objective_id"]
        items = []
        for o in objectives:
            if o.get("strategy_id") != sid or o.get("level") not in ("objective", "sub_objective"):
                continue
            oid = o["objective_id"]
            metrics = objective_metrics(o, cfg)
            item = {
                "id": oid,
                "anchor": anchor(oid),
                "text": o.get("objective_text") or "",
                "sub": o.get("level") == "sub_objective",
                "measured": bool(metrics),
                "reason": o.get("unmeasured_reason") or "",
                "metrics": [],
                "see_also": [SECTION_LINKS[name] for name in cfg.review.see_also(oid)],
            }
            for m in metrics:
                metric_objectives.setdefault(m, []).append(oid)
                if m not in blocks:
                    blocks[m] = metric_block(
                        m,
                        cfg,
                        summary.get(m, {}),
                        trends_by_metric.get(m, []),
                        dist_by_metric.get(m, []),
                        shares_by_metric.get(m, []),
                        years,
                        sy,
                        has_prev,
                    )
                # each occurrence gets its own chart elements (plotly div ids are unique)
                item["metrics"].append(
                    {
                        **blocks[m],
                        "objective": oid,
                        "trend_html": Markup(
                            charts.figure_html(blocks[m]["trend_fig"], f"chart-{anchor(oid)}-{anchor(m)}-trend")
                        ),
                        "dist_html": Markup(
                            charts.figure_html(blocks[m]["dist_fig"], f"chart-{anchor(oid)}-{anchor(m)}-spread")
                        ),
                    }
                )
            if not metrics:
                unmeasured.append({**item, "strategy": sid})
            items.append(item)
        strategies.append(
            {
                "id": sid,
                "number": s_i,
                "anchor": anchor(sid),
                "title": s.get("strategy_title") or s.get("objective_text") or "",
                "objectives": items,
                "measured_count": sum(1 for i in items if i["measured"]),
            }
        )
    return strategies, unmeasured, metric_objectives


def _dist_table(stats: list[dict], unit: str) -> list[dict]:
    rows = []
    for key, title in (("locale", "Locale"), ("district_type", "District type")):
        for r in charts._box_groups(stats, key, charts.LOCALE_ORDER if key == "locale" else charts.TYPE_ORDER):
            k = int(r.get("n") or 0)
            rows.append(
                {
                    "grouping": title,
                    "group": charts.TYPE_LABELS.get(str(r["group_value"]), r["group_value"])
                    if key == "district_type"
                    else r["group_value"],
                    "n": k,
                    "withheld": int(r.get("withheld") or 0),
                    "no_data": int(r.get("no_data") or 0),
                    **{s: fmt_value(r[s], unit) if k else "—" for s in ("min", "q1", "median", "q3", "max")},
                }
            )
    return rows


def metric_block(
    m: str,
    cfg: ReportConfig,
    s: dict,
    trend_rows: list[dict],
    dist_rows: list[dict],
    share_rows: list[dict],
    years: list[str],
    sy: str,
    has_prev: bool,
) -> dict:
    n = cfg.min_cell_size
    meta = cfg.metric(m)
    target, comparison = metric_target(meta, trend_rows)
    by_year = {t["school_year"]: t for t in trend_rows}
    published = int(s.get("districts_published") or 0)
    meeting = int(s.get("districts_meeting") or 0)
    withheld = int(s.get("districts_suppressed") or 0)
    table: list[dict] = []

    if meta.is_boolean:
        values = [
            None if by_year.get(y, {}).get("district_mean") is None else 100.0 * float(by_year[y]["district_mean"])
            for y in years
        ]
        trend = charts.trend_figure(years, values, unit=meta.unit, boolean_share=True)
        dist = charts.share_by_group_figure(share_rows)
        note = "Counts are of districts with a published figure. The state line is the share of them that meet it."
    else:
        values = [
            None if by_year.get(y, {}).get("state_status") else by_year.get(y, {}).get("state_value") for y in years
        ]
        trend = charts.trend_figure(years, values, unit=meta.unit, target=target, comparison=comparison)
        dist = charts.distribution_figure(dist_rows, unit=meta.unit, target=target)
        table = _dist_table(dist_rows, meta.unit)
        no_data = sum(int(r.get("no_data") or 0) for r in dist_rows if r["grouping"] == "locale")
        parts = [f"{published:,} districts with a published figure (boxes: lowest, quartiles, highest)."]
        if withheld:
            parts.append(f"{withheld:,} not shown because their figure is withheld ({marker(n)} or np).")
        if no_data:
            parts.append(f"{no_data:,} not shown because they have no data for {sy}.")
        missing_years = [y for y, v in zip(years, values, strict=True) if v is None]
        if missing_years:
            parts.append("No state figure for " + ", ".join(missing_years) + ".")
        note = " ".join(parts)

    if not has_prev:
        change = cell(f"no {previous_school_year(sy)} on record")
    else:
        change = change_cell(s.get("state_change"), meta.unit, s.get("state_change_status") or 0, n)
    if target is not None:
        meeting_text = f"{meeting:,} of {published:,} districts with a published figure meet the target"
    else:
        meeting_text = f"{published:,} districts with a published figure; no target is set"
    return {
        "metric": m,
        "label": meta.label,
        "unit": meta.unit,
        "description": meta.description,
        "state": value_cell(s.get("state_value"), meta.unit, s.get("state_status") or 0, n),
        "change": change,
        "target": target_text(meta, target, comparison),
        "target_source": meta.target_source if target is not None else None,
        "meeting_text": meeting_text,
        "with_data": published,
        "meeting": meeting,
        "trend_fig": trend,
        "dist_fig": dist,
        "dist_table": table,
        "note": note,
    }
