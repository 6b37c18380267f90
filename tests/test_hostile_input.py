"""Hostile and broken landing files (tests/corpus/): each one must end in an actionable
message and a quarantine entry (`audit.issues` with rule, file and line), or load
correctly, and never disturb another district's good file loaded in the same run.

Every case runs the ingestion stages (discover -> validate -> load, no dbt) on a landing
folder holding the directory, a good file of district 01010 in the same family, and the
hostile file (district 01020, sometimes 01700).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from landing_files import DIRECTORY_HEADER, issues, run_ingestion

CORPUS = Path(__file__).resolve().parent / "corpus"
REPO = Path(__file__).resolve().parent.parent

ENROLLMENT = "school_year,district_code,building_code,building_name,student_count"
STAFFING = "school_year,district_code,teacher_count,building_leader_count,district_leader_count,tech_staff_count"
CONNECTIVITY = (
    "school_year,district_code,internet_bandwidth_mbps,wan_bandwidth_mbps,wifi_classrooms_covered_pct,"
    "monthly_internet_cost_usd,erate_discount_pct,students_without_home_internet,hotspots_loaned"
)
PL = (
    "school_year,district_code,educator_id,role,activity_id,activity_title,activity_kind,provider,format,framework,"
    "hours,completed_on"
)

# The good neighbour: district 01010's own file of the same family, and what it must load as.
GOOD = {
    "staffing": (
        STAFFING,
        ["2024-25,01010,30,3,2,1"],
        "select teacher_count, building_leader_count, district_leader_count, tech_staff_count, _line",
        [(30, 3, 2, 1, 2)],
    ),
    "enrollment": (
        ENROLLMENT,
        ["2024-25,01010,00101,Alcona Elementary,300", "2024-25,01010,00102,Alcona High,250"],
        "select building_code, building_name, student_count, _line",
        [("00101", "Alcona Elementary", 300, 2), ("00102", "Alcona High", 250, 3)],
    ),
    "connectivity": (
        CONNECTIVITY,
        ["2024-25,01010,600,1000,95,500,60,40,20"],
        "select internet_bandwidth_mbps, monthly_internet_cost_usd, hotspots_loaned, _line",
        [(600.0, 500.0, 20, 2)],
    ),
    "pl_participation": (
        PL,
        ["2024-25,01010,E1,teacher,A1,Intro,course,REMC,online,TPACK,2,2024-09-01"],
        "select activity_id, hours, completed_on::varchar, _line",
        [("A1", 2.0, "2024-09-01", 2)],
    ),
}


def family_of(landing_name: str) -> str | None:
    from flows.ingest.families import parse_landing_name

    parsed = parse_landing_name(landing_name)
    return parsed.family if parsed else None


def ingest_beside_good_file(
    landing, tmp_path, hostile: dict[str, bytes], *, directory: bytes | None = None, families: set[str] | None = None
):
    """Landing = directory + 01010's good file of each hostile file's family (or of
    `families`) + the hostile files; run the ingestion and check the good files loaded
    exactly as they should."""
    if directory is None:
        landing.directory()
    else:
        landing.write("districts_2024-25.csv", directory)
    families = (families or {family_of(name) for name in hostile}) & set(GOOD)
    for family in sorted(families):
        header, rows, _, _ = GOOD[family]
        landing.csv(f"{family}_2024-25_01010.csv", header, rows)
    for name, data in hostile.items():
        landing.write(name, data)
    con, loaded, note = run_ingestion(landing.path, tmp_path / "wh.duckdb")
    for family in families:
        _, _, select, expected = GOOD[family]
        got = con.execute(f"{select} from raw.{family} where district_code = '01010' order by _line").fetchall()
        assert got == expected, f"the good {family} file of district 01010 did not load as it should"
        assert file_issues(con, f"{family}_2024-25_01010.csv") == []
    return con, {f.file_name: f for f in loaded}


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def file_issues(con, file_name: str) -> list[dict]:
    return [i for i in issues(con) if i["file_name"] == file_name]


def file_status(con, file_name: str):
    rows = con.execute(
        "select status, rows_loaded, rows_quarantined from audit.files where file_name = ?", [file_name]
    ).fetchall()
    return rows[0] if rows else None


def rows_from(con, family: str, file_name: str, select: str = "select *") -> list[tuple]:
    return con.execute(
        f"{select} from raw.{family} "
        "where _file_id in (select file_id from audit.files where file_name = ?) order by _line",
        [file_name],
    ).fetchall()


# ------------------------------------------------------------------ whole file refused

WHOLE_FILE_REFUSED = [
    # corpus file, landing name, rule, line, what the message must say
    ("empty_file.csv", "staffing_2024-25_01020.csv", "empty_file", None, ["empty", "header row"]),
    ("header_only.csv", "staffing_2024-25_01020.csv", "empty_file", None, ["header row but no data rows"]),
    (
        "binary_data.csv",
        "staffing_2024-25_01020.csv",
        "unreadable_file",
        None,
        ["binary data", "export the data as CSV"],
    ),
    ("semicolon_delimiter.csv", "staffing_2024-25_01020.csv", "wrong_delimiter", 1, ["semicolons", "comma delimited"]),
    ("tab_delimiter.csv", "staffing_2024-25_01020.csv", "wrong_delimiter", 1, ["tabs", "comma delimited"]),
    (
        "cp1252_encoding.csv",
        "enrollment_2024-25_01020.csv",
        "encoding_not_utf8",
        3,
        ["not UTF-8", "line 3", "Windows-1252", "save it as CSV UTF-8"],
    ),
    ("utf16_with_bom.csv", "staffing_2024-25_01020.csv", "encoding_not_utf8", None, ["UTF-16", "CSV UTF-8"]),
    (
        "utf16_without_bom.csv",
        "staffing_2024-25_01020.csv",
        "encoding_not_utf8",
        None,
        ["UTF-16", "without a byte-order mark", "CSV UTF-8"],
    ),
    (
        "duplicate_header_names.csv",
        "staffing_2024-25_01020.csv",
        "duplicate_column_name",
        1,
        ["teacher_count more than once", "keep one column"],
    ),
    (
        "missing_required_columns.csv",
        "staffing_2024-25_01020.csv",
        "missing_required_column",
        1,
        ["building_leader_count", "district_leader_count", "tech_staff_count"],
    ),
]


@pytest.mark.parametrize(
    "corpus_file,landing_name,rule,line,says",
    WHOLE_FILE_REFUSED,
    ids=[c[0].removesuffix(".csv") for c in WHOLE_FILE_REFUSED],
)
def test_unusable_file_is_refused_whole_with_an_actionable_message(
    landing, tmp_path, corpus_file, landing_name, rule, line, says
):
    con, loaded = ingest_beside_good_file(landing, tmp_path, {landing_name: corpus(corpus_file)})
    (issue,) = file_issues(con, landing_name)
    assert (issue["rule"], issue["severity"], issue["line"]) == (rule, "error", line)
    for words in says:
        assert words in issue["message"]
    assert issue["file_id"] and issue["family"] == family_of(landing_name)
    assert file_status(con, landing_name) == ("rejected", 0, 0)
    assert loaded[landing_name].status == "rejected"
    family = family_of(landing_name)
    assert con.execute(f"select count(*) from raw.{family} where district_code <> '01010'").fetchall() == [(0,)]


# --------------------------------------------------------------- bad values, by row

BAD_VALUES = [
    # corpus file, landing name, [(line, column, value)], what the message must say
    (
        "thousands_separators.csv",
        "staffing_2024-25_01020.csv",
        [(2, "teacher_count", "1,000")],
        "whole number written with digits only (no thousands separators, units or text, e.g. 1000 not 1,000",
    ),
    (
        "units_in_numbers.csv",
        "connectivity_2024-25_01020.csv",
        [(2, "internet_bandwidth_mbps", "500 Mbps"), (2, "monthly_internet_cost_usd", "$400")],
        "number written with digits only (no thousands separators, units or text, e.g. 1000 not 1,000 or 1000 Mbps)",
    ),
    (
        "dates_in_other_formats.csv",
        "pl_participation_2024-25_01020.csv",
        [(2, "completed_on", "09/01/2024"), (3, "completed_on", "2024/09/01"), (4, "completed_on", "1 Sep 2024")],
        "must be a date written YYYY-MM-DD",
    ),
]


@pytest.mark.parametrize(
    "corpus_file,landing_name,bad,says", BAD_VALUES, ids=[c[0].removesuffix(".csv") for c in BAD_VALUES]
)
def test_numbers_and_dates_written_otherwise_are_bad_type_saying_how_to_write_them(
    landing, tmp_path, corpus_file, landing_name, bad, says
):
    con, _ = ingest_beside_good_file(landing, tmp_path, {landing_name: corpus(corpus_file)})
    errors = [i for i in file_issues(con, landing_name) if i["severity"] == "error"]
    # (a date can fail two checks of the same rule: its format, and being a calendar date)
    assert {(i["line"], i["column_name"], i["value"]) for i in errors} == set(bad)
    assert {i["rule"] for i in errors} == {"bad_type"}
    assert {i["district_code"] for i in errors} == {"01020"}
    for line, column, _ in bad:
        assert any(says in i["message"] for i in errors if (i["line"], i["column_name"]) == (line, column))
    family = family_of(landing_name)
    quarantined = con.execute(
        "select district_code, line from audit.quarantine_rows where file_id in "
        "(select file_id from audit.files where file_name = ?) order by line",
        [landing_name],
    ).fetchall()
    assert quarantined == [("01020", line) for line in sorted({b[0] for b in bad})]
    assert rows_from(con, family, landing_name) == []


# ------------------------------------------------------------- files that must load

STAFFING_ROWS = "select district_code, teacher_count, tech_staff_count, _line"


@pytest.mark.parametrize(
    "corpus_file,expected_lines,warning",
    [
        ("crlf_line_endings.csv", (2, 3), None),
        ("cr_line_endings.csv", (2, 3), None),
        ("trailing_delimiter.csv", (2, 3), "1 column(s) have no name"),
        ("two_trailing_delimiters.csv", (2, 3), "2 column(s) have no name"),
        ("blank_lines_at_end.csv", (2, 3), None),
        ("bom_and_quoted_header.csv", (2, 3), None),
        ("whitespace_only_lines.csv", (2, 5), None),
        ("spreadsheet_empty_rows.csv", (2, 4), None),
    ],
    ids=lambda v: v.removesuffix(".csv") if isinstance(v, str) and v.endswith(".csv") else "",
)
def test_harmless_layout_variations_load_with_their_line_numbers(
    landing, tmp_path, corpus_file, expected_lines, warning
):
    name = "staffing_2024-25_01020.csv"
    con, _ = ingest_beside_good_file(landing, tmp_path, {name: corpus(corpus_file)})
    assert rows_from(con, "staffing", name, STAFFING_ROWS) == [
        ("01020", 20, 1, expected_lines[0]),
        ("01700", 8, 0, expected_lines[1]),
    ]
    found = file_issues(con, name)
    if warning is None:
        assert found == []
    else:
        (issue,) = found
        assert (issue["rule"], issue["severity"], issue["line"]) == ("extra_column", "warning", 1)
        assert warning in issue["message"] and "ignored" in issue["message"]
    assert file_status(con, name) == ("loaded", 2, 0)


@pytest.mark.parametrize("commas", [1, 3, 1_000_000])
def test_empty_fields_beyond_the_header_load_with_a_warning_naming_the_first_line(landing, tmp_path, commas):
    name = "staffing_2024-25_01020.csv"
    content = f"{STAFFING}\n2024-25,01020,20,2,1,1" + "," * commas + '\n"2024-25","01700",8,0,0,0,,\n'
    con, _ = ingest_beside_good_file(landing, tmp_path, {name: content.encode()})
    assert rows_from(con, "staffing", name, STAFFING_ROWS) == [("01020", 20, 1, 2), ("01700", 8, 0, 3)]
    (issue,) = file_issues(con, name)
    assert (issue["rule"], issue["severity"], issue["line"]) == ("extra_fields", "warning", 2)
    assert "2 row(s) (the first on line 2)" in issue["message"] and f"up to {max(commas, 2)} more" in issue["message"]
    assert file_status(con, name) == ("loaded", 2, 0)


def test_a_last_field_left_empty_is_not_an_extra_field(landing, tmp_path):
    name = "enrollment_2024-25_01020.csv"
    content = f"{ENROLLMENT},note\n2024-25,01020,00201,Bay Harbor,400,\n2024-25,01020,00202,North,150,x\n"
    con, _ = ingest_beside_good_file(landing, tmp_path, {name: content.encode()})
    assert [i["rule"] for i in file_issues(con, name)] == ["extra_column"]


@pytest.mark.fast
def test_quoted_fields_with_newlines_commas_and_quotes_load_with_physical_line_numbers(landing, tmp_path):
    name = "enrollment_2024-25_01020.csv"
    con, _ = ingest_beside_good_file(landing, tmp_path, {name: corpus("quoted_newlines_and_commas.csv")})
    assert rows_from(con, "enrollment", name, "select building_code, building_name, student_count, _line") == [
        ("00201", "Bay Harbor\nK-12, North Campus", 400, 2),
        ("00202", 'Quote "inside", comma,\nand\nthree lines', 150, 4),
        ("00203", "Plain", 75, 7),
    ]
    assert file_issues(con, name) == []


def test_empty_lines_in_the_middle_do_not_shift_line_numbers(landing, tmp_path):
    name = "enrollment_2024-25_01020.csv"
    con, _ = ingest_beside_good_file(landing, tmp_path, {name: corpus("blank_lines_in_the_middle.csv")})
    assert rows_from(con, "enrollment", name, "select building_code, building_name, _line") == [
        ("00201", "Bay Harbor", 2),
        ("00202", "Two\nlines", 5),
    ]
    (issue,) = file_issues(con, name)
    assert (issue["rule"], issue["line"], issue["district_code"], issue["value"]) == ("out_of_range", 8, "01700", "-5")


# ------------------------------------------------------------------ malformed rows


@pytest.mark.parametrize(
    "corpus_file,found",
    [("too_many_fields.csv", "Found: 7"), ("too_few_fields.csv", "Found: 4")],
    ids=["too_many", "too_few"],
)
def test_row_with_wrong_number_of_fields_holds_back_only_its_district(landing, tmp_path, corpus_file, found):
    name = "staffing_2024-25_01020.csv"
    con, _ = ingest_beside_good_file(landing, tmp_path, {name: corpus(corpus_file)})
    (issue,) = file_issues(con, name)
    assert (issue["rule"], issue["severity"], issue["line"], issue["district_code"]) == (
        "malformed_row",
        "error",
        3,
        "01020",
    )
    assert issue["value"] == corpus(corpus_file).decode().splitlines()[2]
    assert found in issue["message"] and "number of fields" in issue["message"]
    # 01700's row in the same file loads; 01020 has nothing in raw from it
    assert rows_from(con, "staffing", name, STAFFING_ROWS) == [("01700", 8, 0, 2)]
    assert file_status(con, name) == ("partially_loaded", 1, 1)


@pytest.mark.parametrize(
    "corpus_file,line,says",
    [
        ("unattributable_malformed_row.csv", 4, "number of fields"),
        ("unclosed_quote.csv", 2, "quoted field that is not closed"),
    ],
    ids=["unattributable_row", "unclosed_quote"],
)
def test_malformed_row_without_a_readable_district_holds_back_the_whole_file(
    landing, tmp_path, corpus_file, line, says
):
    name = "staffing_2024-25_01020.csv"
    con, _ = ingest_beside_good_file(landing, tmp_path, {name: corpus(corpus_file)})
    found = {i["rule"]: i for i in file_issues(con, name)}
    assert set(found) == {"malformed_row", "file_held_back"}
    malformed = found["malformed_row"]
    assert (malformed["line"], malformed["district_code"]) == (line, None)
    assert says in malformed["message"] and "whole file is held back" in malformed["message"]
    assert "whole file is held back" in found["file_held_back"]["message"]
    assert rows_from(con, "staffing", name) == []
    assert file_status(con, name)[:2] == ("rejected", 0)


# -------------------------------------------------------------------- file names


def test_file_names_matching_no_family_are_reported_and_not_loaded(landing, tmp_path):
    content = (STAFFING + "\n2024-25,01020,20,2,1,1\n").encode()
    names = ["laptops_2024-25.csv", "staffing_2024.csv", "staffing_2024-26.csv", "staffing_2024-25.xlsx", "staffing"]
    con, _ = ingest_beside_good_file(
        landing,
        tmp_path,
        {n: content.replace(b"20,2", f"2{i},2".encode()) for i, n in enumerate(names)},
        families={"staffing"},
    )
    for name in names:
        (issue,) = file_issues(con, name)
        assert issue["rule"] == "unrecognised_file_name" and issue["severity"] == "error"
        assert name in issue["message"] and "<family>_<YYYY-YY>" in issue["message"]
        assert file_status(con, name) == ("unrecognised", 0, 0)
    assert con.execute("select count(*) from raw.staffing where district_code = '01020'").fetchall() == [(0,)]


# --------------------------------------------------------------- a 50 MB field


def _write_huge_field_file(path: Path, size: int = 50 * 1024 * 1024) -> None:
    with path.open("wb") as fh:
        fh.write(f'{ENROLLMENT}\n2024-25,01020,00201,"'.encode())
        block = b"A" * (1024 * 1024)
        for _ in range(size // len(block)):
            fh.write(block)
        fh.write(b'",400\n2024-25,01700,00701,Lighthouse,90\n')


def test_a_50_mb_field_is_refused_quickly_for_its_district_only(landing, tmp_path):
    name = "enrollment_2024-25_01020.csv"
    landing.directory()
    header, rows, select, expected = GOOD["enrollment"]
    landing.csv("enrollment_2024-25_01010.csv", header, rows)
    _write_huge_field_file(landing.path / name)
    started = time.monotonic()
    con, _, _ = run_ingestion(landing.path, tmp_path / "wh.duckdb")
    assert time.monotonic() - started < 60
    (issue,) = file_issues(con, name)
    assert (issue["rule"], issue["line"], issue["district_code"]) == ("malformed_row", 2, "01020")
    assert "longer than 8 MB" in issue["message"]
    assert len(issue["value"]) <= 200
    assert rows_from(con, "enrollment", name, "select district_code, student_count, _line") == [("01700", 90, 3)]
    assert (
        con.execute(f"{select} from raw.enrollment where district_code = '01010' order by _line").fetchall() == expected
    )
    con.close()
    # the giant value was not copied into the warehouse (only the archive keeps the file)
    assert (tmp_path / "wh.duckdb").stat().st_size < 20 * 1024 * 1024


def test_reading_a_50_mb_field_keeps_memory_bounded(tmp_path):
    path = tmp_path / "enrollment_2024-25_01020.csv"
    _write_huge_field_file(path)
    script = textwrap.dedent(
        """
        import resource, sys, duckdb
        from pathlib import Path
        from flows.ingest.families import FAMILIES
        from flows.ingest.read_csv import read_landing_file
        con = duckdb.connect()
        con.execute("set enable_progress_bar = false")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = read_landing_file(con, Path(sys.argv[1]), FAMILIES["enrollment"], "t")
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(result.row_count, [i.rule for i in result.issues], before // 1024, after // 1024)
        """
    )
    started = time.monotonic()
    out = (
        subprocess.run(
            [sys.executable, "-c", script, str(path)], cwd=REPO, capture_output=True, text=True, timeout=120, check=True
        )
        .stdout.strip()
        .splitlines()[-1]
        .split()
    )
    elapsed = time.monotonic() - started
    rows, rules, before_mb, after_mb = int(out[0]), out[1], int(out[-2]), int(out[-1])
    assert rows == 1 and "malformed_row" in rules
    # peak memory grows by a few times the line limit at most, not by the file size times anything
    assert after_mb - before_mb < 400, f"reading a 50 MB field raised peak memory by {after_mb - before_mb} MB"
    assert elapsed < 60


# ----------------------------------------------- links and folders in the landing folder


def test_symbolic_links_and_folders_are_never_followed_nor_read(landing, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    marker = "OUTSIDE-SECRET-7d1f"
    secret = outside / "enrollment_2024-25_01020.csv"
    secret.write_text(f"{ENROLLMENT}\n2024-25,01020,00201,{marker},999\n")
    (outside / "folder").mkdir()
    (outside / "folder" / "staffing_2024-25_01020.csv").write_text(f"{STAFFING}\n2024-25,01020,20,2,1,1\n")
    fifo = outside / "pipe.csv"
    os.mkfifo(fifo)  # opening it for reading would block: following this link would hang the run
    os.symlink(secret, landing.path / "enrollment_2024-25_01020.csv")
    os.symlink(outside / "folder", landing.path / "staffing_2024-25_linked_folder.csv")
    os.symlink(fifo, landing.path / "staffing_2024-25_pipe.csv")
    os.symlink(outside / "missing.csv", landing.path / "staffing_2024-25_dangling.csv")
    folder = landing.path / "staffing_2024-25_folder.csv"
    folder.mkdir()
    (folder / "staffing_2024-25_01020.csv").write_text(f"{STAFFING}\n2024-25,01020,{marker[:2]},2,1,1\n")

    con, loaded = ingest_beside_good_file(landing, tmp_path, {}, families={"enrollment", "staffing"})
    links = [
        "enrollment_2024-25_01020.csv",
        "staffing_2024-25_linked_folder.csv",
        "staffing_2024-25_pipe.csv",
        "staffing_2024-25_dangling.csv",
    ]
    for name in links + ["staffing_2024-25_folder.csv"]:
        (issue,) = file_issues(con, name)
        kind = "a folder" if name == "staffing_2024-25_folder.csv" else "a symbolic link"
        assert (issue["rule"], issue["severity"]) == ("not_a_regular_file", "error")
        assert f"is {kind}" in issue["message"] and "Copy the file itself into the landing folder" in issue["message"]
        assert file_status(con, name) is None and name not in loaded
    assert con.execute("select count(*) from raw.enrollment where district_code <> '01010'").fetchall() == [(0,)]
    assert con.execute("select count(*) from raw.staffing where district_code <> '01010'").fetchall() == [(0,)]
    con.close()
    assert marker.encode() not in (tmp_path / "wh.duckdb").read_bytes()
    archived = [p for p in (tmp_path / "archive").rglob("*") if p.is_file()]
    assert archived and not any(marker.encode() in p.read_bytes() for p in archived)


@pytest.mark.fast
def test_a_file_swapped_for_a_link_after_listing_is_not_followed(tmp_path, monkeypatch):
    from flows.ingest import discover

    landing = tmp_path / "landing"
    landing.mkdir()
    secret = tmp_path / "secret.csv"
    secret.write_text("district_code\nSECRET\n")
    victim = landing / "staffing_2024-25_01020.csv"
    victim.write_text(f"{STAFFING}\n2024-25,01020,20,2,1,1\n")
    real_scandir = os.scandir

    def scandir_then_swap(path):
        entries = list(real_scandir(path))
        for e in entries:
            e.stat(follow_symlinks=False)  # listed (and cached) as a regular file ...
        victim.unlink()
        os.symlink(secret, victim)  # ... then replaced by a link before it is opened
        return iter(entries)

    monkeypatch.setattr(discover.os, "scandir", scandir_then_swap)
    found = discover.scan_landing(landing, set(), 1)
    assert found.new_files == []
    (issue,) = found.not_files
    assert issue.rule == "not_a_regular_file" and "symbolic link" in issue.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_a_file_the_pipeline_cannot_read_is_reported_and_retried_next_run(landing, tmp_path):
    name = "staffing_2024-25_01020.csv"
    path = landing.csv(name, STAFFING, ["2024-25,01020,20,2,1,1"])
    path.chmod(0)
    try:
        con, _ = ingest_beside_good_file(landing, tmp_path, {}, families={"staffing"})
        (issue,) = file_issues(con, name)
        assert issue["rule"] == "unreadable_file" and "cannot be read" in issue["message"]
        assert file_status(con, name) is None  # not received: the next run tries again
    finally:
        path.chmod(0o644)


# ------------------------------------------------- formulas and SQL: plain text, verbatim

FORMULAS = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3", "=1+1"]


def test_spreadsheet_formula_text_is_stored_verbatim_as_plain_text(landing, tmp_path):
    con, _ = ingest_beside_good_file(
        landing,
        tmp_path,
        {
            "enrollment_2024-25_01020.csv": corpus("formula_text_enrollment.csv"),
            "pl_participation_2024-25_01020.csv": corpus("formula_text_pl_participation.csv"),
        },
        directory=corpus("formula_text_districts.csv"),
    )
    assert [i for i in issues(con) if i["severity"] == "error"] == []
    assert con.execute(
        "select district_code, district_name, county from raw.districts "
        "where district_code in ('01020', '01700') order by 1"
    ).fetchall() == [("01020", FORMULAS[0], "@SUM(1)"), ("01700", FORMULAS[1], "Alcona")]
    assert [
        r[0]
        for r in con.execute(
            "select building_name from raw.enrollment where district_code = '01020' order by _line"
        ).fetchall()
    ] == FORMULAS
    pl = con.execute(
        "select activity_id, activity_title, educator_key from raw.pl_participation "
        "where district_code = '01020' order by _line"
    ).fetchall()
    assert [(a, t) for a, t, _ in pl] == [("@SUM(1)", FORMULAS[0]), ("-2+3", FORMULAS[1])]
    assert all(re.fullmatch(r"[0-9a-f]{64}", k) for _, _, k in pl)  # educator IDs, even formulas, are hashed
    types = dict(
        con.execute(
            "select column_name, data_type from information_schema.columns where table_schema = 'raw' "
            "and column_name in ('district_name', 'building_name', 'activity_title', 'activity_id', 'county')"
        ).fetchall()
    )
    assert set(types.values()) == {"VARCHAR"}


SQL_TEXTS = [
    "'); drop table raw.enrollment; --",
    '" or 1=1',
    "x'; delete from audit.files; --",
    "Robert'); DROP TABLE Students;--",
]


def test_sql_looking_text_in_every_text_field_is_stored_verbatim_and_breaks_nothing(landing, tmp_path):
    sql_name = "staffing_2024-25_'); drop table raw.staffing; --.csv"
    con, _ = ingest_beside_good_file(
        landing,
        tmp_path,
        {
            "enrollment_2024-25_01020.csv": corpus("sql_text_enrollment.csv"),
            "pl_participation_2024-25_01020.csv": corpus("sql_text_pl_participation.csv"),
            sql_name: (STAFFING + "\n2024-25,01020,20,2,1,1\n").encode(),
        },
        directory=corpus("sql_text_districts.csv"),
    )
    tables = {
        r[0]
        for r in con.execute("select table_name from information_schema.tables where table_schema = 'raw'").fetchall()
    }
    assert tables >= {"districts", "enrollment", "staffing", "devices", "connectivity", "pl_participation"}
    audit_tables = {
        r[0]
        for r in con.execute("select table_name from information_schema.tables where table_schema = 'audit'").fetchall()
    }
    assert audit_tables >= {"runs", "files", "issues", "quarantine_rows", "load_counts", "validation_results"}
    counts = {t: con.execute(f"select count(*) from raw.{t}").fetchall()[0][0] for t in sorted(tables)}
    assert counts == {
        "districts": 4,
        "enrollment": 2 + 3,
        "staffing": 1 + 1,
        "devices": 0,
        "connectivity": 0,
        "pl_participation": 1 + 2,
    }
    assert con.execute("select count(*) from audit.files").fetchall() == [(1 + 3 + 3,)]  # directory, good, hostile
    assert con.execute(
        "select district_code, district_name, county from raw.districts "
        "where district_code in ('01020', '01700') order by 1"
    ).fetchall() == [("01020", SQL_TEXTS[0], SQL_TEXTS[1]), ("01700", SQL_TEXTS[3], SQL_TEXTS[2])]
    assert [
        r[0]
        for r in con.execute(
            "select building_name from raw.enrollment where district_code = '01020' order by _line"
        ).fetchall()
    ] == SQL_TEXTS[:3]
    assert con.execute(
        "select activity_id, activity_title from raw.pl_participation where district_code = '01020' order by _line"
    ).fetchall() == [(SQL_TEXTS[1], SQL_TEXTS[2]), (SQL_TEXTS[3], SQL_TEXTS[0])]
    # in a code column it is a bad code: quarantined, the text kept verbatim in the issue
    (bad,) = [i for i in file_issues(con, "enrollment_2024-25_01020.csv") if i["severity"] == "error"]
    assert (bad["rule"], bad["line"], bad["district_code"], bad["value"]) == (
        "bad_code_format",
        5,
        "01700",
        SQL_TEXTS[0],
    )
    assert rows_from(con, "staffing", sql_name, STAFFING_ROWS) == [("01020", 20, 1, 2)]
    assert file_status(con, sql_name) == ("loaded", 1, 0)


@pytest.mark.fast
def test_directory_header_constant_matches_the_family():
    from flows.ingest.families import FAMILIES

    assert tuple(DIRECTORY_HEADER.split(",")) == FAMILIES["districts"].column_names
