"""The outbox on disk (`<warehouse dir>/outbox/`): where a message lives is its state.

    outbox/pending/<run_id>/<alert_id>.eml    composed, not yet accepted by the mail server
    outbox/pending/<run_id>/<alert_id>.json   its sidecar: run_id, scope, district_code,
                                              recipients, subject, created_at, attempts, last_error
    outbox/sent/<run_id>/...                  accepted by the mail server (sent_at in the sidecar)
    outbox/failed/<run_id>/...                refused for good by the server (e.g. 5xx on every recipient)
    outbox/discarded/<run_id>/...             queued by a run that never published (crash before the swap)
    outbox/.lock                              held while sending, so two processes never send the same file

Every write is atomic (temporary file, fsync, rename): a crash leaves either the old or
the new file, never half of one. The `.eml` is written last when queuing and renamed
first when moving, so its location is the truth and the sidecar only adds details.
A run queues its messages in batches (`put_pending_many`): every file of a batch is
written to a temporary name and fsynced, then renamed into place, and the directory is
fsynced once per batch; a crash leaves each message whole in pending/ or not there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..warehouse.durable import exclusive_lock, fsync_directory, temporary_name, write_durably, write_synced

PENDING, SENT, FAILED, DISCARDED = "pending", "sent", "failed", "discarded"
STATES = (SENT, FAILED, PENDING, DISCARDED)  # lookup order: a sent copy wins over anything else

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class OutboxBusy(Exception):
    """Another process is sending from this outbox."""


def _check_name(value: str, what: str) -> str:
    if not _SAFE.match(value or "") or ".." in value:
        raise ValueError(f"{what} {value!r} cannot be used as a file name in the outbox")
    return value


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` by `data`: a crash leaves the old file or the new one."""
    write_durably(path, data)


# Files of a batch are written and fsynced by a few threads at once: the file system
# commits concurrent fsyncs together, which roughly halves the cost of each.
_SYNC_THREADS = 4


def _write_batch(files: list[tuple[Path, Path, bytes]]) -> None:
    """[(temporary, final, content)]: each written to its temporary name and fsynced, then
    all renamed in this order, then each directory fsynced once. A crash leaves every
    file either complete under its final name or not there (the temporary ones are
    dot-files, which no reader looks at)."""
    if not files:
        return
    directories = list(dict.fromkeys(final.parent for _, final, _ in files))
    for directory in directories:
        directory.mkdir(parents=True, exist_ok=True)
    try:
        with ThreadPoolExecutor(max_workers=_SYNC_THREADS) as pool:
            for _ in pool.map(lambda f: write_synced(f[0], f[2]), files):
                pass
        for temporary, final, _ in files:
            os.replace(temporary, final)
    except BaseException:
        for temporary, _, _ in files:
            with contextlib.suppress(OSError):
                temporary.unlink()
        raise
    for directory in directories:
        fsync_directory(directory, best_effort=True)


@dataclass
class OutboxMessage:
    run_id: str
    alert_id: str
    state: str
    eml: Path
    meta: dict = field(default_factory=dict)

    @property
    def sidecar(self) -> Path:
        return self.eml.with_suffix(".json")

    @property
    def recipients(self) -> list[str]:
        return list(self.meta.get("recipients") or [])

    @property
    def attempts(self) -> int:
        return int(self.meta.get("attempts") or 0)


class Outbox:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, state: str, run_id: str, alert_id: str) -> Path:
        return self.root / state / _check_name(run_id, "run id") / f"{_check_name(alert_id, 'alert id')}.eml"

    # ---------------------------------------------------------------------- writing

    def put_pending_many(self, run_id: str, messages: Iterable[tuple[str, bytes, dict]]) -> int:
        """Queue a batch of messages of one run, [(alert_id, eml, meta)]: every sidecar and
        .eml written to a temporary name and fsynced, then each message renamed into
        place (its sidecar first, then the .eml: the commit), and the directory fsynced
        once. Returns how many were queued."""
        created = now_iso()
        files: list[tuple[Path, Path, bytes]] = []  # (temporary, final, content), sidecar before .eml
        for alert_id, eml, meta in messages:
            path = self.path(PENDING, run_id, alert_id)
            meta = {
                "run_id": run_id,
                "alert_id": alert_id,
                "created_at": created,
                "attempts": 0,
                "last_error": None,
                "sent_at": None,
                **meta,
            }
            for final, data in (
                (path.with_suffix(".json"), json.dumps(meta, indent=2, default=str).encode()),
                (path, eml),
            ):
                files.append((temporary_name(final), final, data))
        _write_batch(files)
        return len(files) // 2

    def update(self, msg: OutboxMessage, **changes) -> None:
        msg.meta.update(changes)
        atomic_write(msg.sidecar, json.dumps(msg.meta, indent=2, default=str).encode())

    def update_many(self, updates: Iterable[tuple[OutboxMessage, dict]]) -> None:
        """`update` for many messages at once: the sidecars written as one batch."""
        files = []
        for msg, changes in updates:
            msg.meta.update(changes)
            final = msg.sidecar
            files.append(
                (
                    temporary_name(final),
                    final,
                    json.dumps(msg.meta, indent=2, default=str).encode(),
                )
            )
        _write_batch(files)

    def move(self, msg: OutboxMessage, state: str, **changes) -> OutboxMessage:
        """Move a message to another state; the rename of the .eml is the commit."""
        target = self.path(state, msg.run_id, msg.alert_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        meta = {**msg.meta, **changes}
        atomic_write(target.with_suffix(".json"), json.dumps(meta, indent=2, default=str).encode())
        os.replace(msg.eml, target)
        fsync_directory(target.parent, best_effort=True)
        with contextlib.suppress(FileNotFoundError):
            msg.sidecar.unlink()
        with contextlib.suppress(OSError):  # only when empty
            msg.eml.parent.rmdir()
        return OutboxMessage(msg.run_id, msg.alert_id, state, target, meta)

    # ---------------------------------------------------------------------- reading

    def _read_meta(self, eml: Path) -> dict:
        try:
            return json.loads(eml.with_suffix(".json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def find(self, run_id: str, alert_id: str) -> OutboxMessage | None:
        for state in STATES:
            path = self.path(state, run_id, alert_id)
            if path.exists():
                meta = self._read_meta(path)
                if state == SENT and not meta.get("sent_at"):
                    meta["sent_at"] = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).isoformat()
                return OutboxMessage(run_id, alert_id, state, path, meta)
        return None

    def messages(self, state: str = PENDING) -> Iterator[OutboxMessage]:
        base = self.root / state
        if not base.is_dir():
            return
        for run_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            for eml in sorted(run_dir.glob("*.eml")):
                if eml.name.startswith("."):
                    continue
                yield OutboxMessage(run_dir.name, eml.stem, state, eml, self._read_meta(eml))

    def counts(self, run_id: str | None = None) -> dict[str, int]:
        out = {}
        for state in STATES:
            base = self.root / state
            dirs = [base / run_id] if run_id else ([p for p in base.iterdir() if p.is_dir()] if base.is_dir() else [])
            out[state] = sum(1 for d in dirs if d.is_dir() for e in d.glob("*.eml") if not e.name.startswith("."))
        return out

    # ---------------------------------------------------------------------- locking

    @contextlib.contextmanager
    def lock(self, wait_seconds: float = 300.0):
        """Held while sending: two processes never send from the outbox at once."""
        self.root.mkdir(parents=True, exist_ok=True)

        def busy() -> OutboxBusy:
            return OutboxBusy(f"another process is sending from {self.root}")

        with exclusive_lock(self.root / ".lock", wait_seconds, busy, poll_seconds=0.2):
            yield
