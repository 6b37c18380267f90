"""Send what is pending in the outbox, exactly once, with `smtplib`.

Only messages recorded in the PUBLISHED warehouse (`audit.alerts` of a run in
`audit.runs`) are sent: a run that crashed before its swap never published its alerts,
and the next run discards them. Each message moves to `outbox/sent/` right after the
server accepted it, under the outbox lock, so no message is sent twice. (The only
window left is a crash between the server's "250 OK" and that rename; the message then
goes out again with the same Message-ID, which mail clients recognise.)

When the server cannot be reached, sending is retried with exponential backoff
(`alerts.send_retries`, `alerts.send_retry_delay_seconds`); what is still not sent stays
pending for the next run, and the run itself still succeeds.

Nothing here can hold the night up: the socket timeout only bounds each read, and a
server that answers one byte at a time never trips it, so every step of a session
(opening it: connect, greeting, EHLO, STARTTLS, login; then each message; then QUIT)
has a wall-clock deadline (`alerts.smtp_session_deadline_seconds`), and sending as a
whole has one too (`alerts.stage_deadline_seconds`). A watchdog thread shuts the
session's socket down when a deadline passes, which ends the read or write in
progress; what is not sent by then stays pending for the next run.
"""

from __future__ import annotations

import contextlib
import email
import email.message
import email.policy
import html
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .. import stopping
from ..settings import Settings
from .config import AlertOptions, SmtpSettings
from .ledger import _log
from .outbox import FAILED, PENDING, SENT, Outbox, OutboxBusy, OutboxMessage, atomic_write, now_iso


class MailConfigError(Exception):
    """The server refused us for a reason a retry cannot fix (login, TLS, sender)."""


class OutboxWriteError(Exception):
    """A message was accepted but could not be moved to sent/: stop, never resend it now."""


class DeadlineExceeded(OSError):
    """A step of the SMTP session, or the alert stage, ran out of time (transient: the
    messages stay pending and the next run tries again)."""

    def __init__(self, text: str, *, stage: bool):
        super().__init__(text)
        self.stage = stage


class _Watchdog:
    """One thread that shuts the socket of an SMTP client down when the armed deadline
    passes (a read blocked on a trickling server then ends at once)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: tuple[int, float, smtplib.SMTP] | None = None
        self._fired: set[int] = set()
        self._tokens = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._watch, name="smtp-deadline", daemon=True)
        self._thread.start()

    def arm(self, client: smtplib.SMTP, end: float) -> int:
        with self._cond:
            self._tokens += 1
            self._armed = (self._tokens, end, client)
            self._cond.notify()
            return self._tokens

    def disarm(self, token: int) -> bool:
        """Disarm; whether the deadline of `token` fired."""
        with self._cond:
            if self._armed and self._armed[0] == token:
                self._armed = None
            fired = token in self._fired
            self._fired.discard(token)
            return fired

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        with self._cond:
            while not self._stopped:
                if self._armed is None:
                    self._cond.wait()
                    continue
                token, end, client = self._armed
                left = end - time.monotonic()
                if left > 0 and stopping.requested is None:
                    self._cond.wait(min(left, 0.25))  # a stop (SIGTERM) is seen within a quarter second
                    continue
                self._fired.add(token)
                if _abort(client):
                    self._armed = None
                else:  # no socket yet (still connecting): look again shortly
                    self._cond.wait(0.05)


def _abort(client: smtplib.SMTP) -> bool:
    """Shut the client's socket down (both ways), which ends any read or write on it; the
    plain socket's shutdown, also under TLS, so the TLS state is left to its thread."""
    sock = getattr(client, "sock", None)
    if sock is None:
        return False
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    return True


class Deadlines:
    """The wall-clock limits of one round of sending: each step of a session within
    `step_seconds`, everything within `stage_seconds` of the start."""

    def __init__(self, step_seconds: float, stage_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.step_seconds = step_seconds
        self.stage_seconds = stage_seconds
        self.clock = clock
        self.stage_end = clock() + stage_seconds
        self._watchdog: _Watchdog | None = None

    def remaining(self) -> float:
        return self.stage_end - self.clock()

    def stage_over(self) -> bool:
        return self.remaining() <= 0

    def stage_text(self) -> str:
        return (
            f"the alert stage reached its deadline of {self.stage_seconds:g} s (alerts.stage_deadline_seconds); "
            "what is not sent goes out with the next run"
        )

    @contextlib.contextmanager
    def step(self, client: smtplib.SMTP, what: str):
        """Run one step of a session under its deadline: past it, the socket is shut down
        and the step raises DeadlineExceeded."""
        stopping.raise_if_requested()
        if self.stage_over():
            raise DeadlineExceeded(self.stage_text(), stage=True)
        now = self.clock()
        by_stage = self.stage_end <= now + self.step_seconds
        end = min(now + self.step_seconds, self.stage_end)
        if self._watchdog is None:
            self._watchdog = _Watchdog()
        token = self._watchdog.arm(client, time.monotonic() + (end - now))
        try:
            yield
        except Exception as exc:
            fired = self._watchdog.disarm(token)
            stopping.raise_if_requested()  # the socket was shut down because the run was told to stop
            if fired or self.clock() >= end:
                if by_stage:
                    raise DeadlineExceeded(f"{what}: {self.stage_text()}", stage=True) from exc
                raise DeadlineExceeded(
                    f"{what} took longer than {self.step_seconds:g} s (alerts.smtp_session_deadline_seconds): "
                    "the mail server answers too slowly",
                    stage=False,
                ) from exc
            raise
        else:
            self._watchdog.disarm(token)

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog = None


@dataclass
class Delivery:
    sent: int = 0
    failed: int = 0
    pending: int = 0  # published, still waiting for the mail server
    unpublished: int = 0  # queued by a run that has not (or never) published
    error: str | None = None
    deadline: str | None = None  # why sending stopped early: a deadline (the rest stays pending)


def published_alerts(warehouse: Path, run_ids: set[str]) -> set[tuple[str, str]]:
    """(run_id, alert_id) of the alerts in the published warehouse, for these runs."""
    if not run_ids or not Path(warehouse).exists():
        return set()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        has_table = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'audit' and table_name = 'alerts'"
        ).fetchall()[0][0]
        if not has_table:
            return set()
        ids = sorted(run_ids)
        rows = con.execute(
            f"""
            select a.run_id, a.alert_id from audit.alerts a
            where a.run_id in ({", ".join("?" * len(ids))})
              and exists (select 1 from audit.runs r where r.run_id = a.run_id)
            """,
            ids,
        ).fetchall()
    finally:
        con.close()
    return {(r[0], r[1]) for r in rows}


def connect(smtp: SmtpSettings, deadlines: Deadlines | None = None) -> smtplib.SMTP:
    """An SMTP session: connect, greeting, EHLO, STARTTLS (certificate verified) and login
    as configured, all within one step's deadline."""
    if smtp.user and not smtp.password:
        raise MailConfigError("ROADMAP_SMTP_USER is set but ROADMAP_SMTP_PASSWORD is not")
    own = deadlines is None
    deadlines = deadlines or Deadlines(smtp.timeout_seconds * 4, smtp.timeout_seconds * 4)
    client = smtplib.SMTP(timeout=max(0.1, min(smtp.timeout_seconds, deadlines.remaining())))
    client._host = smtp.host  # what STARTTLS checks the certificate against (set by the constructor when it connects)
    try:
        with deadlines.step(client, f"opening the session with {smtp.host}:{smtp.port} (connect, greeting, EHLO)"):
            _open(client, smtp)
    except BaseException:
        client.close()
        raise
    finally:
        if own:
            deadlines.close()
    return client


def _open(client: smtplib.SMTP, smtp: SmtpSettings) -> None:
    code, message = client.connect(smtp.host, smtp.port)
    if code != 220:
        raise smtplib.SMTPConnectError(code, message)
    client.ehlo()
    if smtp.starttls:
        try:
            client.starttls(context=ssl.create_default_context())
        except smtplib.SMTPNotSupportedError:
            raise MailConfigError(f"{smtp.host}:{smtp.port} does not offer STARTTLS") from None
        except ssl.SSLError as exc:
            raise MailConfigError(f"TLS with {smtp.host}:{smtp.port} failed: {exc}") from None
        client.ehlo()
    if smtp.user:
        try:
            client.login(smtp.user, smtp.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise MailConfigError(
                f"{smtp.host} refused the login of {smtp.user!r} ({exc.smtp_code}): check ROADMAP_SMTP_USER and "
                "ROADMAP_SMTP_PASSWORD"
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise MailConfigError(
                f"{smtp.host}:{smtp.port} offers no login here (set ROADMAP_SMTP_STARTTLS=true if it needs TLS first)"
            ) from None


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError))


def _error_text(exc: BaseException, smtp: SmtpSettings) -> str:
    text = str(exc) if isinstance(exc, (MailConfigError, DeadlineExceeded)) else f"{type(exc).__name__}: {exc}"
    return smtp.redact(text)[:1000]


class _Sender:
    def __init__(self, outbox: Outbox, smtp: SmtpSettings):
        self.outbox = outbox
        self.smtp = smtp
        self.delivery = Delivery()

    def one(self, client: smtplib.SMTP, m: OutboxMessage) -> None:
        """Send one message; move it to sent/ (or failed/) right away."""
        raw = m.eml.read_bytes()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        recipients = restamp(msg, m, self.smtp)
        new = bytes(msg)
        if new != raw:  # the outbox keeps what is actually sent
            atomic_write(m.eml, new)
            self.outbox.update(m, recipients=recipients)
        attempts = m.attempts + 1
        try:
            refused = client.send_message(msg, to_addrs=recipients or None)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(code >= 500 for code in codes):
                self._move(
                    m,
                    FAILED,
                    attempts=attempts,
                    last_error=self.smtp.redact(f"every recipient refused: {exc.recipients}"),
                )
                self.delivery.failed += 1
                return
            raise
        except smtplib.SMTPDataError as exc:
            if exc.smtp_code >= 500:
                self._move(m, FAILED, attempts=attempts, last_error=_error_text(exc, self.smtp))
                self.delivery.failed += 1
                return
            raise
        except smtplib.SMTPSenderRefused as exc:
            if exc.smtp_code >= 500:
                raise MailConfigError(
                    f"the server refused the sender {exc.sender!r}: check ROADMAP_ALERT_FROM"
                ) from None
            raise
        note = self.smtp.redact(f"refused by the server: {refused}") if refused else None
        self._move(m, SENT, sent_at=now_iso(), attempts=attempts, last_error=note)
        self.delivery.sent += 1

    def _move(self, m: OutboxMessage, state: str, **changes) -> None:
        try:
            self.outbox.move(m, state, **changes)
        except OSError as exc:
            raise OutboxWriteError(
                f"{m.eml} was handled by the mail server but could not be moved to {state}/: {exc}"
            ) from exc

    def note_failure(self, todo: list[OutboxMessage], error: str | None) -> None:
        self.outbox.update_many((m, {"attempts": m.attempts + 1, "last_error": error}) for m in todo)


def _replace_in_body(msg: email.message.EmailMessage, old: str, new: str) -> None:
    if not old or old == new:
        return
    for part in msg.walk():
        if part.is_multipart() or part.get_content_maintype() != "text" or part.get_filename():
            continue
        subtype = part.get_content_subtype()
        content = part.get_content()
        pairs = [(old, new)] + ([(html.escape(old), html.escape(new))] if subtype == "html" else [])
        changed = content
        for a, b in pairs:
            changed = changed.replace(a, b)
        if changed != content:
            part.set_content(changed, subtype=subtype, charset="utf-8")


def restamp(msg: email.message.EmailMessage, m: OutboxMessage, smtp: SmtpSettings) -> list[str]:
    """Sender, Reply-To, the state recipients and the state contact named in the text,
    from the settings at the moment of sending (a message may wait in the outbox across
    a change of settings). Returns the envelope recipients."""
    del msg["From"]
    msg["From"] = smtp.sender
    del msg["Reply-To"]
    if smtp.reply_to:
        msg["Reply-To"] = smtp.reply_to
    recipients = m.recipients
    if m.meta.get("scope") == "state" and smtp.state_recipients:
        recipients = list(smtp.state_recipients)
        del msg["To"]
        msg["To"] = ", ".join(recipients)
    queued = m.meta.get("state_contact") or {}
    if queued:
        _replace_in_body(msg, queued.get("name") or "", smtp.state_contact_name or "")
        _replace_in_body(msg, queued.get("email") or "", smtp.state_contact_email or "")
    return recipients


def send_pending(
    settings: Settings,
    *,
    smtp: SmtpSettings | None = None,
    options: AlertOptions | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """Send every pending message of a published run; never raises for mail-server
    trouble, and returns by `alerts.stage_deadline_seconds` whatever the server does."""
    log = _log()
    smtp = smtp or SmtpSettings.from_settings(settings)
    if not smtp.enabled:
        return Delivery()
    options = options or AlertOptions.from_settings(settings)
    deadlines = Deadlines(options.smtp_session_deadline_seconds, options.stage_deadline_seconds)
    outbox = Outbox(settings.outbox_dir)
    try:
        with outbox.lock(wait_seconds=min(300.0, max(0.0, deadlines.remaining()))):
            return _send_locked(settings, outbox, smtp, options, sleep, log, deadlines)
    except OutboxBusy as exc:
        log.warning("%s: its pending e-mails are left to it", exc)
        return Delivery(error=str(exc))
    finally:
        deadlines.close()


def _send_locked(
    settings, outbox: Outbox, smtp: SmtpSettings, options: AlertOptions, sleep, log, deadlines: Deadlines
) -> Delivery:
    queued = list(outbox.messages(PENDING))
    published = published_alerts(settings.warehouse, {m.run_id for m in queued})
    todo = [m for m in queued if (m.run_id, m.alert_id) in published]
    sender = _Sender(outbox, smtp)
    sender.delivery.unpublished = len(queued) - len(todo)
    if not todo:
        return sender.delivery
    if not smtp.host:
        log.warning(
            "ROADMAP_SMTP_HOST is not set: %d alert e-mail(s) wait in %s/pending", len(todo), settings.outbox_dir
        )
        sender.delivery.pending = len(todo)
        sender.delivery.error = "ROADMAP_SMTP_HOST is not set"
        return sender.delivery
    if not smtp.sender:
        error = "no sender address: set ROADMAP_ALERT_FROM or alerts.sender"
        log.error("alert e-mails not sent: %s; %d stay pending in %s", error, len(todo), settings.outbox_dir)
        sender.note_failure(todo, error)
        sender.delivery.pending = len(todo)
        sender.delivery.error = error
        return sender.delivery
    attempt = 0
    while todo:
        error, failure = None, None
        try:
            client = connect(smtp, deadlines)
        except MailConfigError as exc:
            error = _error_text(exc, smtp)
            log.error("alert e-mails not sent: %s; %d stay pending in %s", error, len(todo), settings.outbox_dir)
            sender.note_failure(todo, error)
            sender.delivery.error = error
            break
        except (smtplib.SMTPException, OSError) as exc:
            error, failure = _error_text(exc, smtp), exc
            if not _transient(exc):
                log.error(
                    "mail server %s:%s refused the session: %s; %d alert e-mail(s) stay pending",
                    smtp.host,
                    smtp.port,
                    error,
                    len(todo),
                )
                sender.note_failure(todo, error)
                sender.delivery.error = error
                break
        else:
            try:
                while todo:
                    m = todo[0]
                    try:
                        with deadlines.step(client, f"sending {m.run_id}/{m.alert_id}"):
                            sender.one(client, m)
                    except MailConfigError:
                        raise
                    except (smtplib.SMTPException, OSError) as exc:
                        if _transient(exc):
                            error, failure = _error_text(exc, smtp), exc
                            break
                        # refused for good, but not for a reason handled in `one`: keep it, go on
                        sender.note_failure(todo[:1], _error_text(exc, smtp))
                        log.error("%s/%s not sent: %s", m.run_id, m.alert_id, _error_text(exc, smtp))
                        sender.delivery.pending += 1
                    todo.pop(0)
            except MailConfigError as exc:
                error = _error_text(exc, smtp)
                log.error("alert e-mails not sent: %s; %d stay pending in %s", error, len(todo), settings.outbox_dir)
                sender.note_failure(todo, error)
                sender.delivery.error = error
                break
            finally:
                _quit(client, deadlines)
            if not todo:
                break
        # transient trouble (could not connect, the connection broke, a step ran out of
        # time): back off and retry, within the stage's deadline
        sender.note_failure(todo, error)
        if deadlines.stage_over() or isinstance(failure, DeadlineExceeded) and failure.stage:
            _stopped_by_deadline(sender.delivery, error or deadlines.stage_text(), smtp, todo, log)
            break
        if attempt >= options.send_retries:
            log.warning(
                "mail server %s:%s unreachable after %d attempt(s) (%s): %d alert e-mail(s) stay pending "
                "and go out with the next run",
                smtp.host,
                smtp.port,
                attempt + 1,
                error,
                len(todo),
            )
            sender.delivery.error = error
            if isinstance(failure, DeadlineExceeded):
                sender.delivery.deadline = error
            break
        delay = options.send_retry_delay_seconds * (2**attempt)
        if delay >= deadlines.remaining():
            _stopped_by_deadline(sender.delivery, deadlines.stage_text(), smtp, todo, log, last_error=error)
            break
        attempt += 1
        log.warning(
            "mail server %s:%s: %s; retry %d of %d in %.1f s",
            smtp.host,
            smtp.port,
            error,
            attempt,
            options.send_retries,
            delay,
        )
        sleep(delay)
    sender.delivery.pending += len(todo)
    if sender.delivery.sent:
        log.info("sent %d alert e-mail(s) via %s:%s", sender.delivery.sent, smtp.host, smtp.port)
    return sender.delivery


def _stopped_by_deadline(
    delivery: Delivery, text: str, smtp: SmtpSettings, todo: list, log, last_error: str | None = None
) -> None:
    log.warning(
        "mail server %s:%s: %s; %d alert e-mail(s) stay pending%s",
        smtp.host,
        smtp.port,
        text,
        len(todo),
        f" (last error: {last_error})" if last_error else "",
    )
    delivery.error = text if not last_error else f"{last_error}; {text}"
    delivery.deadline = delivery.error


def _quit(client: smtplib.SMTP, deadlines: Deadlines) -> None:
    """QUIT, within a step's deadline; a server that does not answer is just left."""
    try:
        if deadlines.stage_over():
            raise DeadlineExceeded(deadlines.stage_text(), stage=True)
        with deadlines.step(client, "closing the session"):
            client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
