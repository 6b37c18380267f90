"""docs/analysts_guide.md: every ```sql example runs against a warehouse and answers
with at least one row.

The warehouse is the file named by ROADMAP_TEST_WAREHOUSE, else the one the real
pipeline built for the test session (fixture ``demo_warehouse_path``).
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "analysts_guide.md"
CONFIG = ROOT / "config"

SQL_BLOCK = re.compile(r"^```sql[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def sql_blocks() -> list[str]:
    return [b.strip() for b in SQL_BLOCK.findall(GUIDE.read_text(encoding="utf-8"))]


@pytest.fixture
def con(demo_warehouse_path):
    c = duckdb.connect(str(demo_warehouse_path), read_only=True)
    yield c
    c.close()


def test_guide_has_at_least_five_sql_examples():
    assert len(sql_blocks()) >= 5


@pytest.mark.parametrize("index", range(len(sql_blocks())), ids=lambda i: f"sql-example-{i + 1}")
def test_every_sql_example_in_the_guide_runs_and_returns_rows(con, index):
    sql = sql_blocks()[index]
    rows = con.execute(sql).fetchall()
    assert rows, f"example {index + 1} returned no row:\n{sql}"


def test_sql_examples_only_read():
    for sql in sql_blocks():
        first = re.sub(r"--[^\n]*", "", sql).strip().split(None, 1)[0].upper()
        assert first in ("SELECT", "WITH"), sql[:80]


def test_guide_explains_read_only_connections():
    text = GUIDE.read_text(encoding="utf-8")
    assert "duckdb -readonly data/warehouse/roadmap.duckdb" in text
    assert "read_only=True" in text
    assert 'connect_args={"read_only": True}' in text
    assert "duckdb.read_only" in text  # JDBC (DBeaver, Metabase, Tableau)
    assert "access_mode = read_only" in text  # ODBC
    for mart in ("district_year_metrics", "state_year_metrics", "metric_values",
                 "objective_progress", "objectives", "dim_district_history"):
        assert f"`marts.{mart}`" in text


def test_the_guides_sqlalchemy_connection_works_read_only(demo_warehouse_path):
    import pandas as pd
    from sqlalchemy import create_engine, text

    engine = create_engine(f"duckdb:///{demo_warehouse_path}", connect_args={"read_only": True})
    try:
        with engine.connect() as conn:
            df = pd.read_sql(text("SELECT * FROM marts.objectives ORDER BY sort_order"), conn)
            assert len(df) > 0
            with pytest.raises(Exception):
                conn.execute(text("CREATE TABLE main.should_fail AS SELECT 1 AS x"))
    finally:
        engine.dispose()
