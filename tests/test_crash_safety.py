"""Crash safety of the nightly run (docs/ARCHITECTURE.md, write-audit-publish): the real
command, `python -m flows nightly`, in a subprocess, killed with SIGKILL at each stage.

After every kill: the published warehouse is byte for byte what it was, opens read-only
with the same marts, and nothing left behind (the lock, the work copy) stops the next
run, which then gives the same marts as one uninterrupted run. Also: a second run with
nothing new changes nothing, and a failed `dbt build` leaves the published marts as
they were and says so in `audit.runs`. (Files loaded over several runs give the marts
of one run: tests/test_containment.py, over random splits of a landing folder.)

How a stage is found: by what the run prints (its log lines: discover's count, a file's
"rows read", dbt's progress lines). The swap itself takes microseconds, so for "during
publish" the command is started through a small wrapper (HOOKED_CLI) that pauses right
before or right after `publish_work_copy` and says so; everything else is the real CLI.

All runs share the session's temporary Prefect server (PREFECT_API_URL), so a killed run
leaves no server process behind; each run is started in its own process group and killed
with it.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from conftest import TEST_KEY

REPO = Path(__file__).resolve().parent.parent
RUN_TIMEOUT = 240  # seconds; a run of the small landing below takes 10-20 s

pytestmark = pytest.mark.slow

# Runs the real CLI, with `publish_work_copy` (and for one test the dbt project) wrapped.
HOOKED_CLI = textwrap.dedent(
    """
    import functools, os, sys, time
    import flows.nightly as nightly
    hook = os.environ.get("ROADMAP_TEST_HOOK", "")
    real_publish = nightly.publish_work_copy

    def publish_work_copy(warehouse):
        if hook == "before_swap":
            print("TEST-HOOK: about to swap the work copy in", flush=True)
            time.sleep(600)
        real_publish(warehouse)
        if hook == "after_swap":
            print("TEST-HOOK: swapped the work copy in", flush=True)
            time.sleep(600)

    nightly.publish_work_copy = publish_work_copy
    if os.environ.get("ROADMAP_TEST_DBT_PROJECT"):
        import flows.warehouse.transform as transform
        transform.run_dbt_build = functools.partial(
            transform.run_dbt_build, project_dir=os.environ["ROADMAP_TEST_DBT_PROJECT"]
        )
    from flows.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


@dataclass
class FlowRun:
    returncode: int | None
    output: str
    killed: bool
    seconds: float


def run_nightly(
    landing: Path,
    warehouse: Path,
    api_url: str,
    *,
    kill_when: str | None = None,
    hook: str = "",
    env: dict[str, str] | None = None,
) -> FlowRun:
    """Run `python -m flows nightly` (through HOOKED_CLI when a hook is asked for); with
    `kill_when`, SIGKILL its process group as soon as a line of its output matches."""
    child_env = {
        **os.environ,
        "ROADMAP_PSEUDONYM_KEY": TEST_KEY,
        "PREFECT_API_URL": api_url,
        "PREFECT_LOGGING_LEVEL": "INFO",  # the stage markers are log lines
        "ROADMAP_TEST_HOOK": hook,
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("ROADMAP_SMTP_HOST", "ROADMAP_ALERT_TO", "ROADMAP_LANDING_DIR", "ROADMAP_WAREHOUSE"):
        child_env.pop(name, None)
    child_env.update(env or {})
    # -v: the stage markers are detail, printed on the console only when asked for
    args = ["-v", "nightly", "--landing", str(landing), "--warehouse", str(warehouse), "--no-report"]
    command = (
        [sys.executable, "-c", HOOKED_CLI, *args]
        if hook or "ROADMAP_TEST_DBT_PROJECT" in (env or {})
        else [sys.executable, "-m", "flows", *args]
    )
    started = time.monotonic()
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    timer = threading.Timer(RUN_TIMEOUT, lambda: _kill_group(proc))
    timer.start()
    lines: list[str] = []
    killed = False
    try:
        pattern = re.compile(kill_when) if kill_when else None
        for line in proc.stdout:
            lines.append(line)
            if pattern and not killed and pattern.search(line):
                _kill_group(proc)
                killed = True
        proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            _kill_group(proc)
            proc.wait()
    output = "".join(lines)
    assert time.monotonic() - started < RUN_TIMEOUT, "the run did not finish in time:\n" + output[-3000:]
    if kill_when:
        assert killed, f"the run ended before {kill_when!r} appeared in its output:\n{output[-3000:]}"
    return FlowRun(proc.returncode, output, killed, time.monotonic() - started)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and anything it started, nothing else
    except ProcessLookupError:
        pass


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# what records which run received a file and when: the same data loaded over several runs
# has other receipts than in one run, every figure stays the same
RECEIPT_COLUMNS = {"submission_status": "exclude (received_at, file_id)"}


def marts(warehouse: Path) -> dict[str, list[tuple]]:
    """Every marts table, row for row (sorted), read the way analysts read it."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        return {
            t: con.execute(f'select * {RECEIPT_COLUMNS.get(t, "")} from marts."{t}" order by all').fetchall()
            for t in tables
        }
    finally:
        con.close()


def query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def parquet_set_matches(warehouse: Path) -> bool:
    """`parquet/current` holds the marts of the run the published file names."""
    from flows.warehouse.parquet_set import current_folder, read_manifest

    row = query(warehouse, "select data_run_id from audit.published order by publish_seq desc limit 1")
    manifest = read_manifest(current_folder(warehouse))
    return bool(row) and manifest is not None and manifest["data_run_id"] == row[0][0]


def lock_is_free(warehouse: Path) -> bool:
    path = warehouse.with_name(warehouse.name + ".lock")
    if not path.exists():
        return True
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    finally:
        os.close(fd)


def copy_files(names: list[str], source: Path, landing: Path) -> None:
    """Copy landing files keeping their modification times (their received order)."""
    landing.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy2(source / name, landing / name)


@pytest.fixture(scope="module")
def one_run(generated, prefect_api_url, tmp_path_factory):
    """The reference: every file in one uninterrupted run."""
    source, order = generated
    root = tmp_path_factory.mktemp("one_run")
    copy_files(order, source, root / "landing")
    warehouse = root / "warehouse" / "roadmap.duckdb"
    result = run_nightly(root / "landing", warehouse, prefect_api_url)
    assert result.returncode == 0, result.output[-3000:]
    return warehouse, marts(warehouse), result


def test_a_second_run_with_nothing_new_changes_no_mart(one_run, prefect_api_url):
    warehouse, reference, first = one_run
    assert reference["district_year_metrics"] and reference["state_year_metrics"]
    landing = warehouse.parent.parent / "landing"
    again = run_nightly(landing, warehouse, prefect_api_url)
    assert again.returncode == 0, again.output[-3000:]
    assert marts(warehouse) == reference
    runs = query(warehouse, "select status, files_new, rows_loaded from audit.runs order by started_at")
    assert runs[-1] == ("succeeded", 0, 0) and len(runs) == 2
    print(f"uninterrupted run {first.seconds:.1f} s, no-op run {again.seconds:.1f} s")


def test_killed_at_every_stage_the_published_warehouse_is_untouched_and_the_next_run_recovers(
    generated, one_run, prefect_api_url, tmp_path
):
    source, order = generated
    _, reference, _ = one_run
    landing = tmp_path / "landing"
    warehouse = tmp_path / "warehouse" / "roadmap.duckdb"
    # First half of the files, in received order, published by a complete run.
    half = len(order) // 2
    copy_files(order[:half], source, landing)
    first = run_nightly(landing, warehouse, prefect_api_url)
    assert first.returncode == 0, first.output[-3000:]
    published_hash = sha256_file(warehouse)
    published_marts = marts(warehouse)
    published_runs = query(warehouse, "select run_id, status from audit.runs")

    # The rest arrives; each run over it is killed at a later stage.
    copy_files(order[half:], source, landing)
    stages = [
        ("reading and validating", r"discovered \d+ new file", None),
        ("loading", r"pl_participation: \d+ file\(s\), \d+ rows read", None),  # validated: its load is next
        ("dbt build", r"dbt: 3 of \d+ (START|OK)", None),
        ("publish, before the swap", r"TEST-HOOK: about to swap", "before_swap"),
    ]
    dbt_started, swapped_in = r"dbt build --project-dir", r"published /"  # (the publish stage logs the path)
    later_markers = {
        "reading and validating": dbt_started,
        "loading": dbt_started,
        "dbt build": swapped_in,
        "publish, before the swap": swapped_in,
    }
    for stage, kill_when, hook in stages:
        killed = run_nightly(landing, warehouse, prefect_api_url, kill_when=kill_when, hook=hook or "")
        assert killed.returncode == -signal.SIGKILL, stage
        assert not re.search(later_markers[stage], killed.output), f"killed too late for '{stage}'"
        assert sha256_file(warehouse) == published_hash, f"killed during {stage}: the published warehouse changed"
        assert not warehouse.with_name(warehouse.name + ".wal").exists()
        assert marts(warehouse) == published_marts
        assert query(warehouse, "select run_id, status from audit.runs") == published_runs
        assert parquet_set_matches(warehouse), f"killed during {stage}: the Parquet set changed"
        assert lock_is_free(warehouse), f"killed during {stage}: the lock is still held"

    # Killed right after the swap: the new warehouse is published whole, with its run record.
    swapped = run_nightly(landing, warehouse, prefect_api_url, kill_when=r"TEST-HOOK: swapped", hook="after_swap")
    assert swapped.returncode == -signal.SIGKILL
    assert marts(warehouse) == reference
    # the two runs that published, and the one killed just before it, found by its lock and
    # recorded as interrupted (the earlier killed runs' records went with their unpublished copies)
    assert query(warehouse, "select status, count(*) from audit.runs group by status order by status") == [
        ("interrupted", 1),
        ("succeeded", 2),
    ]
    assert parquet_set_matches(warehouse)
    assert lock_is_free(warehouse)

    # The next run starts cleanly over the leftovers, finds nothing new, changes nothing.
    final = run_nightly(landing, warehouse, prefect_api_url)
    assert final.returncode == 0, final.output[-3000:]
    assert "0 new" in final.output
    assert marts(warehouse) == reference  # = every file in one uninterrupted run
    assert not warehouse.with_name(warehouse.name + ".building").exists()
    assert parquet_set_matches(warehouse)


def test_a_failed_dbt_build_leaves_the_published_marts_and_says_so_in_the_run_record(
    one_run, prefect_api_url, tmp_path
):
    reference_warehouse, reference, _ = one_run
    landing = reference_warehouse.parent.parent / "landing"
    warehouse = tmp_path / "warehouse" / "roadmap.duckdb"
    warehouse.parent.mkdir()
    shutil.copy2(reference_warehouse, warehouse)
    before_files = query(warehouse, "select * from audit.files order by received_seq")
    before_runs = query(warehouse, "select run_id, status from audit.runs order by started_at")

    # The same dbt project with one more data test, which fails.
    project = tmp_path / "dbt_project"
    shutil.copytree(REPO / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    (project / "tests" / "assert_injected_failure_for_the_crash_test.sql").write_text(
        "-- fails on purpose: every district-year row is a failing row\n"
        "select district_code, school_year from {{ ref('district_year_metrics') }}\n"
    )
    failed = run_nightly(landing, warehouse, prefect_api_url, env={"ROADMAP_TEST_DBT_PROJECT": str(project)})
    assert failed.returncode == 1, failed.output[-3000:]
    assert "the run failed" in failed.output and "published warehouse was left as it was" in failed.output
    assert marts(warehouse) == reference
    assert query(warehouse, "select * from audit.files order by received_seq") == before_files
    runs = query(warehouse, "select run_id, status, message from audit.runs order by started_at")
    assert [r[:2] for r in runs[:-1]] == before_runs
    (_, status, message) = runs[-1]
    assert status == "failed"
    assert "assert_injected_failure_for_the_crash_test" in message
    assert lock_is_free(warehouse)
    assert not warehouse.with_name(warehouse.name + ".building").exists()
