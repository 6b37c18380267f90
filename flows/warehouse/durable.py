"""Files that survive a crash, and the locks that keep two processes apart: the one
place the pipeline writes files durably and takes `flock`s (the warehouse swap and the
run lock in publish.py, the Parquet set in parquet_set.py, the alert outbox in
flows/alerts/outbox.py).

A file is durable once its bytes and the directory entry naming it are on disk:
write it whole under a temporary name, fsync it, rename it into place (atomic: a
reader sees the old file or the new one, never half of one), then fsync the
directory, without which a power cut can forget the rename.

A lock is an `flock` on a lock file: the kernel releases it when the process holding
it dies, even by SIGKILL, so a crash never blocks the next process.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path


def fsync(path: Path) -> None:
    """Flush a file, or a directory's entries (the renames and creations in it), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(path: Path, *, best_effort: bool = False) -> None:
    """Flush the entries of a directory; with `best_effort`, a file system that cannot
    (or a directory that went away) is not an error."""
    if best_effort:
        with contextlib.suppress(OSError):
            fsync(path)
    else:
        fsync(path)


def write_synced(path: Path, data: bytes, mode: int = 0o640) -> None:
    """Write `data` as the whole content of `path` and flush it to disk (no rename: the
    caller renames it into place, see `write_durably`)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def temporary_name(path: Path) -> Path:
    """A dot-file beside `path`, private to this process (no reader looks at dot-files)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_durably(path: Path, data: bytes, mode: int = 0o640, *, best_effort_directory: bool = True) -> None:
    """Replace `path` by `data`, atomically and durably: written whole and fsynced under
    a temporary name, renamed into place, then the directory fsynced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        write_synced(tmp, data, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_directory(path.parent, best_effort=best_effort_directory)


def replace_durably(source: Path, target: Path) -> None:
    """Rename the complete file (or folder) `source` over `target` durably: its content
    flushed first, the rename flushed after."""
    fsync(source)
    os.replace(source, target)
    fsync(target.parent)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def exclusive_lock(
    path: Path,
    wait_seconds: float,
    busy: Callable[[], BaseException],
    poll_seconds: float = 0.5,
) -> Iterator[int]:
    """Hold an exclusive `flock` on the lock file `path` (created if missing) for the
    block; yields its file descriptor (the holder may write who it is into it).

    Waits up to `wait_seconds` for another holder, polling every `poll_seconds`, then
    raises `busy()`. A lock file deleted or replaced while waiting is not a lock: the
    new file at `path` is locked instead. The lock is released when the block ends, and
    by the kernel if the process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + max(0.0, wait_seconds)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise busy() from None
                time.sleep(poll_seconds)
                continue
            if _same_file(fd, path):
                break
            # the lock file was deleted or replaced while we waited: lock the new one
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            yield fd
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
