"""Builds the annual review: reads the published marts (``queries``), applies the
suppression rules (``suppression``), draws the figures (``charts``) and renders the
Jinja2 templates of ``templates/``."""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.offline
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from . import charts, queries
from .config import Metric, ReportConfig, catalog_from_config, load_config
from .suppression import NO_DATA, fmt_change, fmt_count, fmt_value, is_suppressed, marker

TEMPLATES = Path(__file__).parent / "templates"

# G4.S1.E recognition: the metrics on which "most improved" is judged.
RECOGNITION_METRICS = ("kbps_per_student", "students_per_device", "leader_pl_rate_pct")
TOP_N = 10
PEOPLE_UNITS = ("students", "educators")
FAMILY_LABELS = {
    "enrollment": "enrollment",
    "staffing": "staffing",
    "devices": "devices",
    "connectivity": "connectivity",
    "pl_participation": "PL participation",
}
LOCALE_LABELS = {"city": "city", "suburb": "suburb", "town": "town", "rural": "rural"}


@dataclass
class ReportResult:
    html_path: Path
    district_pages_dir: Path | None
    school_year: str
    district_pages: list[Path] = field(default_factory=list, repr=False)
    district_index_path: Path | None = None


# ------------------------------------------------------------------------- helpers


def previous_school_year(sy: str) -> str:
    m = re.fullmatch(r"(\d{4})-(\d{2})", sy or "")
    if not m:
        raise ValueError(f"not a school year (YYYY-YY): {sy!r}")
    start = int(m.group(1)) - 1
    return f"{start}-{(start + 1) % 100:02d}"


def _clean(v: Any) -> Any:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _clean(v) for k, v in r.items()} for r in df.to_dict("records")]


def _safe_code(code: str) -> str:
    return re.sub(r"[^0-9A-Za-z_-]", "_", str(code))


def _anchor(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "-", str(text)).strip("-").lower()


SUPPRESSED_TITLE = "Suppressed: based on fewer than {n} students or educators"
NO_DATA_TITLE = "No data: not submitted or not computable; this is not a zero"


def _cell(text: str, *, suppressed: bool = False, count: bool = False, n: int = 10) -> dict:
    cls = []
    title = ""
    if suppressed:
        cls.append("supp")
        title = SUPPRESSED_TITLE.format(n=n)
    elif text == NO_DATA:
        cls.append("nodata")
        title = NO_DATA_TITLE
    if count:
        cls.append("count")
    return {"text": text, "cls": " ".join(cls), "title": title, "count": count}


def value_cell(v, unit: str, suppressed: bool, n: int) -> dict:
    return _cell(
        fmt_value(v, unit, bool(suppressed), n),
        suppressed=bool(suppressed),
        count=unit in PEOPLE_UNITS,
        n=n,
    )


def change_cell(v, unit: str, suppressed: bool, n: int) -> dict:
    return _cell(fmt_change(v, unit, bool(suppressed), n), suppressed=bool(suppressed), n=n)


def count_cell(v, n: int) -> dict:
    text = fmt_count(v, n)
    return _cell(text, suppressed=text == marker(n), count=True, n=n)


def target_text(meta: Metric, target, comparison, *, district: bool = False) -> str:
    if target is None or comparison not in (">=", "<="):
        return "none set"
    if meta.is_boolean:
        yes = "yes" if float(target) >= 1 else "no"
        return yes if district else f"{yes}, in every district"
    sign = "≥" if comparison == ">=" else "≤"
    return f"{sign} {fmt_value(target, meta.unit)}"


def _meets_cell(v, suppressed: bool, has_target: bool, n: int) -> dict:
    if not has_target:
        return _cell("no target")
    if suppressed:
        return _cell(marker(n), suppressed=True, n=n)
    if v is None:
        return _cell(NO_DATA)
    c = _cell("yes" if v else "no")
    c["cls"] = "ok" if v else "bad"
    return c


# ------------------------------------------------------------------------ the build


def build_report(
    warehouse: Path,
    out_dir: Path,
    school_year: str | None = None,
    *,
    config_dir: Path = Path("config"),
) -> ReportResult:
    cfg = load_config(Path(config_dir))
    con = queries.connect(Path(warehouse))
    try:
        data = _collect(con, cfg, school_year)
    finally:
        con.close()
    return _render(data, cfg, Path(out_dir))


def _collect(con, cfg: ReportConfig, school_year: str | None) -> dict[str, Any]:
    n = cfg.min_cell_size
    years = queries.years_on_record(con)
    if not years:
        raise ValueError("the warehouse has no school year on record")
    sy = school_year or years[-1]
    if sy not in years:
        raise ValueError(f"school year {sy} is not on record; years on record: {', '.join(years)}")
    prev = previous_school_year(sy)

    objectives = _records(queries.objectives(con))
    if not any(o.get("level") == "strategy" for o in objectives):
        objectives = catalog_from_config(cfg)

    trends = _records(queries.metric_trends(con, n))
    known_metrics = sorted({t["metric"] for t in trends})
    measured = []
    for o in objectives:
        for m in _objective_metrics(o, cfg):
            if m not in measured:
                measured.append(m)
    numeric = [m for m in measured if not cfg.metric(m).is_boolean]
    boolean = [m for m in measured if cfg.metric(m).is_boolean]
    gap_metrics = [m.name for m in cfg.target_metrics if not m.is_boolean and m.name in known_metrics]
    all_metrics = [m for m in cfg.metrics if m in known_metrics] + [
        m for m in known_metrics if m not in cfg.metrics
    ]

    return dict(
        school_year=sy,
        previous_year=prev,
        years=years,
        objectives=objectives,
        trends=trends,
        summary=_records(queries.objective_metric_summary(con, sy, n)),
        dist=_records(queries.district_values(con, sy, numeric, n)) if numeric else [],
        shares=_records(queries.share_meeting_by_group(con, sy, boolean)) if boolean else [],
        gap=_records(queries.gap_analysis(con, sy, gap_metrics, n, TOP_N)) if gap_metrics else [],
        gap_metrics=gap_metrics,
        improved=_records(queries.most_improved(con, sy, prev, RECOGNITION_METRICS, n, TOP_N)),
        eligible=_records(queries.eligible_for_recognition(con, sy, prev, RECOGNITION_METRICS, n)),
        districts=_records(queries.districts(con, sy)),
        quarantined=_records(queries.quarantined(con, sy)),
        file_errors=_records(queries.file_level_errors(con, sy)),
        files=_records(queries.files_summary(con, sy)),
        as_of=_clean(queries.last_file_received(con)),
        state=_records(queries.state_years(con, [sy, prev])),
        history=_records(queries.district_history(con, all_metrics, n)),
        all_metrics=all_metrics,
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


def _render(data: dict[str, Any], cfg: ReportConfig, out_dir: Path) -> ReportResult:
    n = cfg.min_cell_size
    sy, prev, years = data["school_year"], data["previous_year"], data["years"]
    has_prev = prev in years
    out_dir.mkdir(parents=True, exist_ok=True)
    pages_dir = out_dir / "districts" / sy
    pages_dir.mkdir(parents=True, exist_ok=True)
    page_href = {
        d["district_code"]: f"districts/{sy}/{_safe_code(d['district_code'])}.html"
        for d in data["districts"]
    }
    report_name = f"annual_review_{sy}.html"

    trends_by_metric: dict[str, list[dict]] = {}
    for t in data["trends"]:
        trends_by_metric.setdefault(t["metric"], []).append(t)
    summary = {(s["objective_id"], s["metric"]): s for s in data["summary"]}
    dist_by_metric: dict[str, list[dict]] = {}
    for r in data["dist"]:
        dist_by_metric.setdefault(r["metric"], []).append(r)
    shares_by_metric: dict[str, list[dict]] = {}
    for r in data["shares"]:
        shares_by_metric.setdefault(r["metric"], []).append(r)

    def district_link(code, name) -> dict:
        return {"code": code, "name": name or code, "href": page_href.get(code)}

    # ---- strategies and objectives
    objectives = data["objectives"]
    goal = next((o for o in objectives if o.get("level") == "goal"), None)
    strategies = []
    unmeasured = []
    metric_objectives: dict[str, list[str]] = {}
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
                item["metrics"].append(
                    _metric_block(
                        o["objective_id"], m, cfg, summary.get((o["objective_id"], m), {}),
                        trends_by_metric.get(m, []), dist_by_metric.get(m, []),
                        shares_by_metric.get(m, []), years, sy, has_prev,
                    )
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
    cur = state.get(sy, {})
    headline = _headline(cur, cfg, n)

    # ---- gap analysis
    gap_sections = []
    gap_rows: dict[str, list[dict]] = {}
    for r in data["gap"]:
        gap_rows.setdefault(r["metric"], []).append(r)
    for m in data["gap_metrics"]:
        meta = cfg.metric(m)
        rows = gap_rows.get(m, [])
        target, comparison = _metric_target(meta, trends_by_metric.get(m, []))
        published = _published_count(dist_by_metric.get(m), trends_by_metric.get(m, []), sy)
        gap_sections.append(
            {
                "metric": m,
                "label": meta.label,
                "target": target_text(meta, target, comparison),
                "short": rows[0]["districts_short"] if rows else 0,
                "published": rows[0]["districts_published"] if rows else published,
                "rows": [
                    {
                        "district": district_link(r["district_code"], r["district_name"]),
                        "isd": r.get("isd_name") or r.get("isd_code"),
                        "locale": r.get("locale"),
                        "type": r.get("district_type"),
                        "value": value_cell(r["value"], meta.unit, False, n),
                        "shortfall": _cell(fmt_value(r["shortfall"], meta.unit)),
                        "change": change_cell(
                            r.get("change_from_previous_year"), meta.unit,
                            bool(r.get("change_suppressed")), n,
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
                        "previous": value_cell(r["previous_value"], meta.unit, False, n),
                        "current": value_cell(r["value"], meta.unit, False, n),
                        "improvement": _cell(fmt_value(r["improvement"], meta.unit)),
                        "closed": _cell(
                            NO_DATA if r.get("share_of_gap_closed") is None
                            else f"{100 * r['share_of_gap_closed']:.0f}%"
                        ),
                        "meets_now": r.get("shortfall") == 0,
                    }
                    for i, r in enumerate(improved.get(m, []), start=1)
                ],
            }
        )

    # ---- data quality
    incomplete = []
    for d in data["districts"]:
        if d.get("data_complete") is True:
            continue
        missing = [FAMILY_LABELS[f] for f in queries.FAMILIES if d.get(f"has_{f}") is not True]
        incomplete.append(
            {
                "district": district_link(d["district_code"], d["district_name"]),
                "type": d.get("district_type"),
                "isd": d.get("isd_name") or d.get("isd_code"),
                "missing": ", ".join(missing) if missing else "(completeness not recorded)",
                "nothing": len(missing) == len(queries.FAMILIES),
            }
        )
    quarantine = [
        {
            "district": district_link(q["district_code"], q.get("district_name")),
            "family": FAMILY_LABELS.get(q["family"], q["family"] or "unknown"),
            "issues": q["issues"],
            "files": q["files"],
            "rules": q.get("rules") or "",
            "published": q.get("family_published"),
        }
        for q in data["quarantined"]
    ]
    quarantine_by_district: dict[str, list[dict]] = {}
    for q, raw in zip(quarantine, data["quarantined"]):
        quarantine_by_district.setdefault(raw["district_code"], []).append(q)

    # ---- district index
    index_rows = [
        {
            "district": district_link(d["district_code"], d["district_name"]),
            "type": d.get("district_type"),
            "locale": d.get("locale"),
            "county": d.get("county"),
            "isd": d.get("isd_name") or d.get("isd_code"),
            "complete": d.get("data_complete") is True,
            "quarantined": d["district_code"] in quarantine_by_district,
        }
        for d in data["districts"]
    ]

    env = _env()
    common = dict(
        sy=sy,
        prev=prev,
        has_prev=has_prev,
        years=years,
        n=n,
        marker=marker(n),
        generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        as_of=_fmt_ts(data["as_of"]),
        goal={
            "id": (goal or {}).get("objective_id") or cfg.goal.get("id", "G4"),
            "title": cfg.goal.get("title", "Leadership"),
            "statement": (goal or {}).get("objective_text") or cfg.goal.get("statement", ""),
        },
    )
    html = env.get_template("report.html.j2").render(
        **common,
        plotly_js=Markup(plotly.offline.get_plotlyjs()),
        strategies=strategies,
        headline=headline,
        gap_sections=gap_sections,
        recognition=recognition,
        recognition_metrics=[cfg.metric(m).label for m in RECOGNITION_METRICS],
        unmeasured=unmeasured,
        incomplete=incomplete,
        quarantine=quarantine,
        file_errors=data["file_errors"],
        files=data["files"],
        districts_total=len(data["districts"]),
        index_rows=index_rows,
        pages_dir=f"districts/{sy}",
    )
    html_path = out_dir / report_name
    _write(html_path, html)

    # ---- per-district pages
    pages = _district_pages(
        env, data, cfg, common, pages_dir, report_name, trends_by_metric, metric_objectives,
        quarantine_by_district,
    )
    index_path = pages_dir / "index.html"
    _write(
        index_path,
        env.get_template("district_index.html.j2").render(
            **common,
            report_href=f"../../{report_name}",
            rows=[
                {**r, "district": {**r["district"], "href": f"{_safe_code(r['district']['code'])}.html"}}
                for r in index_rows
            ],
        ),
    )
    return ReportResult(
        html_path=html_path,
        district_pages_dir=pages_dir,
        school_year=sy,
        district_pages=pages,
        district_index_path=index_path,
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


def _published_count(dist_rows, trend_rows, sy) -> int:
    if dist_rows:
        return sum(1 for r in dist_rows if r.get("value") is not None)
    for t in trend_rows:
        if t["school_year"] == sy:
            return int(t.get("districts_with_data") or 0)
    return 0


def _headline(cur: dict, cfg: ReportConfig, n: int) -> list[dict]:
    if not cur:
        return []

    def pct(a, b):
        return f" ({100 * a / b:.0f}%)" if a is not None and b else ""

    cards = []
    dd = cur.get("districts_in_directory")
    rep = cur.get("districts_reporting")
    comp = cur.get("districts_complete")
    bw = cur.get("districts_with_bandwidth_data")
    meet = cur.get("districts_meeting_bandwidth_target")
    if dd is not None:
        cards.append({"big": f"{rep or 0} of {dd}", "lbl": "districts in the directory submitted data"})
        cards.append({"big": f"{comp or 0} of {dd}", "lbl": "districts submitted all five yearly files"})
    if bw is not None:
        cards.append(
            {
                "big": f"{meet or 0} of {bw}{pct(meet, bw)}",
                "lbl": "districts with bandwidth data meet 1 Mbps per student",
            }
        )
    for m in ("kbps_per_student", "students_per_device", "leader_pl_rate_pct"):
        if m in cur:
            meta = cfg.metric(m)
            sup = is_suppressed(m, cur.get(m), cur, n)
            t = f" (target {target_text(meta, meta.target, meta.comparison)})" if meta.has_target else ""
            cards.append({"big": fmt_value(cur.get(m), meta.unit, sup, n), "lbl": f"{meta.label}, Michigan{t}"})
    if "student_count" in cur:
        cards.append({"big": count_cell(cur.get("student_count"), n)["text"], "lbl": "students enrolled (districts reporting)", "count": True})
    return cards


def _metric_block(
    oid: str, m: str, cfg: ReportConfig, s: dict, trend_rows: list[dict], dist_rows: list[dict],
    share_rows: list[dict], years: list[str], sy: str, has_prev: bool,
) -> dict:
    n = cfg.min_cell_size
    meta = cfg.metric(m)
    target, comparison = _metric_target(meta, trend_rows)
    by_year = {t["school_year"]: t for t in trend_rows}
    with_data = int(s.get("districts_with_data") or 0)
    meeting = int(s.get("districts_meeting") or 0)

    if meta.is_boolean:
        values = [
            None if by_year.get(y, {}).get("district_mean") is None
            else 100.0 * float(by_year[y]["district_mean"])
            for y in years
        ]
        trend = charts.trend_figure(years, values, label=meta.label, unit=meta.unit, boolean_share=True)
        dist = charts.share_by_group_figure(share_rows, label=meta.label)
        note = "Counts are of districts. The state line is the share of districts with data that meet it."
    else:
        values = [
            None if by_year.get(y, {}).get("state_suppressed") else by_year.get(y, {}).get("state_value")
            for y in years
        ]
        trend = charts.trend_figure(
            years, values, label=meta.label, unit=meta.unit, target=target, comparison=comparison
        )
        shown = [r for r in dist_rows if r.get("value") is not None]
        dist = charts.distribution_figure(
            shown, label=meta.label, unit=meta.unit, target=target, comparison=comparison
        )
        n_sup = sum(1 for r in dist_rows if r.get("suppressed"))
        n_none = sum(1 for r in dist_rows if r.get("value") is None and not r.get("suppressed"))
        parts = [f"{len(shown)} districts shown."]
        if n_sup:
            parts.append(f"{n_sup} not shown because their figure is suppressed ({marker(n)}).")
        if n_none:
            parts.append(f"{n_none} not shown because they have no data for {sy}.")
        missing_years = [y for y, v in zip(years, values) if v is None]
        if missing_years:
            parts.append("No state figure for " + ", ".join(missing_years) + ".")
        note = " ".join(parts)

    if not has_prev:
        change = _cell(f"no {previous_school_year(sy)} on record")
    else:
        change = change_cell(s.get("state_change"), meta.unit, bool(s.get("state_change_suppressed")), n)
    if target is not None:
        meeting_text = f"{meeting} of {with_data} districts with data meet the target"
    else:
        meeting_text = f"{with_data} districts with data; no target is set"
    return {
        "objective": oid,
        "metric": m,
        "label": meta.label,
        "unit": meta.unit,
        "description": meta.description,
        "state": value_cell(s.get("state_value"), meta.unit, bool(s.get("state_suppressed")), n),
        "change": change,
        "target": target_text(meta, target, comparison),
        "target_source": meta.target_source if target is not None else None,
        "meeting_text": meeting_text,
        "with_data": with_data,
        "meeting": meeting,
        "trend_html": Markup(charts.figure_html(trend)),
        "dist_html": Markup(charts.figure_html(dist)),
        "note": note,
    }


def _district_pages(
    env, data, cfg: ReportConfig, common: dict, pages_dir: Path, report_name: str,
    trends_by_metric: dict, metric_objectives: dict, quarantine_by_district: dict,
) -> list[Path]:
    n = cfg.min_cell_size
    sy, years = data["school_year"], data["years"]
    for old in pages_dir.glob("*.html"):
        old.unlink()
    hist: dict[str, dict[str, dict[str, dict]]] = {}
    for r in data["history"]:
        hist.setdefault(r["district_code"], {}).setdefault(r["metric"], {})[r["school_year"]] = r
    state_by_metric = {
        m: {t["school_year"]: t for t in rows} for m, rows in trends_by_metric.items()
    }
    template = env.get_template("district.html.j2")
    pages = []
    for d in data["districts"]:
        code = d["district_code"]
        h = hist.get(code, {})
        rows, sparks = [], []
        for m in data["all_metrics"]:
            meta = cfg.metric(m)
            target, comparison = _metric_target(meta, trends_by_metric.get(m, []))
            cur = h.get(m, {}).get(sy, {})
            st = state_by_metric.get(m, {}).get(sy, {})
            rows.append(
                {
                    "metric": m,
                    "label": meta.label,
                    "objectives": ", ".join(metric_objectives.get(m, [])),
                    "value": value_cell(cur.get("value"), meta.unit, bool(cur.get("suppressed")), n),
                    "change": change_cell(
                        cur.get("change_from_previous_year"), meta.unit,
                        bool(cur.get("change_suppressed")), n,
                    )
                    if data["previous_year"] in years
                    else _cell("—"),
                    "state": value_cell(st.get("state_value"), meta.unit, bool(st.get("state_suppressed")), n),
                    "target": target_text(meta, target, comparison, district=True),
                    "meets": _meets_cell(
                        cur.get("meets_target"), bool(cur.get("suppressed")), target is not None, n
                    ),
                }
            )
            if target is not None and not meta.is_boolean:
                dvals = [
                    None if h.get(m, {}).get(y, {}).get("suppressed") else h.get(m, {}).get(y, {}).get("value")
                    for y in years
                ]
                svals = [
                    None if state_by_metric.get(m, {}).get(y, {}).get("state_suppressed")
                    else state_by_metric.get(m, {}).get(y, {}).get("state_value")
                    for y in years
                ]
                sparks.append(
                    Markup(
                        charts.svg_trend(
                            years, dvals, svals, unit=meta.unit, target=target, title=meta.label
                        )
                    )
                )
        missing = [FAMILY_LABELS[f] for f in queries.FAMILIES if d.get(f"has_{f}") is not True]
        html = template.render(
            **common,
            d=d,
            isd=d.get("isd_name") or d.get("isd_code"),
            report_href=f"../../{report_name}",
            index_href="index.html",
            rows=rows,
            sparks=sparks,
            missing=missing,
            quarantine=quarantine_by_district.get(code, []),
        )
        path = pages_dir / f"{_safe_code(code)}.html"
        path.write_text(html, encoding="utf-8")
        pages.append(path)
    return pages
