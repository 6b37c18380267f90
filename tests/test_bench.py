"""bench/: the plain-DuckDB floor applies the pipeline's rules to bad rows (the same
districts of the same files held back, the same published rows, the same marts), and
the bench runs every night shape end to end and prints its table. Nothing here is timed."""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from landing_files import DIRECTORY_ROWS, ENROLLMENT, STAFFING, run_ingestion
from roadmap_demo_data.generate import BLOCKING_RULES, generate_landing

REPO = Path(__file__).resolve().parent.parent
FAMILY_TABLES = {  # raw table of the pipeline -> table of the floor
    "enrollment": "enrollment",
    "staffing": "staffing",
    "devices": "devices",
    "connectivity": "connectivity",
    "pl_participation": "pl",
}
WHOLE_FILE_RULES = {
    "file_held_back",
    "empty_file",
    "encoding_not_utf8",
    "missing_required_column",
    "malformed_row",
    "unreadable_file",
    "duplicate_column_name",
    "wrong_delimiter",
}


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


floor = _load("floor")


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> set:
    return set(con.execute(sql).fetchall())


def floor_published(db: Path) -> dict[str, set]:
    """family -> {(file, school_year, district, rows)} the floor publishes (latest submission)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {
            family: _rows(
                con,
                f"""
                select l.file_name, t.school_year, t.district_code, count(*)
                from {table} t join landing_files l using (filename) group by all""",
            )
            for family, table in FAMILY_TABLES.items()
        }
        out["districts"] = _rows(
            con, "select l.file_name, count(*) from districts d join landing_files l using (filename) group by all"
        )
        out["row_errors"] = _rows(
            con,
            """
            select l.file_name, i.district_code, i.rule from issues i join landing_files l using (filename)
            where i.severity = 'error'""",
        )
    finally:
        con.close()
    out["row_errors"] = {r for r in out["row_errors"] if r[2] not in WHOLE_FILE_RULES}
    return out


def pipeline_published(con: duckdb.DuckDBPyConnection) -> dict[str, set]:
    """The same, from what the pipeline loaded into raw (latest submission per district-year)."""
    out = {
        family: _rows(
            con,
            f"""
            select f.file_name, r.school_year, r.district_code, count(*)
            from raw.{family} r join audit.files f on f.file_id = r._file_id
            where (r.school_year, r.district_code, r._received_seq) in (
                select (school_year, district_code, max(_received_seq)) from raw.{family}
                group by school_year, district_code)
            group by all""",
        )
        for family in FAMILY_TABLES
    }
    out["districts"] = _rows(
        con,
        "select f.file_name, count(*) from raw.districts r join audit.files f on f.file_id = r._file_id group by all",
    )
    out["row_errors"] = {
        r
        for r in _rows(con, "select file_name, district_code, rule from audit.issues where severity = 'error'")
        if r[2] not in WHOLE_FILE_RULES
    }
    return out


@pytest.mark.fast
def test_the_floor_takes_a_count_that_is_not_a_number_as_a_bad_row_not_a_crash(landing, tmp_path):
    landing.directory()
    landing.csv(
        "enrollment_2024-25.csv",
        ENROLLMENT,
        ["2024-25,01010,01011,Alcona Elementary,300", "2024-25,01020,01021,Bay Harbor Elementary,200"],
    )
    landing.csv("staffing_2024-25.csv", STAFFING, ["2024-25,01010,20,2,1,1", "2024-25,01020,12,1,1,1"])
    landing.csv("staffing_2024-25_01010.csv", STAFFING, ["2024-25,01010,twelve,2,1,1"])
    landing.csv("staffing_2024-25_01020.csv", STAFFING, ["2024-25,01020, 14 ,1,1,1"])  # padded: trimmed, valid

    result = floor.run_floor(landing.path, tmp_path / "floor.duckdb")

    assert result["errors"] == 1 and result["district_years"] == len(DIRECTORY_ROWS)
    con = duckdb.connect(str(tmp_path / "floor.duckdb"), read_only=True)
    assert _rows(
        con, "select l.file_name, i.district_code, i.rule from issues i join landing_files l using (filename)"
    ) == {("staffing_2024-25_01010.csv", "01010", "bad_type")}
    # the bad resubmission is held back: the district's earlier staffing stays published
    assert _rows(
        con, "select district_code, teacher_count from district_year_metrics where teacher_count is not null"
    ) == {("01010", 20), ("01020", 14)}
    assert con.execute(
        "select teacher_device_coverage_pct is null, students_per_device is null from district_year_metrics "
        "where district_code = '01010'"
    ).fetchall() == [(True, True)]  # no devices file: unknown, not 0


@pytest.mark.fast
def test_the_floor_holds_back_unreadable_files_whole(landing, tmp_path):
    landing.directory()
    landing.csv("enrollment_2024-25.csv", ENROLLMENT, ["2024-25,01010,01011,Alcona Elementary,300"])
    landing.write("enrollment_2024-25_01020.csv", b"")
    landing.csv(
        "enrollment_2024-25_01700.csv", ENROLLMENT, ["2024-25,01700,01701,Caf\u00e9 Academy,90"], encoding="cp1252"
    )
    landing.csv("staffing_2024-25_01010.csv", "school_year,district_code,teacher_count", ["2024-25,01010,20"])
    landing.csv("staffing_2024-25.csv", STAFFING.upper().replace(",", " , "), ["2024-25,01010,20,2,1,1"], bom=True)

    result = floor.run_floor(landing.path, tmp_path / "floor.duckdb")

    assert result["files_left_out"] == 2  # the empty file and the one without its columns
    con = duckdb.connect(str(tmp_path / "floor.duckdb"), read_only=True)
    held = {
        r[0]
        for r in _rows(
            con, "select l.file_name from issues i join landing_files l using (filename) where rule = 'file_held_back'"
        )
    }
    assert held == {"enrollment_2024-25_01020.csv", "enrollment_2024-25_01700.csv", "staffing_2024-25_01010.csv"}
    assert _rows(con, "select district_code, student_count from enrollment") == {("01010", 300)}
    # a header in capitals, padded, with a byte-order mark, is read like any other
    assert _rows(con, "select district_code, teacher_count from staffing") == {("01010", 20)}


@pytest.mark.parametrize("seed, rate", [(3, 0.1), pytest.param(29, 0.6, marks=pytest.mark.slow)])
def test_the_floor_holds_back_and_publishes_exactly_what_the_pipeline_does(tmp_path, seed, rate):
    """Every blocking rule the generator can inject (each at least once, over two years,
    with district resubmissions): the same rows of the same files reach the published data."""
    manifest = generate_landing(tmp_path / "landing", districts=30, years=2, seed=seed, defects=rate)
    assert {d.rule for d in manifest.errors()} == set(BLOCKING_RULES)
    con, _, _ = run_ingestion(tmp_path / "landing", tmp_path / "warehouse.duckdb")
    try:
        expected = pipeline_published(con)
    finally:
        con.close()
    floor.run_floor(tmp_path / "landing", tmp_path / "floor.duckdb")
    got = floor_published(tmp_path / "floor.duckdb")
    assert got["row_errors"] and got["pl_participation"]
    for key in expected:
        assert got[key] == expected[key], key


@pytest.mark.slow
def test_the_floor_computes_the_marts_figures_of_the_pipeline(demo_warehouse, tmp_path):
    """On the demo warehouse (generated with defects, built by the real nightly flow and
    dbt): every district-year metric of the floor equals marts.district_year_metrics."""
    floor.run_floor(demo_warehouse.landing, tmp_path / "floor.duckdb")
    con = duckdb.connect()
    con.execute(f"attach '{demo_warehouse.warehouse}' as wh (read_only)")
    con.execute(f"attach '{tmp_path / 'floor.duckdb'}' as fl (read_only)")
    columns = [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_catalog = 'fl' "
            "and table_name = 'district_year_metrics' and column_name not in ('school_year', 'district_code')"
        ).fetchall()
    ]
    assert len(columns) > 40
    keys = "select school_year, district_code from {}.district_year_metrics"
    assert _rows(con, keys.format("wh.marts")) == _rows(con, keys.format("fl"))
    for c in columns:
        differ = con.execute(f"""
            select count(*) from wh.marts.district_year_metrics m
            join fl.district_year_metrics f using (school_year, district_code)
            where not (m.{c} is not distinct from f.{c}
                or abs(try_cast(m.{c} as double) - try_cast(f.{c} as double))
                   <= 1e-9 * greatest(1, abs(try_cast(m.{c} as double))))
        """).fetchall()[0][0]
        assert differ == 0, c
    warnings = (
        "select rule, count(*) from {} where severity = 'warning' and rule in "
        "('rate_over_100', 'pl_leaders_exceed_staffing', 'yoy_student_count_swing', 'yoy_device_total_swing') "
        "group by all"
    )
    assert _rows(con, warnings.format("wh.audit.issues")) == _rows(con, warnings.format("fl.issues"))


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_the_bench_runs_every_shape_and_prints_one_table(tmp_path):
    """At a tiny scale: a running Prefect server and an SMTP sink of its own, every shape
    beside its floor, one table; the server is stopped at the end.

    Every shape is one more nightly run (~30 s of CPU here): `make test` runs statewide
    with its nothing-new and corrected nights; ROADMAP_TEST_BENCH_SHAPES=all (or
    ROADMAP_TEST_EXTENDED=1) runs every shape, the heavy-warnings national night that
    alerts among them."""
    work = tmp_path / "bench"
    every = os.environ.get("ROADMAP_TEST_BENCH_SHAPES") == "all" or os.environ.get("ROADMAP_TEST_EXTENDED") == "1"
    shapes = [] if every else ["--shape", "nothing-new", "--shape", "corrected"]
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run_bench.py"), "--scale", "0.01", "--workdir", str(work), *shapes],
        capture_output=True,
        text=True,
        timeout=3000,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    port = int(re.search(r"Prefect server http://127\.0\.0\.1:(\d+)/api answered", text).group(1))
    assert not _port_open(port), "the bench left its Prefect server running"
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| shape")]
    titles = ("statewide", "national", "one file per district", "nothing new", "one corrected file", "tiny")
    if not every:
        titles = ("statewide", "nothing new", "one corrected file")
    assert len(rows) == len(titles), text
    by_title = {}
    for title, line in zip(titles, rows, strict=True):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0].startswith(title), line
        by_title[title] = cells
        pipeline, stages, floor_s, ratio, peak, floor_peak = cells[3], cells[4], cells[5], cells[6], cells[7], cells[8]
        assert float(pipeline) > 0 and float(floor_s) > 0 and float(ratio) > 0, line
        assert "transform" in stages or title == "nothing new", line
        assert float(peak.replace(",", "")) > 0 and float(floor_peak.replace(",", "")) > 0, line
    assert by_title["one corrected file"][1] == "1" and by_title["nothing new"][1] == "0"
    if every:
        # the heavy-warnings night alerts districts through the SMTP sink of the bench
        assert int(by_title["national"][9].replace(",", "")) > 10
        assert (
            int(by_title["one file per district"][2])
            == len(list((work / "per-district" / "landing").iterdir()))
            > 9 * 4
        )
        assert "tiny: under 10 s end to end" in text
    assert "indicative only" in text
    # every night ran the console script against the bench's server
    assert (work / "statewide" / "nightly-corrected.log").exists()
    for shape, log in (("statewide", "corrected"),) + ((("national", "national"), ("tiny", "tiny")) if every else ()):
        assert re.search(r"^run \S+: succeeded$", (work / shape / f"nightly-{log}.log").read_text(), re.M), log


def _start_bench(tmp_path: Path) -> tuple[subprocess.Popen, int]:
    """The bench with one shape, once its Prefect server answers: (process, server port)."""
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "run_bench.py"), "--shape", "tiny", "--workdir", str(tmp_path / "bench")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    first = proc.stdout.readline()
    match = re.search(r"Prefect server http://127\.0\.0\.1:(\d+)/api answered", first)
    if not match:
        proc.kill()
        pytest.fail(f"the bench did not start its server: {first}{proc.stdout.read()}")
    port = int(match.group(1))
    assert _port_open(port)
    return proc, port


def _closes(port: int, within: float = 60) -> bool:
    import time

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not _port_open(port):
            return True
        time.sleep(0.5)
    return False


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_the_bench_never_leaves_its_prefect_server_running(tmp_path, how):
    import signal

    proc, port = _start_bench(tmp_path)
    try:
        proc.send_signal(getattr(signal, how))
        proc.wait(timeout=120)
        assert _closes(port), f"the Prefect server outlived the bench killed by {how}"
        if how == "SIGTERM":
            assert proc.returncode == 143
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()
