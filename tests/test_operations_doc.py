"""docs/operations.md walks an operator from a bare server to the first scheduled night:
every command of that walk is one the production rehearsal (tests/test_rehearsal_*.py)
runs, every variable it exports is one the rehearsal sets, and the systemd units start
exactly those commands."""

from __future__ import annotations

import re
import subprocess

import pytest

from rehearsal import OPERATOR_COMMANDS, OPERATOR_ENVIRONMENT, REPO

WALK = "## From a bare server to the first scheduled night"


def _section() -> str:
    text = (REPO / "docs" / "operations.md").read_text()
    start = text.index(WALK)
    end = text.index("\n## ", start + len(WALK))
    return text[start:end]


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def _lines(block: str) -> list[str]:
    out = []
    for line in block.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


@pytest.mark.fast
def test_every_command_of_the_walk_is_run_by_the_rehearsal():
    section = _section()
    commands = [line for block in _blocks(section, "sh") for line in _lines(block) if not line.startswith("export ")]
    exported = [line for block in _blocks(section, "sh") for line in _lines(block) if line.startswith("export ")]
    known = set(OPERATOR_COMMANDS.values())
    assert commands, "the walk shows no command"
    assert [c for c in commands if c not in known] == []
    names = [re.match(r"export (\w+)=", line).group(1) for line in exported]
    assert sorted(names) == sorted(OPERATOR_ENVIRONMENT)
    # the services of the walk start the same commands
    starts = [
        line.split("=", 1)[1]
        for block in _blocks(section, "ini")
        for line in _lines(block)
        if line.startswith("ExecStart=")
    ]
    assert len(starts) == 2
    for start in starts:
        assert start.removeprefix("/opt/roadmap-warehouse/.venv/bin/") in known, start
    # and every command the rehearsal knows is in the document
    text = (REPO / "docs" / "operations.md").read_text()
    assert [c for c in known if c not in text] == []


@pytest.mark.fast
def test_the_rehearsal_runs_every_operator_command():
    files = [
        REPO / "tests" / "rehearsal.py",
        REPO / "tests" / "rehearsal_site.py",
        *sorted((REPO / "tests").glob("test_rehearsal_*.py")),
    ]
    source = "".join(f.read_text() for f in files)
    for name in OPERATOR_COMMANDS:
        if name == "setup":
            continue  # run below
        assert re.search(rf"""["']{name}["']""", source), f"the rehearsal never runs {name!r}"


@pytest.mark.fast
def test_make_setup_of_the_walk_succeeds_from_the_project_folder():
    # in a fresh clone `make test` has just run it; here it must find everything in place
    done = subprocess.run(OPERATOR_COMMANDS["setup"].split(), cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
