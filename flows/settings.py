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


class ConfigError(Exception):
    """A setting is missing or wrong; the message says which and how to fix it."""


@dataclass
class Settings:
    landing_dir: Path
    warehouse: Path
    reports_dir: Path
    config_dir: Path
    raw: dict[str, Any] = field(default_factory=dict)

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
    def lock_wait_seconds(self) -> float:
        return float(self.section("run").get("lock_wait_seconds", 0))

    @property
    def settle_seconds(self) -> float:
        """A landing file modified less than this long ago is still being written."""
        return float(self.section("run").get("settle_seconds", 60))

    @property
    def earliest_school_year(self) -> str:
        return str(self.section("run").get("earliest_school_year", "2000-01"))

    @property
    def confirmed_directory_files(self) -> frozenset[str]:
        """SHA-256 of directory files whose changes the state confirmed (DATA_SPEC section 1)."""
        listed = self.section("directory").get("confirmed_files") or []
        return frozenset(str(x).strip().lower() for x in listed)

    @property
    def min_cell_size(self) -> int:
        return int(self.section("privacy").get("min_cell_size", 10))


def load_settings(
    config_file: Path | str | None = None,
    *,
    landing_dir: Path | str | None = None,
    warehouse: Path | str | None = None,
) -> Settings:
    """Command-line values win over the environment, which wins over config/roadmap.yml."""
    path = Path(config_file) if config_file else DEFAULT_CONFIG_DIR / "roadmap.yml"
    if not path.is_file():
        raise ConfigError(f"config file {path} not found: pass --config FILE or run from the project folder")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
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
    )


def pseudonym_key() -> bytes | None:
    """The key of the educator-ID hash (DATA_SPEC section 4), or None when not set."""
    value = os.environ.get("ROADMAP_PSEUDONYM_KEY", "")
    return value.encode("utf-8") if value.strip() else None
