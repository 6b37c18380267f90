"""The introduction's headline cards: how many districts submitted, how many meet the
bandwidth target (worded from its configured value), and the state's figures of
``review.headline_metrics`` against their targets."""

from __future__ import annotations

from ..cells import bandwidth_text, by_metric, count_cell, target_text
from ..collect import metric_target
from ..config import ReportConfig
from ..suppression import fmt_value


def section(data: dict, cfg: ReportConfig) -> list[dict]:
    sy = data["school_year"]
    state = {r["school_year"]: r for r in data["state"]}
    cur = state.get(sy, {})
    if not cur:
        return []
    n = cfg.min_cell_size
    summary = {s["metric"]: s for s in data["summary"]}

    def pct(a, b):
        return f" ({100 * a / b:.0f}%)" if a is not None and b else ""

    cards = []
    dd = cur.get("districts_in_directory")
    rep = cur.get("districts_reporting")
    comp = cur.get("districts_complete")
    if dd is not None:
        cards.append({"big": f"{rep or 0:,} of {dd:,}", "lbl": "districts in the directory submitted data"})
        cards.append({"big": f"{comp or 0:,} of {dd:,}", "lbl": "districts submitted all five yearly files"})
    bw = summary.get("meets_bandwidth_target")
    if bw and bw.get("districts_published"):
        meet, pub = int(bw.get("districts_meeting") or 0), int(bw["districts_published"])
        cards.append(
            {
                "big": f"{meet:,} of {pub:,}{pct(meet, pub)}",
                "lbl": f"districts with a published bandwidth figure meet {bandwidth_target_text(data, cfg)}",
            }
        )
    for m in cfg.review.headline_metrics:
        if m in cur:
            meta = cfg.metric(m)
            st = int(cur.get(f"_st__{m}") or 0)
            t = f" (target {target_text(meta, meta.target, meta.comparison)})" if meta.has_target else ""
            cards.append({"big": fmt_value(cur.get(m), meta.unit, st, n), "lbl": f"{meta.label}, Michigan{t}"})
    if "student_count" in cur:
        cards.append(
            {
                "big": count_cell(cur.get("student_count"), n, int(cur.get("_st__student_count") or 0))["text"],
                "lbl": "students enrolled (districts reporting)",
                "count": True,
            }
        )
    return cards


def bandwidth_target_text(data: dict, cfg: ReportConfig) -> str:
    """'1 Mbps per student': the bandwidth target the warehouse's meets_bandwidth_target
    was built with (targets.kbps_per_student), else as configured."""
    target, _ = metric_target(cfg.metric("kbps_per_student"), by_metric(data["trends"]).get("kbps_per_student", []))
    text = bandwidth_text(target)
    return f"{text} per student" if text else "the bandwidth target"
