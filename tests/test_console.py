"""A quiet, useful console: `make demo` (the real CLI on generated data) prints a short
summary and nothing alarming, and names the log file that holds every detail; a
failure prints its cause first, in a few lines, with the traceback in the log only."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ALARMING = (
    "Traceback",
    "database is locked",
    "Skipping registering function",
    "nanobind",
    "leaked",
    "never awaited",
    "ERROR",
    "Error:",
)


def _environment(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ROADMAP_"))}
    env.update(extra)
    return env


@pytest.mark.slow
def test_make_demo_prints_a_short_summary_and_the_log_file_holds_the_detail(tmp_path):
    data = tmp_path / "data"
    done = subprocess.run(
        ["make", "--no-print-directory", "demo", f"DATA={data}", "DEMO_GENERATE=--districts 25 --years 2"],
        cwd=REPO,
        env=_environment(PREFECT_HOME=str(tmp_path / "prefect-home")),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    lines = [
        line for line in output.splitlines() if not line.startswith("WARNING: Location")
    ]  # this machine's pip.conf
    assert len(lines) < 40, "\n".join(lines)
    for word in ALARMING:
        assert word not in output, f"{word!r} on the console of a successful run:\n{output}"
    for expected in ("files:", "rows:", "issues:", "warehouse:", "alerts:", "annual review", "exports:"):
        assert expected in output, expected
    log = Path(re.search(r"^\s*log: (\S+)$", output, re.M).group(1))
    assert log.is_file() and log.parent == data / "warehouse" / "logs"
    detail = log.read_text()
    # dbt's per-node lines, through the run logger; Prefect's task states; not printed above
    assert re.search(r"dbt: \d+ of \d+ START", detail) and "Done. PASS=" in detail
    assert "Finished in state Completed" in detail
    assert "dbt: " not in output and "Finished in state" not in output


@pytest.mark.slow
def test_a_failed_run_prints_its_cause_first_and_keeps_the_traceback_in_the_log(tmp_path):
    """A run that fails half way (here: an inconsistent reference configuration, found
    when the run loads it) prints the cause in a few lines: no traceback, no noise from
    the libraries at exit; the traceback is in the log file it names."""
    import shutil

    import yaml

    from landing_files import STAFFING, Landing

    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    metrics = yaml.safe_load((config / "metrics.yml").read_text())
    metrics["objective_metrics"] = {"NOT-AN-OBJECTIVE": ["nothing"]}  # fails when the run loads the reference
    (config / "metrics.yml").write_text(yaml.safe_dump(metrics))
    landing = Landing(tmp_path / "landing")
    landing.directory()
    landing.csv("staffing_2024-25.csv", STAFFING, ["2024-25,01010,30,3,2,1"])
    warehouse = tmp_path / "wh" / "roadmap.duckdb"
    done = subprocess.run(
        [
            str(Path(os.sys.executable).parent / "roadmap"),
            "nightly",
            "--config",
            str(config),
            "--landing",
            str(landing.path),
            "--warehouse",
            str(warehouse),
        ],
        env=_environment(PREFECT_HOME=str(tmp_path / "prefect-home"), ROADMAP_PSEUDONYM_KEY="k"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("roadmap nightly: the run failed: ValueError: reference configuration")
    for word in ALARMING[:-2]:
        assert word not in done.stdout + done.stderr, word
    assert len(lines) <= 8, done.stderr
    log = Path(re.search(r"Full detail: (\S+)", done.stderr).group(1))
    assert "Traceback" in log.read_text()


def test_config_errors_are_one_line_naming_the_file_and_where_it_was_looked_for(tmp_path):
    """A copied roadmap.yml without its siblings, a missing folder: one line each, no
    traceback, no noise from the libraries at exit."""
    partial = tmp_path / "etc-roadmap"
    partial.mkdir()
    (partial / "roadmap.yml").write_text((REPO / "config" / "roadmap.yml").read_text())
    (partial / "metrics.yml").write_text((REPO / "config" / "metrics.yml").read_text())
    roadmap = [str(Path(os.sys.executable).parent / "roadmap")]
    env = _environment()
    cases = [
        (["nightly", "--config", str(partial / "roadmap.yml")], ["roadmap_goal4.yml", str(partial)]),
        (["nightly", "--config", str(partial)], ["roadmap_goal4.yml", str(partial)]),
        (["runs", "--config", str(tmp_path / "nowhere")], ["nowhere", "roadmap.yml"]),
        (["serve", "--config", str(tmp_path / "nowhere" / "roadmap.yml")], ["nowhere", "not a folder"]),
    ]
    for argv, words in cases:
        done = subprocess.run(roadmap + argv, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 2, (argv, done.stdout, done.stderr)
        lines = (done.stdout + done.stderr).strip().splitlines()
        assert len(lines) == 1, (argv, lines)
        for word in words:
            assert word in lines[0], (argv, word, lines[0])


@pytest.mark.fast
def test_progress_is_shown_on_a_terminal_only():
    import io

    from flows.runlog import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        progress = Progress(stream)
        progress.show("[validate and load 1/2] districts_2024-25.csv")
        progress.show("[validate and load 2/2] a.csv")
        progress.done()
    assert pipe.getvalue() == ""
    shown = terminal.getvalue()
    assert "[validate and load 2/2] a.csv" in shown and shown.endswith("\r") and "\n" not in shown
