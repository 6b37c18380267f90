"""Small helpers around DuckDB connections used by every stage."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> Any:
    """The first column of the first row (DuckDB 2 wants every result fully fetched)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None


def run(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> None:
    """Execute a statement and drain its result."""
    con.execute(sql, params or []).fetchall()


@contextlib.contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, frame: Any) -> Iterator[None]:
    """`frame` (a DataFrame) visible to SQL as `name` for the duration of the block."""
    con.register(name, frame)
    try:
        yield
    finally:
        with contextlib.suppress(duckdb.TransactionException):  # an aborted transaction drops it anyway
            con.unregister(name)


def drop_quietly(con: duckdb.DuckDBPyConnection, *tables: str) -> None:
    """Drop scratch tables in a `finally`: in an aborted transaction the rollback does it."""
    with contextlib.suppress(duckdb.TransactionException):
        for table in tables:
            run(con, f"drop table if exists {table}")
