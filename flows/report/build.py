"""Builds the annual review: reads the published marts (``queries``), with suppression
decided once for the whole warehouse (``suppression``), draws the figures (``charts``),
renders the Jinja2 templates of ``templates/`` and writes the per-district pages that
changed (``pages``).

Data is read in bulk: a few set-based queries, the large results (districts, their
figures) kept as DataFrames and formatted column-wise; nothing is converted cell by
cell and no query runs per district.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import time
from dataclasses import dataclass, field
from html import escape as html_escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.offline
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from ..school_years import previous_school_year
from . import charts, connectivity, queries
from .config import Metric, ReportConfig, catalog_from_config, load_config
from .isd_pages import isd_links, write_isd_pages
from .pages import page_name, write_district_pages
from .submissions import as_of as submissions_as_of
from .submissions import submission_status
from .suppression import (
    COMPLEMENTARY,
    NO_DATA,
    PRIMARY,
    fmt_change,
    fmt_count,
    fmt_value,
    marker,
)

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"

# G4.S1.E recognition: the metrics on which "most improved" is judged.
RECOGNITION_METRICS = ("kbps_per_student", "students_per_device", "leader_pl_rate_pct")
TOP_N = 10
PEOPLE_UNITS = ("students", "educators")
FAMILIES = queries.FAMILIES
FAMILY_LABELS = {
    "enrollment": "enrollment",
    "staffing": "staffing",
    "devices": "devices",
    "connectivity": "connectivity",
    "pl_participation": "PL participation",
}


@dataclass
class YearChoice:
    """The school year a review shows, and why."""

    school_year: str
    reason: str
    requested: bool
    shown_years: list[str]
    later_years: list[str] = field(default_factory=list)


@dataclass
class ReportResult:
    html_path: Path
    district_pages_dir: Path | None
    school_year: str
    district_pages: list[Path] = field(default_factory=list, repr=False)
    district_index_path: Path | None = None
    year_reason: str = ""
    pages_written: int = 0
    pages_unchanged: int = 0
    pages_removed: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    isd_pages_dir: Path | None = None
    isd_pages: list[Path] = field(default_factory=list, repr=False)

    def summary(self) -> str:
        return (
            f"annual review {self.school_year}: {self.html_path} "
            f"(district pages: {self.pages_written} written, {self.pages_unchanged} unchanged, "
            f"{self.pages_removed} removed; ISD pages: {len(self.isd_pages)})"
        )


# ------------------------------------------------------------------------- helpers


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with None for missing values, in one vectorised pass."""
    if df is None or df.empty:
        return []
    return df.astype(object).where(df.notna(), None).to_dict("records")


def _anchor(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "-", str(text)).strip("-").lower()


SUPPRESSED_TITLE = "Suppressed: based on fewer than {n} students or educators"
NOT_PUBLISHED_TITLE = (
    "Not published: withheld so that a figure under {n} cannot be worked out by subtraction from a total"
)
NO_DATA_TITLE = "No data: not submitted or not computable; this is not a zero"


def _titles(n: int) -> dict[int, str]:
    return {PRIMARY: SUPPRESSED_TITLE.format(n=n), COMPLEMENTARY: NOT_PUBLISHED_TITLE.format(n=n)}


def _cell(text: str, *, status: int = 0, count: bool = False, n: int = 10) -> dict:
    cls = []
    title = ""
    if status:
        cls.append("supp")
        title = _titles(n)[int(status)]
    elif text == NO_DATA:
        cls.append("nodata")
        title = NO_DATA_TITLE
    if count:
        cls.append("count")
    return {"text": text, "cls": " ".join(cls), "title": title, "count": count}


def value_cell(v, unit: str, status: int, n: int) -> dict:
    return _cell(fmt_value(v, unit, int(status or 0), n), status=int(status or 0), count=unit in PEOPLE_UNITS, n=n)


def change_cell(v, unit: str, status: int, n: int) -> dict:
    return _cell(fmt_change(v, unit, int(status or 0), n), status=int(status or 0), n=n)


def count_cell(v, n: int, status: int = 0) -> dict:
    text = fmt_count(v, n, status)
    st = int(status or 0) or (PRIMARY if text == marker(n) else 0)
    return _cell(text, status=st, count=True, n=n)


def target_text(meta: Metric, target, comparison, *, district: bool = False) -> str:
    if target is None or comparison not in (">=", "<="):
        return "none set"
    if meta.is_boolean:
        yes = "yes" if float(target) >= 1 else "no"
        return yes if district else f"{yes}, in every district"
    sign = "≥" if comparison == ">=" else "≤"
    return f"{sign} {fmt_value(target, meta.unit)}"


# ------------------------------------------------------------------ the school year


def choose_school_year(years: pd.DataFrame, requested: str | None, min_share: float) -> YearChoice:
    """The year to show: the one requested, else the latest school year with
    substantially complete data: at least ``min_share`` of the districts in its
    directory have published data in all five yearly files. When no year reaches it,
    the most complete year (the latest of equals). A year still being collected, or a
    stray later year with a few rows, is never the default."""
    recs = _records(years)
    if not recs:
        raise ValueError("the warehouse has no school year on record")
    on_record = [r["school_year"] for r in recs]

    def share(r) -> float:
        d = int(r["districts_in_directory"] or 0)
        return int(r["districts_complete"] or 0) / d if d else 0.0

    def describe(r) -> str:
        return (
            f"{int(r['districts_complete'] or 0):,} of the {int(r['districts_in_directory'] or 0):,} districts "
            f"in its directory ({100 * share(r):.0f}%) submitted all five yearly files"
        )

    by_year = {r["school_year"]: r for r in recs}
    pct = f"{100 * min_share:.0f}%"
    if requested:
        if requested not in by_year:
            raise ValueError(f"school year {requested} is not on record; years on record: {', '.join(on_record)}")
        sy = requested
        reason = f"This review shows {sy}, the year requested: {describe(by_year[sy])}."
        requested_flag = True
    else:
        qualifying = [r for r in recs if share(r) >= min_share and share(r) > 0]
        if qualifying:
            pick = qualifying[-1]
            sy = pick["school_year"]
            reason = (
                f"This review shows {sy}, the latest school year with substantially complete data "
                f"(at least {pct} of the districts with all five yearly files): {describe(pick)}."
            )
        else:
            best = max(recs, key=lambda r: (share(r), r["school_year"]))
            sy = best["school_year"]
            reason = (
                f"This review shows {sy}: no school year yet has {pct} of its districts with all five "
                f"yearly files, and {sy} is the most complete: {describe(best)}."
            )
        requested_flag = False
    later = [y for y in on_record if y > sy]
    if later and not requested_flag:
        reason += (
            " Later years on record are not complete enough yet: "
            + "; ".join(f"{y} ({describe(by_year[y])})" for y in later)
            + "."
        )
    shown = [y for y in on_record if y <= sy]
    return YearChoice(sy, reason, requested_flag, shown, later)


# ------------------------------------------------------------------------ the build


def build_report(
    warehouse: Path,
    out_dir: Path,
    school_year: str | None = None,
    *,
    config_dir: Path = Path("config"),
) -> ReportResult:
    """The annual review of ``school_year`` (default: the latest year with
    substantially complete data) in ``out_dir``, with its district pages (only those
    whose content changed are written again)."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    cfg = load_config(Path(config_dir))
    con = queries.connect(Path(warehouse))
    try:
        queries.prepare(con, cfg.min_cell_size, cfg.groupings)
        seconds["suppression"] = time.perf_counter() - started
        choice = choose_school_year(queries.years_on_record(con), school_year, cfg.default_year_min_complete_share)
        t = time.perf_counter()
        data = _collect(con, cfg, choice)
        data["submissions"] = submission_status(con, choice.school_year, submissions_as_of(Path(config_dir)))
        seconds["collect"] = time.perf_counter() - t
    finally:
        con.close()
    result = _render(data, cfg, Path(out_dir), seconds)
    seconds["total"] = time.perf_counter() - started
    result.seconds = seconds
    log.info(result.summary())
    return result


def build_nightly_report(warehouse: Path, reports_dir: Path, *, config_dir: Path = Path("config")) -> ReportResult:
    """The review the nightly run keeps up to date: the default school year (latest
    with substantially complete data), only the district pages whose content changed.
    Reads the published warehouse only; meant to run after the alerts are sent."""
    return build_report(Path(warehouse), Path(reports_dir), None, config_dir=Path(config_dir))


def _collect(con, cfg: ReportConfig, choice: YearChoice) -> dict[str, Any]:
    sy = choice.school_year
    prev = previous_school_year(sy)
    years = choice.shown_years

    objectives = _records(queries.objectives(con))
    if not any(o.get("level") == "strategy" for o in objectives):
        objectives = catalog_from_config(cfg)

    trends = _records(queries.metric_trends(con, years))
    known_metrics = sorted({t["metric"] for t in trends})
    measured: list[str] = []
    for o in objectives:
        for m in _objective_metrics(o, cfg):
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
        if not cfg.metric(m).is_boolean and _metric_target(cfg.metric(m), trend_rows.get(m, []))[0] is not None
    ]
    return dict(
        school_year=sy,
        previous_year=prev,
        years=years,
        choice=choice,
        objectives=objectives,
        trends=trends,
        summary=_records(queries.metric_summary(con, sy)),
        dist=_records(queries.distribution_stats(con, sy, numeric)) if numeric else [],
        shares=_records(queries.share_meeting_by_group(con, sy, boolean)) if boolean else [],
        gap=_records(queries.gap_analysis(con, sy, gap_metrics, TOP_N)) if gap_metrics else [],
        gap_counts=_records(queries.published_counts(con, sy, gap_metrics)) if gap_metrics else [],
        gap_metrics=gap_metrics,
        improved=_records(queries.most_improved(con, sy, prev, RECOGNITION_METRICS, TOP_N)),
        eligible=_records(queries.eligible_for_recognition(con, sy, prev, RECOGNITION_METRICS)),
        districts=queries.districts(con, sy),
        quarantined=_records(queries.quarantined(con, sy)),
        file_errors=_records(queries.file_level_errors(con, sy)),
        files=_records(queries.files_summary(con, sy)),
        as_of=queries.last_file_received(con),
        state=_records(queries.state_years(con, [sy, prev])),
        history=queries.district_history(con, all_metrics, years, series_metrics),
        all_metrics=all_metrics,
        connectivity=queries.connectivity_figures(con, years),
        benchmarks=queries.connectivity_benchmarks(con),
        isds=queries.isds(con, sy),
        isd_figures=queries.isd_figures(con, sy, all_metrics),
    )


def _objective_metrics(o: dict, cfg: ReportConfig) -> list[str]:
    if not o.get("is_measured"):
        return []
    raw = o.get("metrics")
    if raw:
        return [m.strip() for m in str(raw).split(",") if m.strip()]
    return list(cfg.objective_metrics.get(o["objective_id"], ()))


def _metric_target(meta: Metric, trend_rows: list[dict]) -> tuple[float | None, str | None]:
    """The target as stored in the marts, else as configured."""
    for t in trend_rows:
        if t.get("target") is not None and t.get("comparison") in (">=", "<="):
            return float(t["target"]), t["comparison"]
    return (meta.target, meta.comparison) if meta.has_target else (None, None)


# ------------------------------------------------------------------------ rendering


def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _render(data: dict[str, Any], cfg: ReportConfig, out_dir: Path, seconds: dict[str, float]) -> ReportResult:
    t0 = time.perf_counter()
    n = cfg.min_cell_size
    sy, prev, years = data["school_year"], data["previous_year"], data["years"]
    has_prev = prev in years
    out_dir.mkdir(parents=True, exist_ok=True)
    pages_dir = out_dir / "districts" / sy
    pages_dir.mkdir(parents=True, exist_ok=True)
    districts: pd.DataFrame = data["districts"]
    page_href = {str(c): f"districts/{sy}/{page_name(c)}" for c in districts["district_code"]}
    report_name = f"annual_review_{sy}.html"

    trends_by_metric: dict[str, list[dict]] = {}
    for t in data["trends"]:
        trends_by_metric.setdefault(t["metric"], []).append(t)
    summary = {s["metric"]: s for s in data["summary"]}
    dist_by_metric: dict[str, list[dict]] = {}
    for r in data["dist"]:
        dist_by_metric.setdefault(r["metric"], []).append(r)
    shares_by_metric: dict[str, list[dict]] = {}
    for r in data["shares"]:
        shares_by_metric.setdefault(r["metric"], []).append(r)

    def district_link(code, name) -> dict:
        return {"code": code, "name": name or code, "href": page_href.get(str(code))}

    # ---- strategies and objectives
    objectives = data["objectives"]
    goal = next((o for o in objectives if o.get("level") == "goal"), None)
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
            metrics = _objective_metrics(o, cfg)
            item = {
                "id": o["objective_id"],
                "anchor": _anchor(o["objective_id"]),
                "text": o.get("objective_text") or "",
                "sub": o.get("level") == "sub_objective",
                "measured": bool(metrics),
                "reason": o.get("unmeasured_reason") or "",
                "metrics": [],
                "see_also": [],
            }
            for m in metrics:
                metric_objectives.setdefault(m, []).append(o["objective_id"])
                if m not in blocks:
                    blocks[m] = _metric_block(
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
                        "objective": o["objective_id"],
                        "trend_html": Markup(
                            charts.figure_html(
                                blocks[m]["trend_fig"], f"chart-{_anchor(o['objective_id'])}-{_anchor(m)}-trend"
                            )
                        ),
                        "dist_html": Markup(
                            charts.figure_html(
                                blocks[m]["dist_fig"], f"chart-{_anchor(o['objective_id'])}-{_anchor(m)}-spread"
                            )
                        ),
                    }
                )
            if not metrics:
                unmeasured.append({**item, "strategy": sid})
            if o["objective_id"] == "G4.S3.B.a":
                item["see_also"].append(("#gap-analysis", "Gap analysis: the districts furthest from each target"))
            if o["objective_id"] in ("G4.S1.E", "G4.S1.E.a", "G4.S1.E.c"):
                item["see_also"].append(("#recognition", "Recognition: the most-improved districts"))
            if o["objective_id"] == "G4.S2.B.c":
                item["see_also"].append(("#data-quality", "Data quality: incomplete and quarantined submissions"))
            items.append(item)
        strategies.append(
            {
                "id": sid,
                "number": s_i,
                "anchor": _anchor(sid),
                "title": s.get("strategy_title") or s.get("objective_text") or "",
                "objectives": items,
                "measured_count": sum(1 for i in items if i["measured"]),
            }
        )

    # ---- intro: state headline figures
    state = {r["school_year"]: r for r in data["state"]}
    headline = _headline(state.get(sy, {}), summary, cfg, n)

    # ---- gap analysis
    gap_rows: dict[str, list[dict]] = {}
    for r in data["gap"]:
        gap_rows.setdefault(r["metric"], []).append(r)
    counts = {r["metric"]: r for r in data["gap_counts"]}
    gap_sections = []
    for m in data["gap_metrics"]:
        meta = cfg.metric(m)
        rows = gap_rows.get(m, [])
        target, comparison = _metric_target(meta, trends_by_metric.get(m, []))
        c = counts.get(m, {})
        gap_sections.append(
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
                        "shortfall": _cell(fmt_value(r["shortfall"], meta.unit)),
                        "change": change_cell(
                            r.get("change_from_previous_year"),
                            meta.unit,
                            r.get("change_status") or 0,
                            n,
                        ),
                    }
                    for r in rows
                ],
            }
        )

    # ---- recognition
    eligible = {r["metric"]: r["districts_eligible"] for r in data["eligible"]}
    improved: dict[str, list[dict]] = {}
    for r in data["improved"]:
        improved.setdefault(r["metric"], []).append(r)
    recognition = []
    for m in RECOGNITION_METRICS:
        meta = cfg.metric(m)
        target, comparison = _metric_target(meta, trends_by_metric.get(m, []))
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
                        "improvement": _cell(fmt_value(r["improvement"], meta.unit)),
                        "closed": _cell(
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

    # ---- districts: index, incomplete data (column-wise)
    d = districts.copy()
    d["district_code"] = d["district_code"].astype(str)
    has = (
        np.column_stack([d[f"has_{f}"].fillna(False).astype(bool).to_numpy() for f in FAMILIES])
        if len(d)
        else np.zeros((0, len(FAMILIES)), bool)
    )
    labels = np.array([FAMILY_LABELS[f] for f in FAMILIES], dtype=object)
    d["_missing"] = [", ".join(labels[~row]) for row in has]
    d["_nothing"] = ~has.any(axis=1) if len(d) else []
    d["_complete"] = d["data_complete"].fillna(False).astype(bool) if len(d) else []
    d["_isd"] = d["isd_name"].where(d["isd_name"].notna(), d["isd_code"])
    quarantine_by_district: dict[str, list[dict]] = {}
    for q in data["quarantined"]:
        quarantine_by_district.setdefault(str(q["district_code"]), []).append(
            {
                "district": district_link(q["district_code"], q.get("district_name")),
                "family": FAMILY_LABELS.get(q["family"], q["family"] or "unknown"),
                "issues": q["issues"],
                "files": q["files"],
                "rules": q.get("rules") or "",
                "published": q.get("family_published"),
            }
        )
    quarantine = [q for qs in quarantine_by_district.values() for q in qs]
    d["_quarantined"] = d["district_code"].isin(set(quarantine_by_district))
    rec = _records(
        d[
            [
                "district_code",
                "district_name",
                "district_type",
                "locale",
                "county",
                "_isd",
                "_complete",
                "_quarantined",
                "_missing",
                "_nothing",
            ]
        ]
    )
    index_rows = [
        {
            "district": district_link(r["district_code"], r["district_name"]),
            "type": r["district_type"],
            "locale": r["locale"],
            "county": r["county"],
            "isd": r["_isd"],
            "complete": r["_complete"],
            "quarantined": r["_quarantined"],
        }
        for r in rec
    ]
    incomplete = [
        {
            "district": district_link(r["district_code"], r["district_name"]),
            "type": r["district_type"],
            "isd": r["_isd"],
            "missing": r["_missing"] or "(completeness not recorded)",
            "nothing": bool(r["_nothing"]),
        }
        for r in rec
        if not r["_complete"]
    ]

    isd_codes = dict(zip(d["district_code"], d["isd_code"], strict=True))
    for r in index_rows:
        r["isd_code"] = isd_codes.get(str(r["district"]["code"]))
    index_rows_html = Markup(
        _district_rows_html(
            index_rows, lambda c: page_href.get(str(c)), quarantine=True, isd_href=lambda c: f"isds/{sy}/{page_name(c)}"
        )
    )
    index_page_rows_html = Markup(
        _district_rows_html(
            index_rows, lambda c: page_name(c), quarantine=False, isd_href=lambda c: f"../../isds/{sy}/{page_name(c)}"
        )
    )
    incomplete_html = Markup(
        "".join(
            f"<tr><td>{_dlink(r['district'], r['district']['href'])}</td>"
            f"<td>{_e(r['type'])}</td><td>{_e(r['isd'])}</td>"
            f"<td>{'<b>no file at all</b>: ' if r['nothing'] else ''}{_e(r['missing'])}</td></tr>"
            for r in incomplete
        )
    )

    env = _env()
    common = dict(
        sy=sy,
        prev=prev,
        has_prev=has_prev,
        years=years,
        n=n,
        marker=marker(n),
    )
    review_common = dict(
        **common,
        generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        as_of=_fmt_ts(data["as_of"]),
        year_reason=data["choice"].reason,
        later_years=data["choice"].later_years,
        goal={
            "id": (goal or {}).get("objective_id") or cfg.goal.get("id", "G4"),
            "title": cfg.goal.get("title", "Leadership"),
            "statement": (goal or {}).get("objective_text") or cfg.goal.get("statement", ""),
        },
    )
    # ---- connectivity against the national benchmarks
    bench = connectivity.benchmarks(data["benchmarks"], cfg.benchmarks)
    conn_rows = connectivity.rows(data["connectivity"], None, years)
    conn_current = next((r for r in conn_rows if r["school_year"] == sy), None)
    conn_by_year = {r["school_year"]: r for r in conn_rows}
    conn_charts = [
        Markup(
            charts.figure_html(
                charts.trend_figure(
                    years,
                    [conn_by_year.get(y, {}).get(key) for y in years],
                    label=label,
                    unit="percent",
                ),
                f"chart-connectivity-{_anchor(key)}",
            )
        )
        for key, label in (
            ("long_students_pct", "Students in districts meeting 1 Mbps per student"),
            ("long_districts_pct", "Districts meeting 1 Mbps per student"),
        )
    ]
    isd_dir = f"isds/{sy}"

    html = env.get_template("report.html.j2").render(
        **review_common,
        plotly_js=Markup(plotly.offline.get_plotlyjs()),
        strategies=strategies,
        headline=headline,
        gap_sections=gap_sections,
        recognition=recognition,
        recognition_metrics=[cfg.metric(m).label for m in RECOGNITION_METRICS],
        unmeasured=unmeasured,
        incomplete=incomplete,
        incomplete_html=incomplete_html,
        quarantine=quarantine,
        file_errors=data["file_errors"],
        files=data["files"],
        submissions=data.get("submissions"),
        districts_total=len(index_rows),
        index_rows_html=index_rows_html,
        pages_dir=f"districts/{sy}",
        benchmarks=list(bench.values()),
        benchmark_by_name=bench,
        connectivity=conn_rows,
        conn_current=conn_current,
        conn_charts=conn_charts,
        national_context=[{"text": t, "source": src} for t, src in cfg.national_context],
        isd_dir=isd_dir,
        isd_links=isd_links(data["isds"], sy),
    )
    html_path = out_dir / report_name
    _write(html_path, html)
    seconds["review"] = time.perf_counter() - t0

    # ---- per-district pages: only those whose content changed
    t1 = time.perf_counter()
    targets = {m: _metric_target(cfg.metric(m), trends_by_metric.get(m, [])) for m in data["all_metrics"]}
    state_rows = pd.DataFrame(
        [
            {
                "metric": t["metric"],
                "school_year": t["school_year"],
                "state_value": t["state_value"],
                "state_status": int(t.get("state_status") or 0),
            }
            for t in data["trends"]
        ],
        columns=["metric", "school_year", "state_value", "state_status"],
    )
    stats = write_district_pages(
        env,
        pages_dir,
        cfg=cfg,
        common=common,
        report_name=report_name,
        districts=districts,
        history=data["history"],
        state=state_rows,
        metrics=data["all_metrics"],
        metric_objectives=metric_objectives,
        targets=targets,
        target_texts={m: target_text(cfg.metric(m), *targets[m], district=True) for m in data["all_metrics"]},
        quarantine_by_district=quarantine_by_district,
        titles=_titles(n),
        nodata_title=NO_DATA_TITLE,
    )
    index_path = pages_dir / "index.html"
    _write(
        index_path,
        env.get_template("district_index.html.j2").render(
            **common,
            report_href=f"../../{report_name}",
            rows_html=index_page_rows_html,
        ),
    )
    seconds["district_pages"] = time.perf_counter() - t1

    # ---- per-ISD pages
    t2 = time.perf_counter()
    state_now = {
        t["metric"]: (t["state_value"], int(t.get("state_status") or 0))
        for t in data["trends"]
        if t["school_year"] == sy
    }
    isd_stats = write_isd_pages(
        env,
        out_dir / isd_dir,
        cfg=cfg,
        common=common,
        report_href=f"../../{report_name}",
        district_href=lambda c: f"../../districts/{sy}/{page_name(c)}",
        isds=data["isds"],
        isd_figures=data["isd_figures"],
        districts=districts,
        history=data["history"],
        state=state_now,
        metrics=data["all_metrics"],
        targets=targets,
        target_texts={m: target_text(cfg.metric(m), *targets[m], district=True) for m in data["all_metrics"]},
        connectivity_figures=data["connectivity"],
        titles=_titles(n),
        nodata_title=NO_DATA_TITLE,
    )
    seconds["isd_pages"] = time.perf_counter() - t2
    return ReportResult(
        html_path=html_path,
        district_pages_dir=pages_dir,
        school_year=sy,
        district_pages=stats.paths,
        district_index_path=index_path,
        year_reason=data["choice"].reason,
        pages_written=stats.written,
        pages_unchanged=stats.unchanged,
        pages_removed=stats.removed,
        isd_pages_dir=out_dir / isd_dir,
        isd_pages=isd_stats.paths,
    )


def _e(v) -> str:
    return html_escape("" if v is None else str(v))


def _dlink(d: dict, href: str | None) -> str:
    """A district's name (a link to its page) and code: the ``dlink`` macro, for long
    tables rendered in one pass."""
    name = _e(d["name"])
    link = f'<a href="{_e(href)}">{name}</a>' if href else name
    return f'{link} <span class="muted">{_e(d["code"])}</span>'


def _district_rows_html(rows: list[dict], href, *, quarantine: bool, isd_href=None) -> str:
    ok, bad = '<span class="badge ok">complete</span>', '<span class="badge bad">incomplete</span>'
    q = ' <span class="badge bad">quarantined rows</span>'

    def isd(r) -> str:
        code = r.get("isd_code")
        if isd_href is None or not isinstance(code, str):
            return _e(r["isd"])
        return f'<a href="{_e(isd_href(code))}">{_e(r["isd"])}</a>'

    return "".join(
        f"<tr><td>{_dlink(r['district'], href(r['district']['code']))}</td><td>{_e(r['type'])}</td>"
        f"<td>{_e(r['locale'])}</td><td>{_e(r['county'])}</td><td>{isd(r)}</td>"
        f"<td>{ok if r['complete'] else bad}{q if quarantine and r['quarantined'] else ''}</td></tr>"
        for r in rows
    )


def _fmt_ts(v) -> str:
    if v is None:
        return "unknown"
    try:
        return pd.Timestamp(v).strftime("%Y-%m-%d %H:%M")
    except (ValueError, TypeError):
        return str(v)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _headline(cur: dict, summary: dict[str, dict], cfg: ReportConfig, n: int) -> list[dict]:
    if not cur:
        return []

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
                "lbl": "districts with a published bandwidth figure meet 1 Mbps per student",
            }
        )
    for m in ("kbps_per_student", "students_per_device", "leader_pl_rate_pct"):
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


def _metric_block(
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
    target, comparison = _metric_target(meta, trend_rows)
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
        trend = charts.trend_figure(years, values, label=meta.label, unit=meta.unit, boolean_share=True)
        dist = charts.share_by_group_figure(share_rows, label=meta.label)
        note = "Counts are of districts with a published figure. The state line is the share of them that meet it."
    else:
        values = [
            None if by_year.get(y, {}).get("state_status") else by_year.get(y, {}).get("state_value") for y in years
        ]
        trend = charts.trend_figure(
            years, values, label=meta.label, unit=meta.unit, target=target, comparison=comparison
        )
        dist = charts.distribution_figure(
            dist_rows, label=meta.label, unit=meta.unit, target=target, comparison=comparison
        )
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
        change = _cell(f"no {previous_school_year(sy)} on record")
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


__all__ = [
    "ReportResult",
    "YearChoice",
    "build_report",
    "build_nightly_report",
    "choose_school_year",
    "previous_school_year",
]
