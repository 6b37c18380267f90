"""Two runs on one warehouse never overlap: the second waits or exits with a clear
message, and nothing is loaded twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from conftest import REPO, TEST_KEY


@pytest.mark.fast
def test_second_run_is_refused_while_the_lock_is_held_and_names_the_holder(tmp_path):
    from flows.warehouse.publish import RunInProgress, warehouse_lock

    warehouse = tmp_path / "roadmap.duckdb"
    with warehouse_lock(warehouse, "run-A"):
        with pytest.raises(RunInProgress, match="run-A"):
            with warehouse_lock(warehouse, "run-B"):
                pass
    with warehouse_lock(warehouse, "run-C"):  # free again once the first run ended
        pass


@pytest.mark.fast
def test_lock_of_a_killed_run_does_not_block_the_next(tmp_path):
    from flows.warehouse.publish import warehouse_lock

    warehouse = tmp_path / "roadmap.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from flows.warehouse.publish import warehouse_lock\n"
            f"with warehouse_lock(Path({str(warehouse)!r}), 'doomed'):\n    print('held', flush=True); time.sleep(60)",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    with warehouse_lock(warehouse, "next") as previous:
        # the next run learns which run died holding the lock, to record it
        assert previous["run_id"] == "doomed" and previous["pid"] == holder.pid
    with warehouse_lock(warehouse, "after") as previous:
        assert previous == {}  # "next" ended cleanly


def test_waiting_run_gets_the_lock_when_the_first_finishes(tmp_path):
    import threading

    from flows.warehouse.publish import warehouse_lock

    warehouse = tmp_path / "roadmap.duckdb"
    order = []
    first_holds = threading.Event()

    def first():
        with warehouse_lock(warehouse, "first"):
            first_holds.set()
            time.sleep(1.0)
            order.append("first done")

    t = threading.Thread(target=first)
    t.start()
    first_holds.wait(5)
    with warehouse_lock(warehouse, "second", wait_seconds=10):
        order.append("second started")
    t.join()
    assert order == ["first done", "second started"]


@pytest.mark.slow
def test_two_nightly_runs_started_together_load_each_file_once(tmp_path):
    from roadmap_demo_data.generate import generate_landing

    landing = tmp_path / "landing"
    generate_landing(landing, districts=40, years=1, seed=3)
    warehouse = tmp_path / "warehouse" / "roadmap.duckdb"
    env = {**os.environ, "ROADMAP_PSEUDONYM_KEY": TEST_KEY, "PREFECT_LOGGING_LEVEL": "WARNING"}
    env.pop("PREFECT_API_URL", None)  # each run starts its own temporary Prefect server
    cmd = [
        sys.executable,
        "-m",
        "flows",
        "nightly",
        "--landing",
        str(landing),
        "--warehouse",
        str(warehouse),
        "--no-report",
    ]
    runs = [
        subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outcomes = [(p.wait(timeout=600), p.stdout.read(), p.stderr.read()) for p in runs]
    codes = sorted(code for code, _, _ in outcomes)
    # either the second was refused while the first ran (75, with the reason), or it
    # started after the first had published and found nothing new (0)
    assert codes in ([0, 0], [0, 75]), outcomes
    for code, _, err in outcomes:
        if code == 75:
            assert "another nightly run is using" in err
    con = duckdb.connect(str(warehouse), read_only=True)
    files = con.execute("select count(*), count(distinct file_id) from audit.files").fetchall()[0]
    assert files[0] == files[1] == len(list(landing.glob("*.csv")))
    duplicated = con.execute(
        "select count(*) from (select _file_id, _line from raw.devices group by all having count(*) > 1)"
    ).fetchall()[0][0]
    assert duplicated == 0
    succeeded = con.execute("select count(*) from audit.runs where status = 'succeeded' and files_new > 0").fetchall()[
        0
    ][0]
    assert succeeded == 1
    con.close()
