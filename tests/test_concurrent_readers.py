"""Analysts read the published warehouse while the nightly run publishes the next one
(DATA_SPEC section 5): reader PROCESSES with read-only connections query the marts in a
loop during a real `python -m flows nightly`, and

- neither side sees an error (a read-only connection on the published file does not
  block the publish: the run never writes that file, it renames a finished copy over it);
- every observation is either the state before the run or the state after it, never a
  mix, and the state totals always equal the sum of the district rows;
- a connection opened before the swap keeps reading the version it opened
  (docs/analysts_guide.md); a new connection sees the new version.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from test_crash_safety import REPO, copy_files, run_nightly

pytestmark = pytest.mark.slow

# One observation = the run record and marts figures read in ONE connection (one snapshot),
# plus the number of school years whose state totals differ from the sum of their districts.
READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import duckdb

    warehouse, stop, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    SQL = '''
        select (select count(*) from audit.runs where status = 'succeeded'),
               (select count(*) from marts.district_year_metrics),
               (select sum(student_count) from marts.district_year_metrics),
               (select sum(student_devices) from marts.district_year_metrics),
               (select count(*) from marts.state_year_metrics s
                 where s.student_count is distinct from
                       (select sum(d.student_count) from marts.district_year_metrics d
                         where d.school_year = s.school_year)
                    or s.student_count is distinct from
                       (select m.value::bigint from marts.metric_values m
                         where m.scope = 'state' and m.metric = 'student_count' and m.school_year = s.school_year))
    '''
    held = duckdb.connect(warehouse, read_only=True) if mode == "held" else None
    n = 0
    while True:
        last = stop.exists()  # one more observation after the test says stop
        try:
            con = held or duckdb.connect(warehouse, read_only=True)
            try:
                row = list(con.execute(SQL).fetchall()[0])
            finally:
                if held is None:
                    con.close()
            print(json.dumps({"t": time.time(), "obs": row}), flush=True)
        except Exception as exc:
            print(json.dumps({"t": time.time(), "error": f"{type(exc).__name__}: {exc}"}), flush=True)
        n += 1
        if n == 1:
            print(json.dumps({"ready": True}), flush=True)
        if last:
            break
        time.sleep(0.02)
    """
)

OBSERVATION_SQL = (
    "select (select count(*) from audit.runs where status = 'succeeded'), "
    "(select count(*) from marts.district_year_metrics), (select sum(student_count) from marts.district_year_metrics), "
    "(select sum(student_devices) from marts.district_year_metrics), 0"
)


def observe(warehouse: Path) -> list:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return [int(v) for v in con.execute(OBSERVATION_SQL).fetchall()[0]]
    finally:
        con.close()


def start_reader(warehouse: Path, stop: Path, mode: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", READER, str(warehouse), str(stop), mode],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = json.loads(proc.stdout.readline() or "{}")
    ready = json.loads(proc.stdout.readline() or "{}")
    assert "obs" in first and ready == {"ready": True}, f"reader did not start: {first} {proc.stderr.read()[:2000]}"
    return proc, first


def test_readers_see_the_old_or_the_new_warehouse_never_a_mix_and_do_not_block_the_publish(
    generated, prefect_api_url, tmp_path
):
    source, order = generated
    landing = tmp_path / "landing"
    warehouse = tmp_path / "warehouse" / "roadmap.duckdb"
    half = len(order) // 2
    copy_files(order[:half], source, landing)
    first = run_nightly(landing, warehouse, prefect_api_url)
    assert first.returncode == 0, first.output[-3000:]
    before = observe(warehouse)

    copy_files(order[half:], source, landing)
    stop = tmp_path / "stop-readers"
    readers = {}
    try:
        for mode in ("fresh", "held"):
            readers[mode] = start_reader(warehouse, stop, mode)
        started = time.time()
        run = run_nightly(landing, warehouse, prefect_api_url)
        finished = time.time()
        time.sleep(0.5)  # a few observations after the swap
        stop.touch()
        outputs = {}
        for mode, (proc, first_obs) in readers.items():
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err[-2000:]
            outputs[mode] = [{"t": 0.0, **first_obs}] + [json.loads(line) for line in out.splitlines()]
    finally:
        for proc, _ in readers.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    assert run.returncode == 0, run.output[-3000:]
    after = observe(warehouse)
    assert after != before and after[0] == before[0] + 1

    for mode, lines in outputs.items():
        errors = [line["error"] for line in lines if "error" in line]
        assert errors == [], f"{mode} reader saw errors: {errors[:3]}"
        observations = [line["obs"] for line in lines if "obs" in line]
        during = [line["obs"] for line in lines if "obs" in line and started <= line["t"] <= finished]
        assert len(during) >= 20, f"{mode} reader made only {len(during)} observations during the run"
        print(
            f"{mode} reader: {len(observations)} observations, {len(during)} during the {finished - started:.1f} s run"
        )
        mixed = [o for o in observations if o not in (before, after)]
        assert mixed == [], f"{mode} reader saw a state that is neither before nor after: {mixed[:3]}"
        assert all(o[4] == 0 for o in observations)  # state totals = sum of districts, always
        if mode == "fresh":
            # a new connection sees the new warehouse as soon as it is swapped in
            assert observations[0] == before and observations[-1] == after
            switched = [i for i in range(1, len(observations)) if observations[i] != observations[i - 1]]
            assert len(switched) == 1, "the fresh reader went back and forth between versions"
        else:
            # the connection opened before the swap keeps reading the version it opened
            assert set(map(tuple, observations)) == {tuple(before)}
