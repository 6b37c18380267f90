"""docs/analysts_guide.md, run as written: every code block an analyst runs is run here,
the way the guide says to run it, from a project folder after `make demo` (a folder with
`.venv` and `data/warehouse/` holding a warehouse the real pipeline built, with its
Parquet set), and must succeed:

- ```console: the transcript of `roadmap sql`, typed line by line into a terminal;
- ```sh: shell commands (the DuckDB command line ones with a DuckDB 1.4 CLI from
  tests/compat/, the version the guide names as the oldest that opens the file);
- ```python: each block as a script;
- ```sql: each example question, with DuckDB and through `roadmap sql`, answering rows;
- the one-line ATTACH of an open session.
```ini blocks are settings for a tool (the ODBC DSN), not commands.

The warehouse is the file named by ROADMAP_TEST_WAREHOUSE, else the one the real
pipeline built for the test session (fixture ``demo_warehouse_path``).
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from compat_clients import client_dir
from terminal import TerminalSession

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "analysts_guide.md"

BLOCK = re.compile(r"^[ \t]*```(\w*)[ \t]*\n(.*?)^[ \t]*```[ \t]*$", re.S | re.M)
RUN_LANGUAGES = {"console", "sh", "python", "sql"}
NOT_COMMANDS = {"ini"}  # a tool's settings file


def blocks(language: str) -> list[str]:
    return [code for lang, code in BLOCK.findall(GUIDE.read_text(encoding="utf-8")) if lang == language]


def sql_blocks() -> list[str]:
    return [b.strip() for b in blocks("sql")]


@pytest.fixture(scope="module")
def project(demo_warehouse_path, tmp_path_factory) -> Path:
    """A project folder as after `make demo`: `.venv` and `data/warehouse/` (the
    warehouse and its Parquet set)."""
    root = tmp_path_factory.mktemp("project")
    (root / ".venv").symlink_to(ROOT / ".venv")
    warehouse_dir = root / "data" / "warehouse"
    warehouse_dir.mkdir(parents=True)
    (warehouse_dir / "roadmap.duckdb").symlink_to(demo_warehouse_path)
    (warehouse_dir / "parquet").symlink_to(demo_warehouse_path.parent / "parquet")
    return root


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROADMAP_")}
    env.update(extra)
    return env


@pytest.mark.fast
def test_every_code_block_of_the_guide_is_one_this_test_runs():
    languages = [lang for lang, _ in BLOCK.findall(GUIDE.read_text(encoding="utf-8"))]
    unknown = sorted(set(languages) - RUN_LANGUAGES - NOT_COMMANDS)
    assert unknown == [], f"code blocks no test runs: {unknown} (give each block a language this test runs)"
    assert len(blocks("console")) >= 1 and len(blocks("sh")) >= 2 and len(blocks("python")) >= 3
    assert len(sql_blocks()) >= 5


# ---------------------------------------------------------------------- roadmap sql


def test_the_roadmap_sql_transcript_runs_as_typed(project):
    (block,) = blocks("console")
    lines = block.splitlines()
    command = lines[0]
    assert command.startswith("$ .venv/bin/roadmap sql")
    typed = [line.split("> ", 1)[1] for line in lines[1:] if line.startswith(("roadmap> ", "    ...> "))]
    assert typed and typed[-1] == ".quit"
    with TerminalSession(command[2:].split(), cwd=project, env=child_env(HOME=str(project))) as term:
        banner = term.expect("roadmap> ")
        published = duckdb.connect(str(project / "data/warehouse/roadmap.duckdb"), read_only=True)
        try:
            run_id = published.execute(
                "select data_run_id from audit.published order by publish_seq desc limit 1"
            ).fetchall()[0][0]
        finally:
            published.close()
        assert f"night: run {run_id}" in banner
        for line in typed[:-1]:
            term.type(line)
            term.expect("roadmap> " if line.rstrip().endswith(";") or line.startswith(".") else "...> ")
        term.type(typed[-1])
        assert term.wait() == 0
    screen = term.transcript
    assert "Error" not in screen, screen[-3000:]
    assert "│ school_year │ students_per_device │" in screen  # the SELECT's table
    assert "district_year_metrics" in screen and "marts" in screen  # .tables
    assert "kbps_per_student" in screen  # DESCRIBE marts.district_year_metrics


@pytest.mark.parametrize("index", range(len(blocks("sh"))), ids=lambda i: f"sh-{i + 1}")
def test_every_shell_block_runs_as_written(project, index, tmp_path):
    block = blocks("sh")[index]
    if block.strip().startswith("duckdb "):
        # the DuckDB command line, typed as written; the analyst then types SQL
        cli = client_dir("1.4") / "bin"
        result = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", block],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
            input="SELECT count(*) AS objectives FROM marts.objectives;\n",
            env=child_env(PATH=f"{cli}:{os.environ['PATH']}"),
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "objectives" in result.stdout and re.search(r"\b\d+\b", result.stdout), result.stdout
        return
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env=child_env(),
    )
    assert result.returncode == 0, f"{block}\n{result.stderr[-3000:]}"
    assert result.stdout.strip() or ">" in block, block
    for target in re.findall(r">\s*([\w.-]+\.csv)", block):  # the files the block writes
        with open(project / target, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        assert len(rows) >= 2, f"{target}: {rows[:3]}"  # a header and data
        assert not any("night:" in cell for row in rows for cell in row)  # the banner went to stderr


def test_the_roadmap_sql_csv_output_is_the_mart(project):
    result = subprocess.run(
        [".venv/bin/roadmap", "sql", "--csv", "-c", "SELECT * FROM marts.objectives ORDER BY sort_order"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(result.stdout.splitlines()))
    con = duckdb.connect(str(project / "data/warehouse/roadmap.duckdb"), read_only=True)
    try:
        expected = con.execute("SELECT objective_id, is_measured FROM marts.objectives ORDER BY sort_order").fetchall()
    finally:
        con.close()
    assert [(r["objective_id"], r["is_measured"]) for r in rows] == [(o, str(m).lower()) for o, m in expected]


def test_the_attach_line_of_an_open_session_runs(project):
    text = GUIDE.read_text(encoding="utf-8")
    (line,) = re.findall(r"`(ATTACH 'data/warehouse/roadmap\.duckdb'[^`]*)`", text)
    code = (
        "import duckdb\ncon = duckdb.connect()\n"
        f"for statement in {line!r}.split(';'):\n"
        "    if statement.strip():\n        con.execute(statement)\n"
        "print(con.execute('select count(*) from marts.objectives').fetchall()[0][0])\n"
        "try:\n    con.execute('create table marts.x (a int)')\n"
        "except duckdb.Error as exc:\n    print('refused', exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "refused" in result.stdout and "read-only" in result.stdout


# --------------------------------------------------------------------------- Python


@pytest.mark.parametrize("index", range(len(blocks("python"))), ids=lambda i: f"python-{i + 1}")
def test_every_python_block_runs_as_written(project, index):
    block = blocks("python")[index]
    result = subprocess.run(
        [sys.executable, "-c", block], cwd=project, capture_output=True, text=True, timeout=300, env=child_env()
    )
    assert result.returncode == 0, f"{block}\n{result.stderr[-3000:]}"
    assert result.stdout.strip(), "the block printed nothing"


def test_the_guides_sqlalchemy_engine_is_read_only(project, monkeypatch):
    from sqlalchemy import text

    (block,) = [b for b in blocks("python") if "create_engine" in b]
    monkeypatch.chdir(project)
    namespace: dict = {"__name__": "guide"}
    exec(compile(block, "analysts_guide.md", "exec"), namespace)
    engine = namespace["engine"]
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM marts.objectives")).scalar() > 0
            with pytest.raises(Exception, match=r"(?i)read.only"):
                conn.execute(text("CREATE TABLE marts.should_fail AS SELECT 1 AS x"))
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------ SQL


@pytest.fixture
def con(demo_warehouse_path):
    c = duckdb.connect(str(demo_warehouse_path), read_only=True)
    yield c
    c.close()


@pytest.mark.parametrize("index", range(len(sql_blocks())), ids=lambda i: f"sql-example-{i + 1}")
def test_every_sql_example_in_the_guide_runs_and_returns_rows(con, index):
    sql = sql_blocks()[index]
    rows = con.execute(sql).fetchall()
    assert rows, f"example {index + 1} returned no row:\n{sql}"


def test_every_sql_example_runs_in_roadmap_sql(project):
    script = "\n\n".join(sql_blocks()) + "\n"
    result = subprocess.run(
        [".venv/bin/roadmap", "sql"],
        cwd=project,
        input=script,
        capture_output=True,
        text=True,
        timeout=300,
        env=child_env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    tables = result.stdout.count("┌")
    assert tables == len(sql_blocks()), result.stdout[-3000:]
    assert " 0 rows" not in result.stdout


@pytest.mark.fast
def test_sql_examples_only_read():
    for sql in sql_blocks():
        first = re.sub(r"--[^\n]*", "", sql).strip().split(None, 1)[0].upper()
        assert first in ("SELECT", "WITH"), sql[:80]


@pytest.mark.fast
def test_guide_explains_read_only_connections():
    text = GUIDE.read_text(encoding="utf-8")
    assert ".venv/bin/roadmap sql" in text
    assert "duckdb -readonly data/warehouse/roadmap.duckdb" in text
    assert "ATTACH ? AS roadmap (READ_ONLY)" in text
    assert "duckdb.read_only" in text  # JDBC (DBeaver, Metabase, Tableau)
    assert "access_mode = read_only" in text  # ODBC
    assert "audit.published" in text and "parquet/current" in text
    for mart in (
        "district_year_metrics",
        "state_year_metrics",
        "isd_year_metrics",
        "metric_values",
        "objective_progress",
        "objectives",
        "dim_district_history",
    ):
        assert f"`marts.{mart}`" in text


def test_the_command_make_demo_points_at_runs(project):
    """`make demo` ends by naming the command that opens the warehouse: it runs."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    (command,) = re.findall(r"query it read-only: (\$\(BIN\)/[^)\"]+)\)", makefile)
    argv = command.replace("$(BIN)", ".venv/bin").split()
    assert argv == [".venv/bin/roadmap", "sql"]
    result = subprocess.run(
        [*argv, "-c", "SELECT count(*) AS districts FROM marts.district_year_metrics"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
    )
    assert result.returncode == 0, result.stderr
    assert "districts" in result.stdout and "night: run" in result.stderr
