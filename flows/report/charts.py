"""Figures of the annual review.

Plotly figures for the main report (trend of the state figure; the spread of the
districts' figures by locale and by district type, as box plots drawn from quartiles
computed in SQL, so a figure stays a few kilobytes whatever the number of districts),
and small inline SVG charts for the per-district pages, which stay a few kilobytes each
and need no JavaScript.

Every function receives values that are already suppressed (None, or left out of the
statistics): withheld values are never passed to a figure, so neither the drawing nor
its hover data can show them. Data arrays are given to plotly as plain lists, so the
embedded JSON is readable.
"""

from __future__ import annotations

import html
import math
from typing import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

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


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _layout(fig: go.Figure, width: int, height: int, title: str) -> None:
    fig.update_layout(
        template="none",
        width=width,
        height=height,
        autosize=False,
        title=dict(text=title, font=dict(size=13, color="#222"), x=0.01, xanchor="left"),
        font=dict(family=FONT, size=11, color="#333"),
        margin=dict(l=56, r=16, t=40, b=40),
        paper_bgcolor="white",
        plot_bgcolor="white",
        showlegend=False,
        hoverlabel=dict(font=dict(family=FONT, size=11)),
    )
    fig.update_xaxes(showgrid=False, linecolor="#999", ticks="outside", tickcolor="#999")
    fig.update_yaxes(gridcolor="#e5e5e5", zeroline=False, linecolor="#999")


def y_title(label: str, unit: str) -> str:
    suffix = {
        "percent": "%", "kbps": "kbps", "usd": "USD", "hours": "hours",
        "ratio": "ratio", "educators": "educators", "students": "students",
        "devices": "devices", "boolean": "% of districts",
    }.get(unit, "")
    return suffix


def trend_figure(
    years: Sequence[str],
    values: Sequence[float | None],
    *,
    label: str,
    unit: str,
    target: float | None = None,
    comparison: str | None = None,
    boolean_share: bool = False,
) -> go.Figure:
    """The state figure over every year on record; missing or suppressed years are
    gaps (no point at all). For yes/no metrics, the share of districts meeting it."""
    ys = [None if _blank(v) else float(v) for v in values]
    shown_unit = "percent" if boolean_share else unit
    text = [("no data" if v is None else fmt_value(v, shown_unit)) for v in ys]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=list(years),
            y=ys,
            mode="lines+markers",
            line=dict(color=NAVY, width=2.5),
            marker=dict(size=7, color=NAVY),
            connectgaps=False,
            customdata=[[t] for t in text],
            hovertemplate="%{x}: %{customdata[0]}<extra>Michigan</extra>",
            name="Michigan",
        )
    )
    if target is not None and not boolean_share:
        fig.add_hline(
            y=float(target),
            line=dict(color=RED, dash="dash", width=1.5),
            annotation_text=f"target {_SIGN.get(comparison or '', '')} {fmt_value(target, unit)}",
            annotation_position="top left",
            annotation_font=dict(color=RED, size=10),
        )
    title = f"Michigan, {'share of districts meeting it' if boolean_share else 'state figure'}"
    _layout(fig, *TREND_SIZE, title)
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=list(years))
    fig.update_yaxes(title_text=y_title(label, "boolean" if boolean_share else unit), rangemode="tozero")
    if boolean_share:
        fig.update_yaxes(range=[0, 105])
    return fig


def _box_groups(rows: Sequence[dict], key: str, order: Sequence[str]) -> list[dict]:
    g = {str(r["group_value"]): r for r in rows if r["grouping"] == key}
    return [g[x] for x in order if x in g] + [g[x] for x in sorted(set(g) - set(order))]


def distribution_figure(
    stats: Sequence[dict],
    *,
    label: str,
    unit: str,
    target: float | None = None,
    comparison: str | None = None,
) -> go.Figure:
    """Box plots of the districts' published figures, by locale (left) and by district
    type (right), drawn from precomputed statistics (``queries.distribution_stats``:
    n, min, q1, median, q3, max, mean per group), so the chart weighs the same for 30
    districts or 13,000. ``stats``: dicts with grouping ('locale'/'district_type'),
    group_value and those statistics; groups with no published figure are left out."""
    fig = make_subplots(
        rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.05,
        subplot_titles=("By locale", "By district type"),
    )
    for col, key, order, labels in (
        (1, "locale", LOCALE_ORDER, {}),
        (2, "district_type", TYPE_ORDER, TYPE_LABELS),
    ):
        groups = [r for r in _box_groups(stats, key, order) if int(r.get("n") or 0) > 0]
        cats = [f"{labels.get(str(r['group_value']), r['group_value'])} ({int(r['n'])})" for r in groups]

        def q(name: str) -> list[float]:
            return [quantize(float(r[name]), decimals(unit)) for r in groups]

        fig.add_trace(
            go.Box(
                x=cats,
                q1=q("q1"), median=q("median"), q3=q("q3"),
                lowerfence=q("min"), upperfence=q("max"), mean=q("mean"),
                boxpoints=False,
                line=dict(color=NAVY, width=1.2),
                fillcolor="rgba(42,127,143,0.18)",
                customdata=[
                    [int(r["n"])] + [fmt_value(r[k], unit) for k in ("min", "q1", "median", "q3", "max")]
                    for r in groups
                ],
                hovertemplate=(
                    "%{x}<br>min %{customdata[1]} · Q1 %{customdata[2]} · median %{customdata[3]}"
                    " · Q3 %{customdata[4]} · max %{customdata[5]}<extra></extra>"
                ),
                name=key,
            ),
            row=1, col=col,
        )
        fig.update_xaxes(type="category", categoryorder="array", categoryarray=cats, row=1, col=col)
    if target is not None:
        fig.add_hline(y=float(target), line=dict(color=RED, dash="dash", width=1.2))
    _layout(fig, *DIST_SIZE, "Districts (number with a published figure)")
    fig.update_annotations(font=dict(size=11, color="#444"))
    fig.update_yaxes(title_text=y_title(label, unit), row=1, col=1)
    return fig


def share_by_group_figure(groups: Sequence[dict], *, label: str) -> go.Figure:
    """For yes/no metrics: the share of districts with data that meet it, by locale and by
    district type (counts of districts). ``groups``: dicts with grouping
    ('locale'/'district_type'), group_value, districts_with_data, districts_meeting."""
    fig = make_subplots(
        rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.05,
        subplot_titles=("By locale", "By district type"),
    )
    for col, key, order, labels in (
        (1, "locale", LOCALE_ORDER, {}),
        (2, "district_type", TYPE_ORDER, TYPE_LABELS),
    ):
        g = {str(r["group_value"]): r for r in groups if r["grouping"] == key}
        names = [x for x in order if x in g] + sorted(set(g) - set(order))
        shares, text = [], []
        for name in names:
            r = g[name]
            n, m = int(r["districts_with_data"] or 0), int(r["districts_meeting"] or 0)
            shares.append(100.0 * m / n if n else None)
            text.append(f"{m} of {n}")
        fig.add_trace(
            go.Bar(
                x=[labels.get(x, x) for x in names], y=shares, text=text, textposition="outside",
                marker=dict(color=TEAL),
                hovertemplate="%{x}: %{text} districts<extra></extra>",
            ),
            row=1, col=col,
        )
    _layout(fig, *DIST_SIZE, "Share of districts with data that meet it")
    fig.update_annotations(font=dict(size=11, color="#444"))
    fig.update_yaxes(range=[0, 115], title_text="% of districts", row=1, col=1)
    return fig


def figure_html(fig: go.Figure) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config=PLOTLY_CONFIG)


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
        f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" class="spark-axis">'
        f"{html.escape(str(yr)[2:])}</text>"
        for x, yr in zip(xs, years)
    )
    if target is not None:
        ty = base - (float(target) - lo) * k
        parts.append(
            f'<line x1="{pad_l}" y1="{ty:.1f}" x2="{pad_l + pw}" y2="{ty:.1f}" '
            f'stroke="{RED}" stroke-dasharray="2,3" stroke-width="1.2"/>'
        )
    for series, color, dash, r in ((state, GREY, ' stroke-dasharray="4,3"', 2.2), (district, NAVY, "", 3.0)):
        pts = [None if v is None else f"{x:.1f},{base - (v - lo) * k:.1f}" for x, v in zip(xs, series)]
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
