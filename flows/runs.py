"""`roadmap runs`: the recent runs, read from the published warehouse (read-only)."""

from __future__ import annotations

import sys

import duckdb

from .settings import Settings

RUNS_SQL = """
select r.run_id, r.status, r.started_at, r.finished_at,
       round(epoch(r.finished_at - r.started_at), 1) as seconds,
       r.files_new, r.files_skipped, r.rows_loaded, r.rows_quarantined, r.errors, r.warnings,
       {alerts} as alerts,
       r.message
from audit.runs r
order by r.started_at desc
limit ?
"""


def recent_runs(con: duckdb.DuckDBPyConnection, limit: int = 20) -> list[dict]:
    has_alerts = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'audit' and table_name = 'alerts'"
    ).fetchall()[0][0]
    alerts = (
        "(select count(*) filter (where a.status = 'sent')::varchar || ' sent, ' || "
        "count(*) filter (where a.status <> 'sent')::varchar || ' pending' from audit.alerts a where a.run_id = r.run_id)"
        if has_alerts
        else "null"
    )
    cur = con.execute(RUNS_SQL.format(alerts=alerts), [limit])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def format_table(rows: list[dict]) -> str:
    columns = [
        ("run_id", "run"), ("status", "status"), ("started_at", "started (UTC)"), ("seconds", "secs"),
        ("files_new", "new files"), ("files_skipped", "skipped"), ("rows_loaded", "rows loaded"),
        ("rows_quarantined", "quarantined"), ("errors", "errors"), ("warnings", "warnings"), ("alerts", "alerts"),
    ]
    cells = []
    for r in rows:
        started = r["started_at"].strftime("%Y-%m-%d %H:%M:%S") if r["started_at"] else ""
        cells.append(["" if r[k] is None else (started if k == "started_at" else str(r[k])) for k, _ in columns])
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (_, h) in enumerate(columns)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()
    out = [line([h for _, h in columns]), line(["-" * w for w in widths])]
    out += [line(c) for c in cells]
    notes = [f"{r['run_id']}: {r['message']}" for r in rows if r.get("message")]
    if notes:
        out += ["", "notes:"] + [f"  {n}" for n in notes]
    return "\n".join(out)


def print_runs(settings: Settings, limit: int = 20) -> int:
    if not settings.warehouse.exists():
        print(f"no warehouse at {settings.warehouse}: no run has published yet", file=sys.stderr)
        return 2
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        rows = recent_runs(con, limit)
    finally:
        con.close()
    if not rows:
        print("no runs recorded yet")
        return 0
    print(format_table(rows))
    return 0
