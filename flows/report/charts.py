"""Figures of the annual review.

Plotly figures for the main report (trend of the state figure; the spread of the
districts' figures by locale and by district type, as box plots drawn from quartiles
computed in SQL, so a figure stays a few kilobytes whatever the number of districts),
and small inline SVG charts for the per-district pages, which stay a few kilobytes each
and need no JavaScript.

The Plotly figures are plain figure specifications (``{"data": [...], "layout":
{...}}``) drawn by the plotly.js bundle inlined once in the review: building them
through plotly's Python object model cost about a second per metric for nothing the
chart needs.

Every function receives values that are already suppressed (None, or left out of the
statistics): withheld values are never passed to a figure, so neither the drawing nor
its hover data can show them. Data arrays are plain lists, so the embedded JSON is
readable.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from typing import Any

from .suppression import decimals, fmt_value, quantize

LOCALE_ORDER = ("city", "suburb", "town", "rural")
TYPE_ORDER = ("LEA", "PSA", "ISD")
TYPE_LABELS = {"LEA": "LEA (local)", "PSA": "PSA (charter)", "ISD": "ISD"}

NAVY = "#1d3557"
TEAL = "#2a7f8f"
RED = "#b23a48"
GREY = "#8a8f98"
FONT = "Segoe UI, Helvetica Neue, Arial, sans-serif"

TREND_SIZE = (370, 290)
DIST_SIZE = (530, 290)

_SIGN = {">=": "≥", "<=": "≤"}

PLOTLY_CONFIG = {"displaylogo": False, "responsive": False, "displayModeBar": False}

Figure = dict  # {"data": [trace, ...], "layout": {...}}


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _layout(width: int, height: int, title: str, **axes: Any) -> dict:
    layout = {
        "width": width,
        "height": height,
        "autosize": False,
        "title": {"text": title, "font": {"size": 13, "color": "#222"}, "x": 0.01, "xanchor": "left"},
        "font": {"family": FONT, "size": 11, "color": "#333"},
        "margin": {"l": 56, "r": 16, "t": 40, "b": 40},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "showlegend": False,
        "hoverlabel": {"font": {"family": FONT, "size": 11}},
    }
    for name, axis in axes.items():
        style = (
            {"showgrid": False, "linecolor": "#999", "ticks": "outside", "tickcolor": "#999"}
            if name.startswith("xaxis")
            else {"gridcolor": "#e5e5e5", "zeroline": False, "linecolor": "#999"}
        )
        layout[name] = {**style, **axis}
    return layout


def _two_panels(width: int, height: int, title: str, y_axis: dict) -> dict:
    """Two side by side panels sharing the y axis, titled by locale and by type."""
    gap = 0.05
    left, right = [0.0, (1 - gap) / 2], [(1 + gap) / 2, 1.0]
    layout = _layout(
        width,
        height,
        title,
        xaxis={"domain": left, "anchor": "y"},
        xaxis2={"domain": right, "anchor": "y2"},
        yaxis={"domain": [0.0, 1.0], "anchor": "x", **y_axis},
        yaxis2={"domain": [0.0, 1.0], "anchor": "x2", "matches": "y", "showticklabels": False},
    )
    layout["annotations"] = [
        {
            "text": text,
            "x": sum(dom) / 2,
            "y": 1.0,
            "xref": "paper",
            "yref": "paper",
            "xanchor": "center",
            "yanchor": "bottom",
            "showarrow": False,
            "font": {"size": 11, "color": "#444"},
        }
        for text, dom in (("By locale", left), ("By district type", right))
    ]
    return layout


def _hline(y: float, line: dict, axes: Sequence[tuple[str, str]] = (("x", "y"),)) -> list[dict]:
    return [
        {"type": "line", "xref": f"{x} domain", "x0": 0, "x1": 1, "yref": yy, "y0": y, "y1": y, "line": line}
        for x, yy in axes
    ]


def y_title(unit: str) -> str:
    suffix = {
        "percent": "%",
        "kbps": "kbps",
        "usd": "USD",
        "hours": "hours",
        "ratio": "ratio",
        "educators": "educators",
        "students": "students",
        "devices": "devices",
        "boolean": "% of districts",
    }.get(unit, "")
    return suffix


def trend_figure(
    years: Sequence[str],
    values: Sequence[float | None],
    *,
    unit: str,
    target: float | None = None,
    comparison: str | None = None,
    boolean_share: bool = False,
) -> Figure:
    """The state figure over every year on record; missing or suppressed years are
    gaps (no point at all). For yes/no metrics, the share of districts meeting it."""
    shown_unit = "percent" if boolean_share else unit
    ys = [None if _blank(v) else quantize(float(v), decimals(shown_unit)) for v in values]
    text = [("no data" if v is None else fmt_value(v, shown_unit)) for v in ys]
    trace = {
        "type": "scatter",
        "x": list(years),
        "y": ys,
        "mode": "lines+markers",
        "line": {"color": NAVY, "width": 2.5},
        "marker": {"size": 7, "color": NAVY},
        "connectgaps": False,
        "customdata": [[t] for t in text],
        "hovertemplate": "%{x}: %{customdata[0]}<extra>Michigan</extra>",
        "name": "Michigan",
    }
    title = f"Michigan, {'share of districts meeting it' if boolean_share else 'state figure'}"
    y_axis = {"title": {"text": y_title("boolean" if boolean_share else unit)}, "rangemode": "tozero"}
    if boolean_share:
        y_axis["range"] = [0, 105]
    layout = _layout(
        *TREND_SIZE,
        title,
        xaxis={"type": "category", "categoryorder": "array", "categoryarray": list(years)},
        yaxis=y_axis,
    )
    if target is not None and not boolean_share:
        layout["shapes"] = _hline(float(target), {"color": RED, "dash": "dash", "width": 1.5})
        layout["annotations"] = [
            {
                "text": f"target {_SIGN.get(comparison or '', '')} {fmt_value(target, unit)}",
                "x": 0,
                "xref": "x domain",
                "xanchor": "left",
                "y": float(target),
                "yref": "y",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"color": RED, "size": 10},
            }
        ]
    return {"data": [trace], "layout": layout}


def _box_groups(rows: Sequence[dict], key: str, order: Sequence[str]) -> list[dict]:
    g = {str(r["group_value"]): r for r in rows if r["grouping"] == key}
    return [g[x] for x in order if x in g] + [g[x] for x in sorted(set(g) - set(order))]


def distribution_figure(
    stats: Sequence[dict],
    *,
    unit: str,
    target: float | None = None,
) -> Figure:
    """Box plots of the districts' published figures, by locale (left) and by district
    type (right), drawn from precomputed statistics (``queries.distribution_stats``:
    n, min, q1, median, q3, max, mean per group), so the chart weighs the same for 30
    districts or 13,000. ``stats``: dicts with grouping ('locale'/'district_type'),
    group_value and those statistics; groups with no published figure are left out."""
    traces = []
    axes = {}
    for suffix, key, order, labels in (
        ("", "locale", LOCALE_ORDER, {}),
        ("2", "district_type", TYPE_ORDER, TYPE_LABELS),
    ):
        groups = [r for r in _box_groups(stats, key, order) if int(r.get("n") or 0) > 0]
        cats = [f"{labels.get(str(r['group_value']), r['group_value'])} ({int(r['n'])})" for r in groups]

        q = {
            name: [quantize(float(r[name]), decimals(unit)) for r in groups]
            for name in ("q1", "median", "q3", "min", "max", "mean")
        }
        traces.append(
            {
                "type": "box",
                "x": cats,
                "q1": q["q1"],
                "median": q["median"],
                "q3": q["q3"],
                "lowerfence": q["min"],
                "upperfence": q["max"],
                "mean": q["mean"],
                "boxpoints": False,
                "line": {"color": NAVY, "width": 1.2},
                "fillcolor": "rgba(42,127,143,0.18)",
                "customdata": [
                    [int(r["n"])] + [fmt_value(r[k], unit) for k in ("min", "q1", "median", "q3", "max")]
                    for r in groups
                ],
                "hovertemplate": (
                    "%{x}<br>min %{customdata[1]} · Q1 %{customdata[2]} · median %{customdata[3]}"
                    " · Q3 %{customdata[4]} · max %{customdata[5]}<extra></extra>"
                ),
                "name": key,
                "xaxis": f"x{suffix}",
                "yaxis": f"y{suffix}",
            }
        )
        axes[f"xaxis{suffix}"] = {"type": "category", "categoryorder": "array", "categoryarray": cats}
    layout = _two_panels(*DIST_SIZE, "Districts (number with a published figure)", {"title": {"text": y_title(unit)}})
    for name, extra in axes.items():
        layout[name].update(extra)
    if target is not None:
        layout["shapes"] = _hline(
            float(target), {"color": RED, "dash": "dash", "width": 1.2}, (("x", "y"), ("x2", "y2"))
        )
    return {"data": traces, "layout": layout}


def share_by_group_figure(groups: Sequence[dict]) -> Figure:
    """For yes/no metrics: the share of districts with data that meet it, by locale and by
    district type (counts of districts). ``groups``: dicts with grouping
    ('locale'/'district_type'), group_value, districts_with_data, districts_meeting."""
    traces = []
    for suffix, key, order, labels in (
        ("", "locale", LOCALE_ORDER, {}),
        ("2", "district_type", TYPE_ORDER, TYPE_LABELS),
    ):
        g = {str(r["group_value"]): r for r in groups if r["grouping"] == key}
        names = [x for x in order if x in g] + sorted(set(g) - set(order))
        shares, text = [], []
        for name in names:
            r = g[name]
            n, m = int(r["districts_with_data"] or 0), int(r["districts_meeting"] or 0)
            shares.append(quantize(100.0 * m / n, 1) if n else None)
            text.append(f"{m} of {n}")
        traces.append(
            {
                "type": "bar",
                "x": [labels.get(x, x) for x in names],
                "y": shares,
                "text": text,
                "textposition": "outside",
                "marker": {"color": TEAL},
                "hovertemplate": "%{x}: %{text} districts<extra></extra>",
                "xaxis": f"x{suffix}",
                "yaxis": f"y{suffix}",
            }
        )
    layout = _two_panels(
        *DIST_SIZE,
        "Share of districts with data that meet it",
        {"range": [0, 115], "title": {"text": "% of districts"}},
    )
    return {"data": traces, "layout": layout}


def _json(value: Any) -> str:
    """JSON safe inside a <script> element."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def figure_html(fig: Figure, element_id: str) -> str:
    """The chart's element and the call that draws it (the plotly.js bundle is inlined
    once in the page)."""
    width, height = fig["layout"]["width"], fig["layout"]["height"]
    eid = html.escape(element_id)
    return (
        f'<div id="{eid}" class="plotly-graph-div" style="height:{height}px; width:{width}px;"></div>'
        f'<script type="text/javascript">if (document.getElementById("{eid}")) {{ Plotly.newPlot('
        f'"{eid}", {_json(fig["data"])}, {_json(fig["layout"])}, {_json(PLOTLY_CONFIG)}); }}</script>'
    )


# ------------------------------------------------------------------ SVG (district pages)


def svg_trend(
    years: Sequence[str],
    district: Sequence[float | None],
    state: Sequence[float | None],
    *,
    unit: str,
    target: float | None = None,
    width: int = 230,
    height: int = 120,
    title: str = "",
) -> str:
    """A small line chart: the district (solid), the state (dashed grey) and the target
    (dotted red). Missing and suppressed years are left out. Called once per district
    and metric, so it is plain string work."""
    pad_l, pad_r, pad_t, pad_b = 40, 8, 18, 20
    district = [None if _blank(v) else float(v) for v in district]
    state = [None if _blank(v) else float(v) for v in state]
    vals = [v for v in district if v is not None] + [v for v in state if v is not None]
    if target is not None:
        vals.append(float(target))
    t = html.escape(title)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="spark" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{t}">'
        f'<text x="4" y="12" class="spark-title">{t}</text>'
    )
    if not vals:
        return head + (
            f'<text x="{width / 2:.0f}" y="{height / 2 + 4:.0f}" text-anchor="middle" '
            'class="spark-empty">no published figures</text></svg>'
        )
    lo, hi = min(min(vals), 0.0), max(vals)
    if hi == lo:
        hi = lo + 1.0
    hi += (hi - lo) * 0.08
    n = max(len(years), 1)
    pw, ph = width - pad_l - pad_r, height - pad_t - pad_b
    xs = [pad_l + (pw * (i + 0.5) / n) for i in range(len(years))]
    k = ph / (hi - lo)
    base = pad_t + ph

    parts = [
        head,
        f'<line x1="{pad_l}" y1="{base}" x2="{pad_l + pw}" y2="{base}" stroke="#bbb"/>',
        f'<text x="{pad_l - 4}" y="{base + 3:.1f}" text-anchor="end" class="spark-axis">'
        f"{html.escape(_short(lo, unit))}</text>",
        f'<text x="{pad_l - 4}" y="{pad_t + 3:.1f}" text-anchor="end" class="spark-axis">'
        f"{html.escape(_short(hi, unit))}</text>",
    ]
    parts.extend(
        f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" class="spark-axis">{html.escape(str(yr)[2:])}</text>'
        for x, yr in zip(xs, years, strict=True)
    )
    if target is not None:
        ty = base - (float(target) - lo) * k
        parts.append(
            f'<line x1="{pad_l}" y1="{ty:.1f}" x2="{pad_l + pw}" y2="{ty:.1f}" '
            f'stroke="{RED}" stroke-dasharray="2,3" stroke-width="1.2"/>'
        )
    for series, color, dash, r in ((state, GREY, ' stroke-dasharray="4,3"', 2.2), (district, NAVY, "", 3.0)):
        pts = [None if v is None else f"{x:.1f},{base - (v - lo) * k:.1f}" for x, v in zip(xs, series, strict=True)]
        run: list[str] = []
        for pt in pts + [None]:
            if pt is not None:
                run.append(pt)
                continue
            if len(run) > 1:
                parts.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{color}" stroke-width="1.8"{dash}/>'
                )
            run = []
        for pt in pts:
            if pt is not None:
                cx, cy = pt.split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="{color}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _short(v: float, unit: str) -> str:
    """An axis label: few digits, never a negative zero."""
    if unit == "percent":
        return f"{quantize(v, 0):.0f}%"
    if unit == "usd":
        q = quantize(v, 1)
        return f"${q:.1f}" if q >= 0 else f"-${-q:.1f}"
    if unit == "ratio":
        return f"{quantize(v, 1):.1f}"
    if abs(v) >= 10000:
        return f"{quantize(v / 1000, 0):.0f}k"
    return f"{quantize(v, 0):,.0f}"
