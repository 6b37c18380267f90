"""The connectivity section of the annual review and of the ISD pages: the national
benchmarks (100 kbps and 1 Mbps per student, 10 Gbps per 1,000 students on the WAN,
$3 per Mbps), the shares of districts and of students meeting each, the spread of
cost per Mbps and the affordability gap, per school year (the trend), with the
national context lines of config/metrics.yml.

The figures come from ``queries.connectivity_figures``: one query for the state and
every ISD, over published district figures only (a district whose bandwidth figure is
withheld, ``<10`` or ``np``, is left out and counted as withheld), so no figure is
computed from a withheld count. Cost per Mbps is not a count of people: its spread
and the districts above the affordable price are over every district with a figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from .suppression import fmt_value

# benchmark name -> (default label, unit) when neither warehouse nor config has a label
BENCHMARKS = {
    "short_term_kbps_per_student": ("100 kbps per student (short-term goal)", "kbps"),
    "long_term_kbps_per_student": ("1 Mbps per student (long-term goal)", "kbps"),
    "wan_kbps_per_student": ("10 Gbps per 1,000 students (WAN goal)", "kbps"),
    "affordable_cost_per_mbps_usd": ("$3 per Mbps per month (affordable price)", "usd"),
}


@dataclass
class Benchmark:
    name: str
    value: float | None
    label: str
    source: str | None
    unit: str

    @property
    def text(self) -> str:
        return "not configured" if self.value is None else fmt_value(self.value, self.unit)


def benchmarks(stored: pd.DataFrame, configured: dict[str, dict[str, Any]]) -> dict[str, Benchmark]:
    """The benchmarks the marts were built with (reference.connectivity_benchmarks),
    else as configured."""
    rows = {r["benchmark"]: r for r in stored.to_dict("records")} if stored is not None and len(stored) else {}
    out = {}
    for name, (label, unit) in BENCHMARKS.items():
        r = rows.get(name) or configured.get(name) or {}
        value = r.get("value")
        out[name] = Benchmark(
            name=name,
            value=None if value is None else float(value),
            label=str(r.get("label") or label),
            source=r.get("source"),
            unit=unit,
        )
    return out


def goal_words(bench: dict[str, Benchmark]) -> dict[str, str]:
    """The bandwidth goals as the tables and the introduction word them, from their
    values: {'short': '100 kbps', 'long': '1 Mbps', 'wan': '10 Gbps per 1,000 students'}
    (each 'per student' but the WAN goal's)."""
    from .cells import bandwidth_text

    def text(name: str) -> str:
        return bandwidth_text(bench[name].value) or "(not configured)"

    wan = bench["wan_kbps_per_student"].value
    return {
        "short": text("short_term_kbps_per_student"),
        "long": text("long_term_kbps_per_student"),
        "wan": "(not configured)" if wan is None else f"{float(wan) / 1000:,g} Gbps per 1,000 students",
    }


def _pct(part: Any, whole: Any) -> str:
    if not whole:
        return "no data"
    return f"{100.0 * float(part or 0) / float(whole):.1f}%"


def _of(part: Any, whole: Any) -> str:
    if not whole:
        return "no data"
    return f"{int(part or 0):,} of {int(whole):,} ({_pct(part, whole)})"


def _students(part: Any, whole: Any) -> str:
    if not whole:
        return "no data"
    return f"{_pct(part, whole)} ({int(part or 0):,} of {int(whole):,})"


def rows(figures: pd.DataFrame, isd_code: str | None, years: list[str]) -> list[dict[str, Any]]:
    """One formatted row per school year (oldest first) of the state (``isd_code``
    None) or of one ISD."""
    if figures is None or figures.empty:
        return []
    f = (
        figures[figures["is_state"]]
        if isd_code is None
        else figures[(~figures["is_state"]) & (figures["isd_code"] == isd_code)]
    )
    by_year = {r["school_year"]: r for r in f.astype(object).where(f.notna(), None).to_dict("records")}
    out = []
    for y in years:
        r = by_year.get(y)
        if r is None:
            continue
        bw, wan, cost = r["districts_with_bandwidth"], r["districts_with_wan"], r["districts_with_cost"]
        out.append(
            {
                "school_year": y,
                "districts_with_bandwidth": int(bw or 0),
                "districts_withheld": int(r["districts_bandwidth_withheld"] or 0),
                "short_districts": _of(r["districts_short"], bw),
                "short_students": _students(r["students_short"], r["students_with_bandwidth"]),
                "long_districts": _of(r["districts_long"], bw),
                "long_students": _students(r["students_long"], r["students_with_bandwidth"]),
                "wan": _of(r["districts_wan"], wan) if wan else "not reported",
                "cost_q1": fmt_value(r["cost_q1"], "usd"),
                "cost_median": fmt_value(r["cost_median"], "usd"),
                "cost_q3": fmt_value(r["cost_q3"], "usd"),
                "above_cost": _of(r["districts_above_cost"], cost),
                "below_long": int(r["districts_below_long"] or 0),
                "could_meet": int(r["districts_could_meet"] or 0),
                # raw figures for charts and tests
                "short_districts_pct": None if not bw else 100.0 * float(r["districts_short"] or 0) / float(bw),
                "long_districts_pct": None if not bw else 100.0 * float(r["districts_long"] or 0) / float(bw),
                "short_students_pct": None
                if not r["students_with_bandwidth"]
                else 100.0 * float(r["students_short"] or 0) / float(r["students_with_bandwidth"]),
                "long_students_pct": None
                if not r["students_with_bandwidth"]
                else 100.0 * float(r["students_long"] or 0) / float(r["students_with_bandwidth"]),
            }
        )
    return out
