"""`roadmap runs`: the recent runs with what each loaded, held back and alerted, read
from the warehouse (read-only) and the outbox."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from flows.alerts import Outbox, queue_run_alerts
from flows.cli import main
from flows.settings import load_settings
from flows.warehouse import audit
from landing_files import run_ingestion

STAFFING = "school_year,district_code,teacher_count,building_leader_count,district_leader_count,tech_staff_count"


def _run(landing, db: Path, run_id: str, **counts) -> None:
    con, loaded, _ = run_ingestion(landing.path, db, run_id=run_id)
    try:
        audit.finish_run(con, run_id, "succeeded", files_new=len(loaded), **counts)
        queue_run_alerts(con, load_settings(None, landing_dir=landing.path, warehouse=db), run_id)
    finally:
        con.close()


def _table(out: str) -> dict[str, dict[str, str]]:
    lines = out.splitlines()
    header = re.split(r"\s{2,}", lines[0])
    rows = {}
    for line in lines[2:]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line)
        rows[cells[0]] = dict(zip(header, cells, strict=False))  # blank cells collapse: a row may be shorter
    return rows


def test_roadmap_runs_lists_each_run_with_its_counts_and_alerts(landing, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ROADMAP_ALERT_TO", "state@mi.example.gov")  # queued; no mail server needed here
    db = tmp_path / "wh" / "roadmap.duckdb"
    db.parent.mkdir()
    landing.directory()
    landing.csv("staffing_2024-25.csv", STAFFING, ["2024-25,01010,30,3,2,1", "2024-25,01020,-3,2,1,1"])
    _run(landing, db, "run-1")
    landing.csv("staffing_2024-25_b.csv", STAFFING + ",notes", ["2024-25,01010,31,3,2,1,x"])
    _run(landing, db, "run-2")
    _run(landing, db, "run-3")  # nothing new
    con = duckdb.connect(str(db))
    audit.start_run(con, "run-4", None, str(landing.path))
    audit.finish_run(con, "run-4", "failed", "RuntimeError: dbt build failed")
    con.close()
    # run 1's state report went out; its district mail and run 2's report did not (yet)
    outbox = Outbox(db.parent / "outbox")
    outbox.move(outbox.find("run-1", "state"), "sent", sent_at="2026-01-01T02:00:00+00:00")

    assert main(["runs", "--warehouse", str(db)]) == 0
    out = capsys.readouterr().out
    runs = _table(out)
    assert list(runs) == ["run-4", "run-3", "run-2", "run-1"]  # newest first
    one, two, three, four = runs["run-1"], runs["run-2"], runs["run-3"], runs["run-4"]
    assert (
        one["status"],
        one["new files"],
        one["rows loaded"],
        one["quarantined"],
        one["errors"],
        one["warnings"],
    ) == ("succeeded", "2", "5", "1", "1", "0")
    assert one["alerts"] == "1 sent, 1 pending"  # state report + 01020's contact
    assert (two["new files"], two["rows loaded"], two["quarantined"], two["errors"], two["warnings"]) == (
        "1",
        "1",
        "0",
        "0",
        "1",
    )
    assert two["alerts"] == "0 sent, 1 pending"  # the extra column is the state's business only
    assert (three["new files"], three["rows loaded"], three["alerts"]) == ("0", "0", "none")
    assert four["status"] == "failed"
    assert "run-4: RuntimeError: dbt build failed" in out


@pytest.mark.fast
def test_roadmap_runs_without_a_warehouse_says_so(tmp_path, capsys):
    assert main(["runs", "--warehouse", str(tmp_path / "none.duckdb")]) == 2
    assert "no run has published yet" in capsys.readouterr().err
