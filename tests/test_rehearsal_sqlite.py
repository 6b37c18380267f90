"""Production rehearsal on SQLite: `roadmap serve` on an every-minute schedule, a restart
(SIGTERM) while the first scheduled run works, the next scheduled run completes unattended.
See tests/rehearsal_site.py."""

from __future__ import annotations

import signal

import pytest

from rehearsal_site import (
    check_published_and_alerted,
    check_recovered,
    first_night_files,
    interrupt_a_run,
    wait_completed_scheduled_run,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def test_rehearsal_on_sqlite_serve_fires_and_recovers_from_sigterm_unattended(site_factory):
    site = site_factory("sqlite")
    first_night_files(site.landing)
    serve = site.start_serve()
    assert site.run("deployment_ls").returncode == 0

    # a restart of the service (docker stop, systemctl restart) while the first night works
    killed, holder, stopped = interrupt_a_run(site, serve, signal.SIGTERM)
    # ended with serve: Cancelled (by serve) or Crashed (by its engine), never left Running
    assert site.server.flow_run(killed["id"])["state_type"] in {"CANCELLED", "CRASHED"}
    assert site.server.deployment()["concurrency_limit"] is None

    serve = site.start_serve()  # the service starts again; nothing else by hand
    night = wait_completed_scheduled_run(site, stopped, [serve])
    check_published_and_alerted(site, night)
    check_recovered(site, killed, holder, stopped, {"CANCELLED", "CRASHED"})
    assert serve.stop(signal.SIGTERM) == 0  # idle: stops at once, schedule paused
    assert site.server.deployment()["paused"] is True
