"""Write-audit-publish for the DuckDB warehouse.

Analysts hold read-only connections on the published file all day, and DuckDB allows
no writer beside readers, so the published file is never opened for writing. A run:

1. takes the run lock `<warehouse>.lock` (an `flock`: the kernel releases it when the
   process dies, even by SIGKILL, so a crash never blocks the next run);
2. copies the published file to `<warehouse>.building` (a leftover from a crashed run is
   simply replaced) and does all its work there;
3. when the load and `dbt build` (models and tests) succeeded, checkpoints and closes
   the work copy, flushes it to disk and renames it over the published file. The
   rename is atomic: a reader that opened the old file keeps reading the old file
   (its open handle still points to it), a reader that opens afterwards sees the new one,
   and nobody sees a half-built warehouse.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import shutil
import threading
import time
from pathlib import Path

import duckdb


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + max(0.0, wait_seconds)
    stop = threading.Event()
    beat: threading.Thread | None = None
    clean_end = False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if _same_file(fd, path):
                    break
                # the lock file was deleted or replaced while we waited: lock the new one
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                continue
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    holder = _read_holder(path)
                    raise RunInProgress(
                        f"another nightly run is using {warehouse} ({holder}); this run did nothing. "
                        "Wait for it to finish, or check `roadmap runs`. The lock frees itself when that process ends."
                    ) from None
                time.sleep(0.5)
        previous = _read_holder_info(fd)
        started = _utc_now()
        info = {"run_id": run_id, "pid": os.getpid(), "flow_run_id": flow_run_id, "started_at": started,
                "heartbeat_at": started}
        _write_holder(fd, info)
        beat = threading.Thread(target=_heartbeat, args=(fd, info, stop), name="warehouse-lock-heartbeat", daemon=True)
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
        with contextlib.suppress(OSError):
            # a clean end empties the lock file: a holder named there at the next start
            # is a run that died
            if clean_end:
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


_HOLDER_BYTES = 1024


def _write_holder(fd: int, info: dict) -> None:
    """One fixed-size write at offset 0: a reader (or a kill) never sees half an entry."""
    data = json.dumps(info).encode()[:_HOLDER_BYTES].ljust(_HOLDER_BYTES)
    os.pwrite(fd, data, 0)


def _heartbeat(fd: int, info: dict, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        with contextlib.suppress(OSError):
            _write_holder(fd, {**info, "heartbeat_at": _utc_now()})


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


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
    """A fresh work copy of the published warehouse (empty on the first run)."""
    work = building_path(warehouse)
    discard_work_copy(warehouse)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    if warehouse.exists():
        tmp = work.with_name(work.name + ".copying")
        shutil.copyfile(warehouse, tmp)
        os.replace(tmp, work)
    return work


def discard_work_copy(warehouse: Path) -> None:
    work = building_path(warehouse)
    for leftover in (work, work.with_name(work.name + ".wal"), work.with_name(work.name + ".copying")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def publish_work_copy(warehouse: Path) -> None:
    """Swap the work copy in for the published warehouse, atomically."""
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
    fd = os.open(work, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(work, warehouse)
    dir_fd = os.open(warehouse.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
