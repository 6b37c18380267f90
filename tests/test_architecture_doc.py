"""docs/ARCHITECTURE.md opens with the map a newcomer follows: each runbook stage, the
one module that does it, what it writes. These tests hold the map to the code, so a
renamed module, task or table breaks them rather than leaving the map wrong."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest
from prefect import Task

REPO = Path(__file__).resolve().parents[1]
RUNBOOK = ["discover", "validate", "load", "transform", "publish", "report", "alert"]


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    following = re.search(r"^#{2,3} ", text[start + len(heading) :], re.M)
    return text[start : start + len(heading) + following.start()] if following else text[start:]


def map_rows(text: str) -> list[tuple[str, str, list[str], str]]:
    """(stage, module path, functions it names, writes) of each row of the map."""
    rows = []
    for line in _section(text, "## The map").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("stage", "---") or not line.startswith("|"):
            continue
        module = re.match(r"`([\w/]+\.py)`", cells[1])
        calls = re.findall(r"`(\w+)`", cells[1][module.end() :] if module else "")
        rows.append((cells[0], module.group(1) if module else "", calls, cells[2]))
    return rows


def problems(text: str) -> list[str]:
    from flows import nightly

    tasks = {obj.name: obj for obj in vars(nightly).values() if isinstance(obj, Task)}
    code = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "flows").rglob("*.py"))
    models = {p.stem for p in (REPO / "dbt_project" / "models").rglob("*.sql")}
    found = []
    rows = map_rows(text)
    if [r[0] for r in rows] != RUNBOOK:
        found.append(f"the map's stages are {[r[0] for r in rows]}, the runbook is {RUNBOOK}")
    for stage, path, calls, writes in rows:
        if not (REPO / path).is_file():
            found.append(f"{stage}: no module {path}")
            continue
        module = importlib.import_module(path[:-3].replace("/", "."))
        task = tasks.get(stage)
        if task is None:
            found.append(f"{stage}: flows/nightly.py has no Prefect task named {stage!r}")
        if not calls:
            found.append(f"{stage}: the map names no call of {path}")
        for call in calls:
            if not callable(getattr(module, call, None)):
                found.append(f"{stage}: {path} has no {call}()")
            elif task is not None and not re.search(rf"\b{call}\(", inspect.getsource(task.fn)):
                found.append(f"{stage}: the task {stage!r} does not call {call}()")
        for schema, table in re.findall(r"`(raw|audit|reference|marts)\.([a-z_]+)`", writes):
            if schema == "marts":
                if table not in models:
                    found.append(f"{stage}: no dbt model {table}")
            elif not re.search(rf"\b{schema}\.{table}\b", code):
                found.append(f"{stage}: nothing in flows/ names {schema}.{table}")
    walk = _section(text, "### One connectivity file")
    steps = re.findall(r"^\d+\. \*\*(\w+)\*\*", walk, re.M)
    if steps != RUNBOOK:
        found.append(f"the connectivity walk goes {steps}, the runbook is {RUNBOOK}")
    for name in re.findall(r"`((?:stg|int)_\w+)`", walk):
        if name not in models:
            found.append(f"the connectivity walk names {name}, which is not a dbt model")
    return found


@pytest.mark.fast
def test_the_map_matches_the_code():
    text = (REPO / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert text.index("## The map") == text.index("\n## ") + 1, "ARCHITECTURE.md opens with the map"
    assert problems(text) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("`flows/ingest/load.py` (`load_batch`)", "`flows/ingest/loader.py` (`load_batch`)"), "load: no module"),
        (("(`load_batch`)", "(`load_everything`)"), "has no load_everything()"),
        (("(`validate_batch`)", "(`read_landing_files`)"), "does not call read_landing_files()"),
        (("`audit.load_counts`", "`audit.load_totals`"), "audit.load_totals"),
        (("| report |", "| review |"), "the map's stages"),
        (("5. **publish**", "5. **report**"), "the connectivity walk goes"),
        (("`int_connectivity__published`", "`int_connectivity__latest`"), "int_connectivity__latest"),
    ],
)
def test_a_map_that_drifted_from_the_code_is_reported(change, expected):
    text = (REPO / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert change[0] in text
    assert any(expected in p for p in problems(text.replace(change[0], change[1], 1)))
