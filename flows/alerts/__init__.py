"""Data-quality alert e-mails (DATA_SPEC section 2), delivered exactly once through an
outbox on disk (docs/operations.md):

    queue_run_alerts   compose the run's messages, outbox/pending/ + audit.alerts (before publish)
    send_pending       send what published runs queued; sent mail moves to outbox/sent/ (after publish)
    sync_statuses      at the next run: audit.alerts statuses from the outbox; drop mail of unpublished runs
"""

from .compose import Alert, compose_failure_alert, compose_run_alerts, csv_safe
from .config import AlertOptions, SmtpSettings, require_alert_settings
from .ledger import QueuedAlert, ensure_alerts_table, live_status, queue_failure_alert, queue_run_alerts, sync_statuses
from .outbox import Outbox
from .reminders import queue_reminders
from .smtp import Delivery, send_pending


def send_after_failure(settings) -> None:
    """After a failed run: send what is pending (the message about the failure).
    Never raises: the run's own error is what the caller reports."""
    import logging

    try:
        send_pending(settings)
    except Exception as exc:  # reported, not raised
        logging.getLogger("roadmap.alerts").error("could not send the alert e-mails: %s: %s", type(exc).__name__, exc)


def run_alert_status(outbox_dir, run_id: str) -> str:
    """'N sent, M pending' for one run, from the outbox."""
    counts = Outbox(outbox_dir).counts(run_id)
    if not any(counts[s] for s in ("sent", "pending", "failed")):
        return "none"
    text = f"{counts['sent']} sent, {counts['pending']} pending"
    return text + (f", {counts['failed']} refused" if counts["failed"] else "")


__all__ = [
    "Alert",
    "AlertOptions",
    "Delivery",
    "Outbox",
    "QueuedAlert",
    "SmtpSettings",
    "compose_failure_alert",
    "compose_run_alerts",
    "csv_safe",
    "ensure_alerts_table",
    "live_status",
    "queue_failure_alert",
    "queue_reminders",
    "queue_run_alerts",
    "require_alert_settings",
    "run_alert_status",
    "send_after_failure",
    "send_pending",
    "sync_statuses",
]
