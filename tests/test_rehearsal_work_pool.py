"""Production rehearsal of the work-pool path: `prefect deploy` from prefect.yaml with a
module entrypoint and a `process` worker; the worker stopped mid-run, the next run completes.
See tests/rehearsal_site.py."""

from __future__ import annotations

import signal

import pytest

from rehearsal import REPO, Process
from rehearsal_site import (
    TERMINAL,
    check_published_and_alerted,
    check_recovered,
    first_night_files,
    interrupt_a_run,
    wait_completed_scheduled_run,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def test_rehearsal_work_pool_deploy_from_prefect_yaml_and_a_process_worker(site_factory):
    site = site_factory("sqlite")
    first_night_files(site.landing)
    for name, extra in (("pool", ()), ("deploy", ("--cron", "* * * * *", "--timezone", "America/Detroit"))):
        done = site.run(name, *extra, cwd=REPO)  # from the checkout, not a Docker image's /app
        assert done.returncode == 0, f"{name}: {done.stdout}\n{done.stderr}"
    again = site.run("deploy", "--cron", "* * * * *", cwd=REPO)  # deploying again is fine too
    assert again.returncode == 0, again.stdout + again.stderr
    deployment = site.server.deployment()
    assert deployment["entrypoint"] == "flows.nightly:nightly" and deployment["work_pool_name"] == "roadmap"
    assert deployment["concurrency_limit"] is None
    listed = site.run("deployment_ls")
    assert listed.returncode == 0 and "roadmap-nightly/nightly" in listed.stdout.replace("\n", "")

    worker = Process(site.cmd("worker"), site.env, site.root / "worker-0.log", cwd=site.root)
    try:
        killed, holder, stopped = interrupt_a_run(site, worker, signal.SIGTERM)
    finally:
        worker.stop(signal.SIGKILL, wait=0)
    worker = Process(site.cmd("worker"), site.env, site.root / "worker-1.log", cwd=site.root)
    try:
        night = wait_completed_scheduled_run(site, stopped, [worker])
        # Prefect's process worker does not always stop at once: a SIGTERM that reaches it
        # while it starts a run's process is honoured only after that run (seen under load);
        # then the first run published the night's files, and the next one found nothing new
        first = site.server.flow_run(killed["id"])
        check_published_and_alerted(site, killed if first["state_type"] == "COMPLETED" else night)
    finally:
        worker.stop(signal.SIGTERM, wait=60)
    # the run stopped with its worker does not stay Running: it ended, or the next run
    # found its lock and marked it Crashed; and it is recorded as interrupted
    first = site.server.flow_run(killed["id"])
    assert first["state_type"] in TERMINAL, first["state"]
    if first["state_type"] != "COMPLETED":
        check_recovered(site, killed, holder, stopped, {"CANCELLED", "CRASHED", "FAILED"})
