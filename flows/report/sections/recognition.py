"""Recognition (review.sections.recognition): per configured metric, the districts that
closed most of their gap to the target since last year."""

from __future__ import annotations

from collections.abc import Callable

from ..cells import by_metric, cell, target_text, value_cell
from ..collect import metric_target
from ..config import ReportConfig
from ..suppression import NO_DATA, fmt_value


def section(data: dict, cfg: ReportConfig, district_link: Callable[..., dict]) -> list[dict]:
    n = cfg.min_cell_size
    trends_by_metric = by_metric(data["trends"])
    eligible = {r["metric"]: r["districts_eligible"] for r in data["eligible"]}
    improved = by_metric(data["improved"])
    recognition = []
    for m in cfg.review.section("recognition").metrics:
        meta = cfg.metric(m)
        target, comparison = metric_target(meta, trends_by_metric.get(m, []))
        recognition.append(
            {
                "metric": m,
                "label": meta.label,
                "target": target_text(meta, target, comparison),
                "eligible": eligible.get(m, 0),
                "rows": [
                    {
                        "rank": i,
                        "district": district_link(r["district_code"], r["district_name"]),
                        "locale": r.get("locale"),
                        "type": r.get("district_type"),
                        "previous": value_cell(r["previous_value"], meta.unit, 0, n),
                        "current": value_cell(r["value"], meta.unit, 0, n),
                        "improvement": cell(fmt_value(r["improvement"], meta.unit)),
                        "closed": cell(
                            NO_DATA
                            if r.get("share_of_gap_closed") is None
                            else f"{max(0.0, 100 * r['share_of_gap_closed']):.0f}%"
                        ),
                        "meets_now": r.get("shortfall") == 0,
                    }
                    for i, r in enumerate(improved.get(m, []), start=1)
                ],
            }
        )
    return recognition
