"""The nightly schedule: `roadmap serve` registers the deployment with the cron and time
zone of the config (read back from a real Prefect API server), refuses clearly without
a server, and prefect.yaml describes the same deployment."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
from pathlib import Path

import pytest
import yaml

from flows.cli import main

REPO = Path(__file__).resolve().parent.parent


def _config_with_schedule(tmp_path: Path, cron: str, timezone: str, **alerts) -> Path:
    folder = tmp_path / "config"
    if not folder.exists():
        shutil.copytree(REPO / "config", folder)
    raw = yaml.safe_load((folder / "roadmap.yml").read_text())
    raw["schedule"] = {"cron": cron, "timezone": timezone}
    raw["alerts"].update(alerts)
    path = folder / "roadmap.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_roadmap_serve_registers_the_nightly_deployment_with_the_configured_cron_and_timezone(
    prefect_server, tmp_path, monkeypatch
):
    from prefect.client.orchestration import get_client

    import flows.serve

    config = _config_with_schedule(tmp_path, "30 3 * * 1-5", "America/Chicago")
    monkeypatch.setenv("ROADMAP_ALERT_FROM", "roadmap@mi.example.gov")
    monkeypatch.setenv("ROADMAP_ALERT_TO", "state-office@mi.example.gov")
    # serve for one polling cycle instead of forever
    monkeypatch.setattr(flows.serve, "_start", lambda runner: asyncio.run(runner.start(run_once=True)))
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        rc = main(
            [
                "serve",
                "--config",
                str(config),
                "--landing",
                str(tmp_path / "landing"),
                "--warehouse",
                str(tmp_path / "wh" / "roadmap.duckdb"),
            ]
        )
    finally:
        signal.signal(signal.SIGTERM, sigterm)  # the runner installs its own handler
    assert rc == 0

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("roadmap-nightly/nightly")
    assert [(s.schedule.cron, s.schedule.timezone) for s in deployment.schedules] == [
        ("30 3 * * 1-5", "America/Chicago")
    ]
    assert deployment.entrypoint == "flows.nightly.nightly"
    assert deployment.parameters["warehouse"] == str(tmp_path / "wh" / "roadmap.duckdb")
    assert deployment.parameters["landing_dir"] == str(tmp_path / "landing")
    assert deployment.parameters["config_file"] == str(config)
    assert deployment.global_concurrency_limit is None  # overlap is refused by the warehouse lock alone


def test_serve_without_a_reachable_prefect_server_says_how_to_start_one(tmp_path, capsys, monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setenv("ROADMAP_ALERT_FROM", "roadmap@mi.example.gov")
    monkeypatch.setenv("ROADMAP_ALERT_TO", "state-office@mi.example.gov")
    with temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{_closed_port()}/api"}):
        rc = main(["serve", "--warehouse", str(tmp_path / "wh.duckdb")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "prefect server start" in err and "PREFECT_API_URL" in err and "does not answer" in err

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        rc = main(["serve", "--warehouse", str(tmp_path / "wh.duckdb")])
    assert rc == 2
    assert "PREFECT_API_URL is not set" in capsys.readouterr().err


@pytest.mark.fast
def test_a_broken_schedule_in_the_config_is_reported_by_name(tmp_path):
    from flows.serve import schedule_of
    from flows.settings import ConfigError, load_settings

    for cron, tz, word in [
        ("0 2 * *", "America/Detroit", "schedule.cron"),
        ("0 2 * * *", "Mars/Olympus", "schedule.timezone"),
    ]:
        settings = load_settings(_config_with_schedule(tmp_path, cron, tz))
        with pytest.raises(ConfigError, match=word):
            schedule_of(settings)


@pytest.mark.fast
def test_every_definition_loads_and_prefect_yaml_matches_the_config(monkeypatch):
    from prefect.cli.deploy._models import PrefectYamlModel, RawScheduleConfig
    from prefect.flows import load_flow_from_entrypoint

    from flows.nightly import nightly
    from flows.serve import DEPLOYMENT_NAME, build_deployment, schedule_of
    from flows.settings import load_settings

    settings = load_settings(None)
    cron, timezone = schedule_of(settings)
    assert (cron, timezone) == ("0 2 * * *", "America/Detroit")

    raw = yaml.safe_load((REPO / "prefect.yaml").read_text())
    model = PrefectYamlModel.model_validate(raw)
    (deployment,) = [d for d in model.deployments if d.name == DEPLOYMENT_NAME]
    monkeypatch.chdir(REPO)
    flow = load_flow_from_entrypoint(deployment.entrypoint)
    assert flow.name == nightly.name
    assert len(deployment.schedules) == 1
    schedule = RawScheduleConfig.model_validate(raw["deployments"][0]["schedules"][0])
    assert (schedule.cron, schedule.timezone) == (cron, timezone)
    assert set(deployment.parameters) <= set(nightly.parameters.properties)
    # a module entrypoint (a path would put flows/ on sys.path), no pull step bound to one
    # machine's folder (deploy records the folder it runs in), no concurrency limit
    assert deployment.entrypoint == "flows.nightly:nightly"
    assert "pull" not in raw and "concurrency_limit" not in raw["deployments"][0]

    served = build_deployment(settings)
    assert served.name == DEPLOYMENT_NAME
    assert [(s.schedule.cron, s.schedule.timezone) for s in served.schedules] == [(cron, timezone)]


def test_serve_refuses_to_start_when_nobody_would_hear_of_problems(tmp_path, capsys, monkeypatch):
    """No sender or no state recipients: one line naming what is missing and where to set
    it, exit 2, before anything is registered; `alerts.enabled: false` says it is meant."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("ROADMAP_ALERT_FROM", raising=False)
    monkeypatch.delenv("ROADMAP_ALERT_TO", raising=False)
    config = _config_with_schedule(tmp_path, "0 2 * * *", "America/Detroit")
    assert main(["serve", "--config", str(config)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "ROADMAP_ALERT_FROM" in line and "ROADMAP_ALERT_TO" in line and str(config) in line
    assert "alerts.enabled: false" in line

    monkeypatch.setenv("ROADMAP_ALERT_FROM", "roadmap@mi.example.gov")
    assert main(["serve", "--config", str(config)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "ROADMAP_ALERT_TO" in line and "ROADMAP_ALERT_FROM" not in line

    # switched off on purpose: serve goes on (and stops at the missing server instead)
    monkeypatch.delenv("ROADMAP_ALERT_FROM")
    config = _config_with_schedule(tmp_path, "0 2 * * *", "America/Detroit", enabled=False)
    with temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{_closed_port()}/api"}):
        assert main(["serve", "--config", str(config)]) == 2
    assert "does not answer" in capsys.readouterr().err


def test_the_nightly_deployment_refuses_to_run_without_alert_settings(prefect_server, tmp_path, monkeypatch):
    """A deployment run (unattended) without sender and recipients fails at once with the
    same message; `roadmap nightly` by hand does not need them."""
    from prefect import flow

    from flows.alerts import require_alert_settings
    from flows.nightly import _under_deployment
    from flows.settings import ConfigError, load_settings

    monkeypatch.delenv("ROADMAP_ALERT_FROM", raising=False)
    monkeypatch.delenv("ROADMAP_ALERT_TO", raising=False)
    settings = load_settings(None)
    with pytest.raises(ConfigError, match="the nightly deployment runs unattended"):
        require_alert_settings(settings, "the nightly deployment")

    @flow
    def probe() -> bool:
        return _under_deployment()

    assert probe() is False  # a flow called by hand is not a deployment run
