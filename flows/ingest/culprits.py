"""When the transform fails because of data: find the submissions of this run that
cause it, hold them back, and build the rest.

Validation keeps out every row that breaks a rule of DATA_SPEC, but a build can still
fail on data nobody foresaw. Then the run does not give up the whole night: it builds
again without this run's new (file, district) submissions. If that fails too, the cause
is not new data and the run fails as before (the published warehouse stays as it was).
Otherwise the submissions are added back in received order, halving the range each
time, to find the first one with which the build fails; it is held back (rule
`transform_failed`, with the build's own message), and the search goes on with the rest
until the build passes. Each culprit costs about log2(n) builds; nights without a
failure pay nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from ..warehouse import audit
from ..warehouse.db import registered, run
from .families import FAMILIES
from .issues import Issue

log = logging.getLogger(__name__)

STASH = "_held_by_transform"


@dataclass(frozen=True)
class Submission:
    family: str
    file_id: str
    file_name: str
    school_year: str | None
    district_code: str | None


def build_holding_back_culprits(
    work: Path,
    run_id: str,
    build: Callable[[], object],
    connect: Callable[[Path], duckdb.DuckDBPyConnection],
) -> list[Submission]:
    """Run `build` (which raises on failure) on the work copy; on a failure, hold back the
    submissions of this run that cause it and build the rest. Returns the submissions
    held back; raises the build's error when it is not caused by this run's data."""
    try:
        build()
        return []
    except Exception as failure:  # any build failure may be the data's
        first_failure = failure
    con = connect(work)
    try:
        submissions = _loaded_this_run(con, run_id)
        if not submissions:
            raise first_failure
        _stash(con, run_id, submissions)
    finally:
        con.close()

    def builds_with(included: list[Submission]) -> bool:
        con = connect(work)
        try:
            _include(con, run_id, included)
            run(con, "checkpoint")
        finally:
            con.close()
        try:
            build()
            return True
        except Exception as error:
            log.info("build without some of this run's submissions failed: %s", str(error).splitlines()[0])
            return False

    if not builds_with([]):
        _drop_stash(work, connect)
        raise first_failure
    good: list[Submission] = []
    rest = list(submissions)
    culprits: list[Submission] = []
    while rest and not builds_with(good + rest):
        lo, hi = 1, len(rest)  # the build fails with good + rest[:hi] and passes with good + rest[:lo - 1]
        while lo < hi:
            mid = (lo + hi) // 2
            if builds_with(good + rest[:mid]):
                lo = mid + 1
            else:
                hi = mid
        culprits.append(rest[hi - 1])
        good += rest[: hi - 1]
        rest = rest[hi:]
    if not rest:  # the last trial built without the culprits' rows: build the final set
        if not builds_with(good):
            _drop_stash(work, connect)
            raise first_failure
    con = connect(work)
    try:
        _record(con, run_id, culprits, _reason(first_failure))
        run(con, f"drop schema if exists {STASH} cascade")
        run(con, "checkpoint")
    finally:
        con.close()
    return culprits


def _loaded_this_run(con: duckdb.DuckDBPyConnection, run_id: str) -> list[Submission]:
    rows = con.execute(
        """
        select s.family, s.file_id, f.file_name, s.school_year, s.district_code
        from audit.submissions s join audit.files f using (file_id)
        where s.run_id = ? and s.status = 'loaded'
        order by s.received_seq, s.district_code
        """,
        [run_id],
    ).fetchall()
    return [Submission(*r) for r in rows]


def _families(submissions: list[Submission]) -> list[str]:
    return sorted({s.family for s in submissions})


def _stash(con: duckdb.DuckDBPyConnection, run_id: str, submissions: list[Submission]) -> None:
    run(con, f"create schema if not exists {STASH}")
    for family in _families(submissions):
        run(
            con,
            f"create or replace table {STASH}.{family} as select * from {FAMILIES[family].raw_table} where _run_id = ?",
            [run_id],
        )


def _include(con: duckdb.DuckDBPyConnection, run_id: str, included: list[Submission]) -> None:
    """raw holds this run's rows of the `included` submissions only."""
    keep = pd.DataFrame(
        [(s.file_id, s.district_code) for s in included] or [("", "")], columns=["file_id", "district_code"]
    ).astype("string")
    families = [
        r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = ?", [STASH]).fetchall()
    ]
    with registered(con, "_included", keep):
        for family in families:
            raw = FAMILIES[family].raw_table
            run(con, f"delete from {raw} where _run_id = ?", [run_id])
            run(
                con,
                f"insert into {raw} select * from {STASH}.{family} "
                "where (_file_id, district_code) in (select (file_id, district_code) from _included)",
            )


def _drop_stash(work: Path, connect) -> None:
    con = connect(work)
    try:
        run(con, f"drop schema if exists {STASH} cascade")
    finally:
        con.close()


def _reason(failure: BaseException) -> str:
    lines = [line.strip() for line in str(failure).splitlines() if line.strip()]
    detail = next((line[2:] for line in lines if line.startswith("- ")), lines[0] if lines else type(failure).__name__)
    return detail[:500]


def _record(con: duckdb.DuckDBPyConnection, run_id: str, culprits: list[Submission], reason: str) -> None:
    """The culprits' rows go to quarantine; their submissions, files and the run's load
    counts say they were held back; an issue names each, with the build's message."""
    if not culprits:
        return
    audit.record_issues(
        con,
        run_id,
        [
            Issue(
                rule="transform_failed",
                severity="error",
                file_id=s.file_id,
                file_name=s.file_name,
                family=s.family,
                school_year=s.school_year,
                district_code=s.district_code,
                message="these rows passed every check of the file, but the warehouse build fails with them "
                f"({reason}). They are held back and everything else was published. The state data office "
                "is told; check the district's figures in this file and send it again once corrected.",
            )
            for s in culprits
        ],
    )
    frame = pd.DataFrame(
        [(s.family, s.file_id, s.district_code) for s in culprits], columns=["family", "file_id", "district_code"]
    ).astype("string")
    with registered(con, "_culprits", frame):
        for family in _families(culprits):
            run(
                con,
                f"""
                insert into audit.quarantine_rows
                select $run_id, r._file_id, '{family}', f.school_year, r.district_code, r._line,
                       to_json({_row_struct(family, "r")})
                from {STASH}.{family} r join audit.files f on f.file_id = r._file_id
                where (r._file_id, r.district_code) in (select (file_id, district_code) from _culprits)
                """,
                {"run_id": run_id},
            )
        run(
            con,
            """
            update audit.load_counts c set rows_quarantined = c.rows_quarantined + c.rows_loaded, rows_loaded = 0
            where c.run_id = $run_id
              and (c.file_id, c.district_code) in (select (file_id, district_code) from _culprits)
            """,
            {"run_id": run_id},
        )
        run(
            con,
            """
            update audit.submissions s
            set status = 'held', held_for = 'transform_failed',
                rows_quarantined = s.rows_quarantined + s.rows_loaded, rows_loaded = 0
            where (s.file_id, s.district_code) in (select (file_id, district_code) from _culprits)
            """,
        )
        run(
            con,
            """
            update audit.files f set
                rows_loaded = t.loaded, rows_quarantined = f.rows_read - t.loaded,
                status = case when t.loaded = 0 then 'rejected' else 'partially_loaded' end
            from (
                select file_id, sum(rows_loaded) as loaded from audit.submissions
                where file_id in (select file_id from _culprits) group by file_id
            ) t
            where f.file_id = t.file_id
            """,
        )


def _row_struct(family: str, alias: str) -> str:
    from .raw_schema import raw_columns

    names = [n for n, _ in raw_columns(FAMILIES[family]) if n not in ("_file_id", "_received_seq", "_run_id")]
    return "struct_pack(" + ", ".join(f"{n} := {alias}.{n}" for n in names) + ")"
