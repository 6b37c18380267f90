"""The per-district pages of the annual review, rebuilt only where their content changed.

A page is a function of exactly two things:

* its district's own inputs: the district's figures for every year shown (values
  rounded to the decimals they are shown with, withheld ones as their status only),
  its directory attributes, its quarantined submissions;
* what every page of the year shares: the school year, the years shown, the
  threshold, the metrics' labels, units, targets and objectives, the state's figures
  (rounded as shown), and the version of this code and of the templates.

Both are hashed (SHA-256, in bulk: pandas hashes every input row, one digest per
district) into a fingerprint per page, kept in ``manifest.json`` beside the pages. A
page is written when its fingerprint changed or its file is missing; the page of a
district that left the directory is removed; a change of code, template, config or
target changes every fingerprint, so every page is written again. Only the pages
written are formatted and rendered.

The state column of a page shows the state's rates, ratios and yes/no figures: a
state *total* (students, educators, devices, hours) is no comparison for one district
and would change every page whenever any district's data changes; the review shows it.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from . import charts
from .cells import FAMILY_LABELS
from .config import Metric, ReportConfig
from .files import write_text
from .queries import FAMILIES
from .suppression import (
    NO_DATA,
    decimals,
    fmt_change,
    fmt_value,
    quantize_array,
    status_marker,
)

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
TOTAL_UNITS = ("students", "educators", "devices", "hours")
NO_STATE_TOTAL = "A state total is no comparison for one district: see the annual review."

_SAFE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]*")


def page_name(code: Any) -> str:
    """The file name of a district's page: the code itself when it is plain
    (letters, digits, '_' and '-'), else ``x-`` and its UTF-8 bytes in hex, so that two
    codes never share a page."""
    code = str(code)
    if _SAFE.fullmatch(code) and not code.startswith("x-"):
        return f"{code}.html"
    return "x-" + code.encode("utf-8").hex() + ".html"


def code_version() -> str:
    """A digest of the code and templates that shape a page."""
    here = Path(__file__).parent
    h = hashlib.sha256()
    for path in sorted([*here.rglob("*.py"), *(here / "templates").glob("*")]):
        h.update(path.relative_to(here).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@dataclass
class PageStats:
    written: int = 0
    unchanged: int = 0
    removed: int = 0
    paths: list[Path] = field(default_factory=list, repr=False)


@dataclass
class _MetricMeta:
    name: str
    label: str
    unit: str
    digits: int
    is_boolean: bool
    target: float | None
    comparison: str | None
    target_text: str
    objectives: str
    spark: bool


def _load_manifest(pages_dir: Path) -> dict[str, str]:
    try:
        doc = json.loads((pages_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
        return {}
    pages = doc.get("pages")
    return {str(k): str(v) for k, v in pages.items()} if isinstance(pages, dict) else {}


def _quantize_frame(frame: pd.DataFrame, column: str, digits: pd.Series) -> np.ndarray:
    out = frame[column].to_numpy(dtype="float64", na_value=np.nan).copy()
    for d in np.unique(digits):
        mask = (digits == d).to_numpy()
        out[mask] = quantize_array(out[mask], int(d))
    return out


def _row_hashes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return pd.util.hash_pandas_object(frame[columns], index=False).to_numpy()


def _digests(codes: np.ndarray, hashes: np.ndarray, prefix: bytes) -> dict[str, str]:
    """One SHA-256 per district over its rows' hashes (rows in a stable order)."""
    if not len(codes):
        return {}
    order = np.argsort(codes, kind="stable")
    codes, hashes = codes[order], hashes[order]
    cuts = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    starts = np.concatenate([[0], cuts])
    out = {}
    for start, chunk in zip(starts, np.split(hashes, cuts), strict=True):
        out[str(codes[start])] = hashlib.sha256(prefix + chunk.tobytes()).hexdigest()
    return out


def _td(text: str, *, status: int = 0, nodata_title: str = "", count: bool = False, titles: dict[int, str]) -> str:
    cls = ["num"]
    title = ""
    if status:
        cls.append("supp")
        title = titles[status]
    elif text == NO_DATA:
        cls.append("nodata")
        title = nodata_title
    attrs = f' class="{" ".join(cls)}"'
    if title:
        attrs += f' title="{html.escape(title)}"'
    if count:
        attrs += ' data-count="true"'
    return f"<td{attrs}>{html.escape(text)}</td>"


def write_district_pages(
    env,
    pages_dir: Path,
    *,
    cfg: ReportConfig,
    common: dict,
    report_name: str,
    districts: pd.DataFrame,
    history: pd.DataFrame,
    state: pd.DataFrame,
    metrics: list[str],
    metric_objectives: dict[str, list[str]],
    targets: dict[str, tuple[float | None, str | None]],
    target_texts: dict[str, str],
    quarantine_by_district: dict[str, list[dict]],
    titles: dict[int, str],
    nodata_title: str,
) -> PageStats:
    """Write the pages of ``districts`` whose fingerprint changed; remove the pages of
    districts no longer listed. ``history``: district_code, school_year, metric, value,
    status, change_from_previous_year, change_status, meets_target (years shown);
    ``state``: metric, school_year, state_value, state_status."""
    n = cfg.min_cell_size
    sy, prev, years = common["sy"], common["prev"], list(common["years"])
    has_prev = prev in years
    pages_dir.mkdir(parents=True, exist_ok=True)

    meta: dict[str, _MetricMeta] = {}
    for m in metrics:
        mm: Metric = cfg.metric(m)
        target, comparison = targets.get(m, (None, None))
        meta[m] = _MetricMeta(
            name=m,
            label=mm.label,
            unit=mm.unit,
            digits=decimals(mm.unit),
            is_boolean=mm.is_boolean,
            target=target,
            comparison=comparison,
            target_text=target_texts[m],
            objectives=", ".join(metric_objectives.get(m, [])),
            spark=target is not None and not mm.is_boolean,
        )

    # ---- every input rounded as shown (columns as numpy arrays: no per-cell pandas work)
    metric_cat = pd.Categorical(history["metric"].to_numpy(dtype=object), categories=list(meta))
    h = pd.DataFrame(
        {
            "district_code": history["district_code"].to_numpy(dtype=object),
            "school_year": history["school_year"].to_numpy(dtype=object),
            "metric": metric_cat,
            "value": history["value"].to_numpy(dtype="float64", na_value=np.nan),
            "status": history["status"].fillna(0).to_numpy(dtype=np.int8),
            "change_from_previous_year": history["change_from_previous_year"].to_numpy(
                dtype="float64", na_value=np.nan
            ),
            "change_status": history["change_status"].fillna(0).to_numpy(dtype=np.int8),
            "meets_target": history["meets_target"]
            .astype("object")
            .where(history["meets_target"].notna(), None)
            .to_numpy(dtype=object),
        }
    )
    h = h[metric_cat.codes >= 0]
    digits = pd.Series(np.array([x.digits for x in meta.values()])[h["metric"].cat.codes.to_numpy()], index=h.index)
    h["value"] = _quantize_frame(h, "value", digits)
    h["change_from_previous_year"] = _quantize_frame(h, "change_from_previous_year", digits)
    h["_order"] = h["metric"].cat.codes.astype(np.int64)
    h = h.sort_values(["district_code", "_order", "school_year"], kind="stable")
    h["metric"] = h["metric"].astype(object)

    st = state[state["metric"].isin(meta)].copy()
    st["state_value"] = _quantize_frame(st, "state_value", st["metric"].map({m: x.digits for m, x in meta.items()}))
    state_of = {(r.metric, r.school_year): (r.state_value, int(r.state_status or 0)) for r in st.itertuples()}

    # ---- what every page shares
    state_cells: dict[str, str] = {}
    for m, x in meta.items():
        v, s = state_of.get((m, sy), (np.nan, 0))
        if x.unit in TOTAL_UNITS:
            state_cells[m] = f'<td class="num muted" title="{html.escape(NO_STATE_TOTAL)}">—</td>'
        else:
            state_cells[m] = _td(
                fmt_value(None if np.isnan(v) else v, x.unit, s, n),
                status=s,
                nodata_title=nodata_title,
                titles=titles,
            )

    def published(m: str, y: str) -> float | None:
        v, s = state_of.get((m, y), (np.nan, 0))
        return None if s or np.isnan(v) else float(v)

    state_series = {m: [published(m, y) for y in years] for m, x in meta.items() if x.spark}
    shared = json.dumps(
        {
            "format": MANIFEST_FORMAT,
            "code": code_version(),
            "common": {k: common[k] for k in ("sy", "prev", "years", "n", "marker")},
            "report": report_name,
            "metrics": [vars(x) for x in meta.values()],
            "state": state_cells,
            "state_series": state_series,
            "titles": titles,
        },
        sort_keys=True,
        default=str,
    ).encode()
    prefix = hashlib.sha256(shared).digest()

    # ---- the district's own inputs, hashed in bulk
    dd = districts.copy()
    dd["_file"] = [page_name(c) for c in dd["district_code"]]
    attr_cols = [c for c in dd.columns if c != "_file"]
    q_rows = [
        {"district_code": code, **{k: str(v) for k, v in q.items() if k != "district"}}
        for code, qs in quarantine_by_district.items()
        for q in qs
    ]
    parts_codes = [dd["district_code"].astype(str).to_numpy(), h["district_code"].astype(str).to_numpy()]
    parts_hashes = [
        _row_hashes(dd.astype({c: "object" for c in attr_cols}), attr_cols),
        _row_hashes(
            h,
            [
                "district_code",
                "school_year",
                "metric",
                "value",
                "status",
                "change_from_previous_year",
                "change_status",
                "meets_target",
            ],
        ),
    ]
    if q_rows:
        qf = pd.DataFrame(q_rows).fillna("")
        parts_codes.append(qf["district_code"].astype(str).to_numpy())
        parts_hashes.append(_row_hashes(qf, list(qf.columns)))
    fingerprints = _digests(np.concatenate(parts_codes).astype(object), np.concatenate(parts_hashes), prefix)

    manifest = _load_manifest(pages_dir)
    stats = PageStats()
    current: dict[str, str] = {}
    todo = []
    for code, fname in zip(dd["district_code"].astype(str), dd["_file"], strict=True):
        fp = fingerprints[code]
        current[fname] = fp
        path = pages_dir / fname
        stats.paths.append(path)
        if manifest.get(fname) == fp and path.is_file():
            stats.unchanged += 1
        else:
            todo.append(code)
    for old in pages_dir.glob("*.html"):
        if old.name != "index.html" and old.name not in current:
            old.unlink()
            stats.removed += 1

    if todo:
        _render_pages(
            env,
            pages_dir,
            todo,
            dd,
            h,
            meta,
            state_cells,
            state_series,
            cfg,
            common,
            report_name,
            has_prev,
            quarantine_by_district,
            titles,
            nodata_title,
        )
        stats.written = len(todo)
    write_text(
        pages_dir / MANIFEST, json.dumps({"format": MANIFEST_FORMAT, "pages": current}, indent=0, sort_keys=True)
    )
    return stats


def _render_pages(
    env,
    pages_dir,
    todo,
    dd,
    h,
    meta,
    state_cells,
    state_series,
    cfg,
    common,
    report_name,
    has_prev,
    quarantine_by_district,
    titles,
    nodata_title,
) -> None:

    n = cfg.min_cell_size
    sy = common["sy"]
    years = list(common["years"])
    todo_set = set(todo)
    sub = h[h["district_code"].astype(str).isin(todo_set).to_numpy()]
    cur = sub[(sub["school_year"] == sy).to_numpy()]

    # what a metric's row shares on every page, escaped once
    esc = html.escape
    withheld_td = {
        st: f'<td class="num supp" title="{esc(titles[st])}">{esc(status_marker(st, n))}</td>' for st in titles
    }
    withheld_count_td = {
        st: f'<td class="num supp" title="{esc(titles[st])}" data-count="true">{esc(status_marker(st, n))}</td>'
        for st in titles
    }
    nodata_td = f'<td class="num nodata" title="{esc(nodata_title)}">{NO_DATA}</td>'
    nodata_count_td = f'<td class="num nodata" title="{esc(nodata_title)}" data-count="true">{NO_DATA}</td>'
    head = {
        m: f'<tr data-metric="{esc(m)}"><td>{esc(x.label)}</td><td class="muted">{esc(x.objectives)}</td>'
        for m, x in meta.items()
    }
    tail = {m: f'<td class="num">{esc(x.target_text)}</td>' for m, x in meta.items()}
    no_change_td = '<td class="num">—</td>'

    # one table row per district x metric of the year, formatted in one pass
    row_html: dict[str, list[str]] = {}
    for code, m, v, s, c, cs, meets in zip(
        cur["district_code"].astype(str).to_numpy(dtype=object),
        cur["metric"].to_numpy(dtype=object),
        cur["value"].to_numpy(),
        cur["status"].to_numpy(),
        cur["change_from_previous_year"].to_numpy(),
        cur["change_status"].to_numpy(),
        cur["meets_target"].to_numpy(dtype=object),
        strict=True,
    ):
        x = meta[m]
        s, cs = int(s), int(cs)
        count = x.unit in ("students", "educators")
        if s:
            value_td = (withheld_count_td if count else withheld_td)[s]
        elif v != v:  # NaN
            value_td = nodata_count_td if count else nodata_td
        else:
            dc = ' data-count="true"' if count else ""
            value_td = f'<td class="num"{dc}>{fmt_value(v, x.unit)}</td>'
        if not has_prev:
            change_td = no_change_td
        elif cs:
            change_td = withheld_td[cs]
        elif c != c:
            change_td = nodata_td
        else:
            change_td = f'<td class="num">{fmt_change(c, x.unit)}</td>'
        if x.target is None:
            meets_td = '<td class="num">no target</td>'
        elif s:
            meets_td = withheld_td[s]
        elif meets is None:
            meets_td = nodata_td
        else:
            meets_td = f'<td class="num {"ok" if meets else "bad"}">{"yes" if meets else "no"}</td>'
        row_html.setdefault(code, []).append(
            head[m] + value_td + change_td + state_cells[m] + tail[m] + meets_td + "</tr>"
        )
    # the district's series of every metric with a target, for its small charts
    spark_metrics = [m for m, x in meta.items() if x.spark]
    series: dict[tuple[str, str], dict[str, float | None]] = {}
    sp = sub[sub["metric"].isin(spark_metrics).to_numpy()]
    for code, m, y, v, s in zip(
        sp["district_code"].astype(str).to_numpy(dtype=object),
        sp["metric"].to_numpy(dtype=object),
        sp["school_year"].to_numpy(dtype=object),
        sp["value"].to_numpy(),
        sp["status"].to_numpy(),
        strict=True,
    ):
        series.setdefault((code, m), {})[y] = None if (s or v != v) else float(v)

    template = env.get_template("district.html.j2")
    records = dd[dd["district_code"].astype(str).isin(todo_set).to_numpy()]
    records = records.astype(object).where(records.notna(), None).to_dict("records")
    for d in records:
        code = str(d["district_code"])
        sparks = []
        for m in spark_metrics:
            x = meta[m]
            got = series.get((code, m), {})
            sparks.append(
                Markup(
                    charts.svg_trend(
                        years, [got.get(y) for y in years], state_series[m], unit=x.unit, target=x.target, title=x.label
                    )
                )
            )
        missing = [FAMILY_LABELS[f] for f in FAMILIES if d.get(f"has_{f}") is not True]
        page = template.render(
            **common,
            d=d,
            isd=d.get("isd_name") or d.get("isd_code"),
            isd_href=f"../../isds/{sy}/{page_name(d['isd_code'])}" if d.get("isd_code") else None,
            report_href=f"../../{report_name}",
            index_href="index.html",
            rows_html=Markup("".join(row_html.get(code, []))),
            sparks=sparks,
            missing=missing,
            quarantine=quarantine_by_district.get(code, []),
        )
        write_text(pages_dir / d["_file"], page)
