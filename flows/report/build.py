"""Builds the annual review: reads the published marts (``collect``, over the queries of
``queries``), with suppression decided once for the whole warehouse (``suppression``),
shapes each section (``sections/``), renders the Jinja2 templates of ``templates/``
and writes the review, the per-district pages that changed (``pages``) and the ISD
pages (``isd_pages``).

Data is read in bulk: a few set-based queries, the large results (districts, their
figures) kept as DataFrames and formatted column-wise; nothing is converted cell by
cell and no query runs per district.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.offline
from markupsafe import Markup

from ..school_years import school_year_bounds
from . import queries, suppression_sql
from .cells import NO_DATA_TITLE, by_metric, fmt_ts, target_text, titles
from .collect import collect, metric_target
from .config import ReportConfig, load_config
from .files import environment, write_text
from .isd_pages import isd_links, write_isd_pages
from .pages import page_name, write_district_pages
from .sections import connectivity, districts, gap_analysis, headline, objectives, recognition
from .sql import connect
from .submissions import as_of as submissions_as_of
from .submissions import submission_status
from .suppression import marker
from .year import YearChoice, choose_school_year

log = logging.getLogger(__name__)

NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


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
    con = connect(Path(warehouse))
    try:
        suppression_sql.prepare(con, cfg.min_cell_size, cfg.groupings)
        seconds["suppression"] = time.perf_counter() - started
        choice = choose_school_year(queries.years_on_record(con), school_year, cfg.default_year_min_complete_share)
        t = time.perf_counter()
        data = collect(con, cfg, choice)
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


def _section_ids(cfg: ReportConfig) -> dict[str, dict[str, Any]]:
    """What the templates say of the review's own sections: the objective IDs of their
    headings (review.sections of config/metrics.yml)."""
    out = {}
    for name in ("connectivity", "gap_analysis", "recognition", "data_quality"):
        s = cfg.review.section(name)
        out[name] = {
            "ids": ", ".join(s.objectives),
            "first": s.objectives[0] if s.objectives else "",
            "criterion": s.criterion,
            "top_n": s.top_n,
        }
    return out


def _render(data: dict[str, Any], cfg: ReportConfig, out_dir: Path, seconds: dict[str, float]) -> ReportResult:
    t0 = time.perf_counter()
    n = cfg.min_cell_size
    sy, prev, years = data["school_year"], data["previous_year"], data["years"]
    choice: YearChoice = data["choice"]
    out_dir.mkdir(parents=True, exist_ok=True)
    pages_dir = out_dir / "districts" / sy
    pages_dir.mkdir(parents=True, exist_ok=True)
    page_href = {str(c): f"districts/{sy}/{page_name(c)}" for c in data["districts"]["district_code"]}
    report_name = f"annual_review_{sy}.html"
    isd_dir = f"isds/{sy}"

    def district_link(code, name) -> dict:
        return {"code": code, "name": name or code, "href": page_href.get(str(code))}

    strategies, unmeasured, metric_objectives = objectives.section(data, cfg)
    dist = districts.section(data, page_href, district_link)
    recognition_metrics = [cfg.metric(m).label for m in cfg.review.section("recognition").metrics]
    goal = next((o for o in data["objectives"] if o.get("level") == "goal"), None)
    sy_start, sy_end = school_year_bounds(sy)
    conn = connectivity.section(data, cfg)

    env = environment()
    common = dict(sy=sy, prev=prev, has_prev=prev in years, years=years, n=n, marker=marker(n))
    html = env.get_template("report.html.j2").render(
        **common,
        sy_start=sy_start,
        sy_end=sy_end,
        generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        as_of=fmt_ts(data["as_of"]),
        year_reason=choice.reason,
        later_years=choice.later_years,
        goal={
            "id": (goal or {}).get("objective_id") or cfg.goal.get("id", "G4"),
            "title": cfg.goal.get("title", "Leadership"),
            "statement": (goal or {}).get("objective_text") or cfg.goal.get("statement", ""),
        },
        sections=_section_ids(cfg),
        plotly_js=Markup(plotly.offline.get_plotlyjs()),
        strategies=strategies,
        headline=headline.section(data, cfg),
        gap_sections=gap_analysis.section(data, cfg, district_link),
        recognition=recognition.section(data, cfg, district_link),
        recognition_metrics=recognition_metrics,
        recognition_count=NUMBER_WORDS[len(recognition_metrics)]
        if len(recognition_metrics) < len(NUMBER_WORDS)
        else len(recognition_metrics),
        unmeasured=unmeasured,
        incomplete=dist.incomplete,
        incomplete_html=dist.incomplete_html,
        quarantine=dist.quarantine,
        file_errors=data["file_errors"],
        files=data["files"],
        submissions=data.get("submissions"),
        districts_total=len(dist.index_rows),
        index_rows_html=dist.index_rows_html,
        pages_dir=f"districts/{sy}",
        **conn,
        isd_dir=isd_dir,
        isd_links=isd_links(data["isds"], sy),
    )
    html_path = out_dir / report_name
    write_text(html_path, html)
    seconds["review"] = time.perf_counter() - t0

    # ---- per-district pages: only those whose content changed
    t1 = time.perf_counter()
    trends_by_metric = by_metric(data["trends"])
    targets = {m: metric_target(cfg.metric(m), trends_by_metric.get(m, [])) for m in data["all_metrics"]}
    target_texts = {m: target_text(cfg.metric(m), *targets[m], district=True) for m in data["all_metrics"]}
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
        districts=data["districts"],
        history=data["history"],
        state=state_rows,
        metrics=data["all_metrics"],
        metric_objectives=metric_objectives,
        targets=targets,
        target_texts=target_texts,
        quarantine_by_district=dist.quarantine_by_district,
        titles=titles(n),
        nodata_title=NO_DATA_TITLE,
    )
    index_path = pages_dir / "index.html"
    write_text(
        index_path,
        env.get_template("district_index.html.j2").render(
            **common,
            report_href=f"../../{report_name}",
            rows_html=dist.index_page_rows_html,
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
        districts=data["districts"],
        history=data["history"],
        state=state_now,
        metrics=data["all_metrics"],
        targets=targets,
        target_texts=target_texts,
        connectivity_figures=data["connectivity"],
        goal_words=conn["goal_words"],
        titles=titles(n),
        nodata_title=NO_DATA_TITLE,
    )
    seconds["isd_pages"] = time.perf_counter() - t2
    return ReportResult(
        html_path=html_path,
        district_pages_dir=pages_dir,
        school_year=sy,
        district_pages=stats.paths,
        district_index_path=index_path,
        year_reason=choice.reason,
        pages_written=stats.written,
        pages_unchanged=stats.unchanged,
        pages_removed=stats.removed,
        isd_pages_dir=out_dir / isd_dir,
        isd_pages=isd_stats.paths,
    )


__all__ = [
    "ReportResult",
    "YearChoice",
    "build_report",
    "build_nightly_report",
    "choose_school_year",
]
