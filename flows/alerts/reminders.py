"""Reminder e-mails to districts about the yearly files they have not sent yet, before
the collection deadline (flows/ingest/collection.py decides who is due; this module composes
and queues). Queued through the same outbox as the data-quality alerts, so delivery is
exactly once, and recorded in audit.alerts (scope `reminder`) and audit.reminders (one
row per district, school year, family and deadline: never reminded twice)."""

from __future__ import annotations

import datetime as dt
import logging

import duckdb
import pandas as pd

from ..settings import Settings
from ..warehouse.db import registered, run, scalar
from .compose import Alert, _contact, _render, build_message, header_safe, safe_id
from .config import AlertOptions, SmtpSettings, valid_address
from .ledger import _record, ensure_alerts_table
from .outbox import Outbox

REMINDER = "reminder"

log = logging.getLogger("roadmap.alerts")


def reminder_alert_id(school_year: str, deadline: dt.date, district_code: str) -> str:
    return f"reminder-{school_year}-{deadline:%Y%m%d}-{safe_id(district_code)}"


def queue_reminders(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    run_id: str,
    *,
    smtp: SmtpSettings | None = None,
    as_of: dt.date | None = None,
) -> int:
    """Queue the reminders due today (work copy of the warehouse, after the build:
    marts.submission_status). Returns how many messages were queued."""
    from ..ingest.collection import REMINDERS_DDL, due_reminders, today

    smtp = smtp or SmtpSettings.from_settings(settings)
    if not smtp.enabled:
        return 0
    exists = scalar(
        con,
        "select count(*) from information_schema.tables "
        "where table_schema = 'marts' and table_name = 'submission_status'",
    )
    if not exists:
        return 0
    as_of = as_of or today(settings)
    options = AlertOptions.from_settings(settings)
    due = due_reminders(con, as_of)
    alerts: list[Alert] = []
    ledger = []
    skipped = []
    for d in due:
        email = (d["data_contact_email"] or "").strip()
        if not valid_address(email):
            skipped.append(d["district_code"])
            continue
        alert_id = reminder_alert_id(d["school_year"], d["deadline"], d["district_code"])
        families = [
            {"family": f, "file_name": f"{f}_{d['school_year']}_{d['district_code']}.csv"} for f in d["families"]
        ]
        subject = (
            f"{options.subject_prefix} reminder: {len(families)} file(s) for {d['school_year']} due "
            f"{d['deadline']:%Y-%m-%d} ({d['district_code']})"
        )
        context = dict(
            subject=subject,
            district_name=d["district_name"] or d["district_code"],
            district_code=d["district_code"],
            school_year=d["school_year"],
            deadline=f"{d['deadline']:%Y-%m-%d}",
            today=f"{as_of:%Y-%m-%d}",
            days_left=(d["deadline"] - as_of).days,
            families=families,
            contact=_contact(smtp),
        )
        text, html = _render("reminder", **context)
        message = build_message(
            run_id=run_id, alert_id=alert_id, smtp=smtp, recipients=[email], subject=subject, text=text, html=html
        )
        alerts.append(
            Alert(
                alert_id,
                REMINDER,
                d["district_code"],
                [email],
                header_safe(subject),
                bytes(message),
                state_contact=_contact(smtp),
            )
        )
        ledger += [
            (d["district_code"], d["school_year"], f, d["deadline"], run_id, alert_id, email) for f in d["families"]
        ]
    if skipped:
        log.warning(
            "%d district(s) owe files but have no usable data_contact_email in the directory: no reminder (%s)",
            len(skipped),
            ", ".join(skipped[:10]),
        )
    if not alerts:
        return 0
    ensure_alerts_table(con)
    run(con, REMINDERS_DDL)
    frame = pd.DataFrame(
        ledger,
        columns=["district_code", "school_year", "family", "deadline", "run_id", "alert_id", "recipient"],
        dtype="object",
    )
    # the ledger and audit.alerts together or not at all (mail queued without its audit.alerts row is
    # discarded by the next run's sync_statuses, and queued again by it)
    run(con, "begin transaction")
    try:
        with registered(con, "_reminders", frame):
            run(
                con,
                "insert into audit.reminders select district_code, school_year, family, cast(deadline as date), "
                "run_id, alert_id, recipient, now() from _reminders",
            )
        _record(con, Outbox(settings.outbox_dir), run_id, alerts)
        run(con, "commit")
    except BaseException:
        run(con, "rollback")
        raise
    log.info("queued %d reminder e-mail(s) to districts with files due", len(alerts))
    return len(alerts)
