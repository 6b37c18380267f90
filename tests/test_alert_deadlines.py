"""No mail server can hold the night up (docs/when_things_go_wrong.md): every step of an
SMTP session and the alert stage as a whole have wall-clock deadlines. Against a real
local server that sends its greeting one byte per second (the socket's per-read timeout
never fires), sending ends by the deadline, the messages stay pending with the reason,
and the next round against a good server (aiosmtpd) delivers each exactly once."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from flows.alerts import AlertOptions, Outbox, send_pending
from flows.settings import ConfigError, load_settings
from mail_server import MailServer, TricklingServer, free_port
from test_alerts import STAFFING as STAFFING_HEADER
from test_alerts import STATE_TO, ingest_and_queue, write_problem_files

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def trickle(monkeypatch):
    server = TricklingServer().start()
    monkeypatch.setenv("ROADMAP_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ROADMAP_SMTP_PORT", str(server.port))
    monkeypatch.setenv("ROADMAP_ALERT_TO", STATE_TO)
    monkeypatch.setenv("ROADMAP_ALERT_FROM", "roadmap@mi.example.gov")
    yield server
    server.stop()


def test_a_greeting_trickled_byte_by_byte_cannot_hold_the_stage(landing, tmp_path, trickle, monkeypatch):
    db = tmp_path / "wh" / "roadmap.duckdb"
    write_problem_files(landing)
    settings, queued = ingest_and_queue(landing, db, "run-1")
    assert len(queued) == 3
    options = AlertOptions(
        send_retries=5, send_retry_delay_seconds=0.2, smtp_session_deadline_seconds=1.5, stage_deadline_seconds=4
    )
    started = time.monotonic()
    delivery = send_pending(settings, options=options)
    took = time.monotonic() - started
    assert 3.5 <= took < 6, took  # the stage's deadline, not the server, ended it
    assert (delivery.sent, delivery.pending) == (0, 3)
    assert trickle.connections >= 2  # the session deadline (1.5 s) cut each attempt; it was retried
    assert "alerts.stage_deadline_seconds" in delivery.deadline and "next run" in delivery.deadline
    pending = list(Outbox(settings.outbox_dir).messages("pending"))
    assert len(pending) == 3
    assert all("deadline" in m.meta["last_error"] and m.attempts >= 2 for m in pending)

    # a good server now: each message once, and never again
    trickle.stop()
    good = MailServer(free_port()).start()
    try:
        monkeypatch.setenv("ROADMAP_SMTP_PORT", str(good.port))
        assert send_pending(settings, options=options).sent == 3
        assert send_pending(settings, options=options).sent == 0
        ids = [r.msg["Message-ID"] for r in good.received]
        assert len(ids) == 3 and len(set(ids)) == 3
        assert sorted(r for m in good.received for r in m.rcpt_tos) == sorted(
            [STATE_TO, "data@alcona.example.org", "data@bayharbor.example.org"]
        )
    finally:
        good.stop()
    assert list(Outbox(settings.outbox_dir).messages("pending")) == []


def test_a_session_that_stalls_without_retries_stops_at_the_session_deadline(landing, tmp_path, trickle):
    write_problem_files(landing)
    settings, _ = ingest_and_queue(landing, tmp_path / "wh" / "roadmap.duckdb", "run-1")
    options = AlertOptions(send_retries=0, smtp_session_deadline_seconds=1, stage_deadline_seconds=600)
    started = time.monotonic()
    delivery = send_pending(settings, options=options)
    assert time.monotonic() - started < 3
    assert (delivery.sent, delivery.pending) == (0, 3)
    assert "alerts.smtp_session_deadline_seconds" in delivery.deadline
    assert "opening the session" in delivery.deadline


class _SlowAfterData(MailServer):
    """Greets and takes the envelope at once, but answers the end of the message data only
    after a minute: a message step, not the session's opening, runs out of time."""

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(60)
        return await super().handle_DATA(server, session, envelope)


def test_a_message_the_server_does_not_acknowledge_in_time_stays_pending(landing, tmp_path, monkeypatch):
    slow = _SlowAfterData(free_port()).start()
    monkeypatch.setenv("ROADMAP_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ROADMAP_SMTP_PORT", str(slow.port))
    monkeypatch.setenv("ROADMAP_ALERT_TO", STATE_TO)
    monkeypatch.setenv("ROADMAP_ALERT_FROM", "roadmap@mi.example.gov")
    try:
        write_problem_files(landing)
        settings, _ = ingest_and_queue(landing, tmp_path / "wh" / "roadmap.duckdb", "run-1")
        options = AlertOptions(send_retries=0, smtp_session_deadline_seconds=1.5, stage_deadline_seconds=600)
        started = time.monotonic()
        delivery = send_pending(settings, options=options)
        assert time.monotonic() - started < 5
    finally:
        slow.stop()
    assert (delivery.sent, delivery.pending) == (0, 3)
    assert "sending run-1/" in delivery.deadline and "alerts.smtp_session_deadline_seconds" in delivery.deadline
    assert len(list(Outbox(settings.outbox_dir).messages("pending"))) == 3
    assert list(Outbox(settings.outbox_dir).messages("sent")) == []


@pytest.mark.fast
def test_the_deadlines_are_read_from_the_config(tmp_path):
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    raw = yaml.safe_load((config / "roadmap.yml").read_text())
    defaults = AlertOptions.from_settings(load_settings(config))
    assert defaults.smtp_session_deadline_seconds == raw["alerts"]["smtp_session_deadline_seconds"]
    assert defaults.stage_deadline_seconds == raw["alerts"]["stage_deadline_seconds"]
    raw["alerts"].update(smtp_session_deadline_seconds=7.5, stage_deadline_seconds=90)
    (config / "roadmap.yml").write_text(yaml.safe_dump(raw))
    options = AlertOptions.from_settings(load_settings(config))
    assert (options.smtp_session_deadline_seconds, options.stage_deadline_seconds) == (7.5, 90)
    for bad in (0, -1, "soon", ".inf"):
        raw["alerts"]["stage_deadline_seconds"] = bad
        (config / "roadmap.yml").write_text(yaml.safe_dump(raw).replace("'.inf'", ".inf"))
        with pytest.raises(ConfigError, match="stage_deadline_seconds"):
            AlertOptions.from_settings(load_settings(config))


# ------------------------------------------------------------ the real command, end to end


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory):
    """`prefect server start` of this module's runs (its own PREFECT_HOME), as in production."""
    from rehearsal import PrefectServer

    server = PrefectServer(tmp_path_factory.mktemp("prefect")).start()
    try:
        yield server
    finally:
        server.stop()


class Nightly:
    """`python -m flows -v nightly` in its own process group, against one landing folder,
    warehouse and config; stopped with SIGTERM when asked."""

    def __init__(self, landing: Path, warehouse: Path, config: Path, api):
        self.landing, self.warehouse, self.config, self.api = landing, warehouse, config, api

    def start(self, smtp_port: int) -> subprocess.Popen:
        from conftest import TEST_KEY

        env = {
            **os.environ,
            **self.api.env(),
            "ROADMAP_PSEUDONYM_KEY": TEST_KEY,
            "PYTHONUNBUFFERED": "1",
            "PYTHONFAULTHANDLER": "1",
            "ROADMAP_SMTP_HOST": "127.0.0.1",
            "ROADMAP_SMTP_PORT": str(smtp_port),
            "ROADMAP_ALERT_TO": STATE_TO,
            "ROADMAP_ALERT_FROM": "roadmap@mi.example.gov",
        }
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flows",
                "-v",
                "nightly",
                "--landing",
                str(self.landing),
                "--warehouse",
                str(self.warehouse),
                "--config",
                str(self.config),
                "--no-report",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    @staticmethod
    def finish(proc: subprocess.Popen, *, timeout: float = 300, stop_when=None) -> tuple[int, str]:
        """Read its output to the end (SIGTERM once `stop_when()` is true, checked per line
        and every second); SIGKILL the group if it outlives `timeout`."""
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
        reader.start()
        started = time.monotonic()
        end = started + timeout
        stopped = None
        try:
            while proc.poll() is None and time.monotonic() < end:
                if stop_when is not None and stopped is None and stop_when("".join(lines)):
                    os.killpg(proc.pid, signal.SIGTERM)
                    stopped = time.monotonic() - started
                time.sleep(0.2)
            masks = _signal_masks(proc.pid) if proc.poll() is None else ""
        finally:
            if proc.poll() is None:  # where it hangs: faulthandler prints every thread's stack on SIGABRT
                os.kill(proc.pid, signal.SIGABRT)
                time.sleep(3)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            reader.join(timeout=10)
        output = "".join(lines)
        stacks = output.find("Fatal Python error")  # faulthandler's dump: where it hung
        sent = "no SIGTERM sent" if stopped is None else f"SIGTERM sent {stopped:.1f} s after the start; {masks}"
        assert time.monotonic() < end, f"the run did not end in time ({sent}):\n" + (
            output[max(0, stacks - 6000) : stacks + 12000] if stacks >= 0 else output[-6000:]
        )
        return proc.returncode, output


def _signal_masks(pid: int) -> str:
    """Which threads of the process block, ignore or catch which signals (/proc)."""
    import glob

    found = []
    for status in glob.glob(f"/proc/{pid}/task/*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in Path(status).read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        found.append(
            f"{fields.get('Name', '?').strip()} blk={fields.get('SigBlk', '').strip()} "
            f"ign={fields.get('SigIgn', '').strip()} cgt={fields.get('SigCgt', '').strip()} "
            f"pnd={fields.get('SigPnd', '').strip()}"
        )
    return "threads: " + "; ".join(found)


def _config(tmp_path: Path, name: str, **alerts) -> Path:
    config = tmp_path / name
    shutil.copytree(REPO / "config", config)
    raw = yaml.safe_load((config / "roadmap.yml").read_text())
    raw["alerts"].update(alerts)
    (config / "roadmap.yml").write_text(yaml.safe_dump(raw))
    return config


def _runs(warehouse: Path) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("select run_id, status from audit.runs order by started_at").fetchall()
    finally:
        con.close()


@pytest.mark.slow
def test_roadmap_nightly_never_hangs_on_the_mail_server_and_says_truly_what_a_stop_left(prefect_api, landing, tmp_path):
    """1. A trickling server: the run ends by the stage's deadline, exit 0, the summary
    says the e-mails wait. 2. SIGTERM during the dbt build: "left as it was", and it was.
    3. SIGTERM while the alert stage waits on the trickling server, after publishing: the
    output says the data was published and the e-mails wait, and audit.runs agrees.
    4. A good server: every waiting message delivered exactly once."""
    write_problem_files(landing)
    warehouse = tmp_path / "wh" / "roadmap.duckdb"
    quick = _config(
        tmp_path,
        "quick",
        send_retries=1,
        send_retry_delay_seconds=0.5,
        smtp_session_deadline_seconds=2,
        stage_deadline_seconds=6,
    )
    patient = _config(tmp_path, "patient", smtp_session_deadline_seconds=120, stage_deadline_seconds=120)

    trickle = TricklingServer().start()
    try:
        # 1. the deadline ends the alert stage
        code, output = Nightly.finish(Nightly(landing.path, warehouse, quick, prefect_api).start(trickle.port))
        ended = time.monotonic()
        assert code == 0, output[-3000:]
        assert trickle.first_connection_at and ended - trickle.first_connection_at < 6 + 8, "the alert stage overran"
        summary = output[output.index("run 2") :]
        assert "alerts: 0 sent, 3 pending (stopped by a deadline" in summary and "next run" in summary
        ((first_run, status),) = _runs(warehouse)
        assert status == "succeeded"
        before = warehouse.read_bytes()

        # 2. stopped before publishing
        landing.csv("staffing_2023-24.csv", STAFFING_HEADER, ["2023-24,01010,28,3,2,1", "2023-24,01020,x,2,1,1"])
        code, output = Nightly.finish(
            Nightly(landing.path, warehouse, patient, prefect_api).start(trickle.port),
            stop_when=lambda out: re.search(r"dbt build --project-dir|\d+ of \d+ START", out),
        )
        assert not re.search(r"published /|Parquet set", output), "stopped too late:\n" + output[-3000:]
        assert code == 128 + signal.SIGTERM, output[-3000:]
        assert (
            "stopped by SIGTERM" in output and "before publishing: the published warehouse was left as it was" in output
        )
        assert warehouse.read_bytes() == before and _runs(warehouse) == [(first_run, "succeeded")]

        # 3. stopped in the alert stage, after publishing (the trickling server holds it there)
        connections = trickle.connections
        code, output = Nightly.finish(
            Nightly(landing.path, warehouse, patient, prefect_api).start(trickle.port),
            stop_when=lambda out: trickle.connections > connections,
        )
        assert code == 128 + signal.SIGTERM, output[-3000:]
        assert "stopped by SIGTERM during the alert stage" in output
        assert "The night's data was published" in output and "go out with the next run" in output
        assert "left as it was" not in output and "the run failed" not in output
        runs = _runs(warehouse)
        # 2. is recorded as interrupted (by this run, which found its lock entry); 3. as published
        assert [s for _, s in runs] == ["succeeded", "interrupted", "succeeded"]
        second_run = runs[-1][0]
        assert second_run in output
    finally:
        trickle.stop()
    pending = {(m.run_id, m.alert_id) for m in Outbox(warehouse.parent / "outbox").messages("pending")}
    assert {r for r, _ in pending} == {first_run, second_run}

    # 4. a good server: each waiting message exactly once
    good = MailServer(free_port()).start()
    try:
        code, output = Nightly.finish(Nightly(landing.path, warehouse, patient, prefect_api).start(good.port))
        assert code == 0, output[-3000:]
        delivered = [(r.msg["X-Roadmap-Run-Id"], r.msg["X-Roadmap-Alert-Id"]) for r in good.received]
        assert sorted(delivered) == sorted(pending)  # all of them, none twice
        settings = load_settings(patient, landing_dir=landing.path, warehouse=warehouse)
        assert send_pending(settings).sent == 0 and len(good.received) == len(pending)
    finally:
        good.stop()
    assert list(Outbox(warehouse.parent / "outbox").messages("pending")) == []
