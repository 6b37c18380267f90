"""Production rehearsal, shared by tests/test_rehearsal_*.py: the nightly schedule really fires.

Real parts, started here: `prefect server start` (its own PREFECT_HOME; SQLite, then
PostgreSQL in a throw-away cluster), `roadmap serve` with a schedule of every minute,
a local SMTP server (aiosmtpd), and for the work-pool path `prefect deploy` from
prefect.yaml with a `process` worker. The test never creates a flow run: Prefect's
scheduler does (the runs are `auto_scheduled`). Each scenario also kills a run in
progress, the way a restart (SIGTERM) or a power cut (SIGKILL) does, and proves that
the killed run ends in a terminal state, no concurrency slot stays taken, the
interruption is recorded with its true duration, and the next scheduled run completes
with no manual step.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest
import yaml

from landing_files import ENROLLMENT, STAFFING, Landing
from mail_server import MailServer, free_port
from rehearsal import (
    OPERATOR_ENVIRONMENT,
    REPO,
    PostgresCluster,
    PrefectServer,
    Process,
    command,
    lock_holder,
    run_command,
)

STATE_TO = "state-office@mi.example.gov"
SENDER = "roadmap-warehouse@mi.example.gov"
CONTACT = {"name": "MDE Office of Educational Technology", "email": "mde-edtech@mi.example.gov"}
KEY = "rehearsal-pseudonym-key"
RUN_TIMEOUT = 420  # one scheduled run on a busy 2-core machine: the next minute + ~1-3 min of work
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


# ----------------------------------------------------------------------------- set-up


class Site:
    """One operator's server: config folder, landing folder, warehouse, mail server, the
    Prefect server, and the environment every command runs with."""

    def __init__(self, root: Path, server: PrefectServer, mail: MailServer):
        self.root, self.server, self.mail = root, server, mail
        self.config = root / "etc-roadmap"
        self.landing = Landing(root / "landing")
        self.warehouse = root / "warehouse" / "roadmap.duckdb"
        self.env = server.env(
            ROADMAP_CONFIG=str(self.config),
            ROADMAP_LANDING_DIR=str(self.landing.path),
            ROADMAP_WAREHOUSE=str(self.warehouse),
            ROADMAP_PSEUDONYM_KEY=KEY,
            ROADMAP_SMTP_HOST="127.0.0.1",
            ROADMAP_SMTP_PORT=str(mail.port),
            ROADMAP_ALERT_FROM=SENDER,
            ROADMAP_ALERT_TO=STATE_TO,
        )
        assert set(OPERATOR_ENVIRONMENT) <= set(self.env)  # step 3 of docs/operations.md
        copied = self.run("copy_config", cwd=REPO)  # step 2: the project's config/ folder, then edited
        assert copied.returncode == 0 and (self.config / "metrics.yml").is_file(), copied.stderr
        raw = yaml.safe_load((self.config / "roadmap.yml").read_text())
        raw["schedule"] = {"cron": "* * * * *", "timezone": "America/Detroit"}  # fires within the test
        raw["paths"]["reports_dir"] = str(root / "reports")
        raw["alerts"].update(send_retries=1, send_retry_delay_seconds=1, state_contact=CONTACT)
        (self.config / "roadmap.yml").write_text(yaml.safe_dump(raw, sort_keys=False))
        self.serves: list[Process] = []

    def cmd(self, name: str, *extra: str) -> list[str]:
        return command(name, port=self.server.port, config=self.config, extra=list(extra))

    def run(self, name: str, *extra: str, cwd: Path | None = None):
        return run_command(self.cmd(name, *extra), self.env, cwd=cwd or self.root)

    def start_serve(self) -> Process:
        p = Process(self.cmd("serve"), self.env, self.root / f"serve-{len(self.serves)}.log", cwd=self.root)
        self.serves.append(p)
        return p

    def audit_runs(self) -> dict[str, dict]:
        con = duckdb.connect(str(self.warehouse), read_only=True)
        try:
            cur = con.execute("select * from audit.runs")
            names = [d[0] for d in cur.description]
            return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}
        finally:
            con.close()


def first_night_files(landing: Landing) -> None:
    """A small statewide delivery: the directory, enrollment with one bad row (01010),
    staffing; the bad row makes the run alert the state and the district."""
    landing.directory()
    landing.csv(
        "enrollment_2024-25.csv",
        ENROLLMENT,
        [
            "2024-25,01010,00101,Alcona Elementary,300",
            "2024-25,01010,00102,Alcona High,-5",
            "2024-25,01020,00201,Bay Harbor K-12,400",
            "2024-25,01000,00001,ISD Center,50",
        ],
    )
    landing.csv(
        "staffing_2024-25.csv", STAFFING, ["2024-25,01010,30,3,2,1", "2024-25,01020,20,2,1,1", "2024-25,01000,5,1,1,1"]
    )


def parse_time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


@contextlib.contextmanager
def rehearsal_sites(tmp_path: Path) -> Iterator[Callable[[str], Site]]:
    """`make(database)` -> a Site ("sqlite" or "postgresql") with its own Prefect server,
    all sending to one local SMTP server; on exit every serve process, server, cluster
    and then the SMTP server are stopped (the `site_factory` fixture, tests/conftest.py)."""
    mail = MailServer(free_port()).start()
    made: list[tuple[Site, PostgresCluster | None]] = []

    def make(database: str) -> Site:
        cluster = None
        settings = None
        if database == "postgresql":
            if PostgresCluster.find_bindir() is None:
                pytest.fail("PostgreSQL is not installed (make test installs Debian's postgresql package)")
            cluster = PostgresCluster().start()
            settings = cluster.prefect_settings
        server = PrefectServer(tmp_path / database, settings).start()
        site = Site(tmp_path / database, server, mail)
        made.append((site, cluster))
        return site

    try:
        yield make
        for site, cluster in made:
            for p in site.serves:
                p.stop(signal.SIGKILL, wait=0)
            site.server.stop()
            if cluster:
                cluster.stop()
    finally:
        mail.stop()


# --------------------------------------------------------------------------- checks


def wait_completed_scheduled_run(site: Site, after: dt.datetime | None, watch) -> dict:
    """The first run the scheduler created (auto_scheduled) that completed, expected
    to start after `after`."""

    def done(run):
        if not run.get("auto_scheduled") or run["state_type"] not in TERMINAL:
            return False
        if after and parse_time(run["expected_start_time"]) <= after:
            return False
        if run["state_name"] == "Skipped":  # fired while another run held the warehouse: one at a time
            assert "another run holds the warehouse" in run["state"]["message"]
            return False
        assert run["state_type"] == "COMPLETED", (
            f"scheduled run {run['name']} ended {run['state_name']}: {run['state']}"
        )
        return True

    return site.server.wait_for_run(done, RUN_TIMEOUT, "completed scheduled run", watch)


def check_published_and_alerted(site: Site, run: dict) -> str:
    """The scheduled run published the warehouse, `roadmap runs` and the Prefect API
    show it, and its alerts reached the SMTP server. Returns the run's roadmap run id."""
    runs = site.audit_runs()
    (ours,) = [r for r in runs.values() if r["flow_run_id"] == run["id"]]
    assert ours["status"] == "succeeded" and ours["files_new"] >= 1 and ours["errors"] >= 1
    out = site.run("runs")
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if line.startswith(ours["run_id"]))
    assert "succeeded" in line and "sent" in line
    ls = site.run("flow_run_ls", "--state-type", "COMPLETED", "--output", "json")
    assert ls.returncode == 0, ls.stdout + ls.stderr  # Prefect's own list commands answer (no 422)
    assert run["id"] in {r["id"] for r in json.loads(ls.stdout)}
    ids = {r.msg["X-Roadmap-Run-Id"] for r in site.mail.received}
    assert ours["run_id"] in ids
    mine = [r for r in site.mail.received if r.msg["X-Roadmap-Run-Id"] == ours["run_id"]]
    assert sorted(r.rcpt_tos[0] for r in mine) == sorted([STATE_TO, "data@alcona.example.org"])
    for r in mine:
        assert r.msg["From"] == SENDER and r.msg["Reply-To"] == CONTACT["email"]
    (district,) = [r for r in mine if r.rcpt_tos == ["data@alcona.example.org"]]
    assert CONTACT["name"] in district.text() and "line 3" in district.text()
    return ours["run_id"]


def interrupt_a_run(site: Site, process: Process, sig: int) -> tuple[dict, dict, dt.datetime]:
    """The first scheduled run starts working on the landing files, and the process that
    runs it (`roadmap serve` or a worker) is stopped by `sig` while the run holds the
    warehouse. Returns (the flow run, the lock holder it left, when it was stopped)."""
    holder: dict = {}

    def working(run):
        nonlocal holder
        holder = lock_holder(site.warehouse)
        return run["state_type"] == "RUNNING" and holder.get("flow_run_id") == run["id"]

    run = site.server.wait_for_run(working, RUN_TIMEOUT, "run holding the warehouse lock", [process])
    assert run.get("auto_scheduled"), "the scheduler, not the test, creates the runs"
    time.sleep(3)
    stopped = dt.datetime.now(dt.UTC)
    if sig == signal.SIGKILL:
        process.kill_hard()  # the process and the run's process die at once, as in a power cut
    else:
        rc = process.stop(sig, wait=90)
        assert process.proc.returncode is not None, "still running 90 s after SIGTERM"
        assert "was never awaited" not in process.output()
        if "serve" in process.argv[1]:
            assert rc == 0, process.output()[-3000:]
    return run, holder, stopped


def check_recovered(site: Site, killed: dict, holder: dict, stopped: dt.datetime, expected_states: set[str]) -> None:
    """After the restart: the killed run is terminal in Prefect, no concurrency slot is
    held, and audit.runs has the interrupted run with its true duration."""
    final = site.server.flow_run(killed["id"])
    assert final["state_type"] in expected_states, final["state"]
    assert [c for c in site.server.concurrency_limits() if c.get("active_slots")] == []
    runs = site.audit_runs()
    interrupted = runs[holder["run_id"]]
    assert interrupted["status"] == "interrupted" and interrupted["flow_run_id"] == killed["id"]
    lasted = (interrupted["finished_at"] - interrupted["started_at"]).total_seconds()
    really = (stopped - parse_time(holder["started_at"])).total_seconds()
    assert 0 <= lasted <= really + 15, (lasted, really)  # not "until the next run started"
    assert really - lasted <= 15, (lasted, really)  # the heartbeat: the last time it was alive
