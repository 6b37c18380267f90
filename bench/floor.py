"""The plain-DuckDB floor: bench/floor.sql, filled in with the landing files, run in one
DuckDB connection. What is not SQL here is what any script must do first: list the
landing folder in received order and read each file's header line, so that files of one
layout are read in one scan (columns in any order, names trimmed and case-insensitive,
as DATA_SPEC section 1 allows).

A file whose header cannot be used is left out, whole, as the pipeline holds it back:
empty, no header, a required column missing, a column named twice.

    python bench/floor.py LANDING_DIR DATABASE    # prints the figures as JSON
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from flows.ingest.families import FAMILIES, parse_landing_name  # noqa: E402  (the layouts of DATA_SPEC section 1)

# DuckDB's parser: strict CSV, every column as text; rows it cannot parse go to a rejects
# table (the file is then held back, as a file with a malformed row or bad encoding)
_SCAN = (
    "read_csv({paths}, header = true, auto_detect = false, columns = {columns}, delim = ',', quote = '\"', "
    "escape = '\"', strict_mode = true, null_padding = false, filename = true, ignore_errors = true, "
    "store_rejects = true, rejects_table = '{rejects}', rejects_scan = '{rejects}_scans', "
    "max_line_size = 8388608)"
)


def _sql_text(value: str | None) -> str:
    return "NULL::VARCHAR" if value is None else "'" + value.replace("'", "''") + "'"


def _header(path: Path) -> list[str] | None:
    """The normalised header of a landing file, or None when it cannot be used."""
    with path.open("rb") as fh:
        head = fh.read(64 * 1024)
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:  # a cut multi-byte character at the end of the sample is fine
        if exc.start < len(head) - 4:
            first = head.split(b"\n", 1)[0]
            try:
                text = first.decode("utf-8-sig")
            except UnicodeDecodeError:
                return None
        else:
            text = head[: exc.start].decode("utf-8-sig")
    try:
        row = next(csv.reader(io.StringIO(text, newline="")))
    except (StopIteration, csv.Error):
        return None
    return [h.replace("\ufeff", "").strip().strip('"').strip().lower() for h in row]


def _pads(key: bytes) -> tuple[str, str]:
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key).hex(), bytes(b ^ 0x5C for b in key).hex()


def render(landing: Path, key: bytes = b"bench-key-not-a-secret") -> tuple[str, dict]:
    """The floor script for the files of `landing`, and what went into it."""
    entries = []
    for entry in os.scandir(landing):
        if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
            continue
        name = parse_landing_name(entry.name)
        if name is not None:
            entries.append((entry.stat().st_mtime, entry.name, name))
    entries.sort(key=lambda e: (e[0], e[1]))  # received order, as the pipeline numbers files

    groups: dict[str, dict[tuple[str, ...], list[str]]] = {f: {} for f in FAMILIES}
    rows, held = [], 0
    for seq, (_, file_name, name) in enumerate(entries, start=1):
        path = str(landing / file_name)
        header = _header(landing / file_name)
        family = FAMILIES[name.family]
        usable = (
            header is not None
            and all(c in header for c in family.column_names)
            and len({h for h in header if h}) == len([h for h in header if h])
        )
        held += not usable
        if usable:
            groups[name.family].setdefault(tuple(header), []).append(path)
        rows.append(
            f"({_sql_text(file_name)}, {_sql_text(path)}, {_sql_text(name.family)}, {_sql_text(name.school_year)}, "
            f"{seq}, {str(usable).lower()})"
        )

    scans, rejects = {}, []
    for family_name, by_header in groups.items():
        family = FAMILIES[family_name]
        parts = []
        for g, (header, paths) in enumerate(by_header.items()):
            table = f"rejects_{family_name}_{g}"
            columns = {f"c{i}": "VARCHAR" for i in range(len(header))}
            # trimmed of spaces (trim() with a set of characters costs four times as much)
            values = ", ".join(f"nullif(trim(c{header.index(c)}), '') as {c}" for c in family.column_names)
            scan = _SCAN.format(paths=repr(paths), columns=repr(columns), rejects=table)
            parts.append(f"select filename, {g} as _g, row_number() over () as _rn, {values} from {scan}")
            rejects.append(
                f"select s.file_path as filename from {table} r join {table}_scans s using (scan_id, file_id)"
            )
        if not parts:  # no readable file of the family: an empty table of its columns
            cols = ", ".join(f"NULL::VARCHAR as {c}" for c in family.column_names)
            parts.append(f"select NULL::VARCHAR as filename, 0 as _g, 0::BIGINT as _rn, {cols} where false")
        scans[family_name] = "(" + ") union all by name (".join(parts) + ")"

    ipad, opad = _pads(key)
    today = dt.date.today()
    start = today.year if today.month >= 7 else today.year - 1
    sql = (BENCH / "floor.sql").read_text(encoding="utf-8")
    fills = {
        "landing_files": ",\n".join(rows) or "(NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, 0, false)",
        "rejected_files": " union all ".join(rejects) or "select NULL::VARCHAR as filename where false",
        "ipad": ipad,
        "opad": opad,
        "received_year": f"{start}-{(start + 1) % 100:02d}",
        **{f"scan_{f}": s for f, s in scans.items()},
    }
    for k, v in fills.items():
        sql = sql.replace(f"@@{k}@@", v)
    if re.search(r"@@[a-z_]+@@", sql):
        raise RuntimeError("floor.sql has a placeholder floor.py does not fill in")
    return sql, {"files": len(entries), "files_left_out": held}


def run_floor(landing: Path, database: Path, memory_limit: str = "1GB") -> dict:
    """Run the floor on the files of `landing` into a fresh DuckDB file; its figures."""
    import duckdb

    started = time.perf_counter()
    key = os.environ.get("ROADMAP_PSEUDONYM_KEY", "bench-key-not-a-secret").encode("utf-8")
    sql, info = render(Path(landing), key)
    database = Path(database)
    for leftover in (database, database.with_name(database.name + ".wal")):
        leftover.unlink(missing_ok=True)
    database.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(database), config={"memory_limit": memory_limit})
    try:
        con.execute(f"set temp_directory = '{database.parent / '.floor_tmp'}'")
        con.execute(sql)
        district_years, rows = con.execute(
            "select (select count(*) from district_year_metrics), "
            "(select count(*) from raw_districts) + (select count(*) from raw_enrollment) "
            "+ (select count(*) from raw_staffing) + (select count(*) from raw_connectivity) "
            "+ (select count(*) from raw_devices) + (select count(*) from raw_pl)"
        ).fetchall()[0]
        errors, warnings = con.execute(
            "select count(*) filter (where severity = 'error'), count(*) filter (where severity = 'warning') "
            "from issues"
        ).fetchall()[0]
        con.execute("checkpoint")
    finally:
        con.close()
    return {
        "total_seconds": time.perf_counter() - started,
        "district_years": int(district_years),
        "rows_read": int(rows),
        "errors": int(errors),
        "warnings": int(warnings),
        **info,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(run_floor(Path(args[0]), Path(args[1]))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
