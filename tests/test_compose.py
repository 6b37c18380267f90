"""docker-compose.yml, Dockerfile and .env.example, checked without a Docker engine:
the services and images, the volume that holds the data, ports, start order, the
environment names of docs/INTERFACE.md, no secret in a committed file, and every
command, file and build context they refer to exists in the repository."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


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


def test_services_use_the_official_images_and_build_the_pipeline_from_this_repo(compose):
    services = compose["services"]
    assert {"postgres", "prefect-server", "nightly", "mailpit"} <= set(services)
    assert services["postgres"]["image"] == "postgres:16"
    # the server runs the Prefect release the pipeline's lock file pins (client and server match)
    import re
    from pathlib import Path

    lock = (Path(__file__).resolve().parent.parent / "requirements.lock").read_text()
    prefect_version = re.search(r"^prefect==([\w.]+)", lock, re.M).group(1)
    assert services["prefect-server"]["image"] == f"prefecthq/prefect:{prefect_version}-python3.11"
    assert services["mailpit"]["image"] == "axllent/mailpit"
    for name in ("nightly", "worker"):
        build = services[name]["build"]
        context = REPO / build["context"]
        assert context.resolve() == REPO
        assert (context / build.get("dockerfile", "Dockerfile")).is_file()


def test_the_prefect_server_keeps_its_state_in_postgres(compose):
    server = compose["services"]["prefect-server"]
    url = server["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert url.startswith("postgresql+asyncpg://prefect:") and "@postgres:5432/prefect" in url
    assert "${POSTGRES_PASSWORD" in url  # from .env, never written here
    assert _command(server)[:3] == ["prefect", "server", "start"]
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "prefect-db:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]


def test_landing_files_and_warehouse_live_on_a_named_volume(compose):
    nightly = compose["services"]["nightly"]
    mounts = dict(v.split(":", 1) for v in nightly["volumes"])
    assert "roadmap-data" in mounts and "roadmap-data" in compose["volumes"]
    data = mounts["roadmap-data"]
    env = nightly["environment"]
    for name in ("ROADMAP_LANDING_DIR", "ROADMAP_WAREHOUSE"):
        assert env[name].startswith(data + "/"), name
    assert "prefect-db" in compose["volumes"]


def test_ports_and_start_order(compose):
    services = compose["services"]
    published = {p.rsplit(":", 1)[-1]: p for s in services.values() for p in s.get("ports", [])}
    assert set(published) >= {"4200", "8025"}
    assert all(p.startswith("127.0.0.1:") for p in published.values()), "UIs without login stay on localhost"
    nightly = services["nightly"]
    assert nightly["depends_on"]["prefect-server"]["condition"] == "service_healthy"
    assert "mailpit" in nightly["depends_on"]
    assert nightly["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert "healthcheck" in services["prefect-server"] and "healthcheck" in services["postgres"]


def test_alert_mail_goes_to_the_mail_catcher_by_default(compose):
    env = compose["services"]["nightly"]["environment"]
    assert env["ROADMAP_SMTP_HOST"] == "${ROADMAP_SMTP_HOST:-mailpit}"
    assert env["ROADMAP_SMTP_PORT"] == "${ROADMAP_SMTP_PORT:-1025}"
    assert "1025" in [str(p) for p in compose["services"]["mailpit"].get("expose", [])]
    example = _env_file(REPO / ".env.example")
    assert example["ROADMAP_SMTP_HOST"] == "mailpit" and example["ROADMAP_SMTP_PORT"] == "1025"


def test_environment_names_match_the_interface_and_secrets_come_only_from_env_file(compose):
    documented = _interface_env_names()
    example = _env_file(REPO / ".env.example")
    mail = {n for n in documented if n.startswith(("ROADMAP_SMTP_", "ROADMAP_ALERT_"))}
    assert len(mail) == 7
    for name in ("nightly", "worker"):
        service = compose["services"][name]
        assert service["env_file"] == ".env"
        used = {n for n in service["environment"] if n.startswith("ROADMAP_")}
        assert used <= documented, used - documented
        assert mail | {"ROADMAP_PSEUDONYM_KEY"} <= used | set(example)
    assert {n for n in example if n.startswith("ROADMAP_")} <= documented
    # every ${VAR} docker compose interpolates is explained in .env.example
    text = (REPO / "docker-compose.yml").read_text()
    assert set(re.findall(r"\$\{([A-Z_]+)", text)) <= set(example)
    # no secret in committed files: empty placeholders only
    for secret in ("POSTGRES_PASSWORD", "ROADMAP_PSEUDONYM_KEY", "ROADMAP_SMTP_PASSWORD"):
        assert example[secret] == "", secret
        assert not re.search(rf"^\s*{secret}\s*:\s*[^$\s]", text, re.M), secret


def test_every_command_file_and_entrypoint_referred_to_exists():
    from flows.cli import build_parser

    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    subcommands = set(build_parser()._subparsers._group_actions[0].choices)
    assert _command(compose["services"]["nightly"]) == ["roadmap", "serve"]
    assert "serve" in subcommands
    worker = " ".join(_command(compose["services"]["worker"]))
    prefect_yaml = yaml.safe_load((REPO / "prefect.yaml").read_text())
    (deployment,) = prefect_yaml["deployments"]
    assert f"--pool {deployment['work_pool']['name']}" in worker
    assert f"--name {deployment['name']}" in worker and "--prefect-file prefect.yaml" in worker
    entry_file, _, entry_name = deployment["entrypoint"].partition(":")
    assert (REPO / entry_file).is_file() and f"def {entry_name}(" in (REPO / entry_file).read_text()

    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    assert "pip install --require-hashes --no-deps -r requirements.lock" in dockerfile
    assert "pip install --no-deps -e ." in dockerfile
    for line in re.findall(r"^COPY (.+)$", dockerfile, re.M):
        for source in line.split()[:-1]:
            assert (REPO / source).exists(), f"Dockerfile copies {source}, which is not in the repository"
    cmd = re.search(r"^CMD (.+)$", dockerfile, re.M).group(1)
    assert yaml.safe_load(cmd)[:2] == ["roadmap", "serve"]
    scripts = (REPO / "pyproject.toml").read_text()
    assert 'roadmap = "flows.cli:main"' in scripts
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".env" in ignored and "data" in ignored
