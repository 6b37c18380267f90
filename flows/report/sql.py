"""What every SQL module of the report package shares: the read-only connection to
the warehouse, quoting, and the columns a table has (information_schema)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb
import pandas as pd


def connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    warehouse = Path(warehouse)
    if not warehouse.is_file():
        raise FileNotFoundError(f"warehouse not found: {warehouse}")
    con = duckdb.connect(str(warehouse), read_only=True)
    con.execute("set enable_progress_bar = false")
    return con


def quote_ident(name: str) -> str:
    """Quote an identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def in_list(values: Iterable[str]) -> str:
    vals = [quote_literal(v) for v in values]
    return "(" + ", ".join(vals) + ")" if vals else "(null)"


def fetch(con, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def table_columns(con, schema: str, table: str) -> list[tuple[str, str]]:
    rows = con.execute(
        """
        select column_name, data_type from information_schema.columns
        where table_schema = ? and table_name = ? and table_catalog = current_database()
        order by ordinal_position
        """,
        [schema, table],
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def column_names(con, schema: str, table: str) -> set[str]:
    return {c for c, _ in table_columns(con, schema, table)}
