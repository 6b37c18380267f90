"""The marts as Parquet beside the published warehouse (flows/warehouse/parquet_set.py,
docs/analysts_guide.md "Parquet"):

- on a warehouse the real pipeline built, `parquet/current/` holds every mart, and
  pandas and pyarrow read exactly the rows of the mart; `_published.json` and
  `audit.published` name the same run and row counts;
- a publish swaps in a complete set: a reader polling `current` while nights are
  published never sees a set that is incomplete or mixes nights;
- marts that did not change are hard-linked, not written again; a publish that did not
  change the marts (a failed run's record) keeps the folder it had; old sets are pruned;
- a run that died between the swap of the file and the swap of `current` is repaired
  by the next run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from flows.warehouse import audit
from flows.warehouse.parquet_set import CURRENT, KEEP, MANIFEST, current_folder, write_for
from flows.warehouse.publish import STORAGE_VERSION, building_path, prepare_work_copy, publish_work_copy


def latest_publish(warehouse: Path) -> dict:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cur = con.execute("select * from audit.published order by publish_seq desc limit 1")
        return dict(zip([d[0] for d in cur.description], cur.fetchall()[0], strict=True))
    finally:
        con.close()


def test_the_parquet_set_of_a_pipeline_built_warehouse_is_its_marts(demo_warehouse_path):
    folder = current_folder(demo_warehouse_path)
    assert folder is not None and folder.is_dir() and not folder.is_symlink()
    published = latest_publish(demo_warehouse_path)
    assert folder == demo_warehouse_path.parent / published["parquet_folder"]
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["data_run_id"] == published["data_run_id"]
    assert {name: entry["rows"] for name, entry in manifest["tables"].items()} == published["mart_rows"]

    con = duckdb.connect(str(demo_warehouse_path), read_only=True)
    try:
        marts = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        assert len(marts) >= 6 and sorted(manifest["tables"]) == marts
        for mart in marts:
            path = folder / manifest["tables"][mart]["file"]
            expected = con.sql(f'select * from marts."{mart}"').arrow()
            if hasattr(expected, "read_all"):  # a RecordBatchReader in DuckDB 2.0
                expected = expected.read_all()
            table = pq.read_table(path)
            assert table.schema.names == expected.schema.names, mart

            def key(row):
                return json.dumps(row, default=str, sort_keys=True)

            assert sorted(table.to_pylist(), key=key) == sorted(expected.to_pylist(), key=key), mart
            frame = pd.read_parquet(path)  # as the guide reads it
            assert len(frame) == published["mart_rows"][mart] > 0 and list(frame.columns) == table.schema.names
    finally:
        con.close()


# ------------------------------------------------------------- publishes, by hand


def publish_night(warehouse: Path, run_id: str, marts: dict[str, str] | None, status: str = "succeeded") -> None:
    """One publish the way the nightly flow makes it: a work copy, the run record, the
    marts (unless the run failed), audit.published, the swap."""
    work = prepare_work_copy(warehouse)
    con = duckdb.connect(str(work))
    try:
        audit.ensure_audit_schema(con)
        audit.start_run(con, run_id, None, "/landing")
        if status == "succeeded":
            con.execute("create schema if not exists marts")
            for name, sql in (marts or {}).items():
                con.execute(f"create or replace table marts.{name} as {sql}")
        audit.finish_run(con, run_id, status)
        audit.record_publish(con, run_id, STORAGE_VERSION)
        con.execute("checkpoint")
    finally:
        con.close()
    publish_work_copy(warehouse)


def test_unchanged_marts_are_linked_failed_runs_keep_the_set_and_old_sets_are_pruned(tmp_path):
    warehouse = tmp_path / "wh" / "roadmap.duckdb"
    base = warehouse.parent / "parquet"
    same = "select i, 'x' || i as s from range(1000) r(i)"
    publish_night(warehouse, "n1", {"a": "select 1 as night, i from range(10) r(i)", "b": same})
    first = current_folder(warehouse)
    assert first == base / "n1"
    publish_night(warehouse, "n2", {"a": "select 2 as night, i from range(20) r(i)", "b": same})
    second = current_folder(warehouse)
    assert second == base / "n2"
    assert os.stat(second / "b.parquet").st_ino == os.stat(first / "b.parquet").st_ino  # linked, not rewritten
    assert os.stat(second / "a.parquet").st_ino != os.stat(first / "a.parquet").st_ino
    assert pd.read_parquet(second / "a.parquet")["night"].unique().tolist() == [2]

    # a failed run publishes its record only: same marts, same folder, nothing written
    before = {p.name: os.stat(p).st_mtime_ns for p in second.iterdir()}
    publish_night(warehouse, "n3-failed", None, status="failed")
    published = latest_publish(warehouse)
    assert (published["run_id"], published["run_status"], published["data_run_id"]) == ("n3-failed", "failed", "n2")
    assert published["parquet_folder"] == "parquet/n2" and current_folder(warehouse) == second
    assert {p.name: os.stat(p).st_mtime_ns for p in second.iterdir()} == before

    for n in range(4, 8):
        publish_night(warehouse, f"n{n}", {"a": f"select {n} as night", "b": same})
    kept = sorted(p.name for p in base.iterdir() if p.name != CURRENT)
    assert kept == ["n5", "n6", "n7"] and len(kept) == KEEP
    assert os.readlink(base / CURRENT) == "n7"  # relative: the folder can be moved or mounted elsewhere


def test_a_run_that_died_between_the_swap_and_the_link_is_repaired_by_the_next_run(tmp_path):
    warehouse = tmp_path / "wh" / "roadmap.duckdb"
    publish_night(warehouse, "n1", {"a": "select 1 as night"})
    # the next night, up to the swap of the file, then killed
    work = prepare_work_copy(warehouse)
    con = duckdb.connect(str(work))
    try:
        audit.start_run(con, "n2", None, "/landing")
        con.execute("create or replace table marts.a as select 2 as night")
        audit.finish_run(con, "n2", "succeeded")
        audit.record_publish(con, "n2", STORAGE_VERSION)
        con.execute("checkpoint")
    finally:
        con.close()
    write_for(work, warehouse)
    os.replace(work, warehouse)
    (warehouse.parent / "parquet" / "n3.tmp").mkdir()  # and a set a killed run was writing
    assert current_folder(warehouse).name == "n1"  # stale: the file holds n2

    prepare_work_copy(warehouse)  # the next run starts
    assert current_folder(warehouse).name == "n2"
    assert pd.read_parquet(current_folder(warehouse) / "a.parquet")["night"].tolist() == [2]
    assert not (warehouse.parent / "parquet" / "n3.tmp").exists()
    assert building_path(warehouse).exists()


READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import pyarrow.parquet as pq

    current, stop = Path(sys.argv[1]), Path(sys.argv[2])
    seen, bad, gone = [], [], 0
    while not stop.exists():
        try:
            folder = current.resolve(strict=True)
            manifest = json.loads((folder / "_published.json").read_text())
        except FileNotFoundError:
            continue  # no set published yet
        night = int(manifest["data_run_id"][1:])
        try:
            for name, entry in manifest["tables"].items():
                table = pq.read_table(folder / entry["file"])
                nights = set(table.column("night").to_pylist())
                if table.num_rows != entry["rows"] or nights != {night}:
                    bad.append([str(folder), name, table.num_rows, entry["rows"], sorted(nights)])
        except FileNotFoundError:
            if folder.exists():
                bad.append([str(folder), "missing file"])
            else:
                gone += 1  # pruned under a reader 3 publishes later
            continue
        seen.append(night)
    print(json.dumps({"seen": seen, "bad": bad, "gone": gone}))
    """
)


def test_a_reader_polling_current_never_sees_a_half_written_or_mixed_set(tmp_path):
    warehouse = tmp_path / "wh" / "roadmap.duckdb"
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(warehouse.parent / "parquet" / CURRENT), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for n in range(1, 13):
            marts = {
                # sizes change every night, and one mart is large enough to take a while to write
                "big": f"select {n} as night, i, 'text ' || i as s from range({100_000 + 5_000 * n}) r(i)",
                "small": f"select {n} as night, i from range({n}) r(i)",
            }
            publish_night(warehouse, f"n{n}", marts)
            time.sleep(0.2)
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err[-3000:]
    result = json.loads(out)
    print(
        f"reader: {len(result['seen'])} complete sets read, nights {sorted(set(result['seen']))}, "
        f"{result['gone']} pruned under it"
    )
    assert result["bad"] == [], result["bad"][:5]
    assert len(result["seen"]) >= 20 and len(set(result["seen"])) >= 3, result
    assert result["seen"] == sorted(result["seen"])  # never back to an older night


@pytest.mark.fast
def test_a_failed_first_run_publishes_its_record_and_no_parquet_set(tmp_path):
    warehouse = tmp_path / "wh" / "roadmap.duckdb"
    publish_night(warehouse, "f1", None, status="failed")
    published = latest_publish(warehouse)
    assert (published["run_status"], published["data_run_id"], published["parquet_folder"]) == ("failed", None, None)
    assert current_folder(warehouse) is None
    publish_night(warehouse, "n2", {"a": "select 2 as night"})
    assert latest_publish(warehouse)["publish_seq"] == 2 and current_folder(warehouse).name == "n2"


@pytest.mark.fast
def test_a_warehouse_folder_copied_through_the_link_publishes_its_next_night(tmp_path):
    # cp -rL, shutil.copytree or a restored backup turn `current` into a real folder
    import shutil

    original = tmp_path / "wh" / "roadmap.duckdb"
    publish_night(original, "n1", {"a": "select 1 as night"})
    copy = tmp_path / "copy" / "roadmap.duckdb"
    shutil.copytree(original.parent, copy.parent)
    assert (copy.parent / "parquet" / CURRENT).is_dir() and not (copy.parent / "parquet" / CURRENT).is_symlink()
    publish_night(copy, "n2", {"a": "select 2 as night"})
    assert os.readlink(copy.parent / "parquet" / CURRENT) == "n2"
    assert pd.read_parquet(copy.parent / "parquet" / CURRENT / "a.parquet")["night"].tolist() == [2]
    assert sorted(p.name for p in (copy.parent / "parquet").iterdir()) == [CURRENT, "n1", "n2"]
