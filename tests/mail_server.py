"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, keeping what it received."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller


@dataclass
class Received:
    rcpt_tos: list[str]
    msg: email.message.EmailMessage
    raw: bytes

    def text(self) -> str:
        return self.msg.get_body(("plain",)).get_content()

    def html(self) -> str:
        return self.msg.get_body(("html",)).get_content()

    def attachments(self) -> dict[str, str]:
        return {p.get_filename(): p.get_content().lstrip("\ufeff") for p in self.msg.iter_attachments()}

    def everything(self) -> str:
        """Headers, both parts and the attachments, decoded."""
        return "\n".join([str(self.msg["Subject"]), str(self.msg["To"]), self.text(), self.html(), *self.attachments().values()])


@dataclass
class MailServer:
    """aiosmtpd on 127.0.0.1; can be stopped and started again on the same port."""

    port: int
    kwargs: dict = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.received.append(Received(list(envelope.rcpt_tos), msg, raw))
        return "250 Message accepted for delivery"

    def start(self) -> "MailServer":
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **self.kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
free_port = _free_port
