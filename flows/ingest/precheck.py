"""`roadmap check FILE...`: the nightly run's reading and validation rules on files
before they are sent (docs/INTERFACE.md).

The files go through the nightly run's own ingest (flows/nightly.py `ingest`: read,
pseudonymise, validate, hold back, the directory guard and the checks after loading) in
an in-memory DuckDB database: no warehouse, landing or archive folder is written, and
the files are read where they are. With `--warehouse`, the published warehouse is opened
read-only and its raw tables are copied into the in-memory database first, so the rules
that need published data (a district in the directory, a building in that year's
enrollment, a directory that would drop districts, the year-over-year swings) are
checked as the next nightly run would check them. Without it, those rules are checked
only against the files given (a directory or enrollment file among them), else not at
all, and the output says so.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import os
import secrets
import stat
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from ..warehouse.db import scalar
from .discover import Discovery, LandingFile, NotARegularFile, _not_a_file, not_a_regular_file, sha256_of
from .families import FAMILIES, parse_landing_name

CHECK_RUN_ID = "check"

logging.getLogger("great_expectations").setLevel(logging.WARNING)  # its INFO lines are not the check's output

# what needs published data, and the family whose files, given, let it be checked
DEPENDENCIES = {"unknown_district": "districts", "building_not_in_enrollment": "enrollment"}

ISSUE_COLUMNS = ("file_name", "line", "column_name", "value", "rule", "severity", "district_code", "message")

# status of a file in audit.files -> (verdict word, held back?)
VERDICTS = {
    "loaded": ("would load", False),
    "partially_loaded": ("would load in part", True),
    "rejected": ("would be held back", True),
    "waiting": ("would wait", True),
    "unrecognised": ("would not be read", True),
    "not_a_file": ("would not be read", True),
    "already_received": ("already received", False),
    "duplicate": ("same bytes as another file given", False),
}


@dataclass
class FileVerdict:
    path: str
    file_name: str
    family: str | None
    school_year: str | None
    status: str
    verdict: str
    held_back: bool
    rows_read: int = 0
    rows_loaded: int = 0
    rows_held_back: int = 0
    errors: int = 0
    warnings: int = 0
    detail: str = ""

    def line(self) -> str:
        counts = f"{self.rows_loaded} of {self.rows_read} rows" if self.rows_read else ""
        parts = [p for p in (counts, f"{self.errors} error(s), {self.warnings} warning(s)") if p]
        text = f"{self.file_name}: {self.verdict.upper()} ({'; '.join(parts)})"
        return text + (f": {self.detail}" if self.detail else "")


@dataclass
class CheckReport:
    files: list[FileVerdict]
    issues: list[dict]  # ISSUE_COLUMNS + file_id
    unchecked_rules: list[str] = field(default_factory=list)
    warehouse: str | None = None

    @property
    def exit_code(self) -> int:
        return 1 if any(f.held_back for f in self.files) else 0


class UsageError(Exception):
    """A file or option the check cannot use (exit 2)."""


def _landing_file(path: Path, seq: int) -> LandingFile | dict:
    """The file as the nightly run's discovery would see it in a landing folder, or a
    reason it would not be read."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        return {"issue": not_a_regular_file(path.name, info.st_mode)}
    try:
        file_id = sha256_of(path)
    except NotARegularFile as exc:
        return {"issue": _not_a_file(path.name, exc.strerror)}
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror})") from None
    return LandingFile(
        path=path,
        name=path.name,
        file_id=file_id,
        size_bytes=info.st_size,
        mtime=info.st_mtime,
        landing_name=parse_landing_name(path.name),
        received_seq=seq,
    )


def _copy_published(con: duckdb.DuckDBPyConnection, warehouse: Path) -> tuple[dict[str, tuple], int]:
    """The published raw tables into the in-memory database (the warehouse opened
    read-only, then let go); returns the files already received (file_id -> (name,
    received_at)) and the next received_seq."""
    if not warehouse.is_file():
        raise UsageError(
            f"--warehouse {warehouse}: no such file (run `roadmap nightly` first, or leave out --warehouse)"
        )
    try:
        con.execute(f"attach '{str(warehouse).replace(chr(39), chr(39) * 2)}' as published (read_only)")
    except duckdb.Error as exc:
        raise UsageError(
            f"--warehouse {warehouse}: cannot be opened read-only ({' '.join(str(exc).split())})"
        ) from None
    try:
        tables = {
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where database_name = 'published' and schema_name = 'raw'"
            ).fetchall()
        }
        for family in FAMILIES.values():
            name = family.raw_table.split(".", 1)[1]
            if name in tables:
                con.execute(f"insert into {family.raw_table} by name select * from published.raw.{name}")
        received = {
            r[0]: (r[1], r[2])
            for r in con.execute("select file_id, file_name, received_at from published.audit.files").fetchall()
        }
        next_seq = scalar(con, "select coalesce(max(received_seq), 0) + 1 from published.audit.files")
    except duckdb.Error as exc:
        raise UsageError(f"--warehouse {warehouse}: not a roadmap warehouse ({' '.join(str(exc).split())})") from None
    finally:
        con.execute("detach published")
    return received, int(next_seq)


def check_files(paths: list[Path], *, warehouse: Path | None = None, config: str | Path | None = None) -> CheckReport:
    """Judge `paths` as the next nightly run would (in the order given, as if received
    in that order), writing nothing anywhere."""
    from ..nightly import ingest, prepare_schemas
    from ..settings import load_settings, pseudonym_key
    from .batches import RunContext

    if not paths:
        raise UsageError("name at least one file to check")
    settings = load_settings(
        config, landing_dir=tempfile.gettempdir(), warehouse=warehouse or Path(tempfile.gettempdir()) / "none.duckdb"
    )
    con = duckdb.connect(":memory:", config={"memory_limit": settings.duckdb_memory_limit})
    try:
        con.execute("set preserve_insertion_order = true")
        prepare_schemas(con, settings)
        received: dict[str, tuple] = {}
        next_seq = 1
        if warehouse is not None:
            received, next_seq = _copy_published(con, Path(warehouse))
        verdicts: dict[int, FileVerdict] = {}
        new: list[LandingFile] = []
        not_files = []
        seen: dict[str, str] = {}
        for n, path in enumerate(map(Path, paths)):
            found = _landing_file(path, next_seq + len(new))
            if isinstance(found, dict):
                issue = found["issue"]
                not_files.append(issue)
                verdicts[n] = _verdict(path, path.name, None, None, "not_a_file", issue.message, errors=1)
            elif found.file_id in received:
                name, when = received[found.file_id]
                verdicts[n] = _verdict(
                    path,
                    found.name,
                    found.family,
                    found.school_year,
                    "already_received",
                    f"its bytes were received on {_day(when)} as {name}: the nightly run skips it",
                )
            elif found.file_id in seen:
                verdicts[n] = _verdict(
                    path,
                    found.name,
                    found.family,
                    found.school_year,
                    "duplicate",
                    f"same bytes as {seen[found.file_id]}: the nightly run reads them once",
                )
            else:
                seen[found.file_id] = str(path)
                new.append(found)
                verdicts[n] = found  # judged below
        unchecked = set()
        if warehouse is None:
            given = {f.family for f in new}
            unchecked = {rule for rule, family in DEPENDENCIES.items() if family not in given}
        with tempfile.TemporaryDirectory(prefix="roadmap-check-") as scratch:
            ctx = RunContext(
                run_id=CHECK_RUN_ID,
                pseudonym_key=pseudonym_key() or secrets.token_bytes(32),  # stored nowhere: any key judges alike
                batch_rows=settings.validation_batch_rows,
                work_dir=Path(scratch),
                confirmed_directory_files=settings.confirmed_directory_files,
                earliest_school_year=settings.earliest_school_year,
                unchecked_rules=frozenset(unchecked),
            )
            discovery = Discovery(new_files=new, skipped=[], not_files=[], seen=len(new))
            ingest(con, discovery, ctx, settings)
        files = {
            r[0]: r[1:]
            for r in con.execute(
                "select file_id, status, waiting_for, rows_read, rows_loaded, rows_quarantined from audit.files"
            ).fetchall()
        }
        held = {
            r[0]: r[1]
            for r in con.execute(
                """
            select file_id, string_agg(district_code || ' (' || coalesce(held_for, 'held') || ')', ', '
                                       order by district_code)
            from audit.submissions where status = 'held' group by file_id
            """
            ).fetchall()
        }
        cur = con.execute(
            f"""
            select {", ".join(ISSUE_COLUMNS)}, file_id from audit.issues where run_id = ?
            order by file_name, line nulls first, column_name nulls first, rule, district_code, value
            """,
            [CHECK_RUN_ID],
        )
        names = [d[0] for d in cur.description]
        issues = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()
    for issue in not_files:
        issues.append(
            {
                "file_name": issue.file_name,
                "line": None,
                "column_name": None,
                "value": issue.value,
                "rule": issue.rule,
                "severity": issue.severity,
                "district_code": None,
                "message": issue.message,
                "file_id": None,
            }
        )
    counts: dict[str | None, list[int]] = {}
    for i in issues:
        c = counts.setdefault(i["file_id"], [0, 0])
        c[0 if i["severity"] == "error" else 1] += 1
    out = []
    for n in range(len(paths)):
        v = verdicts[n]
        if isinstance(v, LandingFile):
            status, waiting_for, rows_read, rows_loaded, rows_held = files[v.file_id]
            errors, warnings = counts.get(v.file_id, [0, 0])
            detail = ""
            if status == "waiting":
                detail = {
                    "future_school_year": "its school year has not begun; it is loaded when it does",
                    "pseudonym_key": "the pseudonym key is not set",
                    "directory_confirmation": "the directory change waits for the state's confirmation",
                    "pipeline_fault": "the pipeline could not process it",
                }.get(waiting_for or "", waiting_for or "")
            elif status == "partially_loaded" and v.file_id in held:
                detail = f"held back: district(s) {held[v.file_id]}"
            elif status == "rejected":
                detail = "nothing of it would load; fix the errors listed and check it again"
            elif status == "unrecognised":
                detail = "its name matches no file family"
            v = _verdict(
                Path(paths[n]),
                v.name,
                v.family,
                v.school_year,
                status,
                detail,
                rows_read=rows_read,
                rows_loaded=rows_loaded,
                rows_held_back=rows_held,
                errors=errors,
                warnings=warnings,
            )
        out.append(v)
    return CheckReport(
        files=out, issues=issues, unchecked_rules=sorted(unchecked), warehouse=str(warehouse) if warehouse else None
    )


def _day(when) -> str:
    return when.strftime("%Y-%m-%d") if isinstance(when, (dt.datetime, dt.date)) else str(when or "an earlier night")


def _verdict(path: Path, name, family, school_year, status, detail, **counts) -> FileVerdict:
    word, held_back = VERDICTS.get(status, (status, True))
    return FileVerdict(
        path=str(path),
        file_name=name,
        family=family,
        school_year=school_year,
        status=status,
        verdict=word,
        held_back=held_back,
        detail=detail,
        **{k: int(v or 0) for k, v in counts.items()},
    )


# ------------------------------------------------------------------------- output


def render_text(report: CheckReport) -> str:
    """Each problem as the alert e-mail's example rows give it, then one verdict line per
    file, then the overall verdict."""
    lines = []
    by_file: dict[str, list[dict]] = {}
    for i in report.issues:
        by_file.setdefault(i["file_name"] or "(no file)", []).append(i)
    for f in report.files:
        for i in by_file.pop(f.file_name, []):
            lines.append(_issue_line(i))
    for rest in by_file.values():  # issues of no file given (cannot happen today; never dropped)
        lines.extend(_issue_line(i) for i in rest)
    if lines:
        lines.append("")
    lines.extend(f.line() for f in report.files)
    if report.unchecked_rules:
        lines.append(
            f"not checked without --warehouse: {', '.join(report.unchecked_rules)} (they need the published "
            "directory and enrollment: pass --warehouse FILE, or check the directory / enrollment file together)"
        )
    held = sum(f.held_back for f in report.files)
    lines.append(
        f"{len(report.files)} file(s) checked: "
        + (f"{held} would not load as sent" if held else "every file would load")
    )
    return "\n".join(lines)


def _issue_line(i: dict) -> str:
    where = i["file_name"] or "(no file)"
    if i["line"] is not None:
        where += f", line {i['line']}"
    if i["column_name"]:
        where += f", column {i['column_name']}"
    if i["value"] is not None and i["value"] != "":
        where += f", value {i['value']!r}"
    if i["district_code"]:
        where += f" (district {i['district_code']})"
    return f"{where}: {i['severity']} {i['rule']}: {i['message']}"


def render_csv(report: CheckReport) -> str:
    """One row per issue, then one row per file verdict (rule `verdict`)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["kind", "file", *ISSUE_COLUMNS[1:], "verdict", "held_back"])
    for i in report.issues:
        writer.writerow(["issue", i["file_name"], *(i[c] for c in ISSUE_COLUMNS[1:]), "", ""])
    for f in report.files:
        writer.writerow(["file", f.file_name, "", "", "", "", "", "", f.detail, f.status, str(f.held_back).lower()])
    return buf.getvalue()


def render_json(report: CheckReport) -> str:
    return json.dumps(
        {
            "files": [asdict(f) for f in report.files],
            "issues": [{k: v for k, v in i.items() if k != "file_id"} for i in report.issues],
            "unchecked_rules": report.unchecked_rules,
            "warehouse": report.warehouse,
            "exit_code": report.exit_code,
        },
        indent=2,
        default=str,
    )


def main(files: list[str], warehouse: str | None, fmt: str, config: str | None) -> int:
    try:
        report = check_files(
            [Path(f) for f in files],
            warehouse=Path(warehouse).expanduser().resolve() if warehouse else None,
            config=config,
        )
    except UsageError as exc:
        print(f"roadmap check: {exc}", file=sys.stderr)
        return 2
    render = {"text": render_text, "csv": render_csv, "json": render_json}[fmt]
    sys.stdout.write(render(report).rstrip("\n") + "\n")
    return report.exit_code
