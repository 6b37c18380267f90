"""The ISD pages of the annual review: one page per intermediate school district, with
its figures (marts.isd_year_metrics: the state's rule over its districts) against the
state and the targets, its connectivity against the national benchmarks over the
years shown, and its districts side by side, each linked to its own page.

Everything is read before (``queries.isds``, ``queries.isd_figures``,
``queries.connectivity_figures``, the districts' figures of ``queries.district_history``:
bulk queries for all ISDs); here the pages are only formatted and written. Suppression
is that of every other figure of the review: an ISD's figure is published only where
``report_suppression`` (scope ``isd``) allows it, a district's as on its own page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import connectivity
from .files import write_text
from .pages import page_name
from .suppression import NO_DATA, fmt_value, status_marker

# the districts-side-by-side table: people counts first, then these (when computed)
SIDE_BY_SIDE_FIRST = ("student_count",)


@dataclass
class IsdPageStats:
    written: int = 0
    removed: int = 0
    paths: list[Path] = field(default_factory=list, repr=False)


def _cell(
    value: Any, unit: str, status: int, n: int, titles: dict[int, str], nodata_title: str, count: bool = False
) -> dict:
    status = int(status or 0)
    if status:
        return {"text": status_marker(status, n), "cls": "supp", "title": titles[status], "count": count}
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return {"text": NO_DATA, "cls": "nodata", "title": nodata_title, "count": count}
    return {"text": fmt_value(value, unit), "cls": "", "title": "", "count": count}


def _value_status(figs: dict, code: str, metric: str, unit: str) -> tuple[Any, str, int]:
    v, s = figs.get((code, metric), (None, 0))
    return v, unit, s


def _meets(value: Any, status: int, target: float | None, comparison: str | None) -> dict:
    if target is None or comparison not in (">=", "<="):
        return {"text": "no target", "cls": "", "title": "", "count": False}
    if status or value is None or (isinstance(value, float) and np.isnan(value)):
        return {"text": "—", "cls": "muted", "title": "", "count": False}
    ok = value >= target if comparison == ">=" else value <= target
    return {"text": "yes" if ok else "no", "cls": "ok" if ok else "bad", "title": "", "count": False}


def write_isd_pages(
    env,
    isd_dir: Path,
    *,
    cfg,
    common: dict,
    report_href: str,
    district_href: Callable[[str], str],
    isds: pd.DataFrame,
    isd_figures: pd.DataFrame,
    districts: pd.DataFrame,
    history: pd.DataFrame,
    state: dict[str, tuple[Any, int]],
    metrics: list[str],
    targets: dict[str, tuple[float | None, str | None]],
    target_texts: dict[str, str],
    connectivity_figures: pd.DataFrame,
    goal_words: dict[str, str],
    titles: dict[int, str],
    nodata_title: str,
) -> IsdPageStats:
    """Write one page per ISD of ``isds`` into ``isd_dir`` (and an index); remove the
    pages of ISDs no longer listed. ``state``: metric -> (state value, status) for the
    year; ``history``: the districts' figures (district_history)."""
    n = cfg.min_cell_size
    sy, years = common["sy"], list(common["years"])
    isd_dir.mkdir(parents=True, exist_ok=True)
    template = env.get_template("isd.html.j2")
    stats = IsdPageStats()

    # ISD figures: (isd, metric) -> (value, status)
    fig: dict[tuple[str, str], tuple[Any, int]] = {
        (str(c), m): (v, int(s or 0))
        for c, m, v, s in zip(
            isd_figures["isd_code"], isd_figures["metric"], isd_figures["value"], isd_figures["status"], strict=True
        )
    }
    # the districts' figures of the year: (district, metric) -> (value, status)
    cur = history[history["school_year"] == sy]
    dist_fig: dict[tuple[str, str], tuple[Any, int]] = {
        (str(c), m): (v, int(s or 0))
        for c, m, v, s in zip(cur["district_code"], cur["metric"], cur["value"], cur["status"], strict=True)
    }
    side_metrics = [m for m in SIDE_BY_SIDE_FIRST if m in metrics] + [
        m
        for m in metrics
        if m not in SIDE_BY_SIDE_FIRST and targets.get(m, (None, None))[0] is not None and not cfg.metric(m).is_boolean
    ]
    by_isd: dict[str, list[dict]] = {}
    drec = districts.astype(object).where(districts.notna(), None).to_dict("records")
    for d in drec:
        by_isd.setdefault(str(d["isd_code"]), []).append(d)

    current = set()
    for isd in isds.astype(object).where(isds.notna(), None).to_dict("records"):
        code = str(isd["isd_code"])
        fname = page_name(code)
        current.add(fname)
        rows = []
        for m in metrics:
            meta = cfg.metric(m)
            v, s = fig.get((code, m), (None, 0))
            sv, ss = state.get(m, (None, 0))
            target, comparison = targets.get(m, (None, None))
            count = meta.unit in ("students", "educators")
            rows.append(
                {
                    "metric": m,
                    "label": meta.label,
                    "isd": _cell(v, meta.unit, s, n, titles, nodata_title, count),
                    "state": _cell(sv, meta.unit, ss, n, titles, nodata_title, count),
                    "target": target_texts.get(m, "none set"),
                    "meets": _meets(v, s, target, comparison),
                }
            )
        members = [
            {
                "code": d["district_code"],
                "name": d["district_name"] or d["district_code"],
                "href": district_href(str(d["district_code"])),
                "type": d.get("district_type"),
                "complete": bool(d.get("data_complete")),
                "cells": [
                    _cell(
                        *_value_status(dist_fig, str(d["district_code"]), m, cfg.metric(m).unit),
                        n,
                        titles,
                        nodata_title,
                        cfg.metric(m).unit in ("students", "educators"),
                    )
                    for m in side_metrics
                ],
            }
            for d in by_isd.get(code, [])
        ]
        page = template.render(
            **common,
            isd={
                "code": code,
                "name": isd.get("isd_name") or f"ISD {code}",
                "districts": int(isd.get("districts_in_directory") or 0),
                "complete": int(isd.get("districts_complete") or 0),
            },
            report_href=report_href,
            index_href="index.html",
            rows=rows,
            side_metrics=[{"metric": m, "label": cfg.metric(m).label} for m in side_metrics],
            members=members,
            connectivity=connectivity.rows(connectivity_figures, code, years),
            goal_words=goal_words,
        )
        path = isd_dir / fname
        write_text(path, page)
        stats.paths.append(path)
        stats.written += 1
    for old in isd_dir.glob("*.html"):
        if old.name != "index.html" and old.name not in current:
            old.unlink()
            stats.removed += 1
    write_text(
        isd_dir / "index.html",
        env.get_template("isd_index.html.j2").render(
            **common,
            report_href=report_href,
            isds=[
                {
                    "code": str(r["isd_code"]),
                    "name": r.get("isd_name") or f"ISD {r['isd_code']}",
                    "href": page_name(r["isd_code"]),
                    "districts": int(r.get("districts_in_directory") or 0),
                }
                for r in isds.astype(object).where(isds.notna(), None).to_dict("records")
            ],
        ),
    )
    return stats


def isd_links(isds: pd.DataFrame, sy: str) -> list[dict[str, str]]:
    """The ISD pages as the review links them (relative to the review)."""
    return [
        {
            "code": str(r["isd_code"]),
            "name": r.get("isd_name") or f"ISD {r['isd_code']}",
            "href": f"isds/{sy}/{page_name(r['isd_code'])}",
        }
        for r in isds.astype(object).where(isds.notna(), None).to_dict("records")
    ]


__all__ = ["IsdPageStats", "isd_links", "write_isd_pages"]
