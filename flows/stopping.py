"""A stop the operator asked for (SIGTERM) that must end the run even where a library
caught it.

A signal handler raises its exception wherever the main thread happens to be, and not
every place lets it through: dbt turns it into a failed node (which the run would treat
as bad data: hold back, publish the rest), asyncio's callbacks log it, and one raised
while Python runs a finaliser (`__del__`, a weakref callback) is only printed. So every
handler also records the stop here, and the run honours it at its checkpoints
(`raise_if_requested`: between stages, after dbt, in every wait of the alert stage).

Last resort: the console command arms a timer on the first stop. A process still alive
`grace` seconds later prints where each thread was and exits at once, within the
60 s docker gives a stopped container (docker-compose.yml, stop_grace_period)."""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
import threading
from collections.abc import Iterator

GRACE_SECONDS = 45.0


class Stopped(BaseException):
    """The command was told to stop (SIGTERM): unwinds the run like Ctrl-C does."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


requested: BaseException | None = None  # the stop asked for in this process, as it was raised
_grace: float | None = None  # seconds from a stop to the forced exit; None: no timer (in-process callers)
_timer: threading.Timer | None = None


def reset(*, exit_after: float | None = None) -> None:
    """Forget an earlier stop. `exit_after`: arm the last-resort exit (the console command)."""
    global requested, _grace, _timer
    requested = None
    _grace = exit_after
    if _timer is not None:
        _timer.cancel()
        _timer = None


def _record(exc: BaseException, signum: int) -> None:
    global requested, _timer
    if requested is not None:
        return
    requested = exc
    if _grace is not None and _timer is None:
        _timer = threading.Timer(_grace, _exit_now, args=(signum, _grace))
        _timer.daemon = True
        _timer.start()


def _exit_now(signum: int, grace: float) -> None:  # pragma: no cover - ends the process
    name = signal.Signals(signum).name
    err = sys.__stderr__
    with contextlib.suppress(Exception):
        err.write(
            f"roadmap: still running {grace:g} s after {name}: exiting now. The published warehouse is whole "
            "(a run publishes by renaming a finished file); the next run records this one as interrupted. "
            "Where each thread was:\n"
        )
        err.flush()
        faulthandler.dump_traceback(file=err, all_threads=True)
        err.flush()
    os._exit(128 + signum)


def stop(signum, frame) -> None:
    """The SIGTERM handler of `roadmap nightly`: unwind from wherever the run is."""
    exc = Stopped(signum)
    _record(exc, signum)
    raise exc


class Interrupted(KeyboardInterrupt):
    """What code that handles only Ctrl-C well is given for a stop (`remembered(as_ctrl_c=True)`)."""


@contextlib.contextmanager
def remembered(*, as_ctrl_c: bool = False) -> Iterator[None]:
    """Around a stretch that may swallow a stop: whichever handler is in place (this
    module's, or the one a Prefect flow run installs, which raises TerminationSignal) is
    called as before, and what it raised is recorded for `raise_if_requested`.

    `as_ctrl_c`: the stretch is given a KeyboardInterrupt instead (the recorded exception
    is raised after it). dbt waits for the nodes its threads are running on Ctrl-C only;
    on anything else it returns at once and leaves them running, and a thread still in
    DuckDB when Python exits aborts the process."""
    try:
        previous = signal.getsignal(signal.SIGTERM)
    except ValueError:  # not the main thread: signals are not ours to handle here
        yield
        return

    def on_term(signum, frame):
        if previous == signal.SIG_IGN:  # whoever started us chose to ignore SIGTERM: so do we
            return
        try:
            if callable(previous):
                previous(signum, frame)
            raise Stopped(signum)
        except BaseException as exc:
            _record(exc, signum)
            if as_ctrl_c:
                raise Interrupted() from exc
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
    """A checkpoint: unwind now if a stop was asked for, with the exception the handler
    raised (even if something on the way swallowed it)."""
    if requested is not None:
        raise requested
