"""Read one landing file into a DuckDB temporary table, the way DATA_SPEC section 1
allows districts to write it: UTF-8 with or without a byte-order mark, one header row
whose names are case-insensitive and trimmed, columns in any order, extra columns
ignored (with a warning).

Everything is read as text: types are checked by the Great Expectations suite, so a bad
value becomes a quarantine entry with its line, not a crash. Problems that make the
whole file unreadable are returned as file-level issues with an actionable message.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ..warehouse.db import registered, run, scalar
from .families import CODE_PATTERN, Family
from .issues import Issue

_CHUNK = 16 * 1024 * 1024
_SNIFF_BYTES = 64 * 1024
MAX_LINE_BYTES = 8 * 1024 * 1024
MAX_REJECTED_ROWS = 1000
# A header with more columns than this is not a layout of DATA_SPEC (the widest family
# has 12; extra columns are allowed, with a warning, up to this many).
MAX_COLUMNS = 200
# Values are trimmed of every character Python's str.strip() removes (tabs, no-break and
# ideographic spaces too), not only of spaces.
_WHITESPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
_TRIM_CHARS = "'" + _WHITESPACE.replace("'", "''") + "'"
# an empty line (DuckDB skips it without counting it as a row, but counts it in reject lines)
_BLANK_LINE = re.compile(rb"\n\r?\n")
_COMMA_AT_LINE_END = re.compile(rb",\r?\n")


@dataclass
class ReadResult:
    """What reading a file gave: the temp table holding its rows (or None when the whole
    file is unusable), the columns found, and issues found on the way."""

    table: str | None
    row_count: int = 0
    columns: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.table is not None


class FileProblem(Exception):
    def __init__(self, rule: str, message: str, line: int | None = None, value: str | None = None):
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.line = line
        self.value = value


def normalise_header(name: str) -> str:
    return name.replace("\ufeff", "").strip().strip('"').strip().lower()


def _looks_like_utf16(head: bytes) -> bool:
    """UTF-16 without a byte-order mark: mostly text characters with a NUL byte beside each."""
    sample = head[: len(head) // 2 * 2]
    if len(sample) < 4:
        return False
    even, odd = sample[0::2], sample[1::2]
    for zeros, text in ((odd, even), (even, odd)):
        if zeros.count(0) >= 0.9 * len(zeros) and text.count(0) <= 0.1 * len(text):
            return True
    return False


def check_encoding(path: Path) -> tuple[bool, int, bool]:
    """Raise FileProblem unless the file is non-empty UTF-8 text (a BOM is allowed).
    Returns whether the file has empty lines (they need exact line counting), its
    number of physical lines, and whether a line ends with a comma (then some row may
    have more fields than the header: see extra_fields_issue)."""
    blank_lines = False
    comma_at_end = False
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
        if not head.strip(b"\xef\xbb\xbf \t\r\n"):
            raise FileProblem("empty_file", "the file is empty: export it again with a header row and data rows")
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise FileProblem(
                "encoding_not_utf8",
                "the file is UTF-16 encoded: save it as CSV UTF-8 (comma delimited) and send it again",
            )
        if b"\x00" in head and _looks_like_utf16(head):
            raise FileProblem(
                "encoding_not_utf8",
                "the file is UTF-16 encoded (without a byte-order mark): save it as CSV UTF-8 (comma delimited) "
                "and send it again",
            )
        if b"\x00" in head:
            raise FileProblem(
                "unreadable_file",
                "the file holds binary data, not comma-separated text: export the data as CSV and send it again",
            )
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        line = 1
        tail = b""
        last = b""
        while True:
            chunk = fh.read(_CHUNK)
            final = not chunk
            if not blank_lines and _BLANK_LINE.search(tail + chunk):
                blank_lines = True
            if not comma_at_end and (_COMMA_AT_LINE_END.search(tail + chunk) or (final and last == b",")):
                comma_at_end = True
            tail = chunk[-2:]
            last = chunk[-1:] or last
            try:
                decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                bad = chunk[exc.start : exc.start + 4]
                line += chunk[: exc.start].count(b"\n")
                raise FileProblem(
                    "encoding_not_utf8",
                    f"the file is not UTF-8 (byte {bad!r} on line {line}; it looks like Windows-1252 or Latin-1): "
                    "save it as CSV UTF-8 and send it again",
                    line=line,
                    value=bad.hex(),
                ) from exc
            if final:
                return blank_lines, line - (1 if last == b"\n" else 0), comma_at_end
            line += chunk.count(b"\n")


def read_header(path: Path) -> list[str]:
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        first = fh.read(_SNIFF_BYTES)
    if "\n" not in first and "\r" not in first and path.stat().st_size > _SNIFF_BYTES:
        raise FileProblem(
            "too_many_columns",
            f"the header row is longer than {_SNIFF_BYTES // 1024} KB: a layout of DATA_SPEC has at most a dozen "
            "columns. Check that this is the right file, exported as CSV with one header row.",
            line=1,
        )
    rows = csv.reader(io.StringIO(first, newline=""))
    try:
        header = next(rows)
    except (StopIteration, csv.Error) as exc:
        raise FileProblem(
            "unreadable_file", f"the header row cannot be read ({exc}): check the file is a CSV export"
        ) from exc
    header = [normalise_header(h) for h in header]
    if len(header) > MAX_COLUMNS:
        raise FileProblem(
            "too_many_columns",
            f"the header row has {len(header)} columns, more than the {MAX_COLUMNS} the pipeline reads: a layout of "
            "DATA_SPEC has at most a dozen. Check that this is the right file, exported as CSV with one header row.",
            line=1,
            value=str(len(header)),
        )
    if not any(header):
        raise FileProblem("empty_file", "the first line is blank: the file must start with the header row")
    if len(header) == 1:
        for delim, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars")):
            if delim in header[0]:
                raise FileProblem(
                    "wrong_delimiter",
                    f"the columns are separated by {label}, not commas: export as CSV (comma delimited)",
                    line=1,
                    value=header[0][:200],
                )
    return header


def check_header(family: Family, header: list[str], file_name: str) -> list[Issue]:
    """Header rules: duplicated names and missing required columns block the file,
    extra columns are a warning."""
    issues: list[Issue] = []
    seen: set[str] = set()
    # columns without a name (a delimiter at the end of every line) are ignored below, not duplicates
    dupes = sorted({h for h in header if h and (h in seen or seen.add(h))})  # type: ignore[func-returns-value]
    if dupes:
        raise FileProblem(
            "duplicate_column_name",
            f"the header names {', '.join(dupes)} more than once: keep one column of each name",
            line=1,
            value=",".join(dupes),
        )
    missing = [c for c in family.column_names if c not in header]
    if missing:
        raise FileProblem(
            "missing_required_column",
            f"the header lacks {', '.join(missing)} (a {family.name} file needs {', '.join(family.column_names)})",
            line=1,
            value=",".join(missing),
        )
    blank = sum(1 for h in header if not h)
    if blank:
        issues.append(
            Issue(
                rule="extra_column",
                severity="warning",
                line=1,
                column_name="(blank)",
                value="",
                message=f"{blank} column(s) have no name in the header (often a comma at the end of every line): "
                "they were ignored",
            )
        )
    extra = [h for h in header if h and h not in family.column_names]
    for name in extra:
        issues.append(
            Issue(
                rule="extra_column",
                severity="warning",
                line=1,
                column_name=name or "(blank)",
                value=name,
                message=f"column '{name}' is not part of the {family.name} layout and was ignored",
            )
        )
    return issues


def extra_fields_issue(path: Path, columns: int) -> Issue | None:
    """A warning for the rows that have more fields than the header, all of them empty
    (`a,b,c,,,,`: a spreadsheet's export of blank cells). DuckDB reads such a row with
    the header's columns and drops the empty rest without a word; a row whose extra
    fields hold values is a malformed_row instead. Called only for files with a line
    that ends with a comma (check_encoding), so other files pay nothing."""
    rows, first, most = 0, 0, 0
    try:
        with _csv_reader(path) as reader:
            start = 1
            for record in reader:
                if len(record) > columns and not any(record[columns:]):
                    rows += 1
                    first = first or start
                    most = max(most, len(record) - columns)
                start = reader.line_num + 1
    except csv.Error:
        pass  # a malformed record: DuckDB reports it
    if not rows:
        return None
    return Issue(
        rule="extra_fields",
        severity="warning",
        line=first,
        value=str(most),
        message=f"{rows} row(s) (the first on line {first}) have more fields than the header's {columns} columns, "
        f"up to {most} more, all empty: they were ignored. Remove the commas at the end of those lines in the export",
    )


def read_landing_file(con: duckdb.DuckDBPyConnection, path: Path, family: Family, table: str) -> ReadResult:
    """Read `path` into the temporary table `table` with columns `_line` (the line where the
    row starts; the header is line 1) and the family's columns as trimmed text (empty -> NULL)."""
    try:
        blank_lines, physical_lines, comma_at_end = check_encoding(path)
        header = read_header(path)
        issues = check_header(family, header, path.name)
        extra = extra_fields_issue(path, len(header)) if comma_at_end else None
        issues += [extra] if extra else []
    except FileProblem as problem:
        issue = Issue(
            rule=problem.rule, severity="error", line=problem.line, value=problem.value, message=problem.message
        )
        return ReadResult(None, issues=_without_personal_data(family, [issue]))

    positional = {f"c{i}": "VARCHAR" for i in range(len(header))}
    rejects = f"{table}_rejects"
    scan = f"{table}_scan"
    wanted = {name: f"c{header.index(name)}" for name in family.column_names}
    all_cols = [f"c{i}" for i in range(len(header))]
    if not blank_lines:
        fast = _read_one_line_per_row(con, path, table, rejects, positional, wanted, all_cols, physical_lines)
        if fast is not None:
            return ReadResult(table, row_count=fast, columns=header, issues=_without_personal_data(family, issues))
    run(con, f"drop table if exists {rejects}")
    run(con, f"drop table if exists {scan}")
    try:
        con.execute(
            f"""
            create temp table {scan} as
            select row_number() over () as _rec, *
            from {_csv_scan(len(header), rejects)}
            """,
            [str(path)],
        ).fetchall()
    except duckdb.Error as exc:
        return ReadResult(
            None,
            issues=[
                Issue(
                    rule="unreadable_file",
                    severity="error",
                    message=(
                        f"the file cannot be read as CSV ({str(exc).splitlines()[0]}): "
                        "check quoting and export it again"
                    ),
                )
            ],
        )

    embedded = " + ".join(f"coalesce(length({c}) - length(replace({c}, chr(10), '')), 0)" for c in all_cols)
    # Logical record number first (header = 1); DuckDB reports rejected rows the same way.
    run(
        con,
        f"""
        create or replace temp table {table} as
        select _rec, _logical, _embedded_newlines,
               ({" and ".join(f"{c} is null" for c in all_cols)}) as _empty_row,
               {", ".join(f"{src} as {name}" for name, src in wanted.items())}
        from (
            select _rec, _rec + 1 as _logical, ({embedded}) as _embedded_newlines,
                   {", ".join(f"{_trimmed(c)} as {c}" for c in all_cols)}
            from {scan}
        )
        order by _rec
        """,
    )
    run(con, f"drop table {scan}")
    rejected = _rejected_rows(con, rejects)
    if len(rejected) > MAX_REJECTED_ROWS:
        return ReadResult(
            None,
            columns=header,
            issues=issues
            + [
                Issue(
                    rule="unreadable_file",
                    severity="error",
                    message=f"{len(rejected)} rows cannot be parsed as CSV with {len(header)} columns: "
                    "check the delimiter and quoting, and export the file again",
                )
            ],
        )
    # Records DuckDB did not return as rows, in its record numbering (header = 1): rejected
    # rows, and empty lines (counted in reject line numbers, skipped without a row).
    skipped_records = sorted({r[0] for r in rejected} | (set(_empty_records(path)) if blank_lines else set()))
    for logical_line in skipped_records:  # few: more than MAX_REJECTED_ROWS rejected the file above
        run(con, f"update {table} set _logical = _logical + 1 where _logical >= ?", [logical_line])
    # Physical line = logical line + newlines embedded in quoted fields of earlier rows.
    reject_lines = {
        logical_line: logical_line
        + scalar(con, f"select coalesce(sum(_embedded_newlines), 0) from {table} where _logical < ?", [logical_line])
        for logical_line, *_ in rejected
    }
    run(
        con,
        f"""
        create or replace temp table {table} as
        select _line, {", ".join(wanted)}
        from (
            select _rec, _empty_row, {", ".join(wanted)},
                   cast(_logical + coalesce(sum(_embedded_newlines) over (
                       order by _rec rows between unbounded preceding and 1 preceding), 0) as bigint) as _line
            from {table}
        )
        where not _empty_row  -- a row of empty fields (",,,," from a spreadsheet) is a blank line
        order by _rec
        """,
    )
    # lines holding only spaces are blank lines too, not malformed rows
    rejected = [r for r in rejected if (r[2] or "x").strip()]
    row_count = scalar(con, f"select count(*) from {table}")
    if row_count == 0 and not rejected:
        return ReadResult(
            None,
            columns=header,
            issues=issues
            + [Issue(rule="empty_file", severity="error", message="the file has a header row but no data rows")],
        )
    district_idx = header.index("district_code")
    for logical_line, error_type, csv_line, message in rejected:
        line = reject_lines[logical_line]
        csv_line = (csv_line or "").strip("\r\n")  # DuckDB includes the empty lines before it
        if error_type == "UNQUOTED VALUE":
            # an unclosed quote swallows the lines after it: no district of this file can be trusted
            district = None
            problem = (
                f"line {line} opens a quoted field that is not closed the way CSV requires, so the lines after it "
                'cannot be split into rows: close the quote (a quote inside a quoted field is written twice, "")'
            )
        elif error_type == "LINE SIZE OVER MAXIMUM":
            district = _district_of(csv_line, district_idx)
            problem = (
                f"line {line} is longer than {MAX_LINE_BYTES // (1024 * 1024)} MB, far more than any value of this "
                "layout: check that the export did not merge the data into one field"
            )
        else:
            district = _district_of(csv_line, district_idx)
            problem = f"the row cannot be parsed ({error_type.lower()}: {message}); fix its quoting or number of fields"
        issues.append(
            Issue(
                rule="malformed_row",
                severity="error",
                line=line,
                district_code=district,
                value=csv_line[:200],
                message=problem + ("" if district else "; its district cannot be told, so the whole file is held back"),
            )
        )
    return ReadResult(table, row_count=row_count, columns=header, issues=_without_personal_data(family, issues))


# Issues whose value is a line of the file as written: in a file with educator IDs that
# line may hold one, and educator_id must never reach the warehouse (DATA_SPEC section 4).
_LINE_VALUED_RULES = ("malformed_row", "wrong_delimiter")


def _without_personal_data(family: Family, issues: list[Issue]) -> list[Issue]:
    if "educator_id" not in family.column_names:
        return issues
    for issue in issues:
        if issue.rule in _LINE_VALUED_RULES and issue.value:
            issue.value = None
            issue.message += " (the line is not shown here because it may hold an educator ID: see the file)"
    return issues


def _read_one_line_per_row(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    rejects: str,
    positional: dict,
    wanted: dict,
    all_cols: list[str],
    physical_lines: int,
) -> int | None:
    """The common file: every row on one line, no rejected row, no empty line. Then the
    line of a row is its record number + 1, and one scan reads the file. Returns the row
    count, or None (table dropped) when the file needs the exact line computation."""
    run(con, f"drop table if exists {rejects}")
    try:
        run(
            con,
            f"""
            create or replace temp table {table} as
            select _rec + 1 as _line, {", ".join(f"{src} as {name}" for name, src in wanted.items())}
            from (
                select _rec, {", ".join(f"{_trimmed(c)} as {c}" for c in all_cols)}
                from (
                    select row_number() over () as _rec, *
                    from {_csv_scan(len(positional), rejects)}
                )
            )
            where not ({" and ".join(f"{c} is null" for c in all_cols)})  -- a row of empty fields is a blank line
            order by _rec
            """,
            [str(path)],
        )
    except duckdb.Error:
        run(con, f"drop table if exists {table}")
        return None
    rows, last_line = con.execute(f"select count(*), max(_line) from {table}").fetchall()[0]
    rejected = scalar(con, f"select count(*) from {rejects}") if _exists(con, rejects) else 0
    if rows and not rejected and last_line == physical_lines:
        run(con, f"drop table if exists {rejects}")
        run(con, f"drop table if exists {rejects}_scans")
        return int(rows)
    run(con, f"drop table if exists {table}")
    return None


def _exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(scalar(con, "select count(*) from duckdb_tables() where table_name = ?", [name]))


def _trimmed(col: str) -> str:
    """SQL: the value trimmed of whitespace, empty -> NULL. Most values start and end with
    a printable ASCII character and need no trimming (trimming a set of characters is slow)."""
    return (
        f"nullif(case when ascii({col}) between 33 and 126 and ascii(right({col}, 1)) between 33 and 126 "
        f"then {col} else trim({col}, {_TRIM_CHARS}) end, '')"
    )


def _rejected_rows(con: duckdb.DuckDBPyConnection, rejects: str) -> list[tuple[int, str, str, str]]:
    try:
        # one entry per problem found in a row: keep the first problem of each line
        # (column_idx is null for problems of the whole line, such as its length)
        rows = con.execute(
            f"select line, arg_min(error_type, coalesce(column_idx, -1)), arg_min(csv_line, coalesce(column_idx, -1)), "
            f"arg_min(error_message, coalesce(column_idx, -1)) from {rejects} group by line order by line"
        ).fetchall()
    except duckdb.Error:
        return []
    finally:
        run(con, f"drop table if exists {rejects}")
        run(con, f"drop table if exists {rejects}_scans")
    return [(int(r[0]), str(r[1]), r[2], str(r[3]).splitlines()[0] if r[3] else "") for r in rows]


def _csv_scan(columns: int, rejects: str, skip: int = 1) -> str:
    """The DuckDB scan of a landing file (path as the `?` parameter): every column as
    text, strict CSV, rows that do not parse go to the rejects table."""
    positional = {f"c{i}": "VARCHAR" for i in range(columns)}
    return (
        f"read_csv(?, header = false, skip = {skip}, delim = ',', quote = '\"', escape = '\"', "
        f"columns = {positional!r}, all_varchar = true, auto_detect = false, strict_mode = true, "
        f"null_padding = false, max_line_size = {MAX_LINE_BYTES}, store_rejects = true, "
        f"rejects_table = '{rejects}', rejects_scan = '{rejects}_scans', parallel = true)"
    )


def _district_of(csv_line: str | None, idx: int) -> str | None:
    """The district code of a row that could not be parsed, if it can be read and looks
    like one (five digits): anything else holds back the whole file."""
    if not csv_line:
        return None
    try:
        fields = next(csv.reader(io.StringIO(csv_line, newline="")))
    except (StopIteration, csv.Error):
        return None
    if idx < len(fields):
        value = fields[idx].strip()
        return value if re.fullmatch(CODE_PATTERN[1:-1], value) else None
    return None


def _empty_records(path: Path) -> list[int]:
    """Record numbers (header = 1, as DuckDB counts them) of the empty lines of a file.
    Only called when the byte scan found an empty line; quoted fields are respected."""
    out: list[int] = []
    try:
        with _csv_reader(path) as reader:
            for record, row in enumerate(reader, start=1):
                if not row:
                    out.append(record)
    except csv.Error:
        pass  # a malformed record: the rows after it are rejected or held back anyway
    return out


@contextmanager
def _csv_reader(path: Path) -> Iterator[Any]:
    """Python's csv reader over a landing file, taking fields up to the line limit
    DuckDB is given (the module's own limit is restored after)."""
    limit = csv.field_size_limit()
    try:
        csv.field_size_limit(MAX_LINE_BYTES)
        with path.open("r", encoding="utf-8-sig", newline="") as fh:
            yield csv.reader(fh)
    finally:
        csv.field_size_limit(limit)


# ----------------------------------------------------------------- many files at once

# Files up to this size are read together with the other small files of their family and
# header (one DuckDB scan of their data lines concatenated): DuckDB's per-file cost
# (milliseconds) would otherwise be most of the cost of a small file.
SMALL_FILE_BYTES = 4 * 1024 * 1024


@dataclass
class BatchFile:
    """One file of a batch: `index` is its number in the batch table's `_file` column."""

    index: int
    path: Path


@dataclass
class BatchRead:
    """The rows of every usable file of a batch in one table (`_file`, `_line`, the
    family's columns as trimmed text), and what reading each file gave."""

    table: str
    results: dict[int, ReadResult]


def read_landing_files(
    con: duckdb.DuckDBPyConnection, files: list[BatchFile], family: Family, table: str, *, work_dir: Path
) -> BatchRead:
    """Read many files of one family into `table`, with the same result, row for row and
    issue for issue, as reading each with `read_landing_file`.

    Small files whose rows are one line each (no quoted line break, no empty line, no CR
    line ending) and that share a header are read in one scan of their data lines,
    concatenated; their line numbers follow from the line counts of the files before them,
    and the scan is checked against those counts (a mismatch or a rejected row sends the
    group's files to be read one by one). Other files are read one by one."""
    columns = ", ".join(f"{name} varchar" for name in family.column_names)
    run(con, f"create or replace temp table {table} (_file integer, _line bigint, {columns})")
    results: dict[int, ReadResult] = {}
    groups: dict[tuple[str, ...], list[tuple[BatchFile, bytes]]] = {}
    one_by_one: list[BatchFile] = []
    for f in files:
        try:
            blank_lines, physical_lines, comma_at_end = check_encoding(f.path)
            header = read_header(f.path)
            issues = check_header(family, header, f.path.name)
            extra = extra_fields_issue(f.path, len(header)) if comma_at_end else None
            issues += [extra] if extra else []
        except FileProblem as problem:
            issue = Issue(
                rule=problem.rule, severity="error", line=problem.line, value=problem.value, message=problem.message
            )
            results[f.index] = ReadResult(None, issues=_without_personal_data(family, [issue]))
            continue
        data = _one_line_rows(f.path, blank_lines, physical_lines)
        if data is None:
            one_by_one.append(f)
        else:
            results[f.index] = ReadResult(table, columns=header, issues=_without_personal_data(family, issues))
            groups.setdefault(tuple(header), []).append((f, data))
    work_dir.mkdir(parents=True, exist_ok=True)
    for header, members in groups.items():
        one_by_one += _read_concatenated(con, members, list(header), family, table, work_dir)
    for f in one_by_one:
        single = f"{table}__one"
        read = read_landing_file(con, f.path, family, single)
        if read.usable:
            run(con, f"insert into {table} select {f.index}, _line, {', '.join(family.column_names)} from {single}")
            run(con, f"drop table {single}")
            read = ReadResult(table, row_count=read.row_count, columns=read.columns, issues=read.issues)
        results[f.index] = read
    counts = dict(con.execute(f"select _file, count(*) from {table} group by _file").fetchall())
    for f in files:
        result = results[f.index]
        if result.usable and f not in one_by_one:
            result.row_count = int(counts.get(f.index, 0))
            if not result.row_count:  # every data line was empty fields
                result.table = None
                result.issues.append(
                    Issue(rule="empty_file", severity="error", message="the file has a header row but no data rows")
                )
    return BatchRead(table, results)


def _one_line_rows(path: Path, blank_lines: bool, physical_lines: int) -> bytes | None:
    """The data lines of a small file whose every row is one line (the bytes after the
    header line, ending in a newline), or None when the file must be read on its own."""
    if blank_lines or physical_lines < 2 or path.stat().st_size > SMALL_FILE_BYTES:
        return None
    raw = path.read_bytes()
    if raw.count(b"\r") != raw.count(b"\r\n"):
        return None  # CR line endings: DuckDB and the line count would disagree
    start = raw.find(b"\n") + 1
    if start <= 0 or b'"' in raw[:start]:
        return None  # a quoted header may span lines
    data = raw[start:]
    if not data.endswith(b"\n"):
        data += b"\n"
    if b'"' in data:
        # quoted fields: make sure none holds a line break (then rows = lines)
        text = data.decode("utf-8")
        try:
            records = sum(1 for _ in csv.reader(io.StringIO(text, newline=""), strict=True))
        except csv.Error:
            return None
        if records != data.count(b"\n"):
            return None
    return data


def _read_concatenated(
    con: duckdb.DuckDBPyConnection,
    members: list[tuple[BatchFile, bytes]],
    header: list[str],
    family: Family,
    table: str,
    work_dir: Path,
) -> list[BatchFile]:
    """One scan of the members' data lines. Returns the files that must be read one by
    one because the scan did not give exactly one row per line (halving the group until
    the files that cause it stand alone)."""
    if not members:
        return []
    concat = work_dir / f"{table}.concat.csv"
    bounds = []
    first = 1
    with concat.open("wb") as out:
        for f, data in members:
            n = data.count(b"\n")
            bounds.append((f.index, first, first + n - 1))
            first += n
            out.write(data)
    scan = f"{table}__scan"
    all_cols = [f"c{i}" for i in range(len(header))]
    wanted = {name: f"c{header.index(name)}" for name in family.column_names}
    # the scan runs on a connection of its own: the run's connection is inside the batch's
    # transaction, which a failed statement would abort (and with it the fallback below)
    side = duckdb.connect()
    try:
        side.execute(
            "create table s as select row_number() over () as _rec, * "
            f"from {_csv_scan(len(header), 'rejects', skip=0)}",
            [str(concat)],
        )
        rows = scalar(side, "select count(*) from s")
        rejected = scalar(side, "select count(*) from rejects") if _exists(side, "rejects") else 0
        scanned = side.sql("select * from s").to_arrow_table() if rows == first - 1 and not rejected else None
    except duckdb.Error:
        scanned = None  # read one by one below: each file's own problems are found there
    finally:
        side.close()
        concat.unlink(missing_ok=True)
    if scanned is None:
        if len(members) == 1:
            return [members[0][0]]
        half = len(members) // 2
        return _read_concatenated(con, members[:half], header, family, table, work_dir) + _read_concatenated(
            con, members[half:], header, family, table, work_dir
        )
    with registered(con, scan, scanned), registered(con, "_batch_bounds", _bounds_frame(bounds)):
        run(
            con,
            f"""
            insert into {table}
            select _file, _line, {", ".join(f"{src} as {name}" for name, src in wanted.items())}
            from (
                select b._file, s._rec, s._rec - b.first_rec + 2 as _line,
                       {", ".join(f"{_trimmed(c)} as {c}" for c in all_cols)}
                from {scan} s join _batch_bounds b on s._rec between b.first_rec and b.last_rec
            )
            where not ({" and ".join(f"{c} is null" for c in all_cols)})  -- a row of empty fields is a blank line
            order by _rec
            """,
        )
    return []


def _bounds_frame(bounds: list[tuple[int, int, int]]):
    import pandas as pd

    return pd.DataFrame(bounds, columns=["_file", "first_rec", "last_rec"])
