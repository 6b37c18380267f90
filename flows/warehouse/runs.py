"""`roadmap runs`: the recent runs, read from the published warehouse (read-only), with
the delivery state of their alert e-mails from the outbox."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

from ..settings import Settings

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


def recent_runs(con: duckdb.DuckDBPyConnection, limit: int = 20, outbox_dir: Path | None = None) -> list[dict]:
    has_alerts = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'audit' and table_name = 'alerts'"
    ).fetchall()[0][0]
    alerts = (
        "(select count(*) filter (where a.status = 'sent')::varchar || ' sent, ' || "
        "count(*) filter (where a.status <> 'sent')::varchar || ' pending' "
        "from audit.alerts a where a.run_id = r.run_id)"
        if has_alerts
        else "null"
    )
    cur = con.execute(RUNS_SQL.format(alerts=alerts), [limit])
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    if has_alerts and outbox_dir is not None:
        _alerts_from_outbox(con, rows, outbox_dir)
    return rows


def _alerts_from_outbox(con: duckdb.DuckDBPyConnection, rows: list[dict], outbox_dir: Path) -> None:
    """The published audit.alerts lags one run behind delivery (it is synced at the start
    of the next run): count each run's alerts by where the outbox has them now."""
    from ..alerts import live_status

    if not rows:
        return
    ids = [r["run_id"] for r in rows]
    recorded = con.execute(
        f"select run_id, alert_id, status from audit.alerts where run_id in ({', '.join('?' * len(ids))})", ids
    ).fetchall()
    counts: dict[str, dict[str, int]] = {}
    for run_id, alert_id, status in recorded:
        state = live_status(outbox_dir, run_id, alert_id, status)
        per_run = counts.setdefault(run_id, {})
        per_run[state] = per_run.get(state, 0) + 1
    for r in rows:
        c = counts.get(r["run_id"])
        if not c:
            r["alerts"] = "none"
            continue
        text = f"{c.pop('sent', 0)} sent, {c.pop('pending', 0)} pending"
        r["alerts"] = ", ".join([text] + [f"{n} {state}" for state, n in sorted(c.items())])


def format_table(rows: list[dict]) -> str:
    columns = [
        ("run_id", "run"),
        ("status", "status"),
        ("started_at", "started (UTC)"),
        ("seconds", "secs"),
        ("files_new", "new files"),
        ("files_skipped", "skipped"),
        ("rows_loaded", "rows loaded"),
        ("rows_quarantined", "quarantined"),
        ("errors", "errors"),
        ("warnings", "warnings"),
        ("alerts", "alerts"),
    ]
    cells = []
    for r in rows:
        started = r["started_at"].strftime("%Y-%m-%d %H:%M:%S") if r["started_at"] else ""
        cells.append(["" if r[k] is None else (started if k == "started_at" else str(r[k])) for k, _ in columns])
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (_, h) in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

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
        rows = recent_runs(con, limit, settings.outbox_dir)
    finally:
        con.close()
    if not rows:
        print("no runs recorded yet")
        return 0
    print(format_table(rows))
    return 0
