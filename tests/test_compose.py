"""docker-compose.yml, Dockerfile, the runtime lock and .env.example, checked without a
Docker engine (none runs here; docs/operations.md says what was never started): pinned
images, a healthcheck for every service, secrets as files (never an environment value
or part of a URL), a worker that starts whatever deploy says, start order, the volume
that holds the data, and every command, file and build context they refer to exists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

# the fast tier (make test-fast) runs the whole module: it reads files, starts nothing
pytestmark = pytest.mark.fast

REPO = Path(__file__).resolve().parent.parent
TEST_AND_BUILD_ONLY = {"pytest", "pytest-timeout", "hypothesis", "aiosmtpd", "setuptools", "wheel"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _interface_env_names() -> set[str]:
    text = (REPO / "docs" / "INTERFACE.md").read_text()
    return set(re.findall(r"`(ROADMAP_[A-Z_]+)`", text))


def _env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            out[name.strip()] = value.strip()
    return out


def _command(service: dict) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd)


def _lock_versions(path: Path) -> dict[str, str]:
    return {
        m.group(1).lower(): m.group(2) for m in re.finditer(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", path.read_text(), re.M)
    }


def test_every_image_is_pinned_and_the_server_matches_the_lock(compose):
    services = compose["services"]
    assert {"postgres", "prefect-server", "nightly", "mailpit", "worker"} <= set(services)
    for name, service in services.items():
        image = service["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and re.search(r"\d+\.\d+", tag), f"{name}: {image} is not pinned"
    assert services["postgres"]["image"].startswith("postgres:16.")
    prefect_version = _lock_versions(REPO / "requirements.lock")["prefect"]
    assert services["prefect-server"]["image"] == f"prefecthq/prefect:{prefect_version}-python3.11"
    for name in ("nightly", "worker"):
        build = services[name]["build"]
        context = REPO / build["context"]
        assert context.resolve() == REPO
        assert (context / build.get("dockerfile", "Dockerfile")).is_file()
    from_line = re.search(r"^FROM (\S+)", (REPO / "Dockerfile").read_text(), re.M).group(1)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", from_line), from_line


def test_every_service_has_a_healthcheck_and_waits_for_what_it_needs(compose):
    services = compose["services"]
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
    for name in ("nightly", "worker"):
        depends = services[name]["depends_on"]
        assert depends["prefect-server"]["condition"] == "service_healthy"
        assert depends["mailpit"]["condition"] == "service_healthy"
        assert services[name]["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
        # serve ends the run in progress and pauses the schedule on SIGTERM: time to do it
        grace = services[name]["stop_grace_period"]
        assert int(grace.rstrip("s")) >= 30
    assert services["prefect-server"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    # the health endpoints the checks ask are the ones the services are told to open
    nightly = services["nightly"]
    assert nightly["environment"]["PREFECT_RUNNER_SERVER_ENABLE"] == "true"
    port = nightly["environment"]["PREFECT_RUNNER_SERVER_PORT"]
    assert f":{port}/health" in " ".join(nightly["healthcheck"]["test"])
    worker = services["worker"]
    assert "--with-healthcheck" in " ".join(_command(worker))
    port = worker["environment"]["PREFECT_WORKER_WEBSERVER_PORT"]
    assert f":{port}/health" in " ".join(worker["healthcheck"]["test"])


def test_the_worker_starts_even_when_the_deployment_already_exists_or_deploy_fails(compose):
    prefect_yaml = yaml.safe_load((REPO / "prefect.yaml").read_text())
    (deployment,) = prefect_yaml["deployments"]
    argv = _command(compose["services"]["worker"])
    assert argv[:2] == ["sh", "-c"]
    steps = [s.strip() for s in argv[2].split(";") if s.strip()]
    assert "&&" not in argv[2], "a chain stops at the first failing step and never starts the worker"
    *before, last = steps
    assert last.startswith(f"exec prefect worker start --pool {deployment['work_pool']['name']}")
    for step in before:  # each preparatory step may fail without stopping the worker
        assert "||" in step, step
    deploy = next(s for s in before if "deploy" in s)
    assert f"--name {deployment['name']}" in deploy and "--prefect-file prefect.yaml" in deploy


def test_secrets_are_files_never_environment_values_or_urls(compose):
    declared = compose["secrets"]
    for name, secret in declared.items():
        assert secret["file"].startswith("./secrets/"), name
    text = (REPO / "docker-compose.yml").read_text()
    assert not re.search(r"://[^/\s:@]+:[^/\s@]*@", text), "credentials in a URL"
    assert "PREFECT_API_DATABASE_CONNECTION_URL" not in text and "${POSTGRES_PASSWORD" not in text
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        for key, value in env.items():
            if re.search(r"PASSWORD|KEY|SECRET", key) and not key.endswith("_FILE"):
                pytest.fail(f"{name}: secret {key} given as an environment value")
            if key.endswith("_FILE"):
                secret = str(value).removeprefix("/run/secrets/")
                assert str(value).startswith("/run/secrets/") and secret in declared, (name, key)
                assert secret in service["secrets"], (name, key)
    server = compose["services"]["prefect-server"]
    assert server["environment"]["PREFECT_SERVER_DATABASE_HOST"] == "postgres"
    assert "/run/secrets/postgres_password" in " ".join(_command(server))
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    for ignore in (".gitignore", ".dockerignore"):
        assert "secrets" in (REPO / ignore).read_text().split() or "secrets/" in (REPO / ignore).read_text().split()


def test_the_pipeline_reads_its_secrets_from_the_files_compose_mounts(tmp_path, monkeypatch):
    from flows.alerts import SmtpSettings
    from flows.settings import pseudonym_key

    key, password = tmp_path / "key", tmp_path / "smtp"
    key.write_text("k3y-from-a-file\n")
    password.write_text("p@ss:w/rd#1\n")
    monkeypatch.delenv("ROADMAP_PSEUDONYM_KEY", raising=False)
    monkeypatch.setenv("ROADMAP_PSEUDONYM_KEY_FILE", str(key))
    monkeypatch.setenv("ROADMAP_SMTP_PASSWORD_FILE", str(password))
    assert pseudonym_key() == b"k3y-from-a-file"
    assert SmtpSettings.from_env().password == "p@ss:w/rd#1"
    password.write_text("")  # a relay without login: an empty file
    assert SmtpSettings.from_env().password is None


def test_landing_files_and_warehouse_live_on_a_named_volume(compose):
    nightly = compose["services"]["nightly"]
    mounts = dict(v.split(":", 1) for v in nightly["volumes"])
    assert "roadmap-data" in mounts and "roadmap-data" in compose["volumes"]
    data = mounts["roadmap-data"]
    env = nightly["environment"]
    for name in ("ROADMAP_LANDING_DIR", "ROADMAP_WAREHOUSE"):
        assert env[name].startswith(data + "/"), name
    assert "prefect-db" in compose["volumes"]
    assert "prefect-db:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]


def test_ports_stay_on_localhost_and_mail_goes_to_the_catcher_by_default(compose):
    services = compose["services"]
    published = {p.rsplit(":", 1)[-1]: p for s in services.values() for p in s.get("ports", [])}
    assert set(published) >= {"4200", "8025"}
    assert all(p.startswith("127.0.0.1:") for p in published.values()), "UIs without login stay on localhost"
    env = services["nightly"]["environment"]
    assert env["ROADMAP_SMTP_HOST"] == "${ROADMAP_SMTP_HOST:-mailpit}"
    assert env["ROADMAP_SMTP_PORT"] == "${ROADMAP_SMTP_PORT:-1025}"
    assert "1025" in [str(p) for p in services["mailpit"].get("expose", [])]


def test_environment_names_match_the_interface_and_env_example_holds_no_secret(compose):
    documented = _interface_env_names()
    example = _env_file(REPO / ".env.example")
    for name in ("nightly", "worker"):
        service = compose["services"][name]
        assert service["env_file"] == ".env"
        used = {n for n in service["environment"] if n.startswith("ROADMAP_")}
        assert used <= documented, used - documented
    assert {n for n in example if n.startswith("ROADMAP_")} <= documented
    assert {"ROADMAP_ALERT_FROM", "ROADMAP_ALERT_TO"} <= set(example)
    for secret in ("POSTGRES_PASSWORD", "ROADMAP_PSEUDONYM_KEY", "ROADMAP_SMTP_PASSWORD"):
        assert secret not in example, f"{secret} belongs in a secret file, not .env"
    # every ${VAR} docker compose interpolates is explained in .env.example
    text = (REPO / "docker-compose.yml").read_text()
    assert set(re.findall(r"\$\{([A-Z_]+)", text)) <= set(example)


def test_the_image_installs_the_runtime_lock_only(compose):
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "pip install --require-hashes --no-deps -r requirements-runtime.lock" in dockerfile
    assert "-r requirements.lock" not in dockerfile
    assert not re.search(r"pip install[^\n]*(-e|\[test|\[build)", dockerfile)
    runtime = _lock_versions(REPO / "requirements-runtime.lock")
    full = _lock_versions(REPO / "requirements.lock")
    assert not TEST_AND_BUILD_ONLY & set(runtime), TEST_AND_BUILD_ONLY & set(runtime)
    assert all(full.get(name) == version for name, version in runtime.items()), (
        "runtime lock drifted from requirements.lock"
    )
    assert "--hash=sha256:" in (REPO / "requirements-runtime.lock").read_text()
    project = yaml.safe_load(
        "[" + re.search(r"dependencies = \[(.*?)\]", (REPO / "pyproject.toml").read_text(), re.S).group(1) + "]"
    )
    for requirement in project:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()
        assert name in runtime, f"{name} is a dependency but not in requirements-runtime.lock"


def test_every_command_file_and_entrypoint_referred_to_exists(compose):
    from flows.cli import build_parser

    subcommands = set(build_parser()._subparsers._group_actions[0].choices)
    assert _command(compose["services"]["nightly"]) == ["roadmap", "serve"]
    assert "serve" in subcommands
    prefect_yaml = yaml.safe_load((REPO / "prefect.yaml").read_text())
    (deployment,) = prefect_yaml["deployments"]
    module, _, name = deployment["entrypoint"].partition(":")
    assert (REPO / (module.replace(".", "/") + ".py")).is_file()
    assert f"def {name}(" in (REPO / (module.replace(".", "/") + ".py")).read_text()

    dockerfile = (REPO / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (.+)$", dockerfile, re.M):
        for source in line.split()[:-1]:
            assert (REPO / source).exists(), f"Dockerfile copies {source}, which is not in the repository"
    cmd = re.search(r"^CMD (.+)$", dockerfile, re.M).group(1)
    assert yaml.safe_load(cmd)[:2] == ["roadmap", "serve"]
    # the image's `roadmap` runs the same entry point as the installed script
    assert "exec python -m flows" in dockerfile and (REPO / "flows" / "__main__.py").is_file()
    assert 'roadmap = "flows.cli:main"' in (REPO / "pyproject.toml").read_text()
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".env" in ignored and "data" in ignored
