"""The `audit` schema: what every run saw, loaded, held back and sent
(docs/ARCHITECTURE.md). Written only into the work copy of the warehouse, so the
run record is published together with the data it describes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import duckdb

from ..ingest.issues import Issue
from .db import run

AUDIT_DDL = [
    "create schema if not exists audit",
    """
    create table if not exists audit.runs (
        run_id varchar primary key,
        flow_run_id varchar,
        started_at timestamptz,
        finished_at timestamptz,
        status varchar,
        landing_dir varchar,
        files_seen integer,
        files_new integer,
        files_skipped integer,
        rows_loaded bigint,
        rows_quarantined bigint,
        errors integer,
        warnings integer,
        message varchar
    )
    """,
    """
    create table if not exists audit.files (
        file_id varchar primary key,
        file_name varchar,
        family varchar,
        school_year varchar,
        received_seq bigint,
        received_at timestamptz,
        first_run_id varchar,
        size_bytes bigint,
        archive_path varchar,
        status varchar,
        rows_read bigint,
        rows_loaded bigint,
        rows_quarantined bigint,
        waiting_for varchar,
        last_checked_run_id varchar
    )
    """,
    # warehouses from before these columns
    "alter table audit.files add column if not exists waiting_for varchar",
    "alter table audit.files add column if not exists last_checked_run_id varchar",
    """
    create table if not exists audit.submissions (
        file_id varchar,
        family varchar,
        school_year varchar,
        district_code varchar,
        received_seq bigint,
        status varchar,
        held_for varchar,
        run_id varchar,
        rows_loaded bigint,
        rows_quarantined bigint
    )
    """,
    """
    create table if not exists audit.issues (
        run_id varchar,
        file_id varchar,
        file_name varchar,
        family varchar,
        school_year varchar,
        district_code varchar,
        line bigint,
        rule varchar,
        severity varchar,
        column_name varchar,
        value varchar,
        message varchar
    )
    """,
    """
    create table if not exists audit.quarantine_rows (
        run_id varchar,
        file_id varchar,
        family varchar,
        school_year varchar,
        district_code varchar,
        line bigint,
        row_json json
    )
    """,
    """
    create table if not exists audit.load_counts (
        run_id varchar,
        file_id varchar,
        family varchar,
        school_year varchar,
        district_code varchar,
        rows_loaded bigint,
        rows_quarantined bigint
    )
    """,
    """
    create table if not exists audit.validation_results (
        run_id varchar,
        file_id varchar,
        expectation_type varchar,
        column_name varchar,
        rule varchar,
        severity varchar,
        success boolean,
        raised_exception boolean,
        unexpected_count bigint,
        element_count bigint,
        exception_message varchar
    )
    """,
    """
    create table if not exists audit.published (
        publish_seq bigint,
        run_id varchar,
        run_status varchar,
        run_started_at timestamptz,
        published_at timestamptz,
        data_run_id varchar,
        landing_dir varchar,
        files_received bigint,
        last_file_received_at timestamptz,
        first_school_year varchar,
        last_school_year varchar,
        mart_rows map(varchar, bigint),
        parquet_folder varchar,
        storage_version varchar,
        written_by varchar
    )
    """,
]

_ISSUE_TABLE_COLUMNS = (
    "run_id",
    "file_id",
    "file_name",
    "family",
    "school_year",
    "district_code",
    "line",
    "rule",
    "severity",
    "column_name",
    "value",
    "message",
)


def ensure_audit_schema(con: duckdb.DuckDBPyConnection) -> None:
    for statement in AUDIT_DDL:
        run(con, statement)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def start_run(con: duckdb.DuckDBPyConnection, run_id: str, flow_run_id: str | None, landing_dir: str) -> None:
    run(
        con,
        "insert into audit.runs (run_id, flow_run_id, started_at, status, landing_dir) values (?, ?, ?, 'running', ?)",
        [run_id, flow_run_id, now(), landing_dir],
    )


def finish_run(
    con: duckdb.DuckDBPyConnection, run_id: str, status: str, message: str | None = None, **counts: Any
) -> None:
    """Close the run record; the counts are summed from the audit tables of this run."""
    run(
        con,
        """
        update audit.runs set
            finished_at = ?, status = ?, message = ?,
            files_seen = ?, files_new = ?, files_skipped = ?,
            rows_loaded = (select coalesce(sum(rows_loaded), 0) from audit.load_counts where run_id = ?),
            rows_quarantined = (select coalesce(sum(rows_quarantined), 0) from audit.load_counts where run_id = ?)
                + (select count(*) from audit.issues where run_id = ? and severity = 'error' and district_code is null
                   and file_id not in (select file_id from audit.load_counts where run_id = ?)),
            errors = (select count(*) from audit.issues where run_id = ? and severity = 'error'),
            warnings = (select count(*) from audit.issues where run_id = ? and severity = 'warning')
        where run_id = ?
        """,
        [
            now(),
            status,
            message,
            counts.get("files_seen", 0),
            counts.get("files_new", 0),
            counts.get("files_skipped", 0),
            run_id,
            run_id,
            run_id,
            run_id,
            run_id,
            run_id,
            run_id,
        ],
    )


def record_interrupted_run(con: duckdb.DuckDBPyConnection, holder: dict) -> None:
    """A run that died holding the lock (killed, power cut, stopped by a signal) left no
    record: its work copy was never published. Record it from what the lock file said of
    it: it ended when it was last alive (`ended_at`, else its last heartbeat), not now."""
    run_id = str(holder["run_id"])
    exists = con.execute("select count(*) from audit.runs where run_id = ?", [run_id]).fetchall()[0][0]
    if exists:
        return
    ended = holder.get("ended_at") or holder.get("heartbeat_at")
    how = (
        "was stopped by a signal (SIGTERM or Ctrl-C)"
        if holder.get("ended_at")
        else ("ended without finishing (e.g. killed or a power cut)")
    )
    run(
        con,
        "insert into audit.runs (run_id, flow_run_id, started_at, finished_at, status, message) "
        "values (?, ?, ?, ?, 'interrupted', ?)",
        [
            run_id,
            holder.get("flow_run_id"),
            holder.get("started_at"),
            ended,
            f"the run (process {holder.get('pid', '?')}) {how}; it was last alive at {ended or 'an unknown time'}. "
            "Nothing of it was published, and the next run redid its work",
        ],
    )


def record_issues(con: duckdb.DuckDBPyConnection, run_id: str, issues: Iterable[Issue]) -> None:
    """Insert issues in one statement, however many."""
    import pandas as pd

    rows = [
        (
            run_id,
            i.file_id,
            i.file_name,
            i.family,
            i.school_year,
            i.district_code,
            i.line,
            i.rule,
            i.severity,
            i.column_name,
            i.value,
            i.message,
        )
        for i in issues
    ]
    if not rows:
        return
    frame = pd.DataFrame(rows, columns=list(_ISSUE_TABLE_COLUMNS), dtype="object")
    frame["line"] = frame["line"].astype("Int64")
    con.register("_issues", frame)
    try:
        columns = ", ".join(_ISSUE_TABLE_COLUMNS)
        casts = ", ".join(
            "cast(line as bigint)" if c == "line" else f"cast({c} as varchar)" for c in _ISSUE_TABLE_COLUMNS
        )
        run(con, f"insert into audit.issues ({columns}) select {casts} from _issues")
    finally:
        con.unregister("_issues")


def record_publish(con: duckdb.DuckDBPyConnection, run_id: str, storage_version: str) -> dict:
    """One row of `audit.published`, written in the work copy just before the swap, so
    the file says which run and night it holds (docs/ARCHITECTURE.md). The marts of a
    failed run's publish are those of the last data run before it. Returns the row."""
    marts = [
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where database_name = current_database() "
            "and schema_name = 'marts' order by table_name"
        ).fetchall()
    ]
    if marts:
        counts = " union all ".join(
            "select '{}' as mart, count(*) as n from marts.\"{}\"".format(t.replace("'", "''"), t.replace('"', '""'))
            for t in marts
        )
        mart_rows = f"(select map(list(mart order by mart), list(n order by mart)) from ({counts}))"
    else:
        mart_rows = "null::map(varchar, bigint)"
    years = (
        (
            "(select min(school_year) from marts.state_year_metrics)",
            "(select max(school_year) from marts.state_year_metrics)",
        )
        if "state_year_metrics" in marts
        else ("null", "null")
    )
    run(
        con,
        f"""
        insert into audit.published
        with this_run as (select * from audit.runs where run_id = $run_id),
             previous as (select * from audit.published order by publish_seq desc limit 1),
             data_run as (
                 select case when (select status from this_run) = 'succeeded' then $run_id
                             else coalesce((select data_run_id from previous),
                                           (select run_id from audit.runs where status = 'succeeded'
                                             order by finished_at desc limit 1))
                        end as data_run_id
             )
        select
            coalesce((select max(publish_seq) from audit.published), 0) + 1,
            $run_id,
            (select status from this_run),
            (select started_at from this_run),
            $now,
            data_run.data_run_id,
            (select landing_dir from this_run),
            (select count(*) from audit.files),
            (select max(received_at) from audit.files),
            {years[0]},
            {years[1]},
            {mart_rows},
            case when data_run.data_run_id is not null and {bool(marts)} then 'parquet/' || data_run.data_run_id end,
            $storage_version,
            'duckdb ' || version()
        from data_run
        """,
        {"run_id": run_id, "now": now(), "storage_version": storage_version},
    )
    cur = con.execute("select * from audit.published order by publish_seq desc limit 1")
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchall()[0], strict=True))


__all__ = [
    "AUDIT_DDL",
    "ensure_audit_schema",
    "finish_run",
    "record_publish",
    "record_issues",
    "start_run",
]
