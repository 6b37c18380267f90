"""What one validate -> load batch of a family is, and which files make it.

A batch is every new file of one family in the run, plus the files and (file,
district) submissions that are checked again: one read, one validation, one insert,
whatever the number of files (flows/nightly.py runs a batch per family, in
`families.PROCESSING_ORDER`).

Some submissions wait instead of being judged for good, and are checked again by a
later run (docs/DATA_SPEC.md, "Files that wait"):
- rows held back only because something they refer to is not there yet (a district not
  in the directory, a building not in that year's enrollment) are checked again when
  that arrives, and a published submission is checked again when the enrollment it was
  checked against changes, so files split over several nights give the marts of one
  (`dependency_rechecks`, `snapshot_buildings`, `note_building_changes`);
- whole files wait for what the pipeline needs to judge them: a school year that has
  not begun, the pseudonym key, the state's confirmation of a directory change, or the
  pipeline itself (a file it could not process: it is tried again, not judged)
  (`waiting_files`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from ..warehouse.db import run, scalar
from .discover import LandingFile, received_school_year
from .expectations import KnownCodes
from .families import Family, parse_landing_name
from .issues import Issue
from .latest_submission import latest_submission_sql


@dataclass
class RunContext:
    run_id: str
    pseudonym_key: bytes | None
    batch_rows: int = 500_000
    received_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    work_dir: Path | None = None  # scratch space beside the warehouse
    confirmed_directory_files: frozenset[str] = frozenset()  # sha256 of directory files the state confirmed
    earliest_school_year: str = "2000-01"
    # rules not checked: `roadmap check` without a warehouse cannot know the directory or
    # the enrollment a row refers to (flows/ingest/precheck.py); the nightly run checks every rule
    unchecked_rules: frozenset[str] = frozenset()

    @property
    def current_school_year(self) -> str:
        return received_school_year(self.received_at)


@dataclass
class BatchItem:
    """A file of a batch: whole (a new or waiting file), or only some of its districts
    (a submission checked again)."""

    file: LandingFile
    districts: list[str] | None = None

    @property
    def recheck(self) -> bool:
        return self.districts is not None


@dataclass
class CheckedBatch:
    family: Family
    items: list[BatchItem]
    table: str | None
    file_issues: list[Issue]  # file-level issues, file fields set
    row_issues: pd.DataFrame  # ROW_ISSUE_COLUMNS; `file` = index into items
    results: list[dict]  # per file and expectation
    rows_read: dict[int, int]
    blocked_files: set[int]  # whole file held back for good
    waiting: dict[int, str]  # whole file waits (index -> waiting_for)


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


def ensure_known_codes(con: duckdb.DuckDBPyConnection) -> KnownCodes:
    """Views of what rows are checked against: every district of any directory version,
    and each year's buildings from the latest enrollment submission of each district."""
    run(con, "create or replace temp view known_districts as select distinct district_code from raw.districts")
    run(
        con,
        "create or replace temp view known_buildings as select school_year, district_code, building_code "
        f"from ({latest_submission_sql('raw.enrollment')})",
    )
    return KnownCodes("known_districts", "known_buildings")


# ------------------------------------------------------------------ what is checked


def waiting_files(con: duckdb.DuckDBPyConnection, family_name: str, ctx: RunContext) -> list[BatchItem]:
    """Files of the family that waited and can be judged now, in received order."""
    rows = con.execute(
        """
        select file_id, file_name, school_year, received_seq, received_at, size_bytes, archive_path, waiting_for
        from audit.files where status = 'waiting' and family = ? order by received_seq
        """,
        [family_name],
    ).fetchall()
    items = []
    for file_id, name, school_year, seq, received_at, size, archive_path, waiting_for in rows:
        ready = {
            "future_school_year": bool(school_year) and school_year <= ctx.current_school_year,
            "pseudonym_key": ctx.pseudonym_key is not None,
            "directory_confirmation": file_id in ctx.confirmed_directory_files,
            "pipeline_fault": True,
        }.get(waiting_for, True)
        if ready:
            f = archived_file(file_id, name, seq, received_at, size, archive_path)
            items.append(BatchItem(f))
    return items


def dependency_rechecks(con: duckdb.DuckDBPyConnection, family_name: str) -> list[BatchItem]:
    """Submissions of the family to check again: held back for a district that is now in
    the directory, or (devices) checked against a year's buildings that changed in this
    run (temp table `_changed_buildings`, see `note_building_changes`)."""
    conditions = [
        "(s.status = 'held' and s.held_for like '%unknown_district%' "
        "and s.district_code in (select district_code from raw.districts))"
    ]
    if family_name == "devices" and _exists(con, "_changed_buildings"):
        conditions.append(
            "((s.status = 'loaded' or s.held_for like '%building_not_in_enrollment%') "
            "and (s.school_year, s.district_code) in (select (school_year, district_code) from _changed_buildings))"
        )
    rows = con.execute(
        f"""
        select f.file_id, f.file_name, f.received_seq, f.received_at, f.size_bytes, f.archive_path,
               list(s.district_code order by s.district_code)
        from audit.submissions s join audit.files f using (file_id)
        where s.family = ? and f.status <> 'waiting' and ({" or ".join(conditions)})
        group by all
        order by f.received_seq
        """,
        [family_name],
    ).fetchall()
    return [
        BatchItem(
            archived_file(file_id, name, seq, received_at, size, path),
            districts=list(districts),
        )
        for file_id, name, seq, received_at, size, path, districts in rows
    ]


def archived_file(file_id, name, seq, received_at, size, archive_path) -> LandingFile:
    path = Path(archive_path) if archive_path else Path(name)
    return LandingFile(
        path=path,
        name=name,
        file_id=file_id,
        size_bytes=int(size or 0),
        mtime=0.0,
        landing_name=parse_landing_name(name),
        received_seq=int(seq),
        archive_path=path,
        received_at=received_at,
    )


def snapshot_buildings(con: duckdb.DuckDBPyConnection) -> None:
    """The buildings of each year's latest enrollment, before this run loads enrollment."""
    ensure_known_codes(con)
    run(con, "create or replace temp table _buildings_before as select * from known_buildings")


def note_building_changes(con: duckdb.DuckDBPyConnection) -> None:
    """(school_year, district_code) whose latest enrollment names other buildings than
    before this run's enrollment was loaded: their devices are checked again."""
    ensure_known_codes(con)
    run(
        con,
        """
        create or replace temp table _changed_buildings as
        select distinct school_year, district_code from (
            (select * from known_buildings except select * from _buildings_before)
            union all
            (select * from _buildings_before except select * from known_buildings)
        )
        """,
    )


def _exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(scalar(con, "select count(*) from duckdb_tables() where table_name = ? and temporary", [name]))
