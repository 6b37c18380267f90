"""A stop the operator asked for (SIGTERM) that must end the run even where a library
caught it: dbt turns an exception raised inside a build into a failed build, which the
run would otherwise treat as bad data (hold back, publish the rest)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


class Stopped(BaseException):
    """The command was told to stop (SIGTERM): unwinds the run like Ctrl-C does."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


requested: BaseException | None = None  # the stop asked for in this process, as it was raised


def reset() -> None:
    global requested
    requested = None


def stop(signum, frame) -> None:
    """The SIGTERM handler of `roadmap nightly`: unwind from wherever the run is."""
    global requested
    requested = Stopped(signum)
    raise requested


@contextlib.contextmanager
def remembered() -> Iterator[None]:
    """Around a call that may swallow a stop (dbt): whichever handler is in place (this
    module's, or the one a Prefect flow run installs, which raises TerminationSignal) is
    called as before, and what it raised is remembered for `raise_if_requested`."""
    try:
        previous = signal.getsignal(signal.SIGTERM)
    except ValueError:  # not the main thread: signals are not ours to handle here
        yield
        return

    def on_term(signum, frame):
        global requested
        try:
            if callable(previous):
                previous(signum, frame)
            raise Stopped(signum)
        except BaseException as exc:
            requested = exc
            raise

    try:
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def raise_if_requested() -> None:
    """After a call that may have swallowed the stop (dbt): unwind now, with the
    exception the handler raised."""
    if requested is not None:
        raise requested
