"""The validate stage: read the files of one family's batch (flows/ingest/batches.py),
pseudonymise educator IDs, run the family's Great Expectations suite and decide, per
file and district, what is held back, applying DATA_SPEC section 2:

- a blocking error keeps *that district's* rows of *that file* out of `raw`; they go to
  quarantine, and each failing row to `audit.issues` with file, line, rule and value
  (flows/ingest/load.py writes them). Its last good data stays the latest in `raw`, so
  it stays published;
- a problem that cannot be tied to one district (an unreadable file, a missing
  column, a row whose district cannot be read) holds back the whole file;
- warnings are recorded and the rows load;
- a whole file waits, unread, for what is needed to judge it (a school year that has
  not begun, the pseudonym key).

Reading is flows/ingest/read_csv.py, pseudonymising flows/ingest/pseudonymize.py,
running the suites flows/ingest/expectations.py. All row work happens in DuckDB;
pandas only carries distinct values through Great Expectations.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from ..school_years import is_school_year
from ..warehouse.db import registered, run
from .batches import BatchItem, CheckedBatch, RunContext, ensure_known_codes
from .discover import LandingFile
from .expectations import validate_table
from .families import FAMILIES, Family
from .issues import Issue
from .pseudonymize import pseudonymize_table
from .read_csv import BatchFile, read_landing_files
from .suites import FILE_COLUMN, FILE_YEAR_COLUMN


def validate_batch(
    con: duckdb.DuckDBPyConnection, family_name: str, items: list[BatchItem], ctx: RunContext
) -> CheckedBatch:
    """Read, pseudonymise and validate the files of one family (nothing is written to
    `raw` or `audit` yet: flows/ingest/load.py loads what passed)."""
    family = FAMILIES[family_name]
    table = f"batch_{family_name}"
    file_issues: list[Issue] = []
    waiting: dict[int, str] = {}
    blocked: set[int] = set()
    to_read: list[BatchFile] = []
    for i, item in enumerate(items):
        f = item.file
        reason = _why_wait(f, family, ctx)
        if reason == "out_of_range":
            blocked.add(i)
            file_issues.append(_school_year_out_of_range(f, ctx))
        elif reason:
            waiting[i] = reason
            file_issues.extend(_waiting_issue(f, reason, ctx))
        else:
            to_read.append(BatchFile(i, f.archive_path or f.path))
    read = read_landing_files(con, to_read, family, table, work_dir=_work_dir(ctx))
    rows_read: dict[int, int] = {}
    for b in to_read:
        result = read.results[b.index]
        f = items[b.index].file
        file_issues.extend(_with_file(issue, f) for issue in result.issues)
        malformed = sum(1 for issue in result.issues if issue.rule == "malformed_row")
        rows_read[b.index] = result.row_count + malformed
        if not result.usable:
            blocked.add(b.index)
    _keep_rechecked_districts(con, table, items)
    _add_file_years(con, table, items)
    if "educator_id" in family.column_names:
        pseudonymize_table(con, table, ctx.pseudonym_key)  # the key is there: PL files wait without it
    outcome = validate_table(con, table, family, ensure_known_codes(con), batch_rows=ctx.batch_rows)
    if ctx.unchecked_rules and len(outcome.row_issues):
        outcome.row_issues = outcome.row_issues[~outcome.row_issues["rule"].isin(ctx.unchecked_rules)].reset_index(
            drop=True
        )
    _attribute_file_issues(con, items, file_issues, read.results)
    blocked_rows = outcome.row_issues[outcome.row_issues["severity"] == "error"]
    unattributable = set(blocked_rows.loc[blocked_rows["district_code"].isna(), "file"].astype(int))
    for i, item in enumerate(items):
        f = item.file
        if i in blocked or i in waiting:
            continue
        mine = [issue for issue in file_issues if issue.file_id == f.file_id and issue.blocking]
        if i in unattributable or any(not issue.district_code for issue in mine):
            blocked.add(i)
            file_issues.append(
                _held_back(
                    f,
                    "a row with a blocking error has no readable district_code, so no "
                    "district's rows of this file can be trusted",
                )
            )
        elif family.name == "districts" and (mine or i in set(blocked_rows["file"].astype(int))):
            blocked.add(i)
            file_issues.append(
                _held_back(f, "the directory is loaded whole or not at all, and rows of this file have blocking errors")
            )
    return CheckedBatch(
        family=family,
        items=items,
        table=table,
        file_issues=file_issues,
        row_issues=outcome.row_issues,
        results=outcome.results,
        rows_read=rows_read,
        blocked_files=blocked,
        waiting=waiting,
    )


def _work_dir(ctx: RunContext) -> Path:
    if ctx.work_dir is not None:
        return ctx.work_dir
    import tempfile

    return Path(tempfile.gettempdir())


def _why_wait(f: LandingFile, family: Family, ctx: RunContext) -> str | None:
    """Why a whole file waits instead of being read now (None: read it)."""
    if f.school_year and is_school_year(f.school_year):
        if f.school_year > ctx.current_school_year:
            return "future_school_year"
        if f.school_year < ctx.earliest_school_year:
            return "out_of_range"
    if "educator_id" in family.column_names and ctx.pseudonym_key is None:
        return "pseudonym_key"
    return None


def _school_year_out_of_range(f: LandingFile, ctx: RunContext) -> Issue:
    return f.issue(
        rule="school_year_out_of_range",
        severity="error",
        value=f.school_year,
        message=f"the file name gives school year {f.school_year}, before {ctx.earliest_school_year}, the first "
        "year this warehouse keeps: check the year in the file name and send the file again",
    )


def _waiting_issue(f: LandingFile, reason: str, ctx: RunContext) -> list[Issue]:
    if reason == "future_school_year":
        return [
            f.issue(
                rule="school_year_in_future",
                severity="error",
                value=f.school_year,
                message=f"the file name gives school year {f.school_year}, after the current school year "
                f"{ctx.current_school_year}: the file waits and is loaded when {f.school_year} begins (July 1). "
                "If the year is wrong, rename the file and send it again.",
            )
        ]
    return []  # pseudonym key: said once for the run (flows/nightly.py)


def _keep_rechecked_districts(con: duckdb.DuckDBPyConnection, table: str, items: list[BatchItem]) -> None:
    """A submission checked again is only the districts named: drop the file's other rows."""
    wanted = [(i, d) for i, item in enumerate(items) if item.recheck for d in item.districts or []]
    rechecked = [i for i, item in enumerate(items) if item.recheck]
    if not rechecked:
        return
    with registered(con, "_recheck", pd.DataFrame(wanted or [(-1, "")], columns=["file", "district_code"])):
        run(
            con,
            f"""
            delete from {table}
            where {FILE_COLUMN} in ({", ".join(map(str, rechecked))})
              and ({FILE_COLUMN}, district_code) not in (select (file, district_code) from _recheck)
            """,
        )


def _add_file_years(con: duckdb.DuckDBPyConnection, table: str, items: list[BatchItem]) -> None:
    years = pd.DataFrame({"file": range(len(items)), "sy": [it.file.school_year for it in items]}, dtype="object")
    with registered(con, "_file_years", years):
        run(
            con,
            f"""
            create or replace temp table {table} as
            select t.*, cast(y.sy as varchar) as {FILE_YEAR_COLUMN}
            from {table} t join _file_years y on y.file = t.{FILE_COLUMN}
            order by t.{FILE_COLUMN}, t._line
            """,
        )


def _attribute_file_issues(con, items: list[BatchItem], issues: list[Issue], results) -> None:
    """A problem with a file as a whole (encoding, header, empty, a school year to come)
    concerns the district the file is named for, when its name ends in a district code
    of the directory (devices_2024-25_01010.csv): that district's contact is told."""
    owners = file_owners(con, items)
    unusable = {items[i].file.file_id for i, r in results.items() if not r.usable}
    for issue in issues:
        owner = owners.get(issue.file_id)
        if (
            owner
            and issue.district_code is None
            and (
                issue.file_id in unusable
                or issue.rule in ("extra_column", "extra_fields", "school_year_in_future", "school_year_out_of_range")
            )
        ):
            issue.district_code = owner


def file_owners(con: duckdb.DuckDBPyConnection, items: list[BatchItem]) -> dict[str, str]:
    """file_id -> the district a file is named for (`<family>_<SY>_<code>.csv`, the code
    a district of the directory)."""
    suffixes = {it.file.landing_name.suffix for it in items if it.file.landing_name}
    known = _known_districts(con, suffixes)
    return {
        it.file.file_id: it.file.landing_name.suffix
        for it in items
        if it.file.landing_name and it.file.landing_name.suffix in known
    }


def _known_districts(con: duckdb.DuckDBPyConnection, codes: set[str]) -> set[str]:
    codes = {c for c in codes if c and len(c) == 5 and c.isascii() and c.isdigit()}
    if not codes:
        return set()
    with registered(con, "_codes", pd.DataFrame({"district_code": sorted(codes)})):
        return {
            r[0]
            for r in con.execute(
                "select district_code from _codes where district_code in (select district_code from raw.districts)"
            ).fetchall()
        }


def _held_back(f: LandingFile, why: str) -> Issue:
    return f.issue(
        rule="file_held_back",
        severity="error",
        message=f"{why}: the whole file is held back. Fix the rows listed and send the file again.",
    )


def _with_file(issue: Issue, f: LandingFile) -> Issue:
    issue.file_id = f.file_id
    issue.file_name = f.name
    issue.family = f.family
    issue.school_year = f.school_year
    return issue
