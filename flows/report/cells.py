"""The formatted pieces the review's sections share: table cells with their
suppression class and tooltip, target and bandwidth wording, anchors, and the HTML of
long tables rendered in one pass."""

from __future__ import annotations

import re
from html import escape as html_escape
from typing import Any

import pandas as pd

from .config import Metric
from .suppression import COMPLEMENTARY, NO_DATA, PRIMARY, fmt_change, fmt_count, fmt_value, marker

PEOPLE_UNITS = ("students", "educators")
# the yearly families as the review names them (queries.FAMILIES)
FAMILY_LABELS = {
    "enrollment": "enrollment",
    "staffing": "staffing",
    "devices": "devices",
    "connectivity": "connectivity",
    "pl_participation": "PL participation",
}

SUPPRESSED_TITLE = "Suppressed: based on fewer than {n} students or educators"
NOT_PUBLISHED_TITLE = (
    "Not published: withheld so that a figure under {n} cannot be worked out by subtraction from a total"
)
NO_DATA_TITLE = "No data: not submitted or not computable; this is not a zero"


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with None for missing values, in one vectorised pass."""
    if df is None or df.empty:
        return []
    return df.astype(object).where(df.notna(), None).to_dict("records")


def by_metric(rows: list[dict]) -> dict[str, list[dict]]:
    """Rows grouped by their ``metric``, in their order."""
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r["metric"], []).append(r)
    return out


def anchor(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "-", str(text)).strip("-").lower()


def titles(n: int) -> dict[int, str]:
    return {PRIMARY: SUPPRESSED_TITLE.format(n=n), COMPLEMENTARY: NOT_PUBLISHED_TITLE.format(n=n)}


def cell(text: str, *, status: int = 0, count: bool = False, n: int = 10) -> dict:
    cls = []
    title = ""
    if status:
        cls.append("supp")
        title = titles(n)[int(status)]
    elif text == NO_DATA:
        cls.append("nodata")
        title = NO_DATA_TITLE
    if count:
        cls.append("count")
    return {"text": text, "cls": " ".join(cls), "title": title, "count": count}


def value_cell(v, unit: str, status: int, n: int) -> dict:
    return cell(fmt_value(v, unit, int(status or 0), n), status=int(status or 0), count=unit in PEOPLE_UNITS, n=n)


def change_cell(v, unit: str, status: int, n: int) -> dict:
    return cell(fmt_change(v, unit, int(status or 0), n), status=int(status or 0), n=n)


def count_cell(v, n: int, status: int = 0) -> dict:
    text = fmt_count(v, n, status)
    st = int(status or 0) or (PRIMARY if text == marker(n) else 0)
    return cell(text, status=st, count=True, n=n)


def target_text(meta: Metric, target, comparison, *, district: bool = False) -> str:
    if target is None or comparison not in (">=", "<="):
        return "none set"
    if meta.is_boolean:
        yes = "yes" if float(target) >= 1 else "no"
        return yes if district else f"{yes}, in every district"
    sign = "≥" if comparison == ">=" else "≤"
    return f"{sign} {fmt_value(target, meta.unit)}"


def bandwidth_text(kbps: float | None) -> str | None:
    """A bandwidth as the FCC/SETDA goals are worded: 1000 -> '1 Mbps', 1500 ->
    '1.5 Mbps', 100 -> '100 kbps'. None when unknown."""
    if kbps is None:
        return None
    kbps = float(kbps)
    if kbps >= 1000:
        return f"{kbps / 1000:,g} Mbps"
    return f"{kbps:,g} kbps"


def price_text(usd: float | None) -> str | None:
    """A price per Mbps as the benchmarks are worded: 3 -> '$3', 2.5 -> '$2.50'."""
    if usd is None:
        return None
    usd = float(usd)
    return f"${usd:,.0f}" if usd == int(usd) else f"${usd:,.2f}"


def e(v) -> str:
    return html_escape("" if v is None else str(v))


def dlink(d: dict, href: str | None) -> str:
    """A district's name (a link to its page) and code: the ``dlink`` macro, for long
    tables rendered in one pass."""
    name = e(d["name"])
    link = f'<a href="{e(href)}">{name}</a>' if href else name
    return f'{link} <span class="muted">{e(d["code"])}</span>'


def fmt_ts(v) -> str:
    if v is None:
        return "unknown"
    try:
        return pd.Timestamp(v).strftime("%Y-%m-%d %H:%M")
    except (ValueError, TypeError):
        return str(v)
