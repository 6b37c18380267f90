"""Production rehearsal on PostgreSQL (a throw-away cluster): `roadmap serve`, a power cut
(SIGKILL of serve and its run), the next scheduled run completes unattended.
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


def test_rehearsal_on_postgresql_serve_fires_and_recovers_from_a_power_cut(site_factory):
    site = site_factory("postgresql")
    first_night_files(site.landing)
    serve = site.start_serve()

    killed, holder, stopped = interrupt_a_run(site, serve, signal.SIGKILL)
    assert site.server.flow_run(killed["id"])["state_type"] == "RUNNING"  # nobody could report its end

    serve = site.start_serve()  # marks the orphan Crashed; the next night runs
    night = wait_completed_scheduled_run(site, stopped, [serve])
    check_published_and_alerted(site, night)
    check_recovered(site, killed, holder, stopped, {"CRASHED"})
    assert serve.stop(signal.SIGTERM) == 0
