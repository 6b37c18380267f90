"""School years, the one owner of their arithmetic (DATA_SPEC section 1).

A school year is written ``YYYY-YY`` ('2024-25'), runs from July 1 to June 30, and its
two-digit end is the start year plus one. Python code uses the functions; SQL run outside
dbt uses :func:`previous_school_year_sql`. dbt's macros in
``dbt_project/macros/school_years.sql`` are the same rule inside dbt; a test checks they
agree with these functions on every year.
"""

from __future__ import annotations

import datetime as dt
import re

SCHOOL_YEAR_RE = re.compile(r"^([0-9]{4})-([0-9]{2})$", re.ASCII)


def is_school_year(text: str | None) -> bool:
    """'2024-25' is a school year; '2024-26', '2024_25' and full-width digits are not."""
    m = SCHOOL_YEAR_RE.fullmatch(text or "")
    if not m:
        return False
    return (int(m.group(1)) + 1) % 100 == int(m.group(2))


def _start(school_year: str) -> int:
    if not is_school_year(school_year):
        raise ValueError(f"not a school year (YYYY-YY, e.g. 2024-25): {school_year!r}")
    return int(school_year[:4])


def school_year_of(start_year: int) -> str:
    """The school year that starts in July of ``start_year``: 2024 -> '2024-25'."""
    return f"{start_year}-{(start_year + 1) % 100:02d}"


def previous_school_year(school_year: str) -> str:
    """'2024-25' -> '2023-24'."""
    return school_year_of(_start(school_year) - 1)


def school_year_bounds(school_year: str) -> tuple[str, str]:
    """2024-25 runs 2024-07-01 to 2025-06-30 (ISO dates)."""
    start = _start(school_year)
    return f"{start}-07-01", f"{start + 1}-06-30"


def school_year_containing(when: dt.date) -> str:
    """The school year a date falls in (July 1 to June 30)."""
    return school_year_of(when.year if when.month >= 7 else when.year - 1)


def previous_school_year_sql(expr: str) -> str:
    """DuckDB SQL for the school year just before the SQL expression ``expr``."""
    start = f"cast(left({expr}, 4) as integer)"
    return f"printf('%d-%02d', {start} - 1, {start} % 100)"
