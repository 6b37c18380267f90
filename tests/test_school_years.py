"""School years have one owner (flows/school_years.py); dbt's macro is the same rule in
dbt's SQL. Both are checked here on every year, with DuckDB running the SQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.school_years import (
    is_school_year,
    previous_school_year,
    previous_school_year_sql,
    school_year_bounds,
    school_year_containing,
    school_year_of,
)

MACROS = Path(__file__).resolve().parents[1] / "dbt_project" / "macros" / "school_years.sql"
YEARS = range(1900, 2200)


def _dbt_macro():
    env = jinja2.Environment(extensions=["jinja2.ext.do"])
    return env.from_string(MACROS.read_text(encoding="utf-8")).module.previous_school_year


@pytest.mark.fast
def test_the_year_before_is_the_same_in_python_duckdb_sql_and_the_dbt_macro():
    macro = _dbt_macro()
    con = duckdb.connect()
    con.execute(
        "create table years as select * from (values "
        + ", ".join(f"('{school_year_of(y)}')" for y in YEARS)
        + ") t(sy)"
    )
    rows = con.execute(f"select sy, {previous_school_year_sql('sy')}, {macro('sy')} from years order by sy").fetchall()
    assert len(rows) == len(YEARS)
    for sy, in_sql, in_dbt in rows:
        assert in_sql == in_dbt == previous_school_year(sy), sy


@pytest.mark.fast
def test_a_century_turns_over_correctly():
    assert previous_school_year("2000-01") == "1999-00"
    assert school_year_of(1999) == "1999-00"
    assert is_school_year("1999-00") and not is_school_year("1999-01")


@given(st.dates(min_value=dt.date(1901, 1, 1), max_value=dt.date(2199, 12, 31)))
@pytest.mark.fast
def test_every_date_falls_in_the_school_year_whose_bounds_hold_it(day):
    sy = school_year_containing(day)
    assert is_school_year(sy)
    first, last = school_year_bounds(sy)
    assert first <= day.isoformat() <= last


@given(st.text(max_size=8))
@pytest.mark.fast
def test_only_well_formed_consecutive_years_are_school_years(text):
    ok = is_school_year(text)
    if ok:
        assert school_year_of(int(text[:4])) == text
    else:
        with pytest.raises(ValueError):
            previous_school_year(text)


@pytest.mark.parametrize("text", ["２０２４-25", "2024-26", "2024_25", "2024-25\n", " 2024-25"])
@pytest.mark.fast
def test_near_misses_are_not_school_years(text):
    assert not is_school_year(text)
