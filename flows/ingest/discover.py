"""Discover: which landing files are new, in which order they were received, and a
safe copy of each in the archive.

- Only regular files directly in the landing folder are read. Symbolic links and
  folders are reported and never followed (a link could point anywhere on the server).
- A file is known by the SHA-256 of its bytes: content already received (under any
  name) is skipped, so re-running with nothing new does nothing.
- Received order (DATA_SPEC section 2): files are numbered in the order the pipeline
  first saw them; within one run, by modification time, then name.
- Every new file is copied to `<warehouse dir>/archive/<sha256>/<name>` before it is
  read, so nothing a district sent is ever lost, even if it is later removed from the
  landing folder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import os
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..school_years import school_year_containing
from .families import LandingName, parse_landing_name
from .issues import Issue

_READ_CHUNK = 4 * 1024 * 1024


@dataclass
class LandingFile:
    path: Path
    name: str
    file_id: str  # sha256 of the bytes
    size_bytes: int
    mtime: float
    landing_name: LandingName | None  # None: the name matches no family
    received_seq: int = 0
    archive_path: Path | None = None
    received_at: dt.datetime | None = None  # when first received (files that waited); None: this run

    @property
    def family(self) -> str | None:
        return self.landing_name.family if self.landing_name else None

    @property
    def school_year(self) -> str | None:
        return self.landing_name.school_year if self.landing_name else None

    def issue(self, **kwargs) -> Issue:
        return Issue(
            file_id=self.file_id, file_name=self.name, family=self.family, school_year=self.school_year, **kwargs
        )


@dataclass
class Discovery:
    new_files: list[LandingFile]
    skipped: list[str]  # names of files whose content was already received
    not_files: list[Issue]  # links, folders and other entries that are not regular files
    seen: int
    unsettled: list[str] = field(default_factory=list)  # still being written: left for the next run


class NotARegularFile(OSError):
    """The entry stopped being a regular file after it was listed (e.g. replaced by a link)."""


@contextlib.contextmanager
def open_regular(path: Path):
    """Open `path` for reading only if it is a regular file, never following a symbolic
    link (checked on the open file itself, so a link swapped in after listing is refused)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotARegularFile(errno.ELOOP, "is a symbolic link", str(path)) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotARegularFile(errno.EINVAL, "is not a regular file", str(path))
    with os.fdopen(fd, "rb") as fh:
        yield fh


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open_regular(path) as fh:
        for chunk in iter(lambda: fh.read(_READ_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def scan_landing(
    landing_dir: Path, known_ids: set[str], next_seq: int, *, settle_seconds: float = 0.0, now: float | None = None
) -> Discovery:
    """List the landing folder and pick the files not received before.

    A file modified less than `settle_seconds` ago, or whose size or modification time
    changes while it is read, is still being written (an upload in progress): it is left
    for the next run, so a truncated upload never replaces a district's data."""
    if not landing_dir.is_dir():
        raise FileNotFoundError(
            f"landing folder {landing_dir} does not exist: create it, or pass --landing DIR / set ROADMAP_LANDING_DIR"
        )
    candidates: list[LandingFile] = []
    not_files: list[Issue] = []
    skipped: list[str] = []
    unsettled: list[str] = []
    seen = 0
    now = time.time() if now is None else now
    for entry in sorted(os.scandir(landing_dir), key=lambda e: e.name):
        seen += 1
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISREG(info.st_mode) and 0 <= now - info.st_mtime < settle_seconds:
            unsettled.append(entry.name)
            continue
        if not stat.S_ISREG(info.st_mode):
            not_files.append(not_a_regular_file(entry.name, info.st_mode))
            continue
        path = Path(entry.path)
        try:
            file_id = sha256_of(path)
        except NotARegularFile as exc:
            not_files.append(_not_a_file(entry.name, exc.strerror))
            continue
        except OSError as exc:  # e.g. permission denied: report it, keep going, try again next run
            not_files.append(
                Issue(
                    rule="unreadable_file",
                    severity="error",
                    file_name=entry.name,
                    value=entry.name,
                    message=f"'{entry.name}' cannot be read by the pipeline ({exc.strerror or exc}): make it readable "
                    "by the account that runs the nightly load; it will be picked up by the next run.",
                )
            )
            continue
        after = os.stat(path, follow_symlinks=False)
        if (after.st_size, after.st_mtime_ns) != (info.st_size, info.st_mtime_ns):
            unsettled.append(entry.name)  # written to while it was read
            continue
        if file_id in known_ids:
            skipped.append(entry.name)
            continue
        known_ids = known_ids | {file_id}  # the same bytes twice in one run count once
        candidates.append(
            LandingFile(
                path=path,
                name=entry.name,
                file_id=file_id,
                size_bytes=info.st_size,
                mtime=info.st_mtime,
                landing_name=parse_landing_name(entry.name),
            )
        )
    candidates.sort(key=lambda f: (f.mtime, f.name))
    for offset, f in enumerate(candidates):
        f.received_seq = next_seq + offset
    return Discovery(new_files=candidates, skipped=skipped, not_files=not_files, seen=seen, unsettled=unsettled)


def not_a_regular_file(name: str, mode: int) -> Issue:
    """The issue of an entry that is a link, a folder or another non-regular file."""
    kind = "a symbolic link" if stat.S_ISLNK(mode) else "a folder" if stat.S_ISDIR(mode) else "not a regular file"
    return _not_a_file(name, f"is {kind}")


def _not_a_file(name: str, what: str) -> Issue:
    return Issue(
        rule="not_a_regular_file",
        severity="error",
        file_name=name,
        value=name,
        message=f"'{name}' {what}; only regular files directly in the landing folder are read. "
        "Copy the file itself into the landing folder.",
    )


def archive(files: list[LandingFile], archive_dir: Path) -> None:
    """Copy each file's bytes to the archive (atomically: copy to a temp name, then rename).

    The archive holds what districts sent, educator IDs included: it is readable by
    the pipeline's own user only."""
    archive_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(archive_dir, 0o700)
    for f in files:
        target_dir = archive_dir / f.file_id[:2] / f.file_id
        target = target_dir / f.name
        if not target.exists():
            target_dir.mkdir(parents=True, exist_ok=True)
            tmp = target_dir / ".partial"  # a short name: the file's own may already be 255 bytes long
            with open_regular(f.path) as src, tmp.open("wb") as dst:
                shutil.copyfileobj(src, dst, _READ_CHUNK)
            if sha256_of(tmp) != f.file_id:
                tmp.unlink(missing_ok=True)
                raise OSError(f"{f.name} changed while it was being archived: it will be picked up by the next run")
            os.replace(tmp, target)
        f.archive_path = target


def received_school_year(when: dt.datetime) -> str:
    """The school year a file received at ``when`` counts for (July 1 to June 30)."""
    return school_year_containing(when)
