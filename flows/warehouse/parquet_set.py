"""The marts as Parquet, beside the published warehouse, for tools that do not speak
DuckDB (docs/analysts_guide.md, "Parquet"). Full figures, like the warehouse itself:
for the analysts' team; what leaves the team goes through `roadmap report --exports`.

    <warehouse dir>/parquet/current              -> <data run id>   (a relative symlink)
    <warehouse dir>/parquet/<data run id>/<mart>.parquet
    <warehouse dir>/parquet/<data run id>/_published.json   (run, time, rows per mart)

A folder holds the marts of one data run (the run whose load and `dbt build` made
them; `audit.published.parquet_folder`). It is written completely under a temporary
name and renamed into place before the warehouse file is swapped; `current` is then
re-pointed with one atomic rename. A reader therefore sees the old set or the new
one, never a half-written one, and a reader that resolved `current` before the swap
keeps reading its folder: the previous KEEP - 1 folders stay on disk.

Unchanged marts cost nothing: a mart whose rows (count and a checksum of every row)
equal those of the current set is hard-linked from it rather than written again, and a
publish that did not change the marts (a failed run publishing only its run record)
keeps the folder it had.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from pathlib import Path

import duckdb

from .durable import fsync

log = logging.getLogger("roadmap.publish")

FOLDER = "parquet"
CURRENT = "current"
MANIFEST = "_published.json"
KEEP = 3  # folders kept: the current one and the two before it


def root(warehouse: Path) -> Path:
    return Path(warehouse).parent / FOLDER


def current_folder(warehouse: Path) -> Path | None:
    """The folder `parquet/current` points to, if any."""
    link = root(warehouse) / CURRENT
    try:
        return root(warehouse) / os.readlink(link)
    except OSError:
        return None


def _text(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _open(database: Path) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB with `database` attached read-only as `db` (never the
    instance DuckDB caches for that path in this process)."""
    con = duckdb.connect()
    con.execute(f"attach {_text(database)} as db (read_only)").fetchall()
    return con


def _published_row(con: duckdb.DuckDBPyConnection) -> dict | None:
    has_table = con.execute(
        "select count(*) from duckdb_tables() where database_name = 'db' and schema_name = 'audit' "
        "and table_name = 'published'"
    ).fetchall()[0][0]
    if not has_table:
        return None
    cur = con.execute("select * from db.audit.published order by publish_seq desc limit 1")
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    return dict(zip(names, rows[0], strict=True)) if rows else None


def read_manifest(folder: Path | None) -> dict | None:
    if folder is None:
        return None
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_for(database: Path, warehouse: Path) -> Path | None:
    """Make sure the Parquet folder that `database`'s latest `audit.published` row names
    exists, complete; write it from `database`'s marts if not. Returns the folder (None
    when the file records no publish or holds no marts)."""
    con = _open(database)
    try:
        row = _published_row(con)
        if row is None or not row.get("parquet_folder"):
            return None
        folder = Path(warehouse).parent / row["parquet_folder"]
        manifest = read_manifest(folder)
        if manifest is not None and manifest.get("data_run_id") == row["data_run_id"]:
            return folder  # this publish did not change the marts
        _write_folder(con, folder, row, read_manifest(current_folder(warehouse)), current_folder(warehouse))
        return folder
    finally:
        con.close()


def _write_folder(con, folder: Path, row: dict, previous: dict | None, previous_folder: Path | None) -> None:
    tables = [
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_catalog = 'db' "
            "and table_schema = 'marts' order by table_name"
        ).fetchall()
    ]
    if not tables:
        return
    # one pass over every mart: its rows and a checksum of them (order does not matter)
    checks = con.execute(
        " union all ".join(
            f"select {_text(t)}, count(*), coalesce(sum(hash(__mart_row)), 0)::varchar "
            f"from db.marts.{_ident(t)} __mart_row"
            for t in tables
        )
    ).fetchall()
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    entries: dict[str, dict] = {}
    reused = 0
    for table, rows, fingerprint in checks:
        name = f"{table}.parquet"
        entries[table] = {"file": name, "rows": int(rows), "fingerprint": fingerprint}
        old = (previous or {}).get("tables", {}).get(table)
        if previous_folder is not None and old and old.get("fingerprint") == fingerprint and old.get("rows") == rows:
            with contextlib.suppress(OSError):
                os.link(previous_folder / old["file"], tmp / name)
                reused += 1
                continue
        con.execute(
            f"copy (select * from db.marts.{_ident(table)}) to {_text(tmp / name)} (format parquet, compression zstd)"
        ).fetchall()
    manifest = {
        "data_run_id": row["data_run_id"],
        "published_by_run_id": row["run_id"],
        "published_at": row["published_at"].isoformat() if row.get("published_at") else None,
        "tables": entries,
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    for path in tmp.iterdir():
        fsync(path)
    fsync(tmp)
    shutil.rmtree(folder, ignore_errors=True)  # an incomplete folder of the same run (cannot normally exist)
    os.replace(tmp, folder)
    fsync(folder.parent)
    log.info("Parquet set %s: %d mart(s), %d unchanged (linked)", folder, len(entries), reused)


def point_current(warehouse: Path, folder: Path) -> None:
    """Re-point `parquet/current` at `folder` (one atomic rename), then remove the
    folders older than the KEEP newest."""
    base = root(warehouse)
    link = base / CURRENT
    if current_folder(warehouse) != folder:
        tmp = base / (CURRENT + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(folder.name, tmp)
        if link.is_dir() and not link.is_symlink():
            # a copy that followed the link (cp -rL, shutil.copytree, a restored backup) left
            # `current` as a real folder: a rename cannot replace a folder with a link
            aside = base / (CURRENT + ".copied.tmp")  # removed by prune below
            shutil.rmtree(aside, ignore_errors=True)
            os.replace(link, aside)
        os.replace(tmp, link)
        fsync(base)
    prune(warehouse)


def prune(warehouse: Path, keep: int = KEEP) -> None:
    """Remove leftover temporary folders and the sets older than the `keep` newest
    (never `current`'s, never anything that is not a set this module wrote)."""
    base = root(warehouse)
    current = current_folder(warehouse)
    sets = []
    for path in base.iterdir() if base.is_dir() else ():
        if path.is_symlink() or not path.is_dir():
            continue
        if path.name.endswith(".tmp"):
            shutil.rmtree(path, ignore_errors=True)  # only the run holding the lock writes here
        elif (path / MANIFEST).is_file() and path != current:
            sets.append(path)
    sets.sort(key=lambda p: (p / MANIFEST).stat().st_mtime, reverse=True)
    for old in sets[max(0, keep - 1) :]:
        shutil.rmtree(old, ignore_errors=True)


def repair_current(warehouse: Path) -> None:
    """If a run died between the swap of the warehouse file and the swap of `current`,
    point `current` at the set the published file names (writing it if it is missing)."""
    if not Path(warehouse).is_file():
        return
    con = _open(warehouse)
    try:
        row = _published_row(con)
    finally:
        con.close()
    if row is None or not row.get("parquet_folder"):
        return
    folder = Path(warehouse).parent / row["parquet_folder"]
    if current_folder(warehouse) == folder and read_manifest(folder) is not None:
        return
    folder = write_for(warehouse, warehouse)
    if folder is not None:
        log.warning("the Parquet set did not match the published warehouse: now %s", folder)
        point_current(warehouse, folder)
