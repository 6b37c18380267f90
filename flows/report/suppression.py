"""Small-cell suppression (DATA_SPEC section 4): the one place that decides what a
published figure may show. The annual review, the per-district pages and the exports
all use it.

The rule
--------
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

The rules are data (``BASIS``); :func:`suppressed_sql` turns them into a SQL boolean
so that suppressed values never leave DuckDB. The SQL that reads the marts lives in
``flows.report.queries``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

MARKER = "<10"  # replaced by f"<{n}" when the threshold is not 10, see marker()
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
# of these counts is below the threshold.
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
}


def is_suppressible(name: str) -> bool:
    return name in BASIS


def marker(min_cell_size: int = 10) -> str:
    return f"<{int(min_cell_size)}"


def _threshold(min_cell_size: int) -> int:
    n = int(min_cell_size)
    if n < 1:
        raise ValueError("min_cell_size must be >= 1")
    return n


def suppressed_sql(
    name: str, value_sql: str, count_sql: Callable[[str], str], min_cell_size: int
) -> str:
    """SQL boolean (never NULL): is the figure ``name`` (held in ``value_sql``) suppressed?

    ``count_sql(count_name)`` returns the SQL expression of that people count for the
    same district (or state) and year.
    """
    basis = BASIS.get(name)
    if not basis:
        return "FALSE"
    n = _threshold(min_cell_size)
    small = " OR ".join(f"coalesce(({count_sql(c)}) < {n}, FALSE)" for c in basis)
    known = " AND ".join(f"({count_sql(c)}) IS NOT NULL" for c in basis)
    return f"(({small}) AND (({value_sql}) IS NOT NULL OR ({known})))"


def suppressed_case_sql(
    metric_sql: str, value_sql: str, count_sql: Callable[[str], str], min_cell_size: int
) -> str:
    """SQL boolean for long tables (one row per metric): CASE over the metric name."""
    whens = " ".join(
        f"WHEN '{m}' THEN {suppressed_sql(m, value_sql, count_sql, min_cell_size)}"
        for m in BASIS
    )
    return f"(CASE {metric_sql} {whens} ELSE FALSE END)"


def is_suppressed(name: str, value: Any, counts: dict[str, Any], min_cell_size: int) -> bool:
    """Python mirror of :func:`suppressed_sql`, for checks and small in-memory rows."""
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
    if v is None:
        return True
    try:
        import pandas as pd

        if v is pd.NA or v is pd.NaT:
            return True
    except ImportError:  # pragma: no cover
        pass
    return _isnan(v)


# --------------------------------------------------------------------------- display

_UNIT_FORMATS = {
    "percent": ("{:,.1f}%", "{:+,.1f} pts"),
    "ratio": ("{:,.2f}", "{:+,.2f}"),
    "kbps": ("{:,.0f} kbps", "{:+,.0f} kbps"),
    "usd": ("${:,.2f}", "{:+,.2f} $"),
    "hours": ("{:,.0f} h", "{:+,.0f} h"),
    "students": ("{:,.0f}", "{:+,.0f}"),
    "educators": ("{:,.0f}", "{:+,.0f}"),
    "devices": ("{:,.0f}", "{:+,.0f}"),
}


def fmt_value(value: Any, unit: str, suppressed: bool = False, min_cell_size: int = 10) -> str:
    """A figure as a reader sees it: ``<10`` when suppressed, ``no data`` when unknown."""
    if suppressed:
        return marker(min_cell_size)
    if _missing(value):
        return NO_DATA
    if unit == "boolean":
        return "yes" if bool(value) and float(value) != 0 else "no"
    fmt = _UNIT_FORMATS.get(unit, ("{:,.2f}", "{:+,.2f}"))[0]
    return fmt.format(float(value))


def fmt_change(value: Any, unit: str, suppressed: bool = False, min_cell_size: int = 10) -> str:
    if suppressed:
        return marker(min_cell_size)
    if _missing(value):
        return NO_DATA
    if unit == "boolean":
        v = float(value)
        return "now met" if v > 0 else ("no longer met" if v < 0 else "unchanged")
    fmt = _UNIT_FORMATS.get(unit, ("{:,.2f}", "{:+,.2f}"))[1]
    if unit == "usd":
        return ("+$" if float(value) >= 0 else "-$") + f"{abs(float(value)):,.2f}"
    return fmt.format(float(value))


def fmt_count(value: Any, min_cell_size: int = 10) -> str:
    """A count of people: ``<10`` below the threshold (0 included), ``no data`` if unknown."""
    if _missing(value):
        return NO_DATA
    if float(value) < _threshold(min_cell_size):
        return marker(min_cell_size)
    return f"{float(value):,.0f}"
