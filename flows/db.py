"""Small helpers around DuckDB connections used by every stage."""

from __future__ import annotations

from typing import Any, Sequence

import duckdb


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> Any:
    """The first column of the first row (DuckDB 2 wants every result fully fetched)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None


def run(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> None:
    """Execute a statement and drain its result."""
    con.execute(sql, params or []).fetchall()

