"""docs/INTERFACE.md is the contract of the commands users type: every `roadmap`
command has its row there, and the row names every option the command accepts."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from flows.cli import build_parser

REPO = Path(__file__).resolve().parents[1]


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def _rows(text: str) -> dict[str, str]:
    """The table rows of each command (`| \\`roadmap <command> ...`)."""
    rows: dict[str, str] = {}
    for line in text.splitlines():
        match = re.match(r"\| `roadmap (?:-v )?([a-z-]+)", line)
        if match:
            rows[match.group(1)] = rows.get(match.group(1), "") + line
    return rows


def undocumented(parser: argparse.ArgumentParser, doc: str) -> list[str]:
    rows = _rows(doc)
    missing = []
    for name, command in _commands(parser).items():
        if name not in rows:
            missing.append(f"roadmap {name}: no row")
            continue
        for action in command._actions:
            options = [o for o in action.option_strings if o not in ("-h", "--help")]
            if options and not any(re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", rows[name]) for o in options):
                missing.append(f"roadmap {name} {'/'.join(options)}")
    return missing


@pytest.mark.fast
def test_every_command_and_option_is_in_the_interface_doc():
    missing = undocumented(build_parser(), (REPO / "docs" / "INTERFACE.md").read_text())
    assert missing == [], "add to docs/INTERFACE.md: " + "; ".join(missing)


@pytest.mark.fast
def test_a_command_or_option_the_doc_does_not_name_is_reported():
    parser = argparse.ArgumentParser(prog="roadmap")
    sub = parser.add_subparsers()
    run = sub.add_parser("run")
    run.add_argument("--landing")
    run.add_argument("-q", "--quiet-mode")
    sub.add_parser("other")
    doc = "| `roadmap run [--landing-dir X]` | ... |\n"  # not --landing: a longer option
    assert undocumented(parser, doc) == [
        "roadmap run --landing",
        "roadmap run -q/--quiet-mode",
        "roadmap other: no row",
    ]
    doc = doc.replace("X]", "X] [--landing DIR] [-q]") + "| `roadmap other` | |"
    assert undocumented(parser, doc) == []


# ------------------------------------------------- docs/ARCHITECTURE.md and the contracts


def _documented_columns(heading: str) -> list[str]:
    """The column names in the first cell of each row of the table under `heading`."""
    text = (REPO / "docs" / "ARCHITECTURE.md").read_text()
    section = text[text.index(heading) :]
    section = section[: section.index("\n### ", 1)]
    names = []
    for line in section.splitlines():
        if line.startswith("| ") and not line.startswith(("| column", "|---")):
            names += [n.strip().strip("`") for n in line.split("|")[1].split(",")]
    return names


def _contract_columns(model: str) -> list[str]:
    import yaml

    for path in sorted((REPO / "dbt_project" / "models").rglob("*.yml")):
        for entry in (yaml.safe_load(path.read_text()) or {}).get("models", []) or []:
            if entry.get("name") == model:
                return [c["name"] for c in entry.get("columns", [])]
    raise AssertionError(f"no contract for {model}")


@pytest.mark.fast
def test_the_architecture_table_of_district_year_metrics_has_the_columns_of_its_contract():
    documented = _documented_columns("### marts.district_year_metrics")
    contract = _contract_columns("district_year_metrics")
    assert sorted(documented) == sorted(contract), (
        f"docs/ARCHITECTURE.md lacks {sorted(set(contract) - set(documented))}, "
        f"names columns the contract lacks {sorted(set(documented) - set(contract))}"
    )
