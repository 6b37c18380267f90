"""flows/warehouse/durable.py, the one owner of durable writes and locks (the warehouse
swap and run lock, the Parquet set, the alert outbox), on a real file system and with
real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from flows.warehouse import durable

REPO = Path(__file__).resolve().parents[1]


class Busy(Exception):
    pass


def _hold_lock_in_another_process(path: Path, ready: Path) -> subprocess.Popen:
    code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from flows.warehouse.durable import exclusive_lock
        with exclusive_lock(Path({str(path)!r}), 0, lambda: RuntimeError("busy")):
            Path({str(ready)!r}).write_text("held")
            time.sleep(60)
        """
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO)


def _wait_for(path: Path, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, "the other process never took the lock"
        time.sleep(0.05)


def test_a_lock_held_by_another_process_cannot_be_taken_and_frees_itself_when_that_process_dies(tmp_path):
    lock = tmp_path / "run.lock"
    ready = tmp_path / "ready"
    holder = _hold_lock_in_another_process(lock, ready)
    try:
        _wait_for(ready)
        started = time.monotonic()
        with pytest.raises(Busy), durable.exclusive_lock(lock, 0.6, Busy, poll_seconds=0.1):
            pass
        waited = time.monotonic() - started
        assert 0.5 <= waited < 5, waited  # waited for the holder as long as asked, not more
        holder.kill()  # SIGKILL: no cleanup in the holder; the kernel releases the flock
        holder.wait(timeout=10)
        with durable.exclusive_lock(lock, 5, Busy, poll_seconds=0.1) as fd:
            assert os.fstat(fd).st_ino == os.stat(lock).st_ino
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)


@pytest.mark.fast
def test_a_lock_is_released_when_its_block_ends_even_by_an_error(tmp_path):
    lock = tmp_path / "outbox" / ".lock"
    with pytest.raises(ValueError), durable.exclusive_lock(lock, 0, Busy):
        raise ValueError("inside")
    with durable.exclusive_lock(lock, 0, Busy):  # free again at once
        with pytest.raises(Busy), durable.exclusive_lock(lock, 0, Busy):  # but not twice at a time
            pass


def test_a_lock_file_replaced_while_waiting_is_not_a_lock(tmp_path, monkeypatch):
    """A waiter whose lock file was deleted and created again locks the file now at the
    path, not the orphan it opened."""
    lock = tmp_path / "run.lock"
    calls = {"n": 0}
    real_flock = durable.fcntl.flock

    def flock(fd, op):
        if op & durable.fcntl.LOCK_EX and calls["n"] == 0:
            calls["n"] += 1
            lock.unlink()  # another process removed the lock file meanwhile
            lock.write_text("")
        return real_flock(fd, op)

    monkeypatch.setattr(durable.fcntl, "flock", flock)
    with durable.exclusive_lock(lock, 0, Busy) as fd:
        assert os.fstat(fd).st_ino == os.stat(lock).st_ino


def _record(monkeypatch) -> list[tuple]:
    """The fsyncs and renames, in order, by what they name on disk."""
    calls: list[tuple] = []
    real_fsync, real_replace, real_open, real_close = os.fsync, os.replace, os.open, os.close
    names: dict[int, str] = {}

    def opened(path, flags, *args):
        fd = real_open(path, flags, *args)
        names[fd] = str(path)
        return fd

    def closed(fd):
        names.pop(fd, None)
        return real_close(fd)

    def fsync(fd):
        calls.append(("fsync", names.get(fd)))
        return real_fsync(fd)

    def replace(src, dst):
        calls.append(("replace", str(src), str(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "open", opened)
    monkeypatch.setattr(os, "close", closed)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return calls


@pytest.mark.fast
def test_a_durable_write_flushes_the_content_then_renames_then_flushes_the_directory(tmp_path, monkeypatch):
    target = tmp_path / "pending" / "run-1" / "a.json"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"old")
    calls = _record(monkeypatch)
    durable.write_durably(target, b"new" * 100_000)
    monkeypatch.undo()
    tmp = durable.temporary_name(target)
    assert calls == [
        ("fsync", str(tmp)),
        ("replace", str(tmp), str(target)),
        ("fsync", str(target.parent)),
    ]
    assert target.read_bytes() == b"new" * 100_000  # whole, even beyond one write() call
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]  # no temporary file left


@pytest.mark.fast
def test_a_failed_durable_write_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    target = tmp_path / "a.json"
    target.write_bytes(b"old")

    def failing_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        durable.write_durably(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_a_durable_replace_flushes_the_file_before_and_the_directory_after_the_rename(tmp_path, monkeypatch):
    work = tmp_path / "warehouse.duckdb.building"
    published = tmp_path / "warehouse.duckdb"
    work.write_bytes(b"new warehouse")
    published.write_bytes(b"old warehouse")
    calls = _record(monkeypatch)
    durable.replace_durably(work, published)
    monkeypatch.undo()
    assert calls == [
        ("fsync", str(work)),
        ("replace", str(work), str(published)),
        ("fsync", str(tmp_path)),
    ]
    assert published.read_bytes() == b"new warehouse" and not work.exists()


def test_a_directory_fsync_is_strict_unless_asked_to_be_best_effort(tmp_path):
    missing = tmp_path / "gone"
    with pytest.raises(FileNotFoundError):
        durable.fsync_directory(missing)
    durable.fsync_directory(missing, best_effort=True)
