"""Validate and load one landing file into the work copy of the warehouse, applying
DATA_SPEC section 2:

- a blocking error keeps *that district's* rows of *that file* out of `raw`; they go to
  `audit.quarantine_rows`, and each failing row to `audit.issues` with file, line,
  rule and value. Its last good data stays the latest in `raw`, so it stays published;
- a problem that cannot be tied to one district (an unreadable file, a missing
  column, a row whose district cannot be read) holds back the whole file;
- warnings are recorded and the rows load.

All row work happens in DuckDB; pandas only carries batches through Great Expectations.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from . import audit
from .db import run, scalar
from .discover import LandingFile, received_school_year
from .families import FAMILIES, Family
from .issues import Issue
from .pseudonymize import MissingPseudonymKey, pseudonymize_table
from .raw_schema import raw_columns
from .read_csv import read_landing_file
from .validate import ROW_ISSUE_COLUMNS, KnownCodes, ValidationOutcome, validate_table

log = logging.getLogger(__name__)

# Families are processed in this order within a run, so that the directory and the
# enrollment a later file is checked against are already loaded.
PROCESSING_ORDER = ("districts", "enrollment", "staffing", "connectivity", "devices", "pl_participation")


@dataclass
class RunContext:
    run_id: str
    pseudonym_key: bytes | None
    batch_rows: int = 500_000
    received_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))


@dataclass
class CheckedFile:
    file: LandingFile
    table: str | None
    rows_read: int
    file_issues: list[Issue]
    row_issues: pd.DataFrame
    results: list[dict]
    whole_file_blocked: bool
    blocked_districts: list[str]


@dataclass
class LoadedFile:
    file_id: str
    file_name: str
    family: str | None
    status: str
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    errors: int
    warnings: int


def processing_key(f: LandingFile) -> tuple:
    family = f.family
    rank = PROCESSING_ORDER.index(family) if family in PROCESSING_ORDER else len(PROCESSING_ORDER)
    return (rank, f.received_seq)


def ensure_known_codes(con: duckdb.DuckDBPyConnection) -> KnownCodes:
    """Views of what rows are checked against: every district of any directory version,
    and each year's buildings from the latest enrollment submission of each district."""
    run(con, "create or replace temp view known_districts as select distinct district_code from raw.districts")
    run(
        con,
        """
        create or replace temp view known_buildings as
        select school_year, district_code, building_code
        from raw.enrollment
        qualify _received_seq = max(_received_seq) over (partition by school_year, district_code)
        """,
    )
    return KnownCodes("known_districts", "known_buildings")


def check_file(con: duckdb.DuckDBPyConnection, f: LandingFile, ctx: RunContext) -> CheckedFile:
    """Read, pseudonymise and validate one file (nothing is written to `raw` yet)."""
    family = FAMILIES[f.family]
    table = f"landing_{f.file_id[:16]}"
    source = f.archive_path or f.path
    read = read_landing_file(con, source, family, table)
    issues = [_with_file(i, f) for i in read.issues]
    # A problem with the file as a whole (encoding, header, empty) concerns the district
    # the file is named for, when its name ends in a district code of the directory
    # (devices_2024-25_01010.csv): that district's contact is told.
    owner = _named_district(con, f)
    for issue in issues:
        if owner and issue.district_code is None and (not read.usable or issue.rule == "extra_column"):
            issue.district_code = owner
    empty = pd.DataFrame(columns=ROW_ISSUE_COLUMNS)
    if not read.usable:
        return CheckedFile(f, None, 0, issues, empty, [], True, [])
    if "educator_id" in family.column_names:
        pseudonymize_table(con, table, ctx.pseudonym_key)  # raises MissingPseudonymKey
    outcome: ValidationOutcome = validate_table(
        con, table, family, f.school_year, ensure_known_codes(con), batch_rows=ctx.batch_rows
    )
    blocking_rows = outcome.row_issues[outcome.row_issues["severity"] == "error"]
    blocked = set(blocking_rows["district_code"].dropna().astype(str))
    unattributable = bool(blocking_rows["district_code"].isna().any()) or any(
        i.blocking and not i.district_code for i in issues
    )
    blocked |= {i.district_code for i in issues if i.blocking and i.district_code}
    if unattributable:
        issues.append(
            f.issue(
                rule="file_held_back",
                severity="error",
                message="a row with a blocking error has no readable district_code, so no district's rows of this "
                "file can be trusted: the whole file is held back. Fix the rows listed and send the file again.",
            )
        )
    return CheckedFile(
        file=f,
        table=table,
        rows_read=read.row_count + sum(1 for i in read.issues if i.rule == "malformed_row"),
        file_issues=issues,
        row_issues=outcome.row_issues,
        results=outcome.results,
        whole_file_blocked=unattributable,
        blocked_districts=sorted(blocked),
    )


def load_checked_file(con: duckdb.DuckDBPyConnection, checked: CheckedFile, ctx: RunContext) -> LoadedFile:
    """Write the accepted rows to raw.<family> and everything else to audit."""
    f = checked.file
    family = FAMILIES[f.family]
    audit.record_issues(con, ctx.run_id, checked.file_issues)
    audit.record_row_issues(
        con, ctx.run_id, checked.row_issues, file_id=f.file_id, file_name=f.name, family=f.family, school_year=f.school_year
    )
    audit.record_validation_results(con, ctx.run_id, f.file_id, checked.results)
    loaded = quarantined = 0
    if checked.table is not None:
        blocked = pd.DataFrame({"district_code": pd.Series(checked.blocked_districts, dtype="string")})
        con.register("_blocked_districts", blocked)
        try:
            accepted_where = (
                "false"
                if checked.whole_file_blocked
                else "t.district_code is not null and t.district_code not in (select district_code from _blocked_districts)"
            )
            _insert_raw(con, family, checked.table, accepted_where, f, ctx)
            run(
                con,
                f"""
                insert into audit.quarantine_rows
                select ?, ?, ?, ?, t.district_code, t._line, to_json(t)
                from {checked.table} t where not ({accepted_where})
                """,
                [ctx.run_id, f.file_id, f.family, f.school_year],
            )
            run(
                con,
                f"""
                insert into audit.load_counts
                select ?, ?, ?, ?, t.district_code,
                       count(*) filter (where {accepted_where}), count(*) filter (where not ({accepted_where}))
                from {checked.table} t group by t.district_code
                """,
                [ctx.run_id, f.file_id, f.family, f.school_year],
            )
            loaded, quarantined = con.execute(
                f"select count(*) filter (where {accepted_where}), count(*) filter (where not ({accepted_where})) "
                f"from {checked.table} t"
            ).fetchall()[0]
        finally:
            con.unregister("_blocked_districts")
            run(con, f"drop table if exists {checked.table}")
    malformed = sum(1 for i in checked.file_issues if i.rule == "malformed_row")
    quarantined += malformed
    if checked.table is None:
        status = "rejected"
    elif loaded == 0:
        status = "rejected"
    elif quarantined:
        status = "partially_loaded"
    else:
        status = "loaded"
    record_file(con, f, ctx, status, rows_read=checked.rows_read, rows_loaded=loaded, rows_quarantined=quarantined)
    errors = sum(1 for i in checked.file_issues if i.blocking) + int((checked.row_issues["severity"] == "error").sum())
    warnings = sum(1 for i in checked.file_issues if not i.blocking) + int(
        (checked.row_issues["severity"] == "warning").sum()
    )
    return LoadedFile(f.file_id, f.name, f.family, status, checked.rows_read, int(loaded), int(quarantined), errors, warnings)


def record_unrecognised(con: duckdb.DuckDBPyConnection, f: LandingFile, ctx: RunContext) -> LoadedFile:
    issue = f.issue(
        rule="unrecognised_file_name",
        severity="error",
        value=f.name,
        message=f"'{f.name}' matches no file family: name it <family>_<YYYY-YY>[_<anything>].csv "
        "(families: districts, enrollment, staffing, devices, connectivity, pl_participation) and send it again",
    )
    audit.record_issues(con, ctx.run_id, [issue])
    record_file(con, f, ctx, "unrecognised", rows_read=0, rows_loaded=0, rows_quarantined=0)
    return LoadedFile(f.file_id, f.name, None, "unrecognised", 0, 0, 0, 1, 0)


def record_file(con, f: LandingFile, ctx: RunContext, status: str, *, rows_read: int, rows_loaded: int, rows_quarantined: int) -> None:
    run(
        con,
        "insert into audit.files values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            f.file_id, f.name, f.family, f.school_year, f.received_seq, ctx.received_at, ctx.run_id,
            f.size_bytes, str(f.archive_path) if f.archive_path else None, status, rows_read, rows_loaded, rows_quarantined,
        ],
    )


def _insert_raw(con, family: Family, table: str, where: str, f: LandingFile, ctx: RunContext) -> None:
    select = []
    for name, sql_type in raw_columns(family):
        if name in ("_file_id", "_received_seq", "_run_id"):
            continue
        if name == "_line":
            select.append("t._line")
        elif name == "effective_school_year":
            select.append("?")
        elif sql_type == "BIGINT":
            select.append(f"cast(cast(t.{name} as hugeint) as bigint)")
        elif sql_type in ("DOUBLE", "DATE"):
            select.append(f"cast(t.{name} as {sql_type.lower()})")
        else:
            select.append(f"t.{name}")
    names = [n for n, _ in raw_columns(family) if n not in ("_file_id", "_received_seq", "_run_id")]
    params: list = []
    if family.name == "districts":
        params.append(f.school_year or received_school_year(ctx.received_at))
    run(
        con,
        f"""
        insert into {family.raw_table} ({', '.join(names)}, _file_id, _received_seq, _run_id)
        select {', '.join(select)}, ?, ?, ?
        from {table} t where {where}
        order by t._line
        """,
        params + [f.file_id, f.received_seq, ctx.run_id],
    )


def _named_district(con: duckdb.DuckDBPyConnection, f: LandingFile) -> str | None:
    suffix = f.landing_name.suffix if f.landing_name else ""
    if not re.fullmatch(r"\d{5}", suffix or ""):
        return None
    known = scalar(con, "select count(*) from raw.districts where district_code = ?", [suffix])
    return suffix if known else None


def _with_file(issue: Issue, f: LandingFile) -> Issue:
    issue.file_id = f.file_id
    issue.file_name = f.name
    issue.family = f.family
    issue.school_year = f.school_year
    return issue


__all__ = [
    "CheckedFile",
    "LoadedFile",
    "MissingPseudonymKey",
    "PROCESSING_ORDER",
    "RunContext",
    "check_file",
    "load_checked_file",
    "processing_key",
    "record_unrecognised",
]
