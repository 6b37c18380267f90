"""`roadmap sql` (docs/INTERFACE.md), run as a user types it: the installed console
script in a subprocess (a pseudo-terminal for the interactive mode), on a warehouse the
real pipeline built.

- it says at start which run and night the file holds (audit.published);
- `-c`, a script on standard input and the interactive prompt run multi-line statements
  ending in `;` (a `;` inside a string, identifier or comment does not end one);
- `--csv` gives the rows of the query, every one;
- it never changes the file and never holds a write lock: another process opens the
  file read-only while the shell is open, and writes from the shell are refused with a
  hint;
- errors: exit 1 naming the line of the statement in a script; exit 2 without a warehouse.
"""

from __future__ import annotations

import csv
import hashlib
import io
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.sql_shell import statement_complete
from terminal import TerminalSession

ROADMAP = Path(sys.executable).parent / "roadmap"  # the console script the project installs


def roadmap_sql(warehouse: Path, *args: str, stdin: str | None = None, cwd: Path | None = None):
    return subprocess.run(
        [str(ROADMAP), "sql", "--warehouse", str(warehouse), *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def latest_publish(warehouse: Path) -> dict:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cur = con.execute("select * from audit.published order by publish_seq desc limit 1")
        return dict(zip([d[0] for d in cur.description], cur.fetchall()[0], strict=True))
    finally:
        con.close()


def test_one_command_shows_the_night_on_stderr_and_a_table_on_stdout(demo_warehouse_path):
    result = roadmap_sql(
        demo_warehouse_path,
        "-c",
        "SELECT school_year, student_count FROM marts.state_year_metrics ORDER BY school_year",
    )
    assert result.returncode == 0, result.stderr
    published = latest_publish(demo_warehouse_path)
    assert f"night: run {published['data_run_id']}" in result.stderr
    assert f"school years {published['first_school_year']} to {published['last_school_year']}" in result.stderr
    assert "night:" not in result.stdout
    con = duckdb.connect(str(demo_warehouse_path), read_only=True)
    try:
        rows = con.execute(
            "SELECT school_year, student_count FROM marts.state_year_metrics ORDER BY school_year"
        ).fetchall()
    finally:
        con.close()
    for year, count in rows:
        assert f"│ {year} " in result.stdout and f" {count} │" in result.stdout


def test_csv_gives_every_row_of_the_query(demo_warehouse_path):
    result = roadmap_sql(demo_warehouse_path, "--csv", "-c", "SELECT * FROM marts.metric_values ORDER BY ALL")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    con = duckdb.connect(str(demo_warehouse_path), read_only=True)
    try:
        cur = con.execute("SELECT * FROM marts.metric_values ORDER BY ALL")
        header = [d[0] for d in cur.description]
        expected = cur.fetchall()
    finally:
        con.close()
    assert len(expected) > 1000  # more than a terminal page: nothing is cut off
    assert rows[0] == header
    assert len(rows) - 1 == len(expected)
    value = header.index("value")
    for got, want in zip(rows[1:], expected, strict=True):
        assert got[header.index("district_code")] == (want[header.index("district_code")] or "")
        assert (float(got[value]) if got[value] else None) == want[value]


def test_a_script_on_stdin_runs_multi_line_statements_and_stops_at_the_first_error(demo_warehouse_path):
    script = (
        "-- which years; and how many districts\n"
        "SELECT school_year,\n"
        "       'a;b' AS \"odd;name\", /* a ; in a comment */\n"
        "       districts_in_directory\n"
        "FROM marts.state_year_metrics\n"
        "ORDER BY school_year;\n"
        "\n"
        ".mode csv\n"
        "SELECT count(*) AS objectives FROM marts.objectives;\n"
        "SELECT no_such_column\n"
        "  FROM marts.objectives;\n"
        "SELECT 'never reached' AS x;\n"
    )
    result = roadmap_sql(demo_warehouse_path, stdin=script)
    assert result.returncode == 1
    assert "odd;name" in result.stdout and "│ a;b " in result.stdout
    assert "objectives\n" in result.stdout  # csv mode after .mode csv
    assert "never reached" not in result.stdout
    assert "line 10" in result.stderr and "no_such_column" in result.stderr


def test_pragma_call_explain_and_summarize_show_their_results(demo_warehouse_path):
    result = roadmap_sql(
        demo_warehouse_path,
        "-c",
        "PRAGMA version; CALL pragma_version(); EXPLAIN SELECT * FROM marts.objectives; SET threads = 1; "
        "SUMMARIZE marts.objectives;",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("library_version") == 2
    assert "Table: roadmap.marts.objectives" in result.stdout  # the plan
    assert "column_name" in result.stdout and "objective_id" in result.stdout
    result = roadmap_sql(demo_warehouse_path, "--max-rows", "0", "-c", "SELECT 1")
    assert result.returncode == 2 and "--max-rows" in result.stderr


def test_a_last_statement_without_a_semicolon_still_runs(demo_warehouse_path):
    result = roadmap_sql(demo_warehouse_path, "--csv", stdin="SELECT 41 + 1 AS answer\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["answer", "42"]


def test_writes_are_refused_with_a_hint_and_the_file_is_unchanged(demo_warehouse_path, tmp_path):
    before = sha256(demo_warehouse_path)
    for sql in (
        "CREATE TABLE marts.mine AS SELECT 1 AS x",
        "DELETE FROM marts.objectives",
        "UPDATE audit.runs SET status = 'x'",
        f"ATTACH '{demo_warehouse_path}' AS again; CREATE TABLE again.main.x (a INTEGER)",
    ):
        result = roadmap_sql(demo_warehouse_path, "-c", sql)
        assert result.returncode == 1, sql
        assert "read-only" in result.stderr and "CREATE TEMP TABLE" in result.stderr, result.stderr
    # what an analyst may do: temp tables and exports
    out = tmp_path / "trend.csv"
    result = roadmap_sql(
        demo_warehouse_path,
        "-c",
        "CREATE TEMP TABLE t AS SELECT school_year, student_count FROM marts.state_year_metrics; "
        f"COPY t TO '{out}' (HEADER); SELECT count(*) AS n FROM t;",
    )
    assert result.returncode == 0, result.stderr
    assert out.read_text().startswith("school_year,student_count")
    assert sha256(demo_warehouse_path) == before
    assert not demo_warehouse_path.with_name(demo_warehouse_path.name + ".wal").exists()


def test_the_interactive_shell_reads_statements_over_several_lines(demo_warehouse_path, tmp_path):
    argv = [str(ROADMAP), "sql", "--warehouse", str(demo_warehouse_path)]
    # started by a parent that has SIGINT blocked (the block is inherited across exec; a
    # test worker's thread had it so): Ctrl-C must still reach the shell
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        # and ignored (a disposition inherited across exec too)
        term = TerminalSession(argv, cwd=tmp_path, env={"HOME": str(tmp_path)}, ignore_sigint=True)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    with term:
        banner = term.expect("roadmap> ")
        assert f"night: run {latest_publish(demo_warehouse_path)['data_run_id']}" in banner
        term.type("SELECT district_code,")
        term.expect("    ...> ")
        term.type("       'x;y' AS text -- a ; here ends nothing")
        term.expect("    ...> ")
        term.type("FROM marts.district_year_metrics ORDER BY district_code LIMIT 3;")
        screen = term.expect("roadmap> ")
        assert "│ district_code │" in screen and "x;y" in screen
        term.type("SELECT nope FROM marts.objectives;")
        screen = term.expect("roadmap> ")  # an error does not end the session
        assert "Error" in screen and "nope" in screen
        term.type(".published")
        assert "night: run" in term.expect("roadmap> ")
        term.type("SELECT 1 +")
        term.expect("    ...> ")
        term.wait_until_reading()
        term.send(b"\x03")  # Ctrl-C drops the half-typed statement
        term.expect("roadmap> ")
        term.type("SELECT 6 * 7 AS answer;")
        assert "42" in term.expect("roadmap> ")
        term.send(b"\x04")  # Ctrl-D leaves
        assert term.wait() == 0
    assert (tmp_path / ".roadmap_sql_history").is_file()


def test_the_open_shell_holds_no_write_lock(demo_warehouse_path, tmp_path):
    """DuckDB lets a process open a file read-only only while no process has it open
    for writing: another process opening it while the shell sits at its prompt proves
    the shell holds at most a shared (read) lock."""
    argv = [str(ROADMAP), "sql", "--warehouse", str(demo_warehouse_path)]
    with TerminalSession(argv, cwd=tmp_path, env={"HOME": str(tmp_path)}) as term:
        term.expect("roadmap> ")
        term.type("SELECT count(*) AS n FROM marts.objectives;")
        term.expect("roadmap> ")
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
                "print(c.execute('select count(*) from marts.objectives').fetchall()[0][0])",
                str(demo_warehouse_path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert probe.returncode == 0, probe.stderr
        assert int(probe.stdout) > 0
        term.type(".quit")
        assert term.wait() == 0


@pytest.mark.fast
def test_without_a_warehouse_it_says_what_to_do_and_exits_2(tmp_path):
    result = roadmap_sql(tmp_path / "nowhere" / "roadmap.duckdb", "-c", "SELECT 1")
    assert result.returncode == 2
    assert "roadmap nightly" in result.stderr and "--warehouse" in result.stderr


@pytest.mark.fast
def test_a_warehouse_published_before_audit_published_still_names_its_run(tmp_path):
    old = tmp_path / "old.duckdb"
    con = duckdb.connect(str(old))
    con.execute(
        "create schema audit; create table audit.runs (run_id varchar, status varchar, finished_at timestamptz)"
    )
    con.execute("insert into audit.runs values ('20250101T070000Z-abc123', 'succeeded', '2025-01-01 07:01:00+00')")
    con.close()
    result = roadmap_sql(old, "-c", "SELECT 1")
    assert result.returncode == 0, result.stderr
    assert "night: run 20250101T070000Z-abc123" in result.stderr and "predates audit.published" in result.stderr


# -------------------------------------------------------- where a statement ends

LITERAL_TEXT = st.text(alphabet=st.sampled_from(list("ab ;'\"-/*$\\\n\t")), max_size=30)


def _escape_string(value: str) -> str:
    """An E'...' literal of `value` (backslash escapes)."""
    return "E'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=LITERAL_TEXT,
    name=LITERAL_TEXT.filter(lambda s: s.strip(" \n\t")),
    comment=LITERAL_TEXT.filter(lambda s: "*/" not in s and "/*" not in s),
    split=st.integers(0, 200),
    escape=st.booleans(),
    nested=st.booleans(),
)
def test_a_statement_ends_only_at_a_semicolon_outside_strings_identifiers_and_comments(
    value, name, comment, split, escape, nested
):
    literal = _escape_string(value) if escape else "'" + value.replace("'", "''") + "'"
    identifier = '"' + name.replace('"', '""') + '"'
    block = f"/* {comment} /* {comment} */ {comment} */" if nested else f"/* {comment} */"
    line_comment = comment.split("\n")[0]
    statement = f"SELECT {literal} AS {identifier} {block} -- {line_comment}\n;"
    # typed in two pieces: the first never ends the statement, the whole does
    cut = min(split, len(statement) - 1)
    assert not statement_complete(statement[:cut])
    assert statement_complete(statement)
    # and DuckDB reads it as one statement giving the literal back
    con = duckdb.connect()
    try:
        statements = con.extract_statements(statement)
        assert len(statements) == 1
        assert con.execute(statements[0]).fetchall() == [(value,)]
    finally:
        con.close()


@pytest.mark.fast
def test_dollar_quoted_strings_and_parameters():
    assert not statement_complete("SELECT $$a;b")
    assert statement_complete("SELECT $$a;b$$;")
    assert statement_complete("SELECT $tag$ ; $$ ; $tag$ AS x;")
    assert not statement_complete("SELECT $tag$ ; $$ ;")
    assert statement_complete("SELECT $1;")  # a parameter, not a quote
    assert statement_complete("SELECT 1; -- done")  # a trailing comment after ';' still ends it
    assert statement_complete("SELECT 1; -- done\n")
    assert not statement_complete("SELECT 1 /* /* ; */ ;")  # comments nest
    assert statement_complete("SELECT E'it\\'s; fine' AS x;")
    assert not statement_complete("SELECT E'it\\'s; fine AS x;")
    assert statement_complete("SELECT 1; /* done */")
    assert not statement_complete("SELECT 1 /* ; */")
    assert not statement_complete("SELECT ';'")
