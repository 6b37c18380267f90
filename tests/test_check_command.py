"""`roadmap check FILE...` (flows/ingest/precheck.py): the nightly rules on files before they
are sent. The same files go through the check and through the nightly ingest, and the
verdicts and issues must be the same; the check writes nothing anywhere."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from landing_files import DEVICES, ENROLLMENT, STAFFING, Landing, run_ingestion

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "corpus"

# corpus file -> the family it is sent as (tests/test_hostile_input.py uses the same)
CORPUS_FAMILY = {
    "cp1252_encoding.csv": "enrollment",
    "units_in_numbers.csv": "connectivity",
    "dates_in_other_formats.csv": "pl_participation",
    "quoted_newlines_and_commas.csv": "enrollment",
    "blank_lines_in_the_middle.csv": "enrollment",
    "formula_text_enrollment.csv": "enrollment",
    "formula_text_pl_participation.csv": "pl_participation",
    "formula_text_districts.csv": "districts",
    "sql_text_enrollment.csv": "enrollment",
    "sql_text_pl_participation.csv": "pl_participation",
    "sql_text_districts.csv": "districts",
}

ISSUE_KEYS = ("file_name", "line", "column_name", "value", "rule", "severity", "district_code", "message")


def _nightly_order(folder: Path) -> list[Path]:
    """The files of a landing folder in the order the nightly discovery receives them."""
    files = [p for p in folder.iterdir() if p.is_file()]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def _nightly_outcome(landing: Path, db: Path):
    con, loaded, _ = run_ingestion(landing, db, run_id="nightly")
    try:
        cur = con.execute(f"select {', '.join(ISSUE_KEYS)} from audit.issues where run_id = 'nightly'")
        issues = sorted(cur.fetchall(), key=repr)
    finally:
        con.close()
    return {f.file_name: (f.status, f.rows_loaded, f.rows_quarantined) for f in loaded}, issues


def _check_outcome(paths: list[Path], **kwargs):
    from flows.ingest.precheck import check_files

    report = check_files(paths, **kwargs)
    verdicts = {f.file_name: (f.status, f.rows_loaded, f.rows_held_back) for f in report.files}
    issues = sorted((tuple(i[k] for k in ISSUE_KEYS) for i in report.issues), key=repr)
    return report, verdicts, issues


def _assert_same(landing: Path, tmp_path: Path):
    paths = _nightly_order(landing)
    report, check_verdicts, check_issues = _check_outcome(paths)
    nightly_verdicts, nightly_issues = _nightly_outcome(landing, tmp_path / "nightly.duckdb")
    assert check_verdicts == nightly_verdicts
    assert check_issues == nightly_issues
    return report


@pytest.mark.slow
def test_check_and_nightly_agree_on_the_hostile_corpus(tmp_path):
    landing = Landing(tmp_path / "landing")
    landing.directory()
    landing.csv("staffing_2024-25_01010.csv", STAFFING, ["2024-25,01010,30,3,2,1"])
    landing.csv("enrollment_2024-25_01010.csv", ENROLLMENT, ["2024-25,01010,00101,Alcona Elementary,300"])
    for path in sorted(CORPUS.glob("*.csv")):
        family = CORPUS_FAMILY.get(path.name, "staffing")
        landing.write(f"{family}_2024-25_{path.stem}.csv", path.read_bytes())
    report = _assert_same(landing.path, tmp_path)
    statuses = {f.status for f in report.files}
    assert {"loaded", "rejected", "partially_loaded"} <= statuses  # the corpus has all three
    assert report.exit_code == 1


@pytest.mark.slow
def test_check_and_nightly_agree_on_generated_defects(tmp_path):
    from roadmap_demo_data.generate import generate_landing

    landing = tmp_path / "landing"
    manifest = generate_landing(
        landing, districts=30, years=1, seed=5, defects=0.4, resubmissions=False, last_school_year="2024-25"
    )
    assert manifest.errors(), "the generator injected no blocking defect"
    report = _assert_same(landing, tmp_path)
    held = {f.file_name for f in report.files if f.held_back}
    injected = {d.file_name for d in manifest.errors()}
    assert injected <= held  # every file with an injected error is reported as not loading as sent


def _tree(root: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = os.stat(p, follow_symlinks=False)
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
            out[str(p.relative_to(root))] = (st.st_mtime_ns, st.st_size, st.st_mode, digest)
    return out


def _roadmap_in_process(capsys, *args) -> subprocess.CompletedProcess:
    """The command line in this process (a subprocess pays ~20 s of imports on a busy machine)."""
    from flows.cli import main

    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def _roadmap(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.mark.slow
def test_check_with_a_warehouse_judges_buildings_and_changes_no_file(tmp_path, capsys):
    """A warehouse built by the nightly ingest; a devices file naming a building not in
    the published enrollment is held back with --warehouse; without it, the rule is said
    to be unchecked. Nothing under the folder (landing, warehouse, archive) changes."""
    landing = Landing(tmp_path / "landing")
    landing.directory()
    landing.csv("enrollment_2024-25_01010.csv", ENROLLMENT, ["2024-25,01010,00101,Alcona Elementary,300"])
    (tmp_path / "wh").mkdir()
    run_ingestion(landing.path, tmp_path / "wh" / "roadmap.duckdb")[0].close()
    outgoing = tmp_path / "outgoing"
    outgoing.mkdir()
    devices = outgoing / "devices_2024-25_01010.csv"
    devices.write_text(
        DEVICES + "\n2024-25,01010,00101,laptop,student,100,10,5\n2024-25,01010,00999,laptop,student,5,0,0\n"
    )
    staffing = outgoing / "staffing_2024-25_01010.csv"
    staffing.write_text(STAFFING + "\n2024-25,01010,30,3,2,1\n")
    bad = outgoing / "staffing_2024-25_01020.csv"
    bad.write_text(STAFFING + "\n2024-25,01020,1 000,3,2,1\n")
    before = _tree(tmp_path)

    done = _roadmap("check", devices, staffing, "--warehouse", tmp_path / "wh" / "roadmap.duckdb", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert (
        "devices_2024-25_01010.csv, line 3, column building_code, value '00999' (district 01010): error "
        "building_not_in_enrollment" in out
    )
    assert "devices_2024-25_01010.csv: WOULD BE HELD BACK" in out  # the district's only rows in the file
    assert "staffing_2024-25_01010.csv: WOULD LOAD" in out
    assert "not checked" not in out

    done = _roadmap_in_process(capsys, "check", devices, staffing, "--format", "json")
    assert done.returncode == 0, done.stderr + done.stdout
    data = json.loads(done.stdout)
    assert data["unchecked_rules"] == ["building_not_in_enrollment", "unknown_district"]
    assert [f["status"] for f in data["files"]] == ["loaded", "loaded"]
    assert data["exit_code"] == 0

    done = _roadmap_in_process(
        capsys, "check", bad, "--format", "csv", "--warehouse", tmp_path / "wh" / "roadmap.duckdb"
    )
    assert done.returncode == 1
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    issue = next(r for r in rows if r["kind"] == "issue")
    assert (issue["file"], issue["line"], issue["column_name"], issue["value"], issue["rule"]) == (
        "staffing_2024-25_01020.csv",
        "2",
        "teacher_count",
        "1 000",
        "bad_type",
    )
    assert [r["verdict"] for r in rows if r["kind"] == "file"] == ["rejected"]

    assert _tree(tmp_path) == before


@pytest.mark.fast
def test_usage_errors_exit_2(tmp_path, capsys):
    done = _roadmap_in_process(capsys, "check", tmp_path / "absent.csv")
    assert done.returncode == 2 and "absent.csv: no such file" in done.stderr
    f = tmp_path / "staffing_2024-25_01010.csv"
    f.write_text(STAFFING + "\n2024-25,01010,30,3,2,1\n")
    done = _roadmap_in_process(capsys, "check", f, "--warehouse", tmp_path / "none.duckdb")
    assert done.returncode == 2 and "no such file" in done.stderr
    done = _roadmap_in_process(capsys, "check", f, "--format", "xml")
    assert done.returncode == 2
    done = _roadmap_in_process(capsys, "check")
    assert done.returncode == 2
