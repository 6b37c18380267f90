"""Gap analysis (review.sections.gap_analysis): per metric with a target, the districts
with a published figure furthest from it, and how many are short."""

from __future__ import annotations

from collections.abc import Callable

from ..cells import by_metric, cell, change_cell, target_text, value_cell
from ..collect import metric_target
from ..config import ReportConfig
from ..suppression import fmt_value


def section(data: dict, cfg: ReportConfig, district_link: Callable[..., dict]) -> list[dict]:
    n = cfg.min_cell_size
    trends_by_metric = by_metric(data["trends"])
    gap_rows = by_metric(data["gap"])
    counts = {r["metric"]: r for r in data["gap_counts"]}
    sections = []
    for m in data["gap_metrics"]:
        meta = cfg.metric(m)
        target, comparison = metric_target(meta, trends_by_metric.get(m, []))
        c = counts.get(m, {})
        sections.append(
            {
                "metric": m,
                "label": meta.label,
                "target": target_text(meta, target, comparison),
                "short": int(c.get("districts_short") or 0),
                "published": int(c.get("districts_published") or 0),
                "rows": [
                    {
                        "district": district_link(r["district_code"], r["district_name"]),
                        "isd": r.get("isd_name") or r.get("isd_code"),
                        "locale": r.get("locale"),
                        "type": r.get("district_type"),
                        "value": value_cell(r["value"], meta.unit, 0, n),
                        "shortfall": cell(fmt_value(r["shortfall"], meta.unit)),
                        "change": change_cell(
                            r.get("change_from_previous_year"),
                            meta.unit,
                            r.get("change_status") or 0,
                            n,
                        ),
                    }
                    for r in gap_rows.get(m, [])
                ],
            }
        )
    return sections
