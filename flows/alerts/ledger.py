"""`audit.alerts`: the record of every alert a run queued, in the work copy of the
warehouse, so it is published together with the run it belongs to.

- `queue_run_alerts` (just before publish): compose the run's messages and put them in
  `outbox/pending/<run_id>/` as they come, a batch at a time (one fsync of the
  directory per batch), then record them all here as `pending` with one insert;
- `queue_failure_alert` (when a run failed): the same for the message about the failure;
- `sync_statuses` (at the start of the next run): copy what the outbox says (sent,
  attempts, last error) into the rows still pending, and discard the pending mail of
  runs that never published (their rows are not here: they were in a work copy that
  was thrown away, and the run that redoes their work queues its own).

The outbox is the truth about delivery; the published table lags one run behind it, so
`roadmap runs` merges both (`live_status`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

from ..settings import Settings
from ..warehouse.db import run
from .compose import Alert, compose_failure_alert, compose_run_alerts
from .config import AlertOptions, SmtpSettings
from .outbox import DISCARDED, PENDING, Outbox, now_iso

ALERTS_DDL = """
create table if not exists audit.alerts (
    run_id varchar,
    alert_id varchar,
    scope varchar,
    district_code varchar,
    recipients varchar,
    subject varchar,
    status varchar,
    queued_at timestamptz,
    sent_at timestamptz,
    attempts integer,
    last_error varchar
)
"""


def _log() -> logging.Logger | logging.LoggerAdapter:
    try:
        from prefect import get_run_logger

        return get_run_logger()
    except Exception:  # outside a flow or task run
        return logging.getLogger("roadmap.alerts")


def ensure_alerts_table(con: duckdb.DuckDBPyConnection) -> None:
    run(con, "create schema if not exists audit")
    run(con, ALERTS_DDL)


# Messages written to the outbox together (one fsync of the directory each batch); the
# batch's messages are all that is held in memory at once.
QUEUE_BATCH = 64


@dataclass(frozen=True)
class QueuedAlert:
    """What was queued of one message (the message itself is in the outbox)."""

    alert_id: str
    scope: str
    district_code: str | None
    recipients: tuple[str, ...]
    subject: str


def _record(con: duckdb.DuckDBPyConnection, outbox: Outbox, run_id: str, alerts: Iterable[Alert]) -> list[QueuedAlert]:
    """Serialise each message as it comes, write them to outbox/pending a batch at a time,
    then record every one in audit.alerts with a single insert."""
    queued: list[QueuedAlert] = []
    batch: list[tuple[str, bytes, dict]] = []
    for a in alerts:
        batch.append(
            (
                a.alert_id,
                a.message if isinstance(a.message, bytes) else bytes(a.message),
                {
                    "scope": a.scope,
                    "district_code": a.district_code,
                    "recipients": a.recipients,
                    "subject": a.subject,
                    "state_contact": a.state_contact,
                },
            )
        )
        queued.append(QueuedAlert(a.alert_id, a.scope, a.district_code, tuple(a.recipients), a.subject))
        del a
        if len(batch) >= QUEUE_BATCH:
            outbox.put_pending_many(run_id, batch)
            batch = []
    if batch:
        outbox.put_pending_many(run_id, batch)
    del batch
    if queued:
        run(
            con,
            """
            insert into audit.alerts
            select ?, alert_id, scope, district_code, recipients, subject, 'pending', ?, null, 0, null
            from (
                select unnest(?::varchar[]) as alert_id, unnest(?::varchar[]) as scope,
                       unnest(?::varchar[]) as district_code, unnest(?::varchar[]) as recipients,
                       unnest(?::varchar[]) as subject
            )
            """,
            [
                run_id,
                dt.datetime.now(dt.UTC),
                [q.alert_id for q in queued],
                [q.scope for q in queued],
                [q.district_code for q in queued],
                [", ".join(q.recipients) for q in queued],
                [q.subject for q in queued],
            ],
        )
    return queued


def queue_run_alerts(
    con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str, *, smtp: SmtpSettings | None = None
) -> list[QueuedAlert]:
    """Compose the data-quality messages of `run_id` and queue them (outbox + audit.alerts),
    each written as soon as it is composed."""
    ensure_alerts_table(con)
    smtp = smtp or SmtpSettings.from_settings(settings)
    if not smtp.enabled:
        _log().info("alert e-mails are switched off (alerts.enabled: false in %s)", settings.config_file)
        return []
    from ..ingest.collection import today

    alerts = _record(
        con,
        Outbox(settings.outbox_dir),
        run_id,
        compose_run_alerts(con, run_id, smtp, AlertOptions.from_settings(settings), as_of=today(settings)),
    )
    if not alerts:
        return []
    if not smtp.state_recipients:
        _log().warning(
            "no state recipients (ROADMAP_ALERT_TO or alerts.state_recipients): "
            "no data-quality report for the state is queued"
        )
    districts = sum(1 for a in alerts if a.scope == "district")
    _log().info(
        "queued %d alert e-mail(s) in %s: %s%d to districts",
        len(alerts),
        settings.outbox_dir,
        "1 to the state, " if any(a.scope == "state" for a in alerts) else "",
        districts,
    )
    return alerts


def queue_failure_alert(
    con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str, error: str, *, smtp: SmtpSettings | None = None
) -> QueuedAlert | None:
    """Queue the message to the state recipients that run `run_id` failed. Never raises:
    the failure record it goes with matters more than the e-mail."""
    try:
        ensure_alerts_table(con)
        smtp = smtp or SmtpSettings.from_settings(settings)
        if not smtp.enabled:
            return None
        started = con.execute("select started_at from audit.runs where run_id = ?", [run_id]).fetchall()
        alert = compose_failure_alert(
            run_id,
            error,
            smtp,
            AlertOptions.from_settings(settings),
            warehouse=str(settings.warehouse),
            started=started[0][0] if started else None,
        )
        if alert is None:
            _log().warning(
                "no state recipients (ROADMAP_ALERT_TO or alerts.state_recipients): "
                "nobody is told by e-mail that run %s failed",
                run_id,
            )
            return None
        (queued,) = _record(con, Outbox(settings.outbox_dir), run_id, [alert])
        return queued
    except Exception as exc:
        _log().error("could not queue the e-mail about the failed run %s: %s: %s", run_id, type(exc).__name__, exc)
        return None


def sync_statuses(con: duckdb.DuckDBPyConnection, outbox_dir, *, current_run_id: str | None = None) -> dict[str, int]:
    """At the start of a run: statuses of pending `audit.alerts` rows from the outbox,
    and discard pending mail whose run never published. Returns counts per status."""
    ensure_alerts_table(con)
    outbox = Outbox(outbox_dir)
    changed: dict[str, int] = {}
    open_rows = con.execute("select run_id, alert_id from audit.alerts where status = 'pending'").fetchall()
    for run_id, alert_id in open_rows:
        msg = outbox.find(run_id, alert_id)
        if msg is None:
            status, sent_at, attempts, error = "missing", None, None, "not found in the outbox"
        else:
            status = msg.state
            sent_at = msg.meta.get("sent_at") if msg.state == "sent" else None
            attempts = msg.meta.get("attempts")
            error = msg.meta.get("last_error")
        if status == PENDING and not attempts and not error:
            continue
        run(
            con,
            """
            update audit.alerts set status = ?, sent_at = cast(? as timestamptz),
                   attempts = coalesce(?, attempts), last_error = ?
            where run_id = ? and alert_id = ?
            """,
            [status, sent_at, attempts, error, run_id, alert_id],
        )
        changed[status] = changed.get(status, 0) + 1
    known = {(r[0], r[1]) for r in con.execute("select run_id, alert_id from audit.alerts").fetchall()}
    discarded = 0
    for msg in list(outbox.messages(PENDING)):
        if (msg.run_id, msg.alert_id) in known or msg.run_id == current_run_id:
            continue
        outbox.move(
            msg,
            DISCARDED,
            discarded_at=now_iso(),
            last_error="queued by a run that never published; that run's work is redone",
        )
        discarded += 1
    if discarded:
        _log().warning(
            "discarded %d queued e-mail(s) of run(s) that never published (moved to %s/discarded)",
            discarded,
            outbox_dir,
        )
        changed[DISCARDED] = discarded
    return changed


def live_status(outbox_dir, run_id: str, alert_id: str, recorded: str) -> str:
    """The delivery state of one alert: the outbox when it knows, else the record."""
    msg = Outbox(outbox_dir).find(run_id, alert_id)
    return msg.state if msg is not None else recorded
