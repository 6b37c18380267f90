"""Complementary suppression, tried as an attacker would: read the published review and
exports of a warehouse the real pipeline built (tests/report_landing.py: one district
has fewer than 10 students, many counts of staff are small), then try every
subtraction of published parts from a published total (the state; every locale,
district type and ISD total a view may publish), every combination of those totals and
the state's ratios (linear algebra), and every change from last year. Nothing withheld
may come back, not even as a narrower range than "under 10".

And a property test of the method itself (flows.report.complementary) over random
totals and groupings, against an independent check.
"""

from __future__ import annotations

import csv
import html as _html
import re
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.report import build_report, complementary, export_marts, sql, suppression_sql
from flows.report.suppression import PEOPLE_COUNTS, RATIOS
from report_landing import BIRCH, YEARS

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config"
N = 10
GROUPINGS = ("locale", "district_type", "isd_code")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def published(report_warehouse, tmp_path_factory):
    out = tmp_path_factory.mktemp("published")
    export_marts(report_warehouse.warehouse, out, config_dir=CONFIG)
    review = build_report(report_warehouse.warehouse, out, config_dir=CONFIG)
    return out, review


@pytest.fixture(scope="module")
def group_totals(report_warehouse) -> pd.DataFrame:
    """The totals of every locale, district type and ISD, as a view of them would
    publish them (withheld where the suppression withholds them)."""
    con = sql.connect(report_warehouse.warehouse)
    try:
        return suppression_sql.prepare(con, N, GROUPINGS).groups
    finally:
        con.close()


# --------------------------------------------------------------- what the attacker knows


class Cell:
    """One figure as published: known value, or withheld with what its marker says."""

    def __init__(self, text: str):
        self.text = text
        self.known = None if text in ("<10", "np", "") else float(text)
        self.lo, self.hi = {"<10": (0, N - 1), "np": (N, np.inf)}.get(text, (self.known, self.known))

    @property
    def hidden(self) -> bool:
        return self.text in ("<10", "np")


def _subtraction_attack(total: float, parts: list[Cell], where: str) -> int:
    """total - visible parts = sum of the hidden parts: no single hidden part may come
    out of it, and no part under 10 may be narrowed below the range 0..9."""
    hidden = [p for p in parts if p.hidden]
    rest = total - sum(p.known for p in parts if p.known is not None)
    assert len(hidden) != 1, f"{where}: the one withheld part is {rest:g}"
    for i, p in enumerate(hidden):
        if p.text != "<10":
            continue
        others = hidden[:i] + hidden[i + 1 :]
        lo = max(0.0, rest - sum(o.hi for o in others))
        hi = min(N - 1.0, rest - sum(o.lo for o in others))
        assert (lo, hi) == (0.0, N - 1.0), f"{where}: a count under {N} is between {lo:g} and {hi:g}"
    return len(hidden)


def _determined(A: np.ndarray) -> np.ndarray:
    """Which unknowns x_i of A x = b (consistent) are unique: e_i in the row space."""
    if not A.size:
        return np.zeros(A.shape[1], dtype=bool)
    rank = np.linalg.matrix_rank(A)
    out = np.zeros(A.shape[1], dtype=bool)
    for i in range(A.shape[1]):
        e = np.zeros((1, A.shape[1]))
        e[0, i] = 1.0
        out[i] = np.linalg.matrix_rank(np.vstack([A, e])) == rank
    return out


# ----------------------------------------------------------------------- the exports


def _add_equation(
    equations: list[np.ndarray], unknown: dict[tuple[str, str], int], terms: list[tuple[tuple[str, str], float]]
) -> None:
    """One linear relation over the withheld counts (`unknown`: key -> column); relations
    over published counts only add nothing."""
    row = np.zeros(len(unknown))
    for key, coef in terms:
        if key in unknown:
            row[unknown[key]] += coef
    if row.any():
        equations.append(row)


def test_no_withheld_count_comes_back_from_the_exports(published, group_totals):
    out, _ = published
    districts = read_csv(out / "exports" / "district_year_metrics.csv")
    state = {r["school_year"]: r for r in read_csv(out / "exports" / "state_year_metrics.csv")}
    attacks = hidden_seen = 0
    for sy in YEARS:
        rows = [r for r in districts if r["school_year"] == sy]
        srow = state[sy]
        # unknowns: every withheld count of a district or of the state, this year
        unknown: dict[tuple[str, str], int] = {}
        for c in PEOPLE_COUNTS:
            for r in rows:
                if Cell(r[c]).hidden:
                    unknown[(r["district_code"], c)] = len(unknown)
            if Cell(srow[c]).hidden:
                unknown[("state", c)] = len(unknown)
        hidden_seen += len(unknown)
        equations: list[np.ndarray] = []
        equation = partial(_add_equation, equations, unknown)  # equation(terms), this year's

        for c in PEOPLE_COUNTS:
            # the state total and every group total a view would publish
            totals = [("the state", rows, srow[c])]
            for g in GROUPINGS:
                gt = group_totals[
                    (group_totals["grouping"] == g) & (group_totals["school_year"] == sy) & (group_totals["count"] == c)
                ]
                for t in gt.itertuples():
                    members = [r for r in rows if (r[g] or "").lstrip("'") == t.group_value]
                    totals.append((f"{g} {t.group_value}", members, "np" if t.status else str(t.value)))
            for name, members, total_text in totals:
                total = Cell(total_text)
                parts = [Cell(r[c]) for r in members if r[c] != ""]
                terms = [((r["district_code"], c), 1.0) for r in members if r[c] != ""]
                if name == "the state" and total.hidden:
                    # a withheld state total is still the sum of its districts
                    equation(terms + [(("state", c), -1.0)])
                if total.known is None:
                    continue  # a withheld group total tells nothing
                attacks += 1
                _subtraction_attack(total.known, parts, f"{sy} {c}, {name}")
                equation(terms)
        # the state's ratios: sums over the districts that published both sides
        for metric, (num, den, scale) in RATIOS.items():
            ratio = Cell(srow[metric])
            if ratio.known is None:
                continue
            both = [r for r in rows if r[num] != "" and r[den] != ""]
            q = ratio.known / scale
            if num in PEOPLE_COUNTS and den in PEOPLE_COUNTS:
                equation(
                    [((r["district_code"], num), 1.0) for r in both] + [((r["district_code"], den), -q) for r in both]
                )
            else:
                people = num if num in PEOPLE_COUNTS else den
                equation([((r["district_code"], people), 1.0) for r in both])
        A = np.array(equations) if equations else np.zeros((0, len(unknown)))
        found = _determined(A)
        names = {i: k for k, i in unknown.items()}
        assert not found.any(), (
            f"{sy}: recoverable from the totals and ratios: {[names[i] for i in np.flatnonzero(found)]}"
        )
    assert attacks > 100 and hidden_seen > 100


def test_no_withheld_figure_comes_back_from_a_change_from_last_year(published):
    out, _ = published
    mv = read_csv(out / "exports" / "metric_values.csv")
    by_key = {(r["scope"], r["district_code"], r["metric"], r["school_year"]): r for r in mv}
    checked = 0
    for r in mv:
        value, prev, change = (Cell(r[k]) for k in ("value", "previous_value", "change_from_previous_year"))
        if value.hidden or prev.hidden:
            checked += 1
            # value = previous + change, previous = value - change
            assert change.known is None, r
        # last year's row says the same of that year as previous_value does here
        start = int(r["school_year"][:4]) - 1
        last = by_key.get((r["scope"], r["district_code"], r["metric"], f"{start}-{(start + 1) % 100:02d}"))
        if last is not None:
            assert Cell(last["value"]).hidden == prev.hidden, r
    assert checked > 50


# ------------------------------------------------------------------------ the review


def _page_counts(page: str) -> dict[str, str]:
    out = {}
    for m in re.finditer(r'<tr data-metric="([^"]+)">(.*?)</tr>', page, re.S):
        if m.group(1) in PEOPLE_COUNTS:
            cells = re.findall(r"<td[^>]*>(.*?)</td>", m.group(2), re.S)
            out[m.group(1)] = _html.unescape(cells[2]).strip().replace(",", "")
    return out


def test_no_withheld_count_comes_back_from_the_review(published):
    """The district pages give every district's counts; the review gives the state's
    (its student count, and the state figure of each count the objectives measure).
    The state total minus the districts shown never gives a withheld one back."""
    _, review = published
    doc = review.html_path.read_text(encoding="utf-8")
    pages = {p.stem: _page_counts(p.read_text(encoding="utf-8")) for p in review.district_pages}
    assert pages[BIRCH]["student_count"] == "<10"
    state: dict[str, str] = {}
    big = re.search(r'<div class="big" data-count="true">([^<]+)</div><div class="lbl">students enrolled', doc)
    state["student_count"] = _html.unescape(big.group(1)).replace(",", "")
    for m in re.finditer(
        r'<div class="metric" data-metric="([^"]+)">.*?Michigan [0-9-]+: <b[^>]*>([^<]+)</b>', doc, re.S
    ):
        if m.group(1) in PEOPLE_COUNTS:
            state[m.group(1)] = _html.unescape(m.group(2)).replace(",", "")
    assert len(state) >= 3
    attacks = 0
    for c, text in state.items():
        total = Cell(text)
        if total.known is None:
            continue
        parts = [Cell(pages[code][c]) for code in pages if pages[code].get(c, "no data") != "no data"]
        attacks += 1
        _subtraction_attack(total.known, parts, f"review: {c}, the state")
    assert attacks >= 3


# ----------------------------------------------------------------- the method itself


@st.composite
def problems(draw):
    n_parts = draw(st.integers(2, 24))
    small = st.integers(0, 9)
    values = draw(
        st.lists(st.one_of(small, small, st.integers(10, 40), st.integers(41, 900)), min_size=n_parts, max_size=n_parts)
    )
    n_groupings = draw(st.integers(0, 3))
    groupings = [
        draw(st.lists(st.integers(0, draw(st.integers(0, 4))), min_size=n_parts, max_size=n_parts))
        for _ in range(n_groupings)
    ]
    ratio = draw(
        st.none()
        | st.tuples(
            st.lists(st.booleans(), min_size=n_parts, max_size=n_parts),
            st.floats(0.05, 3.0, allow_nan=False),
        )
    )
    return values, groupings, ratio


def _build(values, groupings, ratio):
    """Cells: the parts, the state total, the group totals (and a ratio's pseudo cell);
    relations: total = sum of parts per group; optionally sum over S of the parts minus
    q x sum over S of the (same) parts' second measure, as a published ratio does."""
    cell_value = [float(v) for v in values]
    parts = list(range(len(values)))
    rel = []  # (family, total cell, parts, coefs)
    cell_value.append(float(sum(values)))
    rel.append(("state", len(cell_value) - 1, parts, [1.0] * len(parts)))
    for f, g in enumerate(groupings):
        for label in sorted(set(g)):
            members = [i for i in parts if g[i] == label]
            cell_value.append(float(sum(values[i] for i in members)))
            rel.append((f"g{f}", len(cell_value) - 1, members, [1.0] * len(members)))
    if ratio is not None:
        mask, q = ratio
        members = [i for i in parts if mask[i]]
        if len(members) >= 1:
            cell_value.append(np.inf)
            coefs = [1.0 if k % 2 else -q for k, _ in enumerate(members)]
            rel.append(("ratio", len(cell_value) - 1, members, coefs))
    value = np.array(cell_value)
    primary = value < N
    m_rel, m_cell, m_coef, m_total, fam, plain = [], [], [], [], [], []
    for r, (f, total, members, coefs) in enumerate(rel):
        m_rel += [r] * (len(members) + 1)
        m_cell += [total, *members]
        m_coef += [-1.0, *coefs]
        m_total += [True] + [False] * len(members)
        fam.append(f)
        plain.append(f != "ratio")
    p = complementary.Problem(
        value=value,
        primary=primary,
        m_relation=np.array(m_rel),
        m_cell=np.array(m_cell),
        m_coef=np.array(m_coef),
        m_total=np.array(m_total),
        r_family=pd.factorize(pd.Series(fam))[0].astype(np.int64),
        r_plain=np.array(plain),
    )
    return p, rel


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_complementary_suppression_leaves_nothing_recoverable(problem):
    values, groupings, ratio = problem
    p, rel = _build(values, groupings, ratio)
    status = complementary.suppress(p, N)
    hidden = status != complementary.VISIBLE
    # every count under the threshold is withheld, and marked as such
    assert (status[p.primary] == complementary.PRIMARY).all()
    assert (status[~p.primary & hidden] == complementary.COMPLEMENTARY).all()
    # no subtraction from a published total gives a withheld part back, or narrows one
    # under the threshold (the markers say which withheld parts are under it)
    for f, total, members, _coefs in rel:
        if f == "ratio" or hidden[total]:
            continue
        texts = [
            "<10" if status[i] == complementary.PRIMARY else "np" if hidden[i] else str(p.value[i]) for i in members
        ]
        _subtraction_attack(p.value[total], [Cell(t) for t in texts], f"relation {f}")
    # and no combination of the published relations pins a withheld cell
    unknown = np.flatnonzero(hidden)
    col = {c: k for k, c in enumerate(unknown)}
    A = []
    for _f, total, members, coefs in rel:
        row = np.zeros(len(unknown))
        for c, a in [(total, -1.0), *zip(members, coefs, strict=True)]:
            if c in col:
                row[col[c]] += a
        if row.any():
            A.append(row)
    found = _determined(np.array(A) if A else np.zeros((0, len(unknown))))
    assert not found.any(), [int(unknown[i]) for i in np.flatnonzero(found)]


@pytest.mark.fast
def test_a_total_with_one_small_part_withholds_another_part_big_enough():
    """The example of issue 11: one district under 10 in a state total. Another part is
    withheld with it, the smallest of 19 or more (so the pair's sum says nothing)."""
    p, _ = _build([8, 30, 25, 12, 400], [], None)
    status = complementary.suppress(p, N)
    P, C = complementary.PRIMARY, complementary.COMPLEMENTARY
    # 25 is the smallest part of 19 or more; the state total stays published
    assert list(status) == [P, 0, C, 0, 0, 0]
