"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, keeping what it received."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
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
        return "\n".join(
            [str(self.msg["Subject"]), str(self.msg["To"]), self.text(), self.html(), *self.attachments().values()]
        )


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

    def start(self) -> MailServer:
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


free_port = _free_port


class TricklingServer:
    """A mail server that never finishes its greeting: it sends "220 " and then one byte
    every `interval` seconds, so a client's per-read socket timeout never fires. Counts
    the connections it accepted (`connections`)."""

    def __init__(self, port: int | None = None, interval: float = 1.0):
        self.port = port or free_port()
        self.interval = interval
        self.connections = 0
        self.first_connection_at: float | None = None  # time.monotonic()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def start(self) -> TricklingServer:
        self._stop.clear()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        self._spawn(self._accept)
        return self

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:  # the 0.2 s poll, or the listener closed
                continue
            self.connections += 1
            if self.first_connection_at is None:
                self.first_connection_at = time.monotonic()
            self._sockets.append(conn)
            self._spawn(self._trickle, conn)

    def _trickle(self, conn: socket.socket) -> None:
        greeting = b"220 "
        try:
            while not self._stop.is_set():
                conn.sendall(greeting[:1] or b".")
                greeting = greeting[1:]
                self._stop.wait(self.interval)
        except OSError:  # the client went away
            pass
        finally:
            conn.close()

    def wait_for_connection(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.connections:
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for conn in self._sockets:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        self._sockets.clear()
