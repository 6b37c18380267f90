"""Latest submission wins has one owner: dbt's macro `latest_submission` for what is
published; the Python code that needs the rule over `raw` before or outside a dbt build
(known buildings during the load, each district's contact for e-mails) takes it from
flows/ingest/latest_submission.py. Here both run in DuckDB on random submission
sequences and must keep exactly the same rows."""

from __future__ import annotations

from pathlib import Path

import duckdb
import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.ingest.latest_submission import latest_directory_sql, latest_submission_sql

MACRO = Path(__file__).resolve().parents[1] / "dbt_project" / "macros" / "latest_submission.sql"


def _dbt_macro():
    env = jinja2.Environment(extensions=["jinja2.ext.do"])
    return env.from_string(MACRO.read_text(encoding="utf-8")).module.latest_submission


# a submitted row: (school_year, district_code, received_seq, value); few distinct keys
# and sequences, so keys often have several files, ties and NULL keys included
ROWS = st.lists(
    st.tuples(
        st.sampled_from(["2023-24", "2024-25", None]),
        st.sampled_from(["01010", "02020", "03030", None]),
        st.integers(min_value=1, max_value=6),
        st.integers(min_value=0, max_value=3),
    ),
    max_size=40,
)


def _table(con: duckdb.DuckDBPyConnection, name: str, sequence_column: str, rows) -> None:
    con.execute(
        f"create or replace table {name} "
        f"(school_year varchar, district_code varchar, {sequence_column} bigint, value integer)"
    )
    if rows:
        con.executemany(f"insert into {name} values (?, ?, ?, ?)", rows)


def _sorted(rows) -> list[tuple]:
    return sorted(rows, key=repr)


@settings(max_examples=150, deadline=None)
@given(rows=ROWS)
def test_the_python_rule_keeps_the_same_rows_as_the_dbt_macro(rows):
    macro = _dbt_macro()
    con = duckdb.connect()
    try:
        _table(con, "raw_rows", "_received_seq", rows)
        _table(con, "staged_rows", "received_seq", rows)
        for keys in (["school_year", "district_code"], ["district_code"]):
            python = con.execute(latest_submission_sql("raw_rows", keys)).fetchall()
            dbt = con.execute(macro("staged_rows", key_columns=keys)).fetchall()
            assert _sorted(python) == _sorted(dbt), keys
            # and what the rule means: per key without a NULL, every row of the greatest sequence
            expected = [
                r
                for r in rows
                if all(r[i] is not None for i in _key_positions(keys))
                and r[2] == max(o[2] for o in rows if all(o[i] == r[i] for i in _key_positions(keys)))
            ]
            assert _sorted(python) == _sorted(expected), keys
    finally:
        con.close()


def _key_positions(keys: list[str]) -> list[int]:
    return [{"school_year": 0, "district_code": 1}[k] for k in keys]


@pytest.mark.fast
def test_each_district_s_contact_comes_from_the_latest_directory_file_listing_it():
    con = duckdb.connect()
    try:
        con.execute("create schema raw")
        con.execute(
            "create table raw.districts (district_code varchar, district_name varchar, "
            "data_contact_email varchar, _received_seq bigint, _line bigint)"
        )
        con.execute(
            """
            insert into raw.districts values
                ('01010', 'Old name', 'old@district.example', 1, 2),
                ('02020', 'Second', 'second@district.example', 1, 3),
                ('01010', 'New name', 'new@district.example', 3, 2)
            """
        )
        rows = con.execute(latest_directory_sql() + " order by district_code").fetchall()
        # 02020 is not in the later file: its row of the file before still names its contact
        assert rows == [
            ("01010", "New name", "new@district.example"),
            ("02020", "Second", "second@district.example"),
        ]
    finally:
        con.close()
