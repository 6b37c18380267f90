"""Long-lived clients see each new night (docs/analysts_guide.md, "Connecting"), with the
real pipeline publishing it (`python -m flows nightly` in its own process):

- a pooled SQLAlchemy engine configured exactly as the guide says (its code block, run
  as is) gives the next night's figures to the next checkout, without a restart, while
  a connection checked out before the publish keeps reading its own night, consistently;
- so does the guide's notebook connection (`open_warehouse()`), next to an older one;
- `audit.published` names the run; `roadmap sql` and the Parquet set say the same night;
- the plain way (an engine on `duckdb:///<file>` with `read_only`) keeps serving the
  old night to new connections while another connection to the file is open in the
  process: DuckDB's instance cache, the reason the guide's recipes exist (if a DuckDB
  release changes that, this check says so);
- a warehouse written in another storage version (before STORAGE_VERSION existed) is
  converted by the next run, which says so, and keeps its history; a warehouse already
  in STORAGE_VERSION is copied as it is (no conversion).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from compat_clients import client_dir
from flows.warehouse.parquet_set import current_folder
from flows.warehouse.publish import STORAGE_VERSION, storage_version
from test_crash_safety import copy_files, run_nightly

pytestmark = pytest.mark.slow

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "analysts_guide.md"
ROADMAP = Path(sys.executable).parent / "roadmap"

# What a connection sees of a night: the run the file names and figures of the marts.
NIGHT_SQL = """
select (select data_run_id from audit.published order by publish_seq desc limit 1),
       (select count(*) from audit.runs),
       (select count(*) from marts.district_year_metrics),
       (select sum(student_count) from marts.state_year_metrics),
       (select sum(student_count) from marts.district_year_metrics)
"""

FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print(json.dumps([None if v is None else str(v) for v in con.execute(sys.argv[2]).fetchall()[0]]))
    """
)


def guide_block(marker: str) -> str:
    blocks = re.findall(r"^```python[ \t]*\n(.*?)^```[ \t]*$", GUIDE.read_text(encoding="utf-8"), re.S | re.M)
    (block,) = [b for b in blocks if marker in b]
    return block


def as_seen(row) -> list:
    return [None if v is None else str(v) for v in row]


def in_a_fresh_process(warehouse: Path) -> list:
    """The truth about the file now: read by a process that had nothing open."""
    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(warehouse), NIGHT_SQL], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def first_night(generated, prefect_api_url, tmp_path_factory):
    """A project folder whose warehouse the real pipeline published from the first half
    of the landing files (the tests copy it and publish the rest as the next night)."""
    source, order = generated
    project = tmp_path_factory.mktemp("first_night")
    landing = project / "data" / "landing"
    warehouse = project / "data" / "warehouse" / "roadmap.duckdb"
    copy_files(order[: len(order) // 2], source, landing)
    first = run_nightly(landing, warehouse, prefect_api_url)
    assert first.returncode == 0, first.output[-3000:]
    assert "converted the warehouse" not in first.output  # created in STORAGE_VERSION
    return project


def next_night(project: Path, generated, prefect_api_url):
    source, order = generated
    landing = project / "data" / "landing"
    copy_files(order[len(order) // 2 :], source, landing)
    return run_nightly(landing, project / "data" / "warehouse" / "roadmap.duckdb", prefect_api_url)


def test_long_lived_clients_configured_as_the_guide_says_see_the_next_night(
    first_night, generated, prefect_api_url, tmp_path, monkeypatch
):
    from sqlalchemy import create_engine, text

    project = tmp_path / "project"
    shutil.copytree(first_night, project, symlinks=True)
    warehouse = project / "data" / "warehouse" / "roadmap.duckdb"
    night1 = in_a_fresh_process(warehouse)

    monkeypatch.chdir(project)  # the guide's paths are relative to the project folder
    guide: dict = {"__name__": "notebook"}
    exec(compile(guide_block("create_engine"), "analysts_guide.md", "exec"), guide)  # defines and uses `engine`
    exec(compile(guide_block("def open_warehouse"), "analysts_guide.md", "exec"), guide)
    engine, open_warehouse = guide["engine"], guide["open_warehouse"]
    naive = create_engine(f"duckdb:///{warehouse}", connect_args={"read_only": True})
    try:
        held = engine.connect()  # an analyst's query session, checked out before the publish
        with engine.connect() as conn:  # and one that goes back to the pool, idle
            assert as_seen(conn.execute(text(NIGHT_SQL)).fetchone()) == night1
        notebook_old = open_warehouse()
        naive_held = naive.connect()
        assert as_seen(held.execute(text(NIGHT_SQL)).fetchone()) == night1
        assert as_seen(notebook_old.execute(NIGHT_SQL).fetchone()) == night1
        assert as_seen(naive_held.execute(text(NIGHT_SQL)).fetchone()) == night1

        # the next night, published by the real pipeline in its own process
        second = next_night(project, generated, prefect_api_url)
        assert second.returncode == 0, second.output[-3000:]
        assert "converted the warehouse" not in second.output  # a plain copy of a v1.4.0 file
        night2 = in_a_fresh_process(warehouse)
        assert night2[0] != night1[0] and night2[1] == str(int(night1[1]) + 1)
        assert night2[2:] != night1[2:], "the second night changed no figure: the test would prove nothing"

        # the pooled engine: the next checkout has the new night, no restart
        with engine.connect() as conn:
            assert as_seen(conn.execute(text(NIGHT_SQL)).fetchone()) == night2
        # the connection held across the publish still reads its own night, consistently
        for _ in range(3):
            assert as_seen(held.execute(text(NIGHT_SQL)).fetchone()) == night1
        held.close()
        with engine.connect() as conn:  # given back, it is not handed out again with the old night
            assert as_seen(conn.execute(text(NIGHT_SQL)).fetchone()) == night2

        # the notebook recipe: a new connection sees the new night next to the old one
        notebook_new = open_warehouse()
        assert as_seen(notebook_new.execute(NIGHT_SQL).fetchone()) == night2
        assert as_seen(notebook_old.execute(NIGHT_SQL).fetchone()) == night1
        notebook_new.close()
        notebook_old.close()

        # the way the guide warns against: a new connection of a plain engine, made while
        # another connection to the file is open in the process, gets DuckDB's cached old night
        with naive.connect() as conn:
            stale = as_seen(conn.execute(text(NIGHT_SQL)).fetchone())
        assert stale == night1, (
            "DuckDB no longer hands out its cached database for a path: the guide's warning about "
            "duckdb.connect(path, read_only=True) in long-lived processes can be relaxed"
        )
        naive_held.close()
    finally:
        engine.dispose()
        naive.dispose()

    # the file, the shell and the Parquet set all name the new night
    result = subprocess.run(
        [str(ROADMAP), "sql", "--warehouse", str(warehouse), "-c", "SELECT 1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and f"night: run {night2[0]}" in result.stderr, result.stderr
    manifest = json.loads((current_folder(warehouse) / "_published.json").read_text())
    assert manifest["data_run_id"] == night2[0]
    assert storage_version(warehouse) == STORAGE_VERSION  # a night on a copy, dbt, checkpoints: still 1.x-readable


def test_a_warehouse_in_another_storage_version_is_converted_once_by_the_next_run(
    first_night, generated, prefect_api_url, tmp_path
):
    project = tmp_path / "project"
    shutil.copytree(first_night, project, symlinks=True)
    warehouse = project / "data" / "warehouse" / "roadmap.duckdb"

    # make it a warehouse as published before this rule: DuckDB 2.0's own format,
    # no audit.published, no Parquet set
    older = tmp_path / "older.duckdb"
    con = duckdb.connect()
    try:
        con.execute(f"attach '{warehouse}' as src (read_only)")
        con.execute(f"attach '{older}' as dst (storage_version 'v2.0.0')")
        con.execute("copy from database src to dst")
        con.execute("drop table dst.audit.published")
        con.execute("detach dst")
    finally:
        con.close()
    shutil.move(older, warehouse)
    shutil.rmtree(warehouse.parent / "parquet")
    assert storage_version(warehouse) == "v2.0.0"
    runs_before = in_a_fresh_process_rows(warehouse, "select run_id from audit.runs order by run_id")
    refused = subprocess.run(
        [
            str(client_dir("1.4") / "bin" / "python"),
            "-c",
            "import duckdb, sys; duckdb.connect(sys.argv[1], read_only=True)",
            str(warehouse),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "version number" in refused.stderr  # the problem of issue 14

    second = next_night(project, generated, prefect_api_url)
    assert second.returncode == 0, second.output[-3000:]
    assert f"from DuckDB storage version v2.0.0 to {STORAGE_VERSION}" in second.output
    assert storage_version(warehouse) == STORAGE_VERSION
    runs_after = in_a_fresh_process_rows(warehouse, "select run_id from audit.runs order by run_id")
    assert runs_after[:-1] == runs_before and len(runs_after) == len(runs_before) + 1
    opened = subprocess.run(
        [
            str(client_dir("1.4") / "bin" / "python"),
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print(c.execute('select count(*) from marts.district_year_metrics').fetchall()[0][0])",
            str(warehouse),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert opened.returncode == 0 and int(opened.stdout) > 0, opened.stderr
    assert current_folder(warehouse) is not None  # and the Parquet set is back


def in_a_fresh_process_rows(warehouse: Path, sql: str) -> list:
    code = (
        "import json, sys, duckdb\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "print(json.dumps([list(map(str, r)) for r in con.execute(sys.argv[2]).fetchall()]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(warehouse), sql], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
