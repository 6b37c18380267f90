"""A stop the operator asked for (SIGTERM) that must end the run even where a library
caught it: dbt turns an exception raised inside a build into a failed build, which the
run would otherwise treat as bad data (hold back, publish the rest)."""

from __future__ import annotations

import signal


class Stopped(BaseException):
    """The command was told to stop (SIGTERM): unwinds the run like Ctrl-C does."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


requested: int | None = None  # the signal of a stop asked for in this process


def reset() -> None:
    global requested
    requested = None


def stop(signum, frame) -> None:
    """The SIGTERM handler: remember the stop, then unwind from wherever the run is."""
    global requested
    requested = signum
    raise Stopped(signum)


def raise_if_requested() -> None:
    """After a call that may have swallowed the stop (dbt): unwind now."""
    if requested is not None:
        raise Stopped(requested)
