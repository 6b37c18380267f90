"""Settings: `config/roadmap.yml` for everything that is not a secret, the environment
for paths a user overrides and for secrets (docs/INTERFACE.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_DIR = REPO_ROOT / "config"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


CONFIG_FILE = "roadmap.yml"
# read from the same folder as roadmap.yml (flows/warehouse/reference.py, flows/report/config.py)
SIBLING_FILES = ("metrics.yml", "roadmap_goal4.yml")


class ConfigError(Exception):
    """A setting is missing or wrong; the message says which and how to fix it."""


@dataclass
class Settings:
    landing_dir: Path
    warehouse: Path
    reports_dir: Path
    config_dir: Path
    raw: dict[str, Any] = field(default_factory=dict)
    config_file: Path | None = None

    def __post_init__(self) -> None:
        if self.config_file is None:
            self.config_file = self.config_dir / CONFIG_FILE

    @property
    def warehouse_dir(self) -> Path:
        return self.warehouse.parent

    @property
    def archive_dir(self) -> Path:
        return self.warehouse_dir / "archive"

    @property
    def outbox_dir(self) -> Path:
        return self.warehouse_dir / "outbox"

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.raw.get(name) or {})

    @property
    def validation_batch_rows(self) -> int:
        return int(self.section("run").get("validation_batch_rows", 500_000))

    @property
    def duckdb_memory_limit(self) -> str:
        return str(self.section("run").get("duckdb_memory_limit", "1GB"))

    @property
    def yoy_swing_threshold(self) -> float:
        return float(self.section("run").get("yoy_swing_threshold", 0.5))

    @property
    def incremental_builds(self) -> bool:
        """dbt builds only what depends on the sources that changed since the last build
        (flows/warehouse/transform.py); false rebuilds every model every night."""
        value = self.section("run").get("incremental_builds", True)
        if isinstance(value, str):
            return value.strip().lower() not in ("false", "no", "off", "0")
        return bool(value)

    @property
    def lock_wait_seconds(self) -> float:
        return float(self.section("run").get("lock_wait_seconds", 0))

    @property
    def settle_seconds(self) -> float:
        """A landing file modified less than this long ago is still being written
        (ROADMAP_SETTLE_SECONDS overrides the config: 0 when the files are known to be
        complete, e.g. written by `roadmap generate` just before the run)."""
        value = os.environ.get("ROADMAP_SETTLE_SECONDS", "").strip()
        if value:
            try:
                seconds = float(value)
            except ValueError:
                raise ConfigError(f"ROADMAP_SETTLE_SECONDS={value!r} is not a number of seconds") from None
            if not seconds >= 0:
                raise ConfigError(f"ROADMAP_SETTLE_SECONDS={value!r} must be 0 or more seconds")
            return seconds
        return float(self.section("run").get("settle_seconds", 60))

    @property
    def earliest_school_year(self) -> str:
        return str(self.section("run").get("earliest_school_year", "2000-01"))

    @property
    def confirmed_directory_files(self) -> frozenset[str]:
        """SHA-256 of directory files whose changes the state confirmed (DATA_SPEC section 1)."""
        listed = self.section("directory").get("confirmed_files") or []
        return frozenset(str(x).strip().lower() for x in listed)


def config_path(config: Path | str | None) -> Path:
    """The settings file that `--config` (else ROADMAP_CONFIG) names: a folder (its
    roadmap.yml) or a file; by default the project's config/roadmap.yml."""
    config = config or os.environ.get("ROADMAP_CONFIG", "").strip() or None
    if not config:
        return DEFAULT_CONFIG_DIR / CONFIG_FILE
    path = Path(config).expanduser()
    return path / CONFIG_FILE if path.is_dir() else path


def check_config_folder(path: Path) -> None:
    """The settings file and its two siblings exist; else one line naming what is missing
    and where it was looked for."""
    if not path.is_file():
        where = f"{path.parent} is not a folder" if not path.parent.is_dir() else f"no {path.name} in {path.parent}"
        raise ConfigError(
            f"config file {path} not found ({where}): --config names the config folder (roadmap.yml, "
            f"{', '.join(SIBLING_FILES)}) or its roadmap.yml; copy the project's config/ folder to start from"
        )
    missing = [name for name in SIBLING_FILES if not (path.parent / name).is_file()]
    if missing:
        raise ConfigError(
            f"config folder {path.parent.resolve()} has {path.name} but not {' or '.join(missing)} "
            f"(looked for {', '.join(str(path.parent.resolve() / m) for m in missing)}): the three files "
            f"roadmap.yml, {', '.join(SIBLING_FILES)} live in one folder; "
            "copy the missing one(s) from the project's config/"
        )


def load_settings(
    config_file: Path | str | None = None,
    *,
    landing_dir: Path | str | None = None,
    warehouse: Path | str | None = None,
) -> Settings:
    """Command-line values win over the environment, which wins over config/roadmap.yml.
    `config_file` is the config folder or its roadmap.yml (metrics.yml and
    roadmap_goal4.yml are read from the same folder)."""
    path = config_path(config_file)
    check_config_folder(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise ConfigError(f"config file {path} is not valid YAML: {problem}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must be a YAML mapping (paths:, schedule:, run:, alerts:, ...)")
    paths = raw.get("paths") or {}
    landing = landing_dir or os.environ.get("ROADMAP_LANDING_DIR") or paths.get("landing_dir", "data/landing")
    wh = warehouse or os.environ.get("ROADMAP_WAREHOUSE") or paths.get("warehouse", "data/warehouse/roadmap.duckdb")
    reports = paths.get("reports_dir", "data/reports")
    return Settings(
        landing_dir=Path(landing).expanduser().resolve(),
        warehouse=Path(wh).expanduser().resolve(),
        reports_dir=Path(reports).expanduser().resolve(),
        config_dir=path.resolve().parent,
        raw=raw,
        config_file=path.resolve(),
    )


def secret_from_environment(name: str, environ=None) -> str | None:
    """A secret from the environment: `NAME`, else the content of the file `NAME_FILE`
    names (docker compose `secrets:`; one trailing newline dropped). None when neither."""
    env = os.environ if environ is None else environ
    value = env.get(name)
    if value:
        return value
    path = (env.get(f"{name}_FILE") or "").strip()
    if not path:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{name}_FILE names {path}, which cannot be read: {exc.strerror}") from None
    text = text[:-1] if text.endswith("\n") else text
    return text or None


def pseudonym_key() -> bytes | None:
    """The key of the educator-ID hash (DATA_SPEC section 4), or None when not set
    (ROADMAP_PSEUDONYM_KEY, or a file named by ROADMAP_PSEUDONYM_KEY_FILE)."""
    value = secret_from_environment("ROADMAP_PSEUDONYM_KEY") or ""
    return value.encode("utf-8") if value.strip() else None
