"""Settings: `config/roadmap.yml` for everything that is not a secret, the environment
for paths a user overrides and for secrets (docs/INTERFACE.md).

The one config loader: finds the config folder (`--config`, else ROADMAP_CONFIG, else the
project's config/), reads and parses its three YAML files once per load and reports a
broken one as ConfigError (file, line, key, what to do). The modules with typed views of
a section (flows/warehouse/reference.py, flows/report/config.py, flows/alerts/config.py,
flows/ingest/collection.py, flows/serve.py) check it from what was parsed here."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_DIR = REPO_ROOT / "config"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


# The config folder: three YAML files side by side. This module is the only one that reads
# or parses them (tests/test_config_loading.py guards it); the others get the parsed
# documents from `load_settings` / `read_config_folder` and check their own sections.
CONFIG_FILE = "roadmap.yml"
METRICS_FILE = "metrics.yml"
CATALOG_FILE = "roadmap_goal4.yml"
SIBLING_FILES = (METRICS_FILE, CATALOG_FILE)


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
    # the parsed config folder this came from (roadmap.yml is `raw`), for the modules that
    # read metrics.yml and roadmap_goal4.yml: none of them reads a file again
    files: ConfigFolder | None = field(default=None, repr=False)

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


# What each file may hold at its top level, and the YAML type of each key (None, an empty
# section, is always allowed). The sections' own keys are checked by the modules that use
# them (flows/alerts/config.py, flows/ingest/collection.py, flows/serve.py,
# flows/warehouse/reference.py, flows/report/config.py, Settings below).
@dataclass(frozen=True)
class ConfigFileSpec:
    name: str  # the file's name in the config folder
    keys: dict[str, type]


MAPPING, LIST = dict, list
SETTINGS_SPEC = ConfigFileSpec(
    CONFIG_FILE,
    {
        "paths": MAPPING,
        "schedule": MAPPING,
        "run": MAPPING,
        "directory": MAPPING,
        "alerts": MAPPING,
        "privacy": MAPPING,
        "report": MAPPING,
        "collection": MAPPING,
    },
)
METRICS_SPEC = ConfigFileSpec(
    METRICS_FILE,
    {
        "metrics": MAPPING,
        "targets": MAPPING,
        "connectivity_benchmarks": MAPPING,
        "national_context": LIST,
        "review": MAPPING,
        "objective_metrics": MAPPING,
        "unmeasured": MAPPING,
    },
)
CATALOG_SPEC = ConfigFileSpec(CATALOG_FILE, {"goal": MAPPING, "strategies": LIST})


@dataclass(frozen=True)
class ConfigFolder:
    """The parsed files of one config folder, each read and parsed once (by
    `read_config_folder`); a file that may be absent and is reads as {}."""

    folder: Path
    settings_file: Path  # roadmap.yml, or the file --config named in its place
    roadmap: dict[str, Any]
    metrics: dict[str, Any]
    catalog: dict[str, Any]


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key written twice in one mapping is an error
    (PyYAML would keep the last one silently: a second `alerts:` would drop the first)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    earlier = first_line.setdefault(key, key_node.start_mark.line)
                except TypeError:  # an unhashable key: PyYAML's own error follows
                    continue
                if earlier != key_node.start_mark.line:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"the key {key!r} is written twice in one mapping (first on line {earlier + 1}); "
                        "keep one of them",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(path: Path, exc: yaml.YAMLError) -> str:
    """One line: the file, the line and column, what is wrong, what to do."""
    mark = getattr(exc, "problem_mark", None)
    problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
    context = " ".join(str(getattr(exc, "context", None) or "").split())
    context_mark = getattr(exc, "context_mark", None)
    if mark is None:
        return f"config file {path} is not valid YAML: {problem}"
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    if context:
        context = f" ({context}" + (f" on line {context_mark.line + 1})" if context_mark else ")")
    if "written twice" in problem:
        return f"config file {path} is not valid YAML at {where}: {problem}"
    return (
        f"config file {path} is not valid YAML at {where}: {problem}{context}; check the indentation "
        "and quoting there (quote a value that holds ': ' or ' #')"
    )


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def read_yaml(path: Path) -> Any:
    """Parse a YAML file that is not part of the config folder (the dbt project's model
    files), with the same rules as the config: a key written twice is an error, and a
    problem names the file and the line (ConfigError)."""
    text = Path(path).read_text(encoding="utf-8")
    loader = _UniqueKeyLoader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(Path(path), exc)) from exc
    finally:
        loader.dispose()


def parse_config_file(path: Path, spec: ConfigFileSpec, *, missing_ok: bool = False) -> dict[str, Any]:
    """Read and parse one file of the config folder (the only place one is): a mapping of
    the top-level keys `spec` allows, each of its type. Else ConfigError, one line naming
    the file, the line and the key, and what to do. An empty file is {}."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise ConfigError(
            f"config file {path} not found: the config folder holds {CONFIG_FILE}, {', '.join(SIBLING_FILES)} "
            "side by side; copy the missing one from the project's config/"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}") from None
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(path, exc)) from exc
    finally:
        loader.dispose()
    known = ", ".join(f"{key}:" for key in spec.keys)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must be a YAML mapping ({known}), not {_kind(data)} (line {node.start_mark.line + 1})"
        )
    lines = {str(key_node.value): key_node.start_mark.line + 1 for key_node, _ in node.value}
    for key, value in data.items():
        line = lines.get(str(key))
        at = f", line {line}" if line else ""
        if key not in spec.keys:
            close = difflib.get_close_matches(str(key), spec.keys, n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            raise ConfigError(
                f"config file {path}{at}: unknown top-level key `{key}`{hint}; "
                f"{spec.name} holds {known}: correct or remove it"
            )
        expected = spec.keys[key]
        if value is not None and not isinstance(value, expected):
            shape = (
                "a mapping (`name: value` lines indented under it)"
                if expected is MAPPING
                else "a list (`- item` lines indented under it, or [a, b])"
            )
            raise ConfigError(f"config file {path}{at}: `{key}` must be {shape}, not {_kind(value)}")
    return data


def config_location(config: Path | str) -> tuple[Path, Path]:
    """(folder, settings file) of a config folder or of the settings file in it, which
    may have another name than roadmap.yml (`--config prod.yml`): its two siblings are
    always read from its folder."""
    path = Path(config)
    return (path.parent, path) if path.is_file() else (path, path / CONFIG_FILE)


def read_config_folder(
    folder: Path | str, *, settings_file: Path | None = None, missing_ok: bool = False
) -> ConfigFolder:
    """The three files of `folder` (roadmap.yml, or `settings_file` in its place), each
    read and parsed once. `missing_ok`: an absent file reads as {} (the review's defaults)."""
    folder = Path(folder)
    settings_file = settings_file or folder / CONFIG_FILE
    return ConfigFolder(
        folder=folder,
        settings_file=settings_file,
        roadmap=parse_config_file(settings_file, SETTINGS_SPEC, missing_ok=missing_ok),
        metrics=parse_config_file(folder / METRICS_FILE, METRICS_SPEC, missing_ok=missing_ok),
        catalog=parse_config_file(folder / CATALOG_FILE, CATALOG_SPEC, missing_ok=missing_ok),
    )


def read_config(config: Path | str | None = None) -> ConfigFolder:
    """The config folder that `--config` (else ROADMAP_CONFIG, else config/) names, checked
    to hold its three files, each read and parsed once."""
    path = config_path(config)
    check_config_folder(path)
    return read_config_folder(path.parent, settings_file=path)


def load_settings(
    config_file: Path | str | None = None,
    *,
    landing_dir: Path | str | None = None,
    warehouse: Path | str | None = None,
) -> Settings:
    """Command-line values win over the environment, which wins over config/roadmap.yml.
    `config_file` is the config folder or its roadmap.yml (metrics.yml and
    roadmap_goal4.yml are read from the same folder, and parsed here too: a broken file
    is reported before anything runs)."""
    files = read_config(config_file)
    raw = files.roadmap
    paths = raw.get("paths") or {}
    landing = landing_dir or os.environ.get("ROADMAP_LANDING_DIR") or paths.get("landing_dir", "data/landing")
    wh = warehouse or os.environ.get("ROADMAP_WAREHOUSE") or paths.get("warehouse", "data/warehouse/roadmap.duckdb")
    reports = paths.get("reports_dir", "data/reports")
    return Settings(
        landing_dir=Path(landing).expanduser().resolve(),
        warehouse=Path(wh).expanduser().resolve(),
        reports_dir=Path(reports).expanduser().resolve(),
        config_dir=files.settings_file.resolve().parent,
        raw=raw,
        config_file=files.settings_file.resolve(),
        files=files,
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
