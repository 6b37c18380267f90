"""One owner for configuration loading: flows/settings.py finds the config folder
(`--config`, else ROADMAP_CONFIG, else config/), reads and parses each of its three YAML
files once per load, and reports what is wrong with one of them in one line naming the
file, the line and the key. No other module under flows/ imports a YAML parser or names
a config file itself (guarded below, and the guard is shown to catch violations)."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import duckdb
import pytest

from flows import settings as settings_module
from flows.settings import ConfigError, load_settings

REPO = Path(__file__).resolve().parent.parent
FLOWS = REPO / "flows"
FILES = ("roadmap.yml", "metrics.yml", "roadmap_goal4.yml")
YAML_MODULES = ("yaml", "ruamel", "oyaml", "strictyaml", "yamlcore")


@pytest.fixture
def config(tmp_path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(REPO / "config", folder)
    return folder


# ------------------------------------------------------------------- the ownership guard


def config_reading_violations(source: str, filename: str = "<module>") -> list[str]:
    """What in `source` reads config on its own: an import of a YAML parser (by statement,
    importlib or __import__), or a config file's name written as a string (open(),
    read_text() and friends need one; settings.py exports CONFIG_FILE and its siblings)."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
        ):
            modules = [node.args[0].value]
        for module in modules:
            if module.split(".")[0] in YAML_MODULES:
                found.append(f"{filename}:{node.lineno}: imports {module}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            name = node.value.replace("\\", "/").rsplit("/", 1)[-1]
            if name in FILES:
                found.append(f"{filename}:{node.lineno}: names the config file {node.value!r}")
    return found


@pytest.mark.fast
def test_only_settings_reads_or_parses_config_files():
    violations = []
    for path in sorted(FLOWS.rglob("*.py")):
        if path == FLOWS / "settings.py":
            continue
        violations += config_reading_violations(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
    assert not violations, "config is read and parsed in flows/settings.py only:\n" + "\n".join(violations)
    # and settings.py is where it happens (the guard would pass vacuously otherwise)
    assert config_reading_violations((FLOWS / "settings.py").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "source",
    [
        "import yaml",
        "import yaml as y",
        "from yaml import safe_load",
        "from yaml.loader import SafeLoader",
        "from ruamel.yaml import YAML",
        "import importlib\nimportlib.import_module('yaml')",
        "__import__('yaml')",
        "open('config/metrics.yml')",
        "from pathlib import Path\nPath(d) / 'roadmap_goal4.yml'",
        "CONFIG = 'roadmap.yml'",
    ],
)
def test_the_guard_catches_a_module_that_reads_config_itself(source):
    assert config_reading_violations(source)


@pytest.mark.parametrize(
    "source",
    [
        "from ..settings import CONFIG_FILE, read_config_folder",
        "import json",
        "'''Reads config/metrics.yml through flows/settings.py.'''",
        "raise ValueError(f'{METRICS_FILE}: `metrics` must map each metric name')",
        "x = 'dbt_project.yml'",
    ],
)
def test_the_guard_leaves_other_code_alone(source):
    assert not config_reading_violations(source)


# ----------------------------------------------------------------- finding the folder


def test_config_option_beats_the_environment_which_beats_the_default(config, tmp_path, monkeypatch):
    other = tmp_path / "other"
    shutil.copytree(config, other)
    assert load_settings().config_dir == (REPO / "config").resolve()
    monkeypatch.setenv("ROADMAP_CONFIG", str(config))
    assert load_settings().config_dir == config.resolve()
    assert load_settings(other).config_dir == other.resolve()
    # a file named in place of roadmap.yml: its siblings come from its folder
    site = other / "site.yml"
    (other / "roadmap.yml").rename(site)
    monkeypatch.setenv("ROADMAP_CONFIG", str(site))
    loaded = load_settings()
    assert loaded.config_file == site.resolve() and loaded.files.metrics and loaded.files.catalog


def test_each_file_is_read_and_parsed_once_per_load_and_the_run_reuses_them(config, monkeypatch):
    from flows.warehouse.reference import load_reference

    parsed: list[str] = []
    real = settings_module.parse_config_file

    def counting(path, spec, **kwargs):
        parsed.append(Path(path).name)
        return real(path, spec, **kwargs)

    monkeypatch.setattr(settings_module, "parse_config_file", counting)
    loaded = load_settings(config)
    assert sorted(parsed) == sorted(FILES)
    con = duckdb.connect()
    try:
        load_reference(con, loaded)  # what the nightly run does: no file read again
        assert sorted(parsed) == sorted(FILES)
        assert con.execute("select count(*) from reference.objectives").fetchone()[0] > 0
    finally:
        con.close()


# ---------------------------------------------------------------- reporting errors


def _break(path: Path, line_number: int, text: str) -> None:
    """Insert `text` as line `line_number` (1-based) of `path`."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(line_number - 1, text + "\n")
    path.write_text("".join(lines), encoding="utf-8")


@pytest.mark.parametrize("name", FILES)
def test_invalid_yaml_names_the_file_and_the_line_wherever_it_is(config, tmp_path, name):
    """Before every top-level key of each file in turn: a line YAML cannot parse."""
    original = (config / name).read_text(encoding="utf-8")
    positions = [i for i, line in enumerate(original.splitlines(), 1) if line[:1].isalpha()]
    assert len(positions) >= 2
    for position in positions:
        (config / name).write_text(original, encoding="utf-8")
        _break(config / name, position, "oops: a: b")
        with pytest.raises(ConfigError) as raised:
            load_settings(config)
        message = str(raised.value)
        assert str(config / name) in message and f"line {position}," in message, (position, message)
        assert "not valid YAML" in message and "\n" not in message


@pytest.mark.fast
def test_a_key_written_twice_is_refused_naming_both_lines(config):
    text = (config / "roadmap.yml").read_text(encoding="utf-8")
    first = 1 + text.splitlines().index("alerts:")
    (config / "roadmap.yml").write_text(text + "alerts:\n  enabled: false\n", encoding="utf-8")
    last = len((config / "roadmap.yml").read_text(encoding="utf-8").splitlines()) - 1
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    message = str(raised.value)
    assert f"line {last}," in message and f"first on line {first}" in message and "'alerts'" in message


@pytest.mark.parametrize(
    ("name", "key", "suggestion"),
    [("roadmap.yml", "alert", "alerts"), ("metrics.yml", "target", "targets"), ("roadmap_goal4.yml", "goals", "goal")],
)
def test_an_unknown_top_level_key_is_named_with_its_line_and_the_likely_key(config, name, key, suggestion):
    path = config / name
    path.write_text(path.read_text(encoding="utf-8") + f"{key}:\n  x: 1\n", encoding="utf-8")
    line = len(path.read_text(encoding="utf-8").splitlines()) - 1
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    message = str(raised.value)
    assert str(path) in message and f"line {line}:" in message
    assert f"unknown top-level key `{key}`" in message and f"did you mean `{suggestion}`" in message


@pytest.mark.parametrize(
    ("name", "key", "value", "expected"),
    [
        ("roadmap.yml", "run", "5", "a mapping"),
        ("roadmap.yml", "alerts", "[a, b]", "a mapping"),
        ("metrics.yml", "national_context", "{text: x}", "a list"),
        ("roadmap_goal4.yml", "strategies", "none of them", "a list"),
    ],
)
def test_a_section_of_the_wrong_type_is_named(config, name, key, value, expected):
    path = config / name
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"{key}:")
    end = next((i for i in range(start + 1, len(lines)) if lines[i][:1].isalpha()), len(lines))
    lines[start:end] = [f"{key}: {value}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    message = str(raised.value)
    assert str(path) in message and f"line {start + 1}:" in message and f"`{key}` must be {expected}" in message


@pytest.mark.parametrize(
    ("text", "says"),
    [("- paths\n- run\n", "must be a YAML mapping"), ("a\n---\nb\n", "expected a single document")],
)
def test_a_file_that_is_not_one_mapping_is_refused(config, text, says):
    (config / "roadmap.yml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=says):
        load_settings(config)


def test_an_empty_settings_file_means_the_defaults(config):
    (config / "roadmap.yml").write_text("# nothing set\n", encoding="utf-8")
    loaded = load_settings(config)
    assert loaded.raw == {} and loaded.validation_batch_rows == 500_000


def test_a_file_that_is_not_utf8_is_named(config):
    (config / "metrics.yml").write_bytes(b"metrics:\n  caf\xe9: {}\n")
    with pytest.raises(ConfigError, match=r"metrics\.yml is not UTF-8 text"):
        load_settings(config)


def test_the_command_line_reports_a_broken_file_in_one_line_and_exits_2(config, capsys):
    from flows.cli import main

    _break(config / "metrics.yml", 7, "oops: a: b")
    assert main(["runs", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(config / "metrics.yml") in err[0] and "line 7," in err[0]


def test_the_review_and_the_reference_get_the_same_errors(config):
    """The readers with typed views (reference tables, the review) read through the same
    loader: the same message for the same broken file."""
    from flows.report.config import load_config
    from flows.warehouse.reference import read_reference

    _break(config / "roadmap_goal4.yml", 7, "oops: a: b")
    messages = set()
    for read in (load_settings, read_reference, load_config):
        with pytest.raises(ConfigError) as raised:
            read(config)
        messages.add(str(raised.value))
    assert len(messages) == 1 and "line 7," in messages.pop()


def test_the_review_reads_defaults_for_a_folder_without_config(tmp_path):
    from flows.report.config import load_config

    cfg = load_config(tmp_path / "nothing-here")
    assert cfg.metrics == {} and cfg.min_cell_size == 10


@pytest.mark.fast
def test_the_review_reads_the_settings_file_that_config_names(tmp_path):
    """`--config prod.yml` names a settings file beside metrics.yml and roadmap_goal4.yml:
    the review's privacy threshold comes from that file, not from a roadmap.yml that
    happens to sit in the same folder (it used to, and suppressed with the wrong one)."""
    from flows.report.config import load_config

    folder = tmp_path / "config"
    shutil.copytree(REPO / "config", folder)
    text = (folder / "roadmap.yml").read_text(encoding="utf-8")
    assert "  min_cell_size: 10\n" in text
    (folder / "prod.yml").write_text(text.replace("  min_cell_size: 10\n", "  min_cell_size: 25\n"), encoding="utf-8")
    settings = load_settings(folder / "prod.yml")
    assert load_config(settings.config_file).min_cell_size == 25
    assert load_config(settings.config_dir).min_cell_size == 10  # a folder means its roadmap.yml
