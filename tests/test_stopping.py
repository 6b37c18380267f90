"""A SIGTERM ends `roadmap nightly` even where the exception its handler raised was
swallowed on the way (a finaliser, an asyncio callback, dbt), and the command exits
within a bound even if something hangs after the stop."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prefect.exceptions import TerminationSignal

from flows import stopping
from flows.nightly import Stopwatch

REPO = Path(__file__).resolve().parents[1]

# the swallowed stop is printed as an unraisable exception, as Python does
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def as_stage(fn):
    """A stage as the Stopwatch calls it outside a flow run (the task's `.fn`)."""
    fn.fn = fn
    return fn


def prefect_bridge(signum, frame):  # what the handler of a Prefect flow run does
    raise TerminationSignal(signal=signum)


class SignalledInAFinaliser:
    """SIGTERM arrives while Python runs this object's `__del__`: the handler's exception
    is printed ("Exception ignored in") and the code around carries on."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs at the next bytecode of this thread
            pass


@pytest.fixture
def handlers():
    """Restores the SIGTERM handler and forgets the stop after each test."""
    previous = signal.getsignal(signal.SIGTERM)
    stopping.reset()
    yield
    signal.signal(signal.SIGTERM, previous)
    stopping.reset()


@pytest.mark.parametrize("installed, raised", [(stopping.stop, stopping.Stopped), (prefect_bridge, TerminationSignal)])
def test_a_stop_swallowed_in_a_finaliser_ends_the_run_at_the_next_stage(handlers, installed, raised):
    signal.signal(signal.SIGTERM, installed)
    stages_run = []

    @as_stage
    def discover():
        stages_run.append("discover")
        SignalledInAFinaliser()  # made and freed at once: the stop is swallowed here

    @as_stage
    def transform():
        stages_run.append("transform")

    clock = Stopwatch()
    with stopping.remembered(), pytest.raises(raised):
        clock.call(discover)
        clock.call(transform)
    assert stages_run == ["discover"]


@settings(max_examples=25, deadline=None)
@given(swallowed_at=st.integers(min_value=0, max_value=5), stages=st.integers(min_value=1, max_value=6))
@pytest.mark.fast
def test_whatever_stage_swallows_the_stop_no_later_stage_starts(swallowed_at, stages):
    previous = signal.signal(signal.SIGTERM, prefect_bridge)
    stopping.reset()
    started = []

    def stage(i):
        def run():
            started.append(i)
            if i == swallowed_at:
                SignalledInAFinaliser()

        run.__name__ = f"stage{i}"
        return as_stage(run)

    clock = Stopwatch()
    try:
        with stopping.remembered():
            try:
                for i in range(stages):
                    clock.call(stage(i))
            except TerminationSignal:
                pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        stopping.reset()
    assert started == list(range(min(stages, swallowed_at + 1)))


def test_a_stop_while_the_mail_server_trickles_ends_the_alert_stage_at_once(handlers, tmp_path, monkeypatch):
    """The alert stage waits on a server that never finishes its greeting, with deadlines
    of minutes: the stop, even swallowed, ends the wait within a second."""
    from flows.alerts.config import SmtpSettings
    from flows.alerts.smtp import Deadlines, connect
    from mail_server import TricklingServer

    trickle = TricklingServer(interval=0.5).start()
    try:
        smtp = SmtpSettings(
            host="127.0.0.1",
            port=trickle.port,
            starttls=False,
            user=None,
            password=None,
            sender="roadmap@mi.example.gov",
            timeout_seconds=30,
        )
        deadlines = Deadlines(600, 600)
        threading.Timer(1.0, stopping._record, args=(stopping.Stopped(signal.SIGTERM), signal.SIGTERM)).start()
        started = time.monotonic()
        with pytest.raises(stopping.Stopped):
            connect(smtp, deadlines)
        assert time.monotonic() - started < 1.0 + 2.0
        deadlines.close()
    finally:
        trickle.stop()


def test_the_command_exits_within_its_grace_even_if_something_hangs_after_the_stop(tmp_path):
    """Something waits forever at exit (a thread joined by a library's exit handler): the
    console command still ends, exit 143, and says where each thread was."""
    script = tmp_path / "hangs.py"
    script.write_text(
        textwrap.dedent("""
        import atexit, os, signal, threading, time
        from flows import stopping
        stopping.reset(exit_after=2)
        signal.signal(signal.SIGTERM, stopping.stop)
        atexit.register(lambda: threading.Event().wait())  # never returns
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
        except stopping.Stopped:
            print("stopped", flush=True)
    """)
    )
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 128 + signal.SIGTERM, out.stderr
    assert time.monotonic() - started < 30
    assert out.stdout.strip() == "stopped"
    assert "still running 2 s after SIGTERM: exiting now" in out.stderr
    assert "Thread 0x" in out.stderr or "Current thread" in out.stderr


@pytest.mark.fast
def test_a_caller_in_the_same_process_is_never_exited(handlers):
    """Code that calls the run in its own process (tests, tools) is not given a timer."""
    signal.signal(signal.SIGTERM, stopping.stop)
    stopping.reset()
    with pytest.raises(stopping.Stopped):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert stopping._timer is None


@pytest.mark.fast
def test_an_ignored_sigterm_stays_ignored(handlers):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with stopping.remembered(as_ctrl_c=True):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)
    stopping.raise_if_requested()
    assert stopping.requested is None
