"""Write-audit-publish for the DuckDB warehouse.

Analysts hold read-only connections on the published file all day, and DuckDB allows
no writer beside readers, so the published file is never opened for writing. A run:

1. takes the run lock `<warehouse>.lock` (an `flock`: the kernel releases it when the
   process dies, even by SIGKILL, so a crash never blocks the next run);
2. copies the published file to `<warehouse>.building` (a leftover from a crashed run is
   simply replaced) and does all its work there;
3. when the load and `dbt build` (models and tests) succeeded, records the publish in
   `audit.published`, checkpoints and closes the work copy, writes the marts as Parquet
   beside it (flows/warehouse/parquet_set.py), flushes it to disk and renames it over the
   published file. The rename is atomic: a reader that opened the old file keeps
   reading the old file (its open handle still points to it), a reader that opens
   afterwards sees the new one, and nobody sees a half-built warehouse.

The published file is in the DuckDB storage version STORAGE_VERSION, which DuckDB 1.x
clients read (the CLI, JDBC/ODBC drivers of BI tools, notebooks pinned to duckdb 1.x).
It costs nothing per night: the file is created in that version, and DuckDB keeps
writing a file in the version it was created with (byte copies, dbt's writes and
checkpoints included). A warehouse in another version (one written before this rule,
or after STORAGE_VERSION changed) is converted once, by the next run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import threading
import time
from pathlib import Path

import duckdb

from .durable import exclusive_lock, replace_durably

log = logging.getLogger("roadmap.publish")

# The DuckDB storage format of the published warehouse, the one place it is chosen
# (docs/ARCHITECTURE.md, "Files on disk"). "v1.4.0" is read by DuckDB 1.4 (the
# long-term-support line) and every later release: 1.5, 2.x and the 1.x drivers behind
# BI tools. The DuckDB that writes (requirements.lock, 2.0) would otherwise write its
# own newest format, which no 1.x client can open ("database file with version number
# 69 ... we can only read versions between 64 and 68"). Raise it only when every client
# the analysts use reads the newer version; the next run then converts the warehouse.
STORAGE_VERSION = "v1.4.0"


class RunInProgress(Exception):
    """Another run holds the warehouse lock."""


def building_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".building")


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


HEARTBEAT_SECONDS = 5.0  # how often a run holding the lock writes "still alive" into it


@contextlib.contextmanager
def warehouse_lock(warehouse: Path, run_id: str, wait_seconds: float = 0.0, flow_run_id: str | None = None):
    """Hold the run lock of `warehouse` for the duration of the block. Yields what the
    lock file said of the previous holder: empty when it ended cleanly, else its run id,
    pid, Prefect flow run id, start time and last heartbeat (it died holding the lock).

    While held, a thread rewrites `heartbeat_at` every HEARTBEAT_SECONDS, so a run that
    is killed (SIGKILL, power cut) leaves the time it was last alive: the next run records
    its true duration. A run ended by a signal (SIGTERM, Ctrl-C: BaseException, not
    Exception) keeps its entry too, with `ended_at`, so it is recorded the same way; a
    run that ended normally or with an error (recorded by the run itself) empties it."""
    path = lock_path(warehouse)

    def busy() -> RunInProgress:
        return RunInProgress(
            f"another nightly run is using {warehouse} ({_read_holder(path)}); this run did nothing. "
            "Wait for it to finish, or check `roadmap runs`. The lock frees itself when that process ends."
        )

    with exclusive_lock(path, wait_seconds, busy, poll_seconds=0.5) as fd:
        clean_end = False
        try:
            previous = _read_holder_info(fd)
            started = _utc_now()
            info = {
                "run_id": run_id,
                "pid": os.getpid(),
                "flow_run_id": flow_run_id,
                "started_at": started,
                "heartbeat_at": started,
            }
            _write_holder(fd, info)
            stop = threading.Event()
            beat = threading.Thread(
                target=_heartbeat, args=(fd, info, stop), name="warehouse-lock-heartbeat", daemon=True
            )
            beat.start()
            try:
                yield previous
            except Exception:
                clean_end = True  # the run recorded its own failure
                raise
            else:
                clean_end = True
            finally:
                stop.set()
                beat.join(timeout=5)
                if not clean_end:  # a signal ended the run: leave its entry for the next run to record
                    with contextlib.suppress(OSError):
                        _write_holder(fd, {**info, "heartbeat_at": _utc_now(), "ended_at": _utc_now()})
        finally:
            # a clean end empties the lock file: a holder named there at the next start
            # is a run that died
            if clean_end:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


_HOLDER_BYTES = 1024


def _write_holder(fd: int, info: dict) -> None:
    """One fixed-size write at offset 0: a reader (or a kill) never sees half an entry."""
    data = json.dumps(info).encode()[:_HOLDER_BYTES].ljust(_HOLDER_BYTES)
    os.pwrite(fd, data, 0)


def _heartbeat(fd: int, info: dict, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        with contextlib.suppress(OSError):
            _write_holder(fd, {**info, "heartbeat_at": _utc_now()})


def _read_holder_info(fd: int) -> dict:
    """What the lock file says about the last holder (empty after a clean end)."""
    os.lseek(fd, 0, os.SEEK_SET)
    data = os.read(fd, 4096)
    try:
        return json.loads(data) if data.strip() else {}
    except ValueError:
        return {}


def _read_holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "holder unknown"
    return f"run {info.get('run_id', '?')}, process {info.get('pid', '?')}, started {info.get('started_at', '?')}"


def prepare_work_copy(warehouse: Path) -> Path:
    """A fresh work copy of the published warehouse, in STORAGE_VERSION (a new, empty
    file on the first run). Also repairs the Parquet set's `current` link if a run died
    between the swap of the file and the swap of the link."""
    from .parquet_set import repair_current

    work = building_path(warehouse)
    discard_work_copy(warehouse)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    tmp = work.with_name(work.name + ".copying")
    if not warehouse.exists():
        create_database(tmp)
    else:
        repair_current(warehouse)
        found = storage_version(warehouse)
        if found == STORAGE_VERSION:
            shutil.copyfile(warehouse, tmp)
        else:
            started = time.perf_counter()
            convert_database(warehouse, tmp)
            log.warning(
                "converted the warehouse %s from DuckDB storage version %s to %s, so that DuckDB 1.x clients "
                "can open it (once; %.1f s). It is published by this run.",
                warehouse,
                found,
                STORAGE_VERSION,
                time.perf_counter() - started,
            )
    os.replace(tmp, work)
    return work


def _sql_text(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def storage_version(path: Path) -> str:
    """The storage version of a DuckDB file, as STORAGE_VERSION names it ("v1.4.0"):
    the oldest DuckDB version that reads it."""
    con = duckdb.connect()  # a private in-memory database: never DuckDB's cached instance of the file
    try:
        con.execute(f"attach {_sql_text(path)} as db (read_only)").fetchall()
        tags = con.execute("select tags from duckdb_databases() where database_name = 'db'").fetchall()[0][0]
        return str((tags or {}).get("storage_version", "unknown")).rstrip("+")
    finally:
        con.close()


def create_database(path: Path) -> None:
    """An empty DuckDB file in STORAGE_VERSION: every later write keeps that version."""
    con = duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_VERSION})
    con.close()


def convert_database(source: Path, target: Path) -> None:
    """Copy every schema, table, view and constraint of `source` into a new file in
    STORAGE_VERSION."""
    for leftover in (target, target.with_name(target.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
    con = duckdb.connect()
    try:
        con.execute(f"attach {_sql_text(source)} as source_db (read_only)").fetchall()
        con.execute(
            f"attach {_sql_text(target)} as target_db (storage_version {_sql_text(STORAGE_VERSION)})"
        ).fetchall()
        con.execute("copy from database source_db to target_db").fetchall()
        con.execute("detach target_db").fetchall()  # checkpoints: no WAL left beside it
    finally:
        con.close()


def discard_work_copy(warehouse: Path) -> None:
    work = building_path(warehouse)
    for leftover in (work, work.with_name(work.name + ".wal"), work.with_name(work.name + ".copying")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def publish_work_copy(warehouse: Path) -> None:
    """Swap the work copy in for the published warehouse, atomically; then the Parquet
    set of its marts (written before the swap) becomes `parquet/current`."""
    from .parquet_set import point_current, write_for

    work = building_path(warehouse)
    wal = work.with_name(work.name + ".wal")
    # A WAL left beside the work copy would belong to it and be lost by the rename:
    # fold it in first.
    if wal.exists():
        con = duckdb.connect(str(work))
        try:
            con.execute("checkpoint").fetchall()
        finally:
            con.close()
    parquet_folder = write_for(work, warehouse)
    replace_durably(work, warehouse)
    if parquet_folder is not None:
        point_current(warehouse, parquet_folder)
