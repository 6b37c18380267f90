"""Drive a command as a user at a terminal does: in a pseudo-terminal, typing lines and
reading what appears (tests of `roadmap sql`'s interactive mode)."""

from __future__ import annotations

import fcntl
import os
import platform
import pty
import select
import signal
import subprocess
import termios
import time
from pathlib import Path


def _controlling_terminal() -> None:
    """In the child: a session of its own whose controlling terminal is the pty (so that
    Ctrl-C and Ctrl-D act as at a real terminal)."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


# the system calls a program waiting for terminal input sleeps in (read, poll, select,
# pselect6, ppoll), by architecture
_WAIT_SYSCALLS = {
    "x86_64": {"0", "7", "23", "270", "271"},
    "aarch64": {"63", "72", "73"},
}


def _ignoring_sigint() -> None:
    """As _controlling_terminal, started with SIGINT ignored (inherited across exec, as from
    a parent that ignores it)."""
    _controlling_terminal()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class TerminalSession:
    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str] | None = None, ignore_sigint: bool = False):
        master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, "TERM": "dumb", **(env or {})},
            stdin=slave,
            stdout=slave,
            stderr=slave,
            close_fds=True,
            preexec_fn=_ignoring_sigint if ignore_sigint else _controlling_terminal,
        )
        os.close(slave)
        self.master = master
        self.transcript = ""
        self._pending = ""

    def expect(self, text: str, timeout: float = 60) -> str:
        """Read until `text` appears; return everything read up to and including it."""
        deadline = time.monotonic() + timeout
        while text not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"{text!r} did not appear within {timeout} s; the screen shows:\n{self._pending[-3000:]}"
                )
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the program ended
                    chunk = b""
                if not chunk:
                    if self.proc.poll() is not None:
                        raise AssertionError(
                            f"the program ended (exit {self.proc.returncode}) before {text!r}:\n{self._pending[-3000:]}"
                        )
                    continue
                decoded = chunk.decode("utf-8", errors="replace").replace("\r\n", "\n")
                self._pending += decoded
                self.transcript += decoded
        index = self._pending.index(text) + len(text)
        seen, self._pending = self._pending[:index], self._pending[index:]
        return seen

    def wait_until_reading(self, timeout: float = 10) -> None:
        """Wait until the program sleeps in its wait for the next key, as a person at the
        keyboard does before pressing Ctrl-C. CPython's readline misses a SIGINT that
        arrives after it printed the prompt but before it waits for input (the signal is
        taken; its select() then sleeps until a key comes), a window of microseconds for
        a person but not for a test under load."""
        waits = _WAIT_SYSCALLS.get(platform.machine())
        if waits is None:
            time.sleep(0.5)
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                call = Path(f"/proc/{self.proc.pid}/syscall").read_text().split()
            except OSError:
                call = []
            if call and call[0] in waits:
                return
            time.sleep(0.01)
        raise AssertionError(f"the program did not wait for input within {timeout} s")

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode("utf-8"))

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        try:
            os.close(self.master)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
