"""Small-cell suppression (DATA_SPEC section 4): the one place that decides what a
published figure may show. The annual review, the per-district pages and the exports
all use it.

Primary suppression
-------------------
* A count of students or educators below ``privacy.min_cell_size`` (10) is shown as
  ``<10``. A count of 0 is a count below 10.
* A figure built on such a count is suppressed as well: a rate whose numerator or
  denominator is a count of people below the threshold (a published rate together with
  a published denominator would otherwise give the hidden numerator back), and figures
  derived from them (``meets_bandwidth_target`` follows ``kbps_per_student``).
* A change from last year is suppressed when either year's figure is, and the
  ``meets_target`` flag when the figure is.
* A figure that is missing because the family it needs was not published is "no data",
  not ``<10``; a figure that is missing because its people count is 0 is ``<10``
  (saying "no data" there would reveal the 0).

Counts of devices, hours, Mbps and dollars are not counts of people and are never
suppressed on their own.

Complementary suppression
-------------------------
Every published total (the state; and each group of every grouping of
``privacy.groupings``: locale, district type, ISD) is the sum of its districts. Where a
total would give a hidden count back by subtraction, more cells are withheld
(``flows.report.complementary``: a set-based greedy method with an exact audit). They
are shown ``np`` ("not published"), as are the figures built on them. Published state
ratios (e.g. kbps per student: the sum of Mbps over the sum of students of the
districts that published both) are relations too. :func:`protect` assembles these
cells and relations from the marts and returns the status of every figure.

The SQL that reads the marts lives in ``flows.report.queries``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import complementary
from .complementary import COMPLEMENTARY, PRIMARY, VISIBLE

NOT_PUBLISHED = "np"
NO_DATA = "no data"

# Counts of people (students or educators) in marts.district_year_metrics /
# marts.state_year_metrics.
PEOPLE_COUNTS: tuple[str, ...] = (
    "student_count",
    "students_without_home_internet",
    "teacher_count",
    "leader_count",
    "tech_staff_count",
    "teachers_in_pl",
    "leaders_in_pl",
    "tech_staff_in_pl",
    "tpack_samr_participants",
    "pln_leader_participants",
    "oer_participants",
    "cbe_participants",
    "skill_assessment_participants",
)

# Metric or column -> the people counts it is built on. A value is suppressed when any
# of these counts is suppressed.
BASIS: dict[str, tuple[str, ...]] = {
    **{c: (c,) for c in PEOPLE_COUNTS},
    "students_per_device": ("student_count",),
    "kbps_per_student": ("student_count",),
    "meets_bandwidth_target": ("student_count",),
    "home_internet_gap_pct": ("students_without_home_internet", "student_count"),
    "hotspot_coverage_pct": ("students_without_home_internet",),
    "teacher_device_coverage_pct": ("teacher_count",),
    "teacher_pl_rate_pct": ("teachers_in_pl", "teacher_count"),
    "leader_pl_rate_pct": ("leaders_in_pl", "leader_count"),
    "tech_staff_pl_rate_pct": ("tech_staff_in_pl", "tech_staff_count"),
    # the connectivity benchmarks (district flags built on kbps or WAN kbps per student)
    "meets_short_term_bandwidth_goal": ("student_count",),
    "meets_long_term_bandwidth_goal": ("student_count",),
    "wan_kbps_per_student": ("student_count",),
    "meets_wan_goal": ("student_count",),
    "affordable_kbps_per_student": ("student_count",),
    "could_meet_goal_within_budget": ("student_count",),
}

# The state's ratios built on a count of people: metric -> (numerator, denominator,
# multiplier), summed over the districts that published both (dbt macro summed_ratio).
# A published state ratio is an equation between the districts' cells.
RATIOS: dict[str, tuple[str, str, float]] = {
    "students_per_device": ("student_count", "student_devices", 1.0),
    "teacher_device_coverage_pct": ("teacher_devices", "teacher_count", 100.0),
    "kbps_per_student": ("internet_bandwidth_mbps", "student_count", 1000.0),
    "home_internet_gap_pct": ("students_without_home_internet", "student_count", 100.0),
    "hotspot_coverage_pct": ("hotspots_loaned", "students_without_home_internet", 100.0),
    "leader_pl_rate_pct": ("leaders_in_pl", "leader_count", 100.0),
    "teacher_pl_rate_pct": ("teachers_in_pl", "teacher_count", 100.0),
    "tech_staff_pl_rate_pct": ("tech_staff_in_pl", "tech_staff_count", 100.0),
}
# state figures derived from a ratio: withheld with it
FOLLOWS: dict[str, str] = {"meets_bandwidth_target": "kbps_per_student"}

# Counts of districts in the state row that tally a district figure: withheld ("np")
# in a year where that figure is withheld for any district, or the tally minus the
# published districts would give the withheld districts' yes/no back.
TALLIES: dict[str, str] = {
    "districts_meeting_bandwidth_target": "meets_bandwidth_target",
    # the connectivity benchmarks: counts and shares of districts and of students
    # (a sum of the students of the districts meeting one is a tally of their counts)
    "districts_meeting_short_term_goal": "meets_short_term_bandwidth_goal",
    "districts_meeting_short_term_goal_pct": "meets_short_term_bandwidth_goal",
    "students_meeting_short_term_goal": "meets_short_term_bandwidth_goal",
    "students_meeting_short_term_goal_pct": "meets_short_term_bandwidth_goal",
    "districts_meeting_long_term_goal": "meets_long_term_bandwidth_goal",
    "districts_meeting_long_term_goal_pct": "meets_long_term_bandwidth_goal",
    "students_meeting_long_term_goal": "meets_long_term_bandwidth_goal",
    "students_meeting_long_term_goal_pct": "meets_long_term_bandwidth_goal",
    "students_with_bandwidth_data": "kbps_per_student",
    "districts_with_wan_data": "wan_kbps_per_student",
    "districts_meeting_wan_goal": "meets_wan_goal",
    "districts_meeting_wan_goal_pct": "meets_wan_goal",
    "districts_below_long_term_goal": "meets_long_term_bandwidth_goal",
    "districts_could_meet_goal_within_budget": "could_meet_goal_within_budget",
}

# Every figure that can be withheld: the columns of ``Suppression.long()``.
FIGURES: tuple[str, ...] = (*BASIS, *TALLIES)

# Groupings whose totals are (or may be) published: columns of district_year_metrics.
DEFAULT_GROUPINGS: tuple[str, ...] = ("locale", "district_type", "isd_code")


def marker(min_cell_size: int = 10) -> str:
    return f"<{int(min_cell_size)}"


def status_marker(status: int, min_cell_size: int = 10) -> str:
    """The text of a withheld cell: ``<10`` (primary) or ``np`` (complementary)."""
    return marker(min_cell_size) if int(status) == PRIMARY else NOT_PUBLISHED


def _threshold(min_cell_size: int) -> int:
    n = int(min_cell_size)
    if n < 1:
        raise ValueError("min_cell_size must be >= 1")
    return n


def is_suppressed(name: str, value: Any, counts: dict[str, Any], min_cell_size: int) -> bool:
    """The primary rule on one row (no complementary suppression): is the figure
    ``name`` built on a count below the threshold?"""
    basis = BASIS.get(name)
    if not basis:
        return False
    n = _threshold(min_cell_size)
    vals = [counts.get(c) for c in basis]
    small = any(v is not None and not _isnan(v) and v < n for v in vals)
    known = all(v is not None and not _isnan(v) for v in vals)
    return small and (not _missing(value) or known)


def _isnan(v: Any) -> bool:
    try:
        return isinstance(v, float) and math.isnan(v)
    except TypeError:  # pragma: no cover
        return False


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return _isnan(v)


# ------------------------------------------------------------------ the status of figures


@dataclass
class Suppression:
    """The status (VISIBLE, COMPLEMENTARY, PRIMARY) of every suppressible figure.

    district: district_code, school_year, one int8 column per name of FIGURES
    state:    school_year, one int8 column per name of FIGURES
    groups:   grouping, group_value, school_year, count, value, status: the totals of
              every grouping of ``privacy.groupings`` (for views that publish them)
    """

    district: pd.DataFrame
    state: pd.DataFrame
    groups: pd.DataFrame
    min_cell_size: int
    isd: pd.DataFrame | None = None  # isd_code, school_year, one int8 column per name of FIGURES

    def long(self) -> pd.DataFrame:
        """One row per scope x district x year (district_code NULL for the state; the
        ISD's code for scope ``isd``), the columns of FIGURES: the shape ``queries``
        joins to the marts."""
        d = self.district.assign(scope="district")
        s = self.state.assign(scope="state", district_code=None)
        cols = ["scope", "district_code", "school_year", *FIGURES]
        parts = [d[cols], s[cols]]
        if self.isd is not None and len(self.isd):
            parts.append(self.isd.rename(columns={"isd_code": "district_code"}).assign(scope="isd")[cols])
        return pd.concat(parts, ignore_index=True)


def _cells_long(frame: pd.DataFrame, names: Iterable[str]) -> pd.DataFrame:
    """(row, name index, value) for every non-null count of ``names`` in ``frame``."""
    names = list(names)
    values = frame[names].to_numpy(dtype="float64", na_value=np.nan)
    rows, cols = np.nonzero(~np.isnan(values))
    return pd.DataFrame({"row": rows, "name": cols, "value": values[rows, cols]})


def protect(
    districts: pd.DataFrame,
    state: pd.DataFrame,
    min_cell_size: int,
    groupings: Iterable[str] = DEFAULT_GROUPINGS,
) -> Suppression:
    """Primary and complementary suppression of every count of people, per school year,
    over the state total, the totals of each grouping, and the state's ratios.

    ``districts``: marts.district_year_metrics (district_code, school_year, the grouping
    columns, PEOPLE_COUNTS, the other sides of RATIOS and the figures of BASIS);
    ``state``: marts.state_year_metrics (school_year, the same counts and figures).
    """
    n = _threshold(min_cell_size)
    groupings = list(groupings)
    d = districts.reset_index(drop=True)
    s = state.reset_index(drop=True)
    counts = list(PEOPLE_COUNTS)
    n_names = len(counts)
    year_codes = pd.Index(sorted(set(d["school_year"].dropna()) | set(s["school_year"].dropna())))
    d_year = year_codes.get_indexer(d["school_year"]).astype(np.int64)
    s_year = year_codes.get_indexer(s["school_year"]).astype(np.int64)

    # ---- cells: district counts, state counts, group totals, state ratios
    dc = _cells_long(d, counts)
    sc = _cells_long(s, counts)
    n_d, n_s = len(dc), len(sc)
    d_key = d_year[dc["row"].to_numpy()] * n_names + dc["name"].to_numpy()  # (year, count)
    s_key = s_year[sc["row"].to_numpy()] * n_names + sc["name"].to_numpy()
    groups_out = []  # (grouping, per-cell group code, totals frame)
    for g in groupings:
        codes, labels = pd.factorize(d[g].astype("object").where(d[g].notna(), ""), sort=True)
        gcode = codes[dc["row"].to_numpy()].astype(np.int64)
        key = d_key * max(len(labels), 1) + gcode
        uniq, inverse = np.unique(key, return_inverse=True)
        totals = np.bincount(inverse, weights=dc["value"].to_numpy(), minlength=len(uniq))
        frame = pd.DataFrame(
            {
                "grouping": g,
                "group_value": np.asarray(labels, dtype=object)[uniq % max(len(labels), 1)],
                "school_year": year_codes.to_numpy()[(uniq // max(len(labels), 1)) // n_names],
                "count": np.asarray(counts, dtype=object)[(uniq // max(len(labels), 1)) % n_names],
                "value": totals,
            }
        )
        groups_out.append((g, uniq, key, frame))
    ratio_rows = []
    for metric, (num, den, scale) in RATIOS.items():
        if metric not in s.columns:
            continue
        vals = s[metric].to_numpy(dtype="float64", na_value=np.nan)
        for i in np.flatnonzero(~np.isnan(vals)):
            ratio_rows.append((metric, s.at[i, "school_year"], vals[i], scale, num, den))
    ratios = pd.DataFrame(ratio_rows, columns=["metric", "school_year", "ratio", "scale", "num", "den"])

    offsets = []
    offset = n_d + n_s
    for _, uniq, _, _ in groups_out:
        offsets.append(offset)
        offset += len(uniq)
    ratio_offset = offset
    n_cells = ratio_offset + len(ratios)

    value = np.empty(n_cells)
    value[:n_d] = dc["value"].to_numpy()
    value[n_d : n_d + n_s] = sc["value"].to_numpy()
    for (_, _, _, frame), off in zip(groups_out, offsets, strict=True):
        value[off : off + len(frame)] = frame["value"].to_numpy()
    value[ratio_offset:] = np.inf  # a state ratio is withheld last
    primary = np.zeros(n_cells, dtype=bool)
    primary[:ratio_offset] = value[:ratio_offset] < n
    if len(ratios):
        # a state ratio built on a state count under the threshold is withheld from the start
        small = set(s_key[sc["value"].to_numpy() < n].tolist())
        r_year = year_codes.get_indexer(ratios["school_year"]).astype(np.int64)
        for k, (num, den) in enumerate(zip(ratios["num"], ratios["den"], strict=True)):
            primary[ratio_offset + k] = any(
                c in PEOPLE_COUNTS and r_year[k] * n_names + counts.index(c) in small for c in (num, den)
            )

    # ---- relations: total (coef -1) = sum of coef x parts
    rel_m: list[np.ndarray] = []
    cell_m: list[np.ndarray] = []
    coef_m: list[np.ndarray] = []
    total_m: list[np.ndarray] = []
    rel_family: list[str] = []
    rel_plain: list[bool] = []

    def add(total_keys, total_cells, part_keys, part_cells, part_coefs, family: str, plain: bool) -> None:
        base = len(rel_family)
        index = pd.Index(total_keys)
        rel = index.get_indexer(part_keys)
        ok = rel >= 0
        rel_m.extend([base + np.arange(len(index)), base + rel[ok]])
        cell_m.extend([np.asarray(total_cells), np.asarray(part_cells)[ok]])
        coef_m.extend([np.full(len(index), -1.0), np.asarray(part_coefs, dtype="float64")[ok]])
        total_m.extend([np.ones(len(index), bool), np.zeros(int(ok.sum()), bool)])
        rel_family.extend([family] * len(index))
        rel_plain.extend([plain] * len(index))

    d_cells = np.arange(n_d)
    add(s_key, n_d + np.arange(n_s), d_key, d_cells, np.ones(n_d), "state", True)
    for (g, uniq, key, _), off in zip(groups_out, offsets, strict=True):
        add(uniq, off + np.arange(len(uniq)), key, d_cells, np.ones(n_d), g, True)

    if len(ratios):
        # the cell of every (district row, count)
        grid = np.full((len(d), n_names), -1, dtype=np.int64)
        grid[dc["row"].to_numpy(), dc["name"].to_numpy()] = d_cells
        state_cell = {int(key): n_d + i for i, key in enumerate(s_key)}
        for k, r in enumerate(ratios.itertuples()):
            in_year = (d["school_year"] == r.school_year).to_numpy()
            has_num, has_den = d[r.num].notna().to_numpy(), d[r.den].notna().to_numpy()
            both = in_year & has_num & has_den
            if not both.any():
                continue
            num_people, den_people = r.num in PEOPLE_COUNTS, r.den in PEOPLE_COUNTS
            year = int(year_codes.get_loc(r.school_year))
            if num_people and den_people:
                # sum_S(num) = ratio / scale x sum_S(den), S = districts with both. With the
                # state totals N and D (sums over all districts) it reads
                # N - sum_{not S}(num) - q x (D - sum_{not S}(den)) = 0: only the districts
                # outside S and the two state totals take part
                q = r.ratio / r.scale
                i_num, i_den = counts.index(r.num), counts.index(r.den)
                out_num = np.flatnonzero(in_year & has_num & ~both)
                out_den = np.flatnonzero(in_year & has_den & ~both)
                pc = np.concatenate(
                    [
                        [state_cell[year * n_names + i_num], state_cell[year * n_names + i_den]],
                        grid[out_num, i_num],
                        grid[out_den, i_den],
                    ]
                )
                cf = np.concatenate([[1.0, -q], np.full(len(out_num), -1.0), np.full(len(out_den), q)])
                plain = False
            else:
                # a plain sum: sum_S(people side) = the other side's sum x scale / ratio
                rows = np.flatnonzero(both)
                pc = grid[rows, counts.index(r.num if num_people else r.den)]
                cf = np.ones(len(rows))
                plain = True
            add([0], [ratio_offset + k], np.zeros(len(pc), np.int64), pc, cf, f"ratio:{r.metric}", plain)

    def cat(xs, dtype):
        return np.concatenate(xs).astype(dtype) if xs else np.zeros(0, dtype)

    problem = complementary.Problem(
        value=value,
        primary=primary,
        m_relation=cat(rel_m, np.int64),
        m_cell=cat(cell_m, np.int64),
        m_coef=cat(coef_m, np.float64),
        m_total=cat(total_m, bool),
        r_family=pd.factorize(pd.Series(rel_family, dtype=object))[0].astype(np.int64),
        r_plain=np.asarray(rel_plain, dtype=bool),
    )
    status = complementary.suppress(problem, n)

    # ---- the status of every figure
    d_count = np.zeros((len(d), n_names), dtype=np.int8)
    d_count[dc["row"].to_numpy(), dc["name"].to_numpy()] = status[:n_d]
    s_count = np.zeros((len(s), n_names), dtype=np.int8)
    s_count[sc["row"].to_numpy(), sc["name"].to_numpy()] = status[n_d : n_d + n_s]
    district_flags = _figure_status(d, pd.DataFrame(d_count, columns=counts))
    state_flags = _figure_status(s, pd.DataFrame(s_count, columns=counts))
    if len(ratios):
        row_of_year = pd.Series(np.arange(len(s)), index=s["school_year"])
        r_rows = row_of_year.loc[ratios["school_year"]].to_numpy()
        for k, metric in enumerate(ratios["metric"]):
            st = status[ratio_offset + k]
            for name in [metric] + [f for f, lead in FOLLOWS.items() if lead == metric]:
                col = state_flags.columns.get_loc(name)
                state_flags.iat[r_rows[k], col] = max(int(state_flags.iat[r_rows[k], col]), int(st))
    for tally, figure in TALLIES.items():
        district_flags[tally] = np.int8(VISIBLE)
        withheld_years = set(d["school_year"].to_numpy()[district_flags[figure].to_numpy() > 0])
        state_flags[tally] = np.where(s["school_year"].isin(withheld_years).to_numpy(), COMPLEMENTARY, VISIBLE).astype(
            np.int8
        )
    district_flags.insert(0, "school_year", d["school_year"].to_numpy())
    district_flags.insert(0, "district_code", d["district_code"].to_numpy())
    state_flags.insert(0, "school_year", s["school_year"].to_numpy())
    groups = (
        pd.concat(
            [
                frame.assign(status=status[off : off + len(frame)].astype(np.int8))
                for (_, _, _, frame), off in zip(groups_out, offsets, strict=True)
            ],
            ignore_index=True,
        )
        if groups_out
        else pd.DataFrame(columns=["grouping", "group_value", "school_year", "count", "value", "status"])
    )
    isd_flags = isd_status(d, district_flags, groups, n) if "isd_code" in d.columns else None
    return Suppression(district=district_flags, state=state_flags, groups=groups, min_cell_size=n, isd=isd_flags)


def isd_status(
    districts: pd.DataFrame, district_flags: pd.DataFrame, groups: pd.DataFrame, min_cell_size: int
) -> pd.DataFrame:
    """The status of every figure of an ISD (marts.isd_year_metrics: sums over its
    districts), per ISD and year, in bulk (one group-by):

    * a count of people: the status of the ISD's total as protected by complementary
      suppression (``groups``, grouping ``isd_code``); without that grouping, withheld
      (``np``) when any of its districts' counts is, and ``<10`` under the threshold;
    * any other figure (a rate, a yes/no, a tally of districts or of their students):
      published only when it is computed from published figures alone: withheld
      (``np``) when the figure of any of the ISD's districts is withheld, and with
      the status of the ISD's counts it is built on (``<10`` when one is under it).
    """
    n = _threshold(min_cell_size)
    flags = district_flags.copy()
    flags["isd_code"] = districts["isd_code"].to_numpy()
    flags = flags[flags["isd_code"].notna()]
    names = list(FIGURES)
    keys = ["isd_code", "school_year"]
    any_withheld = flags.groupby(keys, sort=True)[names].max().reset_index()
    out = any_withheld[keys].copy()
    # the ISD's totals of the counts of people, and their status
    d = districts[districts["isd_code"].notna()]
    totals = d.groupby(keys, sort=True)[list(PEOPLE_COUNTS)].sum(min_count=1).reset_index()
    totals = out.merge(totals, on=keys, how="left")
    iso = groups[groups["grouping"] == "isd_code"] if len(groups) else groups
    count_status = {}
    for c in PEOPLE_COUNTS:
        total = totals[c].to_numpy(dtype="float64", na_value=np.nan)
        if len(iso):
            g = iso[iso["count"] == c][["group_value", "school_year", "status"]].rename(
                columns={"group_value": "isd_code"}
            )
            st = out.merge(g, on=keys, how="left")["status"].fillna(VISIBLE).to_numpy(dtype=np.int8)
        else:
            st = np.where(any_withheld[c].to_numpy() > 0, COMPLEMENTARY, VISIBLE).astype(np.int8)
            st = np.where(~np.isnan(total) & (total < n), PRIMARY, st).astype(np.int8)
        count_status[c] = st
    for name in names:
        # a tally follows the district figure it counts (its own district column is 0)
        source = TALLIES.get(name, name)
        from_districts = np.where(any_withheld[source].to_numpy() > 0, COMPLEMENTARY, VISIBLE).astype(np.int8)
        if name in PEOPLE_COUNTS:
            out[name] = count_status[name]
            continue
        basis = BASIS.get(source, ())
        st = from_districts
        for c in basis:
            st = np.maximum(st, count_status[c])
        out[name] = st.astype(np.int8)
    return out


def _figure_status(frame: pd.DataFrame, count_status: pd.DataFrame) -> pd.DataFrame:
    """Per figure of BASIS: the most severe status of its counts; a figure that is null
    while one of its counts is unknown is "no data", never withheld."""
    counts = list(count_status.columns)
    st_all = count_status.to_numpy()
    known = {c: frame[c].notna().to_numpy() for c in counts if c in frame.columns}
    out = {}
    for name, basis in BASIS.items():
        idx = [counts.index(c) for c in basis]
        st = st_all[:, idx].max(axis=1)
        value_missing = frame[name].isna().to_numpy() if name in frame.columns else np.ones(len(frame), bool)
        all_known = np.logical_and.reduce([known[c] for c in basis])
        out[name] = np.where(value_missing & ~all_known, VISIBLE, st).astype(np.int8)
    return pd.DataFrame(out, index=frame.index)


# --------------------------------------------------------------------------- display

# decimals shown, and the format of a value and of a change, per unit
_UNIT_FORMATS = {
    "percent": (1, "{:,.1f}%", "{} pts"),
    "ratio": (2, "{:,.2f}", "{}"),
    "kbps": (0, "{:,.0f} kbps", "{} kbps"),
    "usd": (2, "${:,.2f}", "{}"),
    "hours": (0, "{:,.0f} h", "{} h"),
    "students": (0, "{:,.0f}", "{}"),
    "educators": (0, "{:,.0f}", "{}"),
    "devices": (0, "{:,.0f}", "{}"),
}
_DEFAULT_FORMAT = (2, "{:,.2f}", "{}")


def decimals(unit: str) -> int:
    """Decimals a figure of this unit is shown with (and rounded to before anything
    else: tables, charts and page fingerprints all use the rounded value)."""
    return 0 if unit == "boolean" else _UNIT_FORMATS.get(unit, _DEFAULT_FORMAT)[0]


def quantize(value: float, digits: int) -> float:
    """``value`` rounded to ``digits`` decimals (half to even on the scaled value, as
    numpy.round, so the same as :func:`quantize_array`), never a negative zero."""
    value = float(value)
    if not math.isfinite(value):
        return value
    scale = 10.0**digits
    r = round(value * scale) / scale
    return r if r != 0 else 0.0


def quantize_array(values, digits: int) -> np.ndarray:
    """Vectorised :func:`quantize` (NaN stays NaN)."""
    r = np.round(np.asarray(values, dtype="float64"), digits)
    return np.where(r == 0, 0.0, r)


def fmt_value(value: Any, unit: str, suppressed: bool | int = False, min_cell_size: int = 10) -> str:
    """A figure as a reader sees it: ``<10`` / ``np`` when withheld (``suppressed`` is a
    status, or True for ``<10``), ``no data`` when unknown."""
    if suppressed:
        return status_marker(PRIMARY if suppressed is True else suppressed, min_cell_size)
    if _missing(value):
        return NO_DATA
    if unit == "boolean":
        return "yes" if bool(value) and float(value) != 0 else "no"
    digits, fmt, _ = _UNIT_FORMATS.get(unit, _DEFAULT_FORMAT)
    v = quantize(value, digits)
    if unit == "usd" and v < 0:
        return "-" + fmt.format(-v)
    return fmt.format(v)


def fmt_change(value: Any, unit: str, suppressed: bool | int = False, min_cell_size: int = 10) -> str:
    """A change from last year: signed, ``0`` without a sign; ``<10`` / ``np`` when
    withheld; ``no data`` when either year is unknown."""
    if suppressed:
        return status_marker(PRIMARY if suppressed is True else suppressed, min_cell_size)
    if _missing(value):
        return NO_DATA
    if unit == "boolean":
        v = float(value)
        return "now met" if v > 0 else ("no longer met" if v < 0 else "unchanged")
    digits, _, wrap = _UNIT_FORMATS.get(unit, _DEFAULT_FORMAT)
    v = quantize(value, digits)
    body = f"{abs(v):,.{digits}f}"
    if unit == "usd":
        body = "$" + body
    sign = "+" if v > 0 else ("-" if v < 0 else "±")
    return wrap.format(sign + body)


def fmt_count(value: Any, min_cell_size: int = 10, status: int | None = None) -> str:
    """A count of people: ``<10`` below the threshold (0 included), ``np`` when withheld
    to protect another count, ``no data`` if unknown."""
    if status:
        return status_marker(status, min_cell_size)
    if _missing(value):
        return NO_DATA
    if float(value) < _threshold(min_cell_size):
        return marker(min_cell_size)
    return f"{quantize(value, 0):,.0f}"
