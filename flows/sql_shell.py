"""`roadmap sql`: a read-only SQL shell on the published warehouse (docs/analysts_guide.md).

    roadmap sql                                  interactive on a terminal
    roadmap sql -c "SELECT ..."                  one command (several statements allowed)
    roadmap sql < queries.sql                    a script on standard input
    roadmap sql --csv -c "SELECT ..." > out.csv  CSV for other tools

The file is opened by a read-only DuckDB instance: it takes no write lock (any number of
shells, notebooks and the nightly publish go on beside it), and every database ATTACHed
from the shell is read-only too. TEMP tables and `COPY ... TO 'file'` still work.

At start the shell says, on standard error, which run and night the file holds (from
`audit.published`), so results can be traced to a night. Statements end with `;` and
may span lines. In a script or with -c, the first error stops the shell (exit 1).
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import duckdb

PROMPT = "roadmap> "
CONTINUE = "    ...> "
TERMINAL_ROWS = 40  # rows shown of a result on a terminal (first and last), as DuckDB's CLI does
PIPE_ROWS = 10_000  # rows shown in table mode when the output is not a terminal (--csv for all)

HELP = """\
Statements end with ';' and may span several lines. The warehouse is read-only;
CREATE TEMP TABLE and COPY (...) TO 'file.csv' work.

  .tables              the tables and views of the warehouse, by schema
  .describe TABLE      the columns of a table (DESCRIBE TABLE)
  .published           which run and night the file holds (audit.published)
  .mode table|csv      how results are shown
  .help                this text
  .quit  .exit         leave (or Ctrl-D)

Start with: SELECT * FROM marts.state_year_metrics;
"""


class ShellError(Exception):
    """A statement failed; the message is DuckDB's, with a hint where one helps."""


@dataclass
class Options:
    mode: str = "table"  # or "csv"
    max_rows: int | None = None  # None: TERMINAL_ROWS on a terminal, PIPE_ROWS otherwise


# ------------------------------------------------------------------ statement scanning


def statement_complete(text: str) -> bool:
    """True when `text` ends with a `;` that is outside string literals, quoted
    identifiers, dollar-quoted strings and comments (ignoring trailing space and
    comments): the shell then runs what was typed."""
    i, n = 0, len(text)
    last_significant = ""
    while i < n:
        ch = text[i]
        if ch in "'\"":
            end = _end_of_quoted(text, i, ch, backslash=ch == "'" and _is_escape_string(text, i))
            if end is None:
                return False
            i, last_significant = end, ch
        elif ch == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
        elif ch == "/" and text.startswith("/*", i):
            end = _end_of_block_comment(text, i)
            if end is None:
                return False
            i = end
        elif ch == "$":
            tag_end = _dollar_tag_end(text, i)
            if tag_end is None:
                i, last_significant = i + 1, ch
                continue
            tag = text[i:tag_end]
            j = text.find(tag, tag_end)
            if j < 0:
                return False
            i, last_significant = j + len(tag), "$"
        else:
            if not ch.isspace():
                last_significant = ch
            i += 1
    return last_significant == ";"


def _end_of_quoted(text: str, start: int, quote: str, backslash: bool = False) -> int | None:
    """Index after the closing quote of the literal starting at `start` (a doubled quote
    is an escaped quote; in an E'...' string so is a backslash-quote), or None when it
    is not closed."""
    i = start + 1
    while i < len(text):
        ch = text[i]
        if backslash and ch == "\\":
            i += 2
        elif ch == quote:
            if i + 1 < len(text) and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        else:
            i += 1
    return None


def _is_escape_string(text: str, quote_at: int) -> bool:
    """E'...' (or e'...'): the E is a word of its own, not the end of an identifier."""
    if quote_at < 1 or text[quote_at - 1] not in "eE":
        return False
    before = text[quote_at - 2] if quote_at >= 2 else " "
    return not (before.isalnum() or before in "_$")


def _end_of_block_comment(text: str, start: int) -> int | None:
    """Index after the `*/` closing the comment opened at `start`; comments nest, as in
    DuckDB's parser. None when it is not closed."""
    depth, i = 0, start
    while i < len(text):
        if text.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    return None


def _dollar_tag_end(text: str, start: int) -> int | None:
    """`$tag$` or `$$` starting at `start`: the index after it; None if it is no tag
    (e.g. a `$1` parameter)."""
    j = start + 1
    while j < len(text) and (text[j].isalnum() or text[j] == "_") and not (j == start + 1 and text[j].isdigit()):
        j += 1
    if j < len(text) and text[j] == "$":
        return j + 1
    return None


def only_comments(text: str) -> bool:
    """True when `text` holds nothing but space and comments (nothing to run)."""
    return _strip_comments(text).strip() == ""


def _strip_comments(text: str) -> str:
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
        elif text.startswith("/*", i):
            i = _end_of_block_comment(text, i) or n
        elif text[i] in "'\"":
            end = _end_of_quoted(text, i, text[i], backslash=text[i] == "'" and _is_escape_string(text, i)) or n
            out.append(text[i:end])
            i = end
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


# ------------------------------------------------------------------------ the shell


class Shell:
    def __init__(self, warehouse: Path, out: TextIO, err: TextIO, options: Options, interactive: bool):
        self.warehouse = warehouse
        self.out = out
        self.err = err
        self.options = options
        self.interactive = interactive
        self.con = duckdb.connect(str(warehouse), read_only=True)

    def close(self) -> None:
        self.con.close()

    # ---- what the file holds

    def banner(self) -> str:
        lines = [f"roadmap sql: {self.warehouse} (read-only, DuckDB {duckdb.__version__})"]
        lines += describe_published(self.con)
        return "\n".join(lines)

    # ---- running SQL

    def run_sql(self, sql: str) -> None:
        """Run every statement of `sql`, showing each result. Raises ShellError."""
        try:
            statements = self.con.extract_statements(sql)
        except duckdb.Error as exc:
            raise ShellError(_message(exc)) from None
        for statement in statements:
            try:
                self._run_statement(statement)
            except duckdb.Error as exc:
                raise ShellError(_message(exc)) from None

    def _run_statement(self, statement) -> None:
        kind = statement.type.name if hasattr(statement.type, "name") else str(statement.type)
        if self.options.mode == "csv":
            cur = self.con.execute(statement)
            if cur.description and kind in ("SELECT", "PRAGMA", "CALL", "EXPLAIN", "EXECUTE"):
                self._write_csv(cur)
            else:
                cur.fetchall()
            return
        if kind in ("SELECT", "PRAGMA", "CALL"):
            relation = self.con.sql(statement.query)  # shown by DuckDB's own table renderer
            if relation is not None:
                self._show(relation)
            return
        cur = self.con.execute(statement)
        if not cur.description:
            return
        names = [d[0] for d in cur.description]
        if kind == "EXPLAIN" and names[-1] == "explain_value":
            for row in cur.fetchall():
                self.out.write(str(row[-1]) + "\n")
        else:
            cur.fetchall()  # CREATE, SET, COPY ...: DuckDB's "Count"/"Success" is not shown
        self.out.flush()

    def _show(self, relation) -> None:
        tty = _isatty(self.out)
        max_rows = self.options.max_rows or (TERMINAL_ROWS if tty else PIPE_ROWS)
        width = shutil.get_terminal_size((120, 40)).columns if tty else 100_000
        self.out.flush()
        saved = sys.stdout
        sys.stdout = self.out
        try:
            relation.show(max_rows=max_rows, max_width=width)
        finally:
            sys.stdout = saved
        self.out.flush()

    def _write_csv(self, cur) -> None:
        writer = csv.writer(self.out, lineterminator="\n")
        writer.writerow([d[0] for d in cur.description])
        while True:
            rows = cur.fetchmany(10_000)
            if not rows:
                break
            writer.writerows([_csv_value(v) for v in row] for row in rows)
        self.out.flush()

    # ---- dot commands

    def dot_command(self, line: str) -> bool:
        """Run a `.command`; False when it asks to leave."""
        parts = line.strip().split(None, 1)
        command, arg = parts[0].lower(), (parts[1].strip() if len(parts) > 1 else "")
        if command in (".quit", ".exit", ".q"):
            return False
        if command == ".help":
            self.out.write(HELP)
        elif command == ".tables":
            self.run_sql(
                "SELECT schema_name AS schema, table_name AS name, 'table' AS kind, estimated_size AS approx_rows "
                "FROM duckdb_tables() WHERE database_name = current_database() "
                "UNION ALL SELECT schema_name, view_name, 'view', NULL FROM duckdb_views() "
                "WHERE database_name = current_database() AND NOT internal ORDER BY schema, name"
            )
        elif command in (".describe", ".schema"):
            if not arg:
                raise ShellError(f"{command} needs a table name, e.g. {command} marts.district_year_metrics")
            self.run_sql(f"DESCRIBE {arg}")
        elif command == ".published":
            self.out.write("\n".join(describe_published(self.con)) + "\n")
        elif command == ".mode":
            if arg not in ("table", "csv"):
                raise ShellError(".mode is `table` or `csv`")
            self.options.mode = arg
        else:
            raise ShellError(f"unknown command {command}: .help lists the commands")
        self.out.flush()
        return True

    # ---- input loops

    def run_lines(self, lines: Iterable[str]) -> int:
        """A script (standard input): statements end with `;`; dot commands on their own
        line. Stops at the first error (exit 1)."""
        buffer: list[str] = []
        start_line = 1
        for number, line in enumerate(lines, start=1):
            if not buffer and line.strip().startswith("."):
                try:
                    if not self.dot_command(line):
                        return 0
                except ShellError as exc:
                    return self._script_error(exc, number)
                continue
            if not buffer:
                if not line.strip():
                    continue
                start_line = number
            buffer.append(line if line.endswith("\n") else line + "\n")
            text = "".join(buffer)
            if statement_complete(text):
                buffer = []
                try:
                    self.run_sql(text)
                except ShellError as exc:
                    return self._script_error(exc, start_line)
        text = "".join(buffer)
        if text and not only_comments(text):  # a last statement without `;`
            try:
                self.run_sql(text)
            except ShellError as exc:
                return self._script_error(exc, start_line)
        return 0

    def _script_error(self, exc: ShellError, line: int) -> int:
        self.err.write(f"roadmap sql: error in the statement starting on line {line}: {exc}\n")
        return 1

    def interact(self) -> int:
        try:
            import readline  # line editing and history for input()

            _load_history(readline)
        except ImportError:  # pragma: no cover - every Linux Python has it
            readline = None
        self.err.write(".help for help, .quit to leave; end each statement with ';'\n")
        if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL):
            # at a prompt Ctrl-C drops the half-typed statement, even when whoever started
            # the shell had SIGINT ignored (the disposition is inherited across exec, and
            # Python then never installs its own handler)
            signal.signal(signal.SIGINT, signal.default_int_handler)
        buffer: list[str] = []
        while True:
            try:
                line = input(CONTINUE if buffer else PROMPT)
            except EOFError:
                self.out.write("\n")
                break
            except KeyboardInterrupt:  # Ctrl-C drops what was typed
                self.out.write("\n")
                buffer = []
                continue
            if not buffer and line.strip().startswith("."):
                try:
                    if not self.dot_command(line):
                        break
                except ShellError as exc:
                    self.err.write(f"Error: {exc}\n")
                continue
            if not buffer and not line.strip():
                continue
            buffer.append(line + "\n")
            text = "".join(buffer)
            if statement_complete(text):
                buffer = []
                try:
                    self.run_sql(text)
                except ShellError as exc:
                    self.err.write(f"Error: {exc}\n")
                except KeyboardInterrupt:
                    self.err.write("interrupted\n")
                self.err.flush()
        if readline is not None:
            _save_history(readline)
        return 0


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _message(exc: Exception) -> str:
    text = str(exc)
    if "read-only" in text or "read only" in text.lower():
        text += (
            "\n(The warehouse is read-only for everyone but the nightly run. For your own tables use "
            "CREATE TEMP TABLE ...; to save a result use COPY (SELECT ...) TO 'result.csv'.)"
        )
    return text


def _history_file() -> Path | None:
    home = os.environ.get("HOME")
    return Path(home) / ".roadmap_sql_history" if home else None


def _load_history(readline) -> None:
    path = _history_file()
    if path and path.is_file():
        try:
            readline.read_history_file(str(path))
        except OSError:
            pass


def _save_history(readline) -> None:
    path = _history_file()
    if path:
        try:
            readline.set_history_length(1000)
            readline.write_history_file(str(path))
        except OSError:
            pass


# ------------------------------------------------------------ what the file holds


def describe_published(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Lines saying which run and night the warehouse holds: the latest row of
    `audit.published`, or for a warehouse published before that table existed, the
    latest successful run in `audit.runs`."""
    has = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'audit' AND table_name IN ('published', 'runs')"
        ).fetchall()
    }
    if "published" in has:
        cur = con.execute("SELECT * FROM audit.published ORDER BY publish_seq DESC LIMIT 1")
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
        if rows:
            p = dict(zip(names, rows[0], strict=True))
            years = (
                f"school years {p['first_school_year']} to {p['last_school_year']}"
                if p.get("first_school_year")
                else "no school year on record"
            )
            lines = [f"night: run {p['data_run_id'] or p['run_id']}, published {_when(p['published_at'])}; {years}"]
            if p["run_status"] != "succeeded":
                lines.append(
                    f"note: the latest run, {p['run_id']}, {p['run_status']}: the marts are those of the run "
                    "before it (see `roadmap runs`)"
                )
            lines.append(
                f"landing: {p['landing_dir']}, {p['files_received']} file(s), the last received "
                f"{_when(p['last_file_received_at'])}"
            )
            return lines
    if "runs" in has:
        rows = con.execute(
            "SELECT run_id, finished_at FROM audit.runs WHERE status = 'succeeded' ORDER BY finished_at DESC LIMIT 1"
        ).fetchall()
        if rows:
            return [
                f"night: run {rows[0][0]}, finished {_when(rows[0][1])} "
                "(this file predates audit.published; the next nightly run adds it)"
            ]
    return ["night: no run is recorded in this file"]


def _when(value) -> str:
    if value is None:
        return "never"
    try:
        return value.astimezone().strftime("%Y-%m-%d %H:%M %Z")
    except (AttributeError, ValueError):
        return str(value)


def main(warehouse: Path, command: str | None, csv_output: bool, max_rows: int | None) -> int:
    """`roadmap sql`; returns the exit code (docs/INTERFACE.md)."""
    if not warehouse.is_file():
        print(
            f"roadmap sql: no warehouse at {warehouse}: run `roadmap nightly` (or `make demo`) first, "
            "or pass --warehouse FILE",
            file=sys.stderr,
        )
        return 2
    if max_rows is not None and max_rows < 1:
        print("roadmap sql: --max-rows must be 1 or more", file=sys.stderr)
        return 2
    options = Options(mode="csv" if csv_output else "table", max_rows=max_rows)
    interactive = command is None and _isatty(sys.stdin)
    try:
        shell = Shell(warehouse, sys.stdout, sys.stderr, options, interactive)
    except duckdb.Error as exc:
        print(f"roadmap sql: cannot open {warehouse} read-only: {exc}", file=sys.stderr)
        return 2
    try:
        print(shell.banner(), file=sys.stderr, flush=True)
        if command is not None:
            try:
                shell.run_sql(command)
            except ShellError as exc:
                print(f"roadmap sql: {exc}", file=sys.stderr)
                return 1
            return 0
        if interactive:
            return shell.interact()
        return shell.run_lines(sys.stdin)
    finally:
        shell.close()
