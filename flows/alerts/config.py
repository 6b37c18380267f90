"""Mail settings: the SMTP server (and its password) from the environment only
(docs/INTERFACE.md); sender, state recipients and the state contact from `alerts:` in
config/roadmap.yml, which ROADMAP_ALERT_FROM / ROADMAP_ALERT_TO override; the message
options from `alerts:` too. Everything is read again when mail is SENT (From, Reply-To,
the state recipients and contact of a queued message follow the settings of that time).

The password is held here and handed to `smtplib` at login; it never appears in a
repr, a log line, an error text, the outbox or the warehouse (see `redact`)."""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass, field, replace

from ..settings import ConfigError, Settings, secret_from_environment

TRUE = {"1", "true", "yes", "on"}
FALSE = {"", "0", "false", "no", "off"}

# Deliberately simple: one @, no spaces or commas, a dot in the domain.
_ADDRESS = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+$")


def valid_address(value: str | None) -> bool:
    return bool(value) and bool(_ADDRESS.match(value.strip()))


def split_addresses(value: str | None) -> list[str]:
    return [a.strip() for a in (value or "").replace(";", ",").split(",") if a.strip()]


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None
    port: int
    user: str | None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    sender: str | None = None
    state_recipients: tuple[str, ...] = ()
    timeout_seconds: float = 30.0
    state_contact_name: str | None = None
    state_contact_email: str | None = None  # also the Reply-To of every message
    enabled: bool = True

    @property
    def reply_to(self) -> str | None:
        return self.state_contact_email

    @property
    def message_domain(self) -> str:
        """The domain of Message-IDs: the sender's, else a reserved one."""
        return (self.sender or "").rpartition("@")[2] or "roadmap-warehouse.invalid"

    @classmethod
    def from_settings(cls, settings: Settings, environ: dict[str, str] | None = None) -> SmtpSettings:
        """The environment's server settings, with sender, state recipients and contact
        from `alerts:` of the config where the environment does not set them."""
        env = dict(os.environ if environ is None else environ)
        raw = settings.section("alerts")
        if not env.get("ROADMAP_ALERT_FROM", "").strip() and raw.get("sender"):
            env["ROADMAP_ALERT_FROM"] = str(raw["sender"])
        if not env.get("ROADMAP_ALERT_TO", "").strip() and raw.get("state_recipients"):
            value = raw["state_recipients"]
            env["ROADMAP_ALERT_TO"] = ", ".join(value) if isinstance(value, (list, tuple)) else str(value)
        base = cls.from_env(env)
        contact = raw.get("state_contact") or {}
        if not isinstance(contact, dict):
            raise ConfigError(
                f"alerts.state_contact in {settings.config_file} must have `name:` and `email:` (the state data office)"
            )
        email = str(contact.get("email") or "").strip() or None
        if email and not valid_address(email):
            raise ConfigError(
                f"alerts.state_contact.email in {settings.config_file} is not an e-mail address: {email!r}"
            )
        if base.sender and not valid_address(base.sender):
            raise ConfigError(
                f"the alert sender {base.sender!r} (ROADMAP_ALERT_FROM or alerts.sender) is not an e-mail address"
            )
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"alerts.enabled in {settings.config_file} must be true or false, not {enabled!r}")
        return replace(
            base,
            state_contact_name=str(contact.get("name") or "").strip() or None,
            state_contact_email=email,
            enabled=enabled,
        )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SmtpSettings:
        env = os.environ if environ is None else environ
        starttls_text = env.get("ROADMAP_SMTP_STARTTLS", "").strip().lower()
        if starttls_text not in TRUE | FALSE:
            raise ConfigError(f"ROADMAP_SMTP_STARTTLS must be true or false, not {starttls_text!r}")
        starttls = starttls_text in TRUE
        port_text = env.get("ROADMAP_SMTP_PORT", "").strip()
        try:
            port = int(port_text) if port_text else (587 if starttls else 25)
        except ValueError:
            raise ConfigError(f"ROADMAP_SMTP_PORT must be a port number, not {port_text!r}") from None
        recipients = split_addresses(env.get("ROADMAP_ALERT_TO"))
        bad = [a for a in recipients if not valid_address(a)]
        if bad:
            raise ConfigError(f"ROADMAP_ALERT_TO holds something that is not an e-mail address: {', '.join(bad)}")
        sender = env.get("ROADMAP_ALERT_FROM", "").strip() or None
        return cls(
            host=env.get("ROADMAP_SMTP_HOST", "").strip() or None,
            port=port,
            user=env.get("ROADMAP_SMTP_USER", "").strip() or None,
            password=secret_from_environment("ROADMAP_SMTP_PASSWORD", env),
            starttls=starttls,
            sender=sender,
            state_recipients=tuple(recipients),
        )

    def __repr__(self) -> str:  # the dataclass repr would be fine too; be explicit
        return (
            f"SmtpSettings(host={self.host!r}, port={self.port}, user={self.user!r}, "
            f"password={'***' if self.password else None}, starttls={self.starttls}, sender={self.sender!r}, "
            f"state_recipients={self.state_recipients!r})"
        )

    __str__ = __repr__

    def redact(self, text: str) -> str:
        """`text` with the password (and its base64 forms used by AUTH) blanked out."""
        return redact(text, self.password, self.user)


def redact(text: str, password: str | None, user: str | None = None) -> str:
    if not text or not password:
        return text
    secrets = {password, base64.b64encode(password.encode()).decode()}
    if user is not None:  # AUTH PLAIN sends base64("\0user\0password")
        secrets.add(base64.b64encode(f"\0{user}\0{password}".encode()).decode())
        secrets.add(base64.b64encode(f"{user}\0{user}\0{password}".encode()).decode())
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


@dataclass(frozen=True)
class AlertOptions:
    subject_prefix: str = "[MI Roadmap data quality]"
    example_rows: int = 5
    send_retries: int = 3
    send_retry_delay_seconds: float = 10.0
    max_attachment_rows: int = 10_000
    # wall-clock limits: opening an SMTP session (connect, greeting, EHLO, STARTTLS,
    # login), and then each message, must each finish within the first; sending as a
    # whole (every session, retry and backoff) within the second. What is not sent by
    # then stays pending for the next run.
    smtp_session_deadline_seconds: float = 120.0
    stage_deadline_seconds: float = 900.0

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertOptions:
        raw = settings.section("alerts")
        try:
            return cls(
                subject_prefix=str(raw.get("subject_prefix", cls.subject_prefix)).strip(),
                example_rows=max(0, int(raw.get("example_rows", cls.example_rows))),
                send_retries=max(0, int(raw.get("send_retries", cls.send_retries))),
                send_retry_delay_seconds=max(
                    0.0, float(raw.get("send_retry_delay_seconds", cls.send_retry_delay_seconds))
                ),
                max_attachment_rows=max(1, int(raw.get("max_attachment_rows", cls.max_attachment_rows))),
                smtp_session_deadline_seconds=_positive(
                    raw, "smtp_session_deadline_seconds", cls.smtp_session_deadline_seconds, settings
                ),
                stage_deadline_seconds=_positive(raw, "stage_deadline_seconds", cls.stage_deadline_seconds, settings),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"alerts: in the config file has a value of the wrong type: {exc}") from exc


def _positive(raw: dict, name: str, default: float, settings: Settings) -> float:
    try:
        value = float(raw.get(name, default))
    except (TypeError, ValueError):
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ConfigError(
            f"alerts.{name} in {settings.config_file} must be a number of seconds above 0, not {raw.get(name)!r}"
        )
    return value


def require_alert_settings(settings: Settings, who: str) -> SmtpSettings:
    """For unattended runs (`roadmap serve`, a deployment run): refuse to start when
    nobody would hear of a night's problems, unless e-mail is switched off on purpose
    (`alerts.enabled: false`). One line per missing piece, saying where to set it."""
    smtp = SmtpSettings.from_settings(settings)
    if not smtp.enabled:
        return smtp
    missing = []
    if not smtp.sender:
        missing.append("no alert sender: set ROADMAP_ALERT_FROM or alerts.sender")
    if not smtp.state_recipients:
        missing.append("no state recipients: set ROADMAP_ALERT_TO or alerts.state_recipients")
    if missing:
        raise ConfigError(
            f"{who} runs unattended and would tell nobody of a night's problems: {'; '.join(missing)} "
            f"(in {settings.config_file}), or set alerts.enabled: false there to run without e-mail"
        )
    return smtp
