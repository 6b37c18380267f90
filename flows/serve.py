"""`roadmap serve`: serve the nightly flow as the Prefect deployment `nightly`, on the
cron schedule of config/roadmap.yml (`schedule.cron`, `schedule.timezone`).

Scheduling needs a running Prefect server: `prefect server start` (or the
docker-compose set-up, docs/operations.md) and PREFECT_API_URL pointing at it. Prefect's
ephemeral in-process server cannot schedule flows, so without one this exits with a
message saying what to do.

Overlap is refused by one mechanism only: the warehouse lock the flow takes
(flows/warehouse/publish.py; a second run on the same warehouse stops with RunInProgress). There
is no Prefect concurrency limit on the deployment: its slots are not released when a run
is killed, so every later night would wait for a slot nobody frees.

Stopping: SIGTERM or Ctrl-C (what `docker stop`, a restart or a reboot send) stops
polling, ends a run in progress (SIGTERM to its process, Prefect state `Cancelled`; the
next run records it in audit.runs as interrupted) and pauses the schedule until serve
starts again. A serve that was killed outright (SIGKILL) leaves its run `Running` in
Prefect: the next serve marks such orphans `Crashed` when it starts (flows/prefect_runs.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import zoneinfo
from pathlib import Path

from .settings import ConfigError, Settings

DEPLOYMENT_NAME = "nightly"
DEFAULT_CRON = "0 2 * * *"
DEFAULT_TIMEZONE = "America/Detroit"

NO_SERVER = (
    "roadmap serve: scheduling needs a running Prefect server, and {problem}.\n"
    "Start one with `prefect server start` (or `docker compose up -d prefect-server`, see docs/operations.md)\n"
    "and point this shell at it: export PREFECT_API_URL=http://127.0.0.1:4200/api\n"
    "(Prefect's ephemeral in-process server cannot schedule flows.)"
)


def schedule_of(settings: Settings) -> tuple[str, str]:
    """(cron, timezone) from `schedule:` of the config, checked."""
    from prefect.schedules import Cron

    section = settings.section("schedule")
    cron = str(section.get("cron") or DEFAULT_CRON).strip()
    timezone = str(section.get("timezone") or DEFAULT_TIMEZONE).strip()
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"schedule.timezone {timezone!r} is not an IANA time zone (e.g. America/Detroit)") from None
    try:
        Cron(cron, timezone=timezone)
    except ValueError as exc:
        raise ConfigError(f"schedule.cron {cron!r} is not a valid cron expression: {exc}") from None
    return cron, timezone


def build_deployment(settings: Settings, config_file: str | Path | None = None):
    """The `nightly` deployment of the flow, with its schedule and parameters."""
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    from .nightly import nightly

    cron, timezone = schedule_of(settings)
    parameters = {"landing_dir": str(settings.landing_dir), "warehouse": str(settings.warehouse)}
    if config_file:
        parameters["config_file"] = str(Path(config_file).resolve())
    return nightly.to_deployment(
        name=DEPLOYMENT_NAME,
        schedule=Cron(cron, timezone=timezone),
        parameters=parameters,
        description=f"Nightly load of the MI Roadmap warehouse, {cron} ({timezone})",
        tags=["roadmap"],
        # the package is installed, so the module path works from any working directory
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def prefect_server_problem() -> str | None:
    """Why no Prefect server can take the schedule, or None when one answers."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    if not api:
        return "PREFECT_API_URL is not set"
    with get_client(sync_client=True) as client:
        error = client.api_healthcheck()
    if error is not None:
        return f"the Prefect server at {api} does not answer ({type(error).__name__}: {error})"
    return None


async def _serve_until_stopped(runner) -> None:
    """Run the runner until SIGTERM or SIGINT; then stop it the asynchronous way (Prefect's
    own SIGTERM handler calls the synchronous stop from inside the event loop, which
    never awaits `Runner.astop` and leaves the run in progress `Running`)."""
    loop = asyncio.get_running_loop()
    started = asyncio.ensure_future(runner.start())
    await asyncio.sleep(0)  # runner.start() installs its SIGTERM handler first; ours replace it
    stopping: list[asyncio.Task] = []

    def stop(signum: int) -> None:
        if stopping:
            return
        print(
            f"roadmap serve: {signal.Signals(signum).name} received: ending the run in progress, pausing the schedule",
            file=sys.stderr,
            flush=True,
        )
        stopping.append(asyncio.ensure_future(runner.astop()))

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    try:
        await started
        if stopping:
            await asyncio.gather(*stopping, return_exceptions=True)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def _start(runner) -> None:
    """Poll for scheduled runs until stopped (SIGTERM / Ctrl-C)."""
    asyncio.run(_serve_until_stopped(runner))


def serve(settings: Settings, config_file: str | Path | None = None) -> int:
    from prefect.runner import Runner

    from .alerts.config import require_alert_settings
    from .prefect_runs import crash_orphaned_runs

    require_alert_settings(settings, "roadmap serve")
    if os.environ.get("ROADMAP_VERBOSE") != "1":
        # the runs' detail goes to their log files and the Prefect UI; serve's console
        # (docker logs, the journal) gets their warnings and errors
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    problem = prefect_server_problem()
    if problem:
        print(NO_SERVER.format(problem=problem), file=sys.stderr)
        return 2
    deployment = build_deployment(settings, config_file)
    cron, timezone = schedule_of(settings)
    runner = Runner(name="roadmap-nightly", pause_on_shutdown=True)
    deployment_id = runner.add_deployment(deployment)
    crash_orphaned_runs(
        deployment_id,
        settings.warehouse,
        "its process is gone: `roadmap serve` was stopped while it ran (the serve that started it no longer "
        "exists); nothing of it was published, and the next run redoes its work",
    )
    print(
        f"serving {deployment.flow_name}/{DEPLOYMENT_NAME}: {cron} ({timezone}), "
        f"landing {settings.landing_dir}, warehouse {settings.warehouse}.\n"
        f"Run it now: prefect deployment run '{deployment.flow_name}/{DEPLOYMENT_NAME}'. Stop with Ctrl-C.",
        flush=True,
    )
    _start(runner)
    print("roadmap serve: stopped; the schedule is paused until `roadmap serve` runs again", file=sys.stderr)
    return 0
