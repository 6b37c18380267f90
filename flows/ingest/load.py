"""The load stage: write what the validate stage (flows/ingest/validate.py) accepted of a
batch into the work copy of the warehouse, all at once and set-based:

- the accepted rows to `raw.<family>`, with their lineage (file, received order, line,
  run);
- the rows of every (file, district) with a blocking error to `audit.quarantine_rows`,
  each failing row to `audit.issues` with file, line, rule and value;
- `audit.files`, `audit.load_counts`, `audit.submissions` and
  `audit.validation_results`: what happened to each file and submission.

Also here: files that are recorded but never loaded (names matching no family, files
the pipeline could not process) and the directory guard, which takes a directory file
loaded in the run out again until the state confirms the change it makes.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from ..warehouse import audit
from ..warehouse.db import drop_quietly, registered, run, scalar
from .batches import BatchItem, CheckedBatch, LoadedFile, RunContext, archived_file
from .discover import LandingFile, received_school_year
from .expectations import ROW_ISSUE_COLUMNS
from .families import FAMILIES, PROCESSING_ORDER, Family
from .issues import Issue
from .raw_schema import raw_columns
from .suites import FILE_COLUMN
from .validate import file_owners


def guard_directory(con: duckdb.DuckDBPyConnection, ctx: RunContext) -> list[LoadedFile]:
    """Directory files loaded in this run that leave out districts with published data
    (in the school years they would govern, from their effective year to the next version
    received), or (unless named as the state's own directory, `districts.csv` /
    `districts_<SY>.csv`) change a district's data contact: they are taken out again and
    wait for the state's confirmation (DATA_SPEC section 1).

    Checked once every family of the run is loaded, so the data a directory file is
    judged against is the same whether it came the same night or another. Files are
    checked in received order, each against the directory before it."""
    files = con.execute(
        """
        select file_id, file_name, received_seq from audit.files
        where family = 'districts' and status = 'loaded' and last_checked_run_id = ? order by received_seq
        """,
        [ctx.run_id],
    ).fetchall()
    yearly = " union ".join(
        f"select distinct district_code, school_year from {FAMILIES[name].raw_table}"
        for name in PROCESSING_ORDER
        if FAMILIES[name].yearly
    )
    held = []
    for file_id, name, seq in files:
        if file_id in ctx.confirmed_directory_files:
            continue
        f = archived_file(file_id, name, seq, None, 0, None)
        reasons = []
        dropped = con.execute(
            f"""
            with published as ({yearly}),
            mine as (select * from raw.districts where _file_id = $file),
            governed as (
                select any_value(effective_school_year) as first_year,
                       (select min(effective_school_year) from raw.districts d
                        where d.effective_school_year > any_value(mine.effective_school_year)) as next_version
                from mine
            )
            select count(distinct p.district_code), string_agg(distinct p.district_code, ', ' order by p.district_code)
            from published p, governed g
            where p.school_year >= g.first_year and (g.next_version is null or p.school_year < g.next_version)
              and p.district_code not in (select district_code from mine)
            """,
            {"file": file_id},
        ).fetchall()[0]
        if dropped[0]:
            reasons.append(
                f"it leaves out {dropped[0]} district(s) that have published data for the school years it would "
                f"govern ({_first(dropped[1])})"
            )
        if f.landing_name and f.landing_name.suffix:
            changed = con.execute(
                """
                with before as (
                    select district_code, data_contact_email from raw.districts
                    where _received_seq = (select max(_received_seq) from raw.districts where _received_seq < $seq)
                )
                select count(*), string_agg(m.district_code, ', ' order by m.district_code)
                from raw.districts m join before b using (district_code)
                where m._file_id = $file and m.data_contact_email is distinct from b.data_contact_email
                """,
                {"file": file_id, "seq": seq},
            ).fetchall()[0]
            if changed[0]:
                reasons.append(
                    f"it changes the data contact (who receives the district's data-quality e-mails) of {changed[0]} "
                    f"district(s) ({_first(changed[1])}), and it is not named as the state's directory "
                    "(districts.csv or districts_<YYYY-YY>.csv)"
                )
        if not reasons:
            continue
        issue = f.issue(
            rule="directory_change_unconfirmed",
            severity="error",
            value=name,
            message="this directory file waits for the state's confirmation: " + "; ".join(reasons) + ". "
            f"If the change is right, the state data office adds the file's SHA-256 ({file_id}) under "
            "directory.confirmed_files in config/roadmap.yml, and the next run applies it; otherwise send a "
            "corrected directory file.",
        )
        audit.record_issues(con, ctx.run_id, [issue])
        run(con, "delete from raw.districts where _file_id = ?", [file_id])
        run(con, "delete from audit.submissions where file_id = ?", [file_id])
        run(
            con,
            "update audit.load_counts set rows_quarantined = rows_quarantined + rows_loaded, rows_loaded = 0 "
            "where file_id = ? and run_id = ?",
            [file_id, ctx.run_id],
        )
        run(
            con,
            "update audit.files set status = 'waiting', waiting_for = 'directory_confirmation', rows_loaded = 0 "
            "where file_id = ?",
            [file_id],
        )
        held.append(LoadedFile(file_id, name, "districts", "waiting", 0, 0, 0, 1, 0))
    return held


def _first(codes: str, limit: int = 10) -> str:
    parts = (codes or "").split(", ")
    return ", ".join(parts[:limit]) + (f" and {len(parts) - limit} more" if len(parts) > limit else "")


# ---------------------------------------------------------------------------- load


def load_batch(con: duckdb.DuckDBPyConnection, checked: CheckedBatch, ctx: RunContext) -> list[LoadedFile]:
    """Write the accepted rows to raw.<family> and everything else to audit, set-based."""
    family = checked.family
    items = checked.items
    table = checked.table
    extra = [
        (i, issue.district_code, issue.rule)
        for i, it in enumerate(items)
        for issue in checked.file_issues
        if issue.file_id == it.file.file_id and issue.blocking and issue.district_code
    ]
    errors = checked.row_issues.loc[
        (checked.row_issues["severity"] == "error") & checked.row_issues["district_code"].notna(),
        ["file", "district_code", "rule"],
    ]
    held = pd.concat([errors, pd.DataFrame(extra, columns=["file", "district_code", "rule"])], ignore_index=True)
    held = held.astype({"file": "int64", "district_code": "string", "rule": "string"})
    accepted = (
        "not b.blocked and not b.waiting and t.district_code is not null "
        "and (t._file, t.district_code) not in (select (file, district_code) from _held_rules)"
    )
    try:
        with registered(con, "_batch_files", _files_frame(checked, ctx)), registered(con, "_held_rules", held):
            audit.record_issues(con, ctx.run_id, checked.file_issues)
            _record_row_issues(con, ctx.run_id, checked.row_issues)
            _record_validation_results(con, ctx.run_id, checked.results)
            _replace_rechecked(con, family)
            _insert_raw(con, family, table, accepted, ctx.run_id)
            row = ", ".join(f"{c} := t.{c}" for c in ["_line", *_raw_names(family)])
            run(
                con,
                f"""
                insert into audit.quarantine_rows
                select $run_id, b.file_id, b.family, b.school_year, t.district_code, t._line,
                       to_json(struct_pack({row}))
                from {table} t join _batch_files b on b.file = t.{FILE_COLUMN}
                where not b.waiting and not ({accepted})
                order by b.received_seq, t._line
                """,
                {"run_id": ctx.run_id},
            )
            run(
                con,
                f"""
                create or replace temp table _pair_counts as
                select t.{FILE_COLUMN} as file, t.district_code,
                       count(*) filter (where {accepted}) as rows_loaded,
                       count(*) filter (where not ({accepted})) as rows_quarantined
                from {table} t join _batch_files b on b.file = t.{FILE_COLUMN}
                where not b.waiting
                group by all
                """,
            )
            run(
                con,
                """
                insert into audit.load_counts
                select $run_id, b.file_id, b.family, b.school_year, c.district_code, c.rows_loaded, c.rows_quarantined
                from _pair_counts c join _batch_files b using (file)
                order by b.received_seq, c.district_code
                """,
                {"run_id": ctx.run_id},
            )
            _update_submissions(con, ctx)
            return _record_files(con, checked, ctx)
    finally:
        drop_quietly(con, table, "_pair_counts", "_rechecked_pairs", "_previous_submissions")


def _raw_names(family: Family) -> list[str]:
    """The family's columns as raw has them (educator_key for educator_id)."""
    return [name for name, _ in raw_columns(family) if not name.startswith("_") and name != "effective_school_year"]


def _files_frame(checked: CheckedBatch, ctx: RunContext) -> pd.DataFrame:
    rows = []
    for i, it in enumerate(checked.items):
        f = it.file
        received_at = f.received_at or ctx.received_at
        rows.append(
            {
                "file": i,
                "file_id": f.file_id,
                "file_name": f.name,
                "family": f.family,
                "school_year": f.school_year,
                "received_seq": f.received_seq,
                "effective_school_year": f.school_year or received_school_year(received_at),
                "recheck": it.recheck,
                "blocked": i in checked.blocked_files,
                "waiting": i in checked.waiting,
                "file_rules": ",".join(
                    sorted({x.rule for x in checked.file_issues if x.file_id == f.file_id and x.blocking})
                )
                or None,
                "size_bytes": f.size_bytes,
                "archive_path": str(f.archive_path) if f.archive_path else None,
            }
        )
    return pd.DataFrame(rows).astype(
        {
            "file_id": "string",
            "file_name": "string",
            "family": "string",
            "school_year": "string",
            "effective_school_year": "string",
            "file_rules": "string",
            "archive_path": "string",
        }
    )


def _record_row_issues(con: duckdb.DuckDBPyConnection, run_id: str, frame: pd.DataFrame) -> None:
    if frame is None or not len(frame):
        return
    with registered(con, "_row_issues", frame[ROW_ISSUE_COLUMNS]):
        run(
            con,
            """
            insert into audit.issues (run_id, file_id, file_name, family, school_year, district_code, line, rule,
                                      severity, column_name, value, message)
            select $run_id, b.file_id, b.file_name, b.family, b.school_year, i.district_code, cast(i.line as bigint),
                   i.rule, i.severity, i.column_name, cast(i.value as varchar), i.message
            from _row_issues i join _batch_files b on b.file = i.file
            order by i.file, i.line
            """,
            {"run_id": run_id},
        )


def _record_validation_results(con: duckdb.DuckDBPyConnection, run_id: str, results: list[dict]) -> None:
    """One row per file and expectation of the family's suite."""
    if not results:
        return
    with registered(con, "_validation_results", pd.DataFrame(results)):
        run(
            con,
            """
            insert into audit.validation_results
            select $run_id, b.file_id, r.expectation_type, r.column_name, r.rule, r.severity, r.success,
                   r.raised_exception, r.unexpected_count, r.element_count, r.exception_message
            from _validation_results r join _batch_files b on b.file = r.file
            """,
            {"run_id": run_id},
        )


def _replace_rechecked(con: duckdb.DuckDBPyConnection, family: Family) -> None:
    """The rows of submissions checked again leave raw (what passes now goes in again);
    what they counted before is kept aside for the file's totals."""
    run(
        con,
        f"""
        create or replace temp table _rechecked_pairs as
        select distinct b.file_id, t.district_code
        from _batch_files b join batch_{family.name} t on t.{FILE_COLUMN} = b.file
        where b.recheck
        """,
    )
    run(
        con,
        """
        create or replace temp table _previous_submissions as
        select s.file_id, s.district_code, s.rows_loaded as prev_loaded, s.rows_quarantined as prev_held
        from audit.submissions s join _rechecked_pairs p using (file_id, district_code)
        """,
    )
    run(
        con,
        f"""
        delete from {family.raw_table}
        where (_file_id, district_code) in (select (file_id, district_code) from _rechecked_pairs)
        """,
    )


def _insert_raw(con: duckdb.DuckDBPyConnection, family: Family, table: str, accepted: str, run_id: str) -> None:
    select = []
    names = []
    for name, _ in raw_columns(family):
        if name in ("_file_id", "_received_seq", "_run_id"):
            continue
        names.append(name)
        if name == "_line":
            select.append("t._line")
        elif name == "effective_school_year":
            select.append("b.effective_school_year")
        else:  # a landing column: its type and cast are the family's (flows/ingest/families.py)
            select.append(family.column(name).raw_value_sql(f"t.{name}"))
    run(
        con,
        f"""
        insert into {family.raw_table} ({", ".join(names)}, _file_id, _received_seq, _run_id)
        select {", ".join(select)}, b.file_id, b.received_seq, $run_id
        from {table} t join _batch_files b on b.file = t.{FILE_COLUMN}
        where {accepted}
        order by b.received_seq, t._line
        """,
        {"run_id": run_id},
    )


def _update_submissions(con: duckdb.DuckDBPyConnection, ctx: RunContext) -> None:
    """The current state of every (file, district) submission checked in this batch."""
    run(
        con,
        """
        delete from audit.submissions
        where (file_id, district_code) in (
            select (b.file_id, c.district_code) from _pair_counts c join _batch_files b using (file)
        )
        """,
    )
    run(
        con,
        """
        insert into audit.submissions
        select b.file_id, b.family, b.school_year, c.district_code, b.received_seq,
               case when c.rows_loaded > 0 and h.rules is null then 'loaded' else 'held' end,
               coalesce(h.rules, case when b.blocked then b.file_rules end), $run_id, c.rows_loaded, c.rows_quarantined
        from _pair_counts c
        join _batch_files b using (file)
        left join (
            select file, district_code, string_agg(distinct rule, ',' order by rule) as rules
            from _held_rules group by all
        ) h on h.file = c.file and h.district_code is not distinct from c.district_code
        """,
        {"run_id": ctx.run_id},
    )


def _record_files(con: duckdb.DuckDBPyConnection, checked: CheckedBatch, ctx: RunContext) -> list[LoadedFile]:
    """audit.files: a row for each file received in this run; files checked again or
    that waited get their status and counts updated."""
    counts = {
        int(f): (int(loaded), int(held))
        for f, loaded, held in con.execute(
            "select file, sum(rows_loaded), sum(rows_quarantined) from _pair_counts group by file"
        ).fetchall()
    }
    issues = checked.row_issues
    errors = issues[issues["severity"] == "error"].groupby("file").size().to_dict() if len(issues) else {}
    warnings = issues[issues["severity"] == "warning"].groupby("file").size().to_dict() if len(issues) else {}
    rows = []
    loaded_files = []
    for i, it in enumerate(checked.items):
        f = it.file
        mine = [x for x in checked.file_issues if x.file_id == f.file_id]
        n_errors = errors.get(i, 0) + sum(1 for x in mine if x.blocking)
        n_warnings = warnings.get(i, 0) + sum(1 for x in mine if not x.blocking)
        loaded, held = counts.get(i, (0, 0))
        malformed = sum(1 for x in mine if x.rule == "malformed_row")
        rows_read = checked.rows_read.get(i, 0)
        waiting_for = checked.waiting.get(i)
        if waiting_for:
            status = "waiting"
        elif i in checked.blocked_files or not loaded:
            status = "rejected"
        elif held or malformed:
            status = "partially_loaded"
        else:
            status = "loaded"
        rows.append((i, status, waiting_for, rows_read, loaded, held + malformed))
        loaded_files.append(
            LoadedFile(f.file_id, f.name, f.family, status, rows_read, loaded, held + malformed, n_errors, n_warnings)
        )
    frame = pd.DataFrame(
        rows, columns=["file", "status", "waiting_for", "rows_read", "rows_loaded", "rows_quarantined"]
    )
    with registered(con, "_file_outcomes", frame.astype({"waiting_for": "string"})):
        # a submission checked again: the file's totals change by what its districts' rows did
        run(
            con,
            """
            update audit.files f set
                status = case when f.rows_loaded + d.loaded_delta > 0
                              then case when f.rows_quarantined + d.held_delta > 0 then 'partially_loaded'
                                        else 'loaded' end
                              else 'rejected' end,
                rows_loaded = f.rows_loaded + d.loaded_delta,
                rows_quarantined = f.rows_quarantined + d.held_delta,
                last_checked_run_id = $run_id
            from (
                select b.file_id, sum(c.rows_loaded) - coalesce(sum(p.prev_loaded), 0) as loaded_delta,
                       sum(c.rows_quarantined) - coalesce(sum(p.prev_held), 0) as held_delta
                from _pair_counts c join _batch_files b using (file)
                left join _previous_submissions p on p.file_id = b.file_id and p.district_code = c.district_code
                where b.recheck
                group by b.file_id
            ) d
            where f.file_id = d.file_id
            """,
            {"run_id": ctx.run_id},
        )
        run(
            con,
            """
            update audit.files f set
                status = o.status, waiting_for = o.waiting_for, rows_read = o.rows_read, rows_loaded = o.rows_loaded,
                rows_quarantined = o.rows_quarantined, last_checked_run_id = $run_id
            from _file_outcomes o join _batch_files b using (file)
            where f.file_id = b.file_id and not b.recheck
            """,
            {"run_id": ctx.run_id},
        )
        run(
            con,
            """
            insert into audit.files (file_id, file_name, family, school_year, received_seq, received_at, first_run_id,
                                     size_bytes, archive_path, status, rows_read, rows_loaded, rows_quarantined,
                                     waiting_for, last_checked_run_id)
            select b.file_id, b.file_name, b.family, b.school_year, b.received_seq, $received_at, $run_id,
                   b.size_bytes, b.archive_path, o.status, o.rows_read, o.rows_loaded, o.rows_quarantined,
                   o.waiting_for, $run_id
            from _file_outcomes o join _batch_files b using (file)
            where b.file_id not in (select file_id from audit.files)
            """,
            {"run_id": ctx.run_id, "received_at": ctx.received_at},
        )
        # a file checked again is reported with its totals after the check
        totals = {
            r[0]: r[1:]
            for r in con.execute(
                """
                select f.file_id, f.status, f.rows_loaded, f.rows_quarantined
                from audit.files f join _batch_files b using (file_id) where b.recheck
                """
            ).fetchall()
        }
    for lf in loaded_files:
        if lf.file_id in totals:
            status, rows_loaded, rows_quarantined = totals[lf.file_id]
            lf.status, lf.rows_loaded, lf.rows_quarantined = status, int(rows_loaded), int(rows_quarantined)
    return loaded_files


# ----------------------------------------------------------- files that are not loaded


def record_unrecognised(con: duckdb.DuckDBPyConnection, files: list[LandingFile], ctx: RunContext) -> list[LoadedFile]:
    """Files whose name matches no family: reported, never read."""
    issues = [_unrecognised_issue(f) for f in files]
    audit.record_issues(con, ctx.run_id, issues)
    record_new_files(con, files, ctx, "unrecognised")
    return [
        LoadedFile(f.file_id, f.name, None, "unrecognised", 0, 0, 0, int(i.blocking), int(not i.blocking))
        for f, i in zip(files, issues, strict=True)
    ]


def _unrecognised_issue(f: LandingFile) -> Issue:
    if f.name.startswith("."):
        return f.issue(
            rule="hidden_file",
            severity="warning",
            value=f.name,
            message=f"'{f.name}' is a hidden file (its name starts with a dot) and was not read. If it holds data, "
            "remove the dot from its name; the pipeline never reads hidden files.",
        )
    return f.issue(
        rule="unrecognised_file_name",
        severity="error",
        value=f.name,
        message=f"'{f.name}' matches no file family: name it <family>_<YYYY-YY>[_<anything>].csv "
        "(families: districts, enrollment, staffing, devices, connectivity, pl_participation) and send it again",
    )


def record_new_files(
    con: duckdb.DuckDBPyConnection,
    files: list[LandingFile],
    ctx: RunContext,
    status: str,
    waiting_for: str | None = None,
) -> None:
    """audit.files rows for files received in this run that no batch loads."""
    new = list(files)
    if not new:
        return
    frame = pd.DataFrame(
        {
            "file_id": [f.file_id for f in new],
            "file_name": [f.name for f in new],
            "family": [f.family for f in new],
            "school_year": [f.school_year for f in new],
            "received_seq": [f.received_seq for f in new],
            "size_bytes": [f.size_bytes for f in new],
            "archive_path": [str(f.archive_path) if f.archive_path else None for f in new],
        },
        dtype="object",
    )
    with registered(con, "_new_files", frame):
        run(
            con,
            """
            insert into audit.files (file_id, file_name, family, school_year, received_seq, received_at, first_run_id,
                                     size_bytes, archive_path, status, rows_read, rows_loaded, rows_quarantined,
                                     waiting_for, last_checked_run_id)
            select file_id, file_name, family, school_year, received_seq, $received_at, $run_id, size_bytes,
                   archive_path, $status, 0, 0, 0, $waiting_for, $run_id
            from _new_files where file_id not in (select file_id from audit.files)
            """,
            {"received_at": ctx.received_at, "run_id": ctx.run_id, "status": status, "waiting_for": waiting_for},
        )


def record_fault(
    con: duckdb.DuckDBPyConnection, items: list[BatchItem], ctx: RunContext, error: BaseException
) -> list[LoadedFile]:
    """Files the pipeline could not process (an error of the pipeline, or data it did not
    expect): held, not judged; they wait and are tried again by the next run. Submissions
    checked again keep the state they had."""
    what = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"[:300]
    issues = []
    for it in items:
        f = it.file
        issues.append(
            f.issue(
                rule="file_could_not_be_processed",
                severity="error",
                value=f.name,
                message=f"the pipeline could not process this file ({what}). It was not judged: it waits and is "
                "tried again by the next run; nothing of it was published. The state data office has the details "
                "in the run's log.",
            )
        )
    _attribute_owner(con, items, issues)
    audit.record_issues(con, ctx.run_id, issues)
    whole = [it.file for it in items if not it.recheck]
    record_new_files(con, [f for f in whole if not _received(con, f)], ctx, "waiting", "pipeline_fault")
    if whole:
        with registered(con, "_fault_files", pd.DataFrame({"file_id": [f.file_id for f in whole]})):
            run(
                con,
                "update audit.files set status = 'waiting', waiting_for = 'pipeline_fault', last_checked_run_id = ? "
                "where file_id in (select file_id from _fault_files)",
                [ctx.run_id],
            )
    return [LoadedFile(it.file.file_id, it.file.name, it.file.family, "waiting", 0, 0, 0, 1, 0) for it in items]


def _received(con: duckdb.DuckDBPyConnection, f: LandingFile) -> bool:
    return bool(scalar(con, "select count(*) from audit.files where file_id = ?", [f.file_id]))


def _attribute_owner(con: duckdb.DuckDBPyConnection, items: list[BatchItem], issues: list[Issue]) -> None:
    owners = file_owners(con, items)
    for issue in issues:
        issue.district_code = issue.district_code or owners.get(issue.file_id)
