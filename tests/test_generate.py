"""The landing-file generator (tools/roadmap_demo_data): realistic, deterministic, and honest
about every defect it injects.

Most tests use a small state (60 districts, 2 school years). A small reference validator
of DATA_SPEC section 2 lives at the bottom of this file: it reads the CSV text back and
must find exactly the defects the manifest names, and nothing in clean data.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
from collections import defaultdict
from datetime import date
from functools import partial
from itertools import pairwise
from pathlib import Path

import pytest

from flows.ingest.families import FAMILIES, YEARLY_FAMILIES, parse_landing_name
from flows.school_years import school_year_bounds
from roadmap_demo_data.cli import add_arguments, run_from_args
from roadmap_demo_data.generate import (
    BLOCKING_RULES,
    HEAVY_WARNING_RULES,
    INJECTED_RULES,
    WARNING_RULES,
    WHOLE_FILE_RULES,
    GenerationManifest,
    generate_landing,
)

SMALL = dict(districts=60, years=2)
COMPUTING = ("chromebook", "laptop", "tablet", "desktop")


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    return out, generate_landing(out, **SMALL, seed=7)


@pytest.fixture(scope="module")
def dirty(tmp_path_factory):
    out = tmp_path_factory.mktemp("dirty")
    return out, generate_landing(out, **SMALL, seed=11, defects=0.1)


@pytest.fixture(scope="module")
def michigan(tmp_path_factory):
    out = tmp_path_factory.mktemp("michigan")
    return out, generate_landing(out, years=1, seed=42, resubmissions=False)


# ---------------------------------------------------------------------------------------
# helpers: read the files back the way DATA_SPEC describes them
# ---------------------------------------------------------------------------------------


def read_landing(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header (trimmed, lower-case) and (line, row) pairs; UTF-8 with an optional BOM."""
    text = path.read_bytes().decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in next(reader)]
    rows = []
    for record in reader:
        rows.append((reader.line_num, dict(zip(header, record, strict=False))))  # a defect may add or drop fields
    return header, rows


def rows_of(out: Path, family: str, school_year: str, statewide_only: bool = True) -> list[dict[str, str]]:
    names = [f"{family}_{school_year}.csv"]
    if not statewide_only:
        names += sorted(p.name for p in out.glob(f"{family}_{school_year}_*.csv"))
    result = []
    for name in names:
        result += [r for _, r in read_landing(out / name)[1]]
    return result


def directory(out: Path, school_year: str) -> dict[str, dict[str, str]]:
    return {r["district_code"]: r for r in rows_of(out, "districts", school_year)}


# ---------------------------------------------------------------------------------------
# determinism and the public API
# ---------------------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files_and_mtimes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    ma = generate_landing(a, **SMALL, seed=5, defects=0.2)
    mb = generate_landing(b, **SMALL, seed=5, defects=0.2)
    assert ma.to_json() == mb.to_json()
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir()) == sorted(ma.files)
    for p in a.iterdir():
        q = b / p.name
        assert p.read_bytes() == q.read_bytes(), p.name
        assert p.stat().st_mtime == q.stat().st_mtime, p.name


def test_different_seeds_give_different_data(tmp_path):
    generate_landing(tmp_path / "a", **SMALL, seed=1)
    generate_landing(tmp_path / "b", **SMALL, seed=2)
    name = "enrollment_2025-26.csv"
    assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "b" / name).read_bytes()


@pytest.mark.fast
def test_manifest_lists_every_file_written_with_row_counts(clean):
    out, m = clean
    assert sorted(m.files) == sorted(p.name for p in out.iterdir())
    for family in FAMILIES:
        written = sum(len(read_landing(out / f)[1]) for f in m.files if f.startswith(family + "_"))
        assert m.rows[family] == written > 0
    assert m.school_years == ["2024-25", "2025-26"]
    again = GenerationManifest.from_json(m.to_json())
    assert again.to_json() == m.to_json()


@pytest.mark.fast
def test_files_are_received_in_year_order_and_resubmissions_after_statewide_extracts(clean):
    out, m = clean
    order = sorted(m.files, key=lambda f: ((out / f).stat().st_mtime, f))
    assert order == m.files
    statewide = [f for f in m.files if parse_landing_name(f).suffix == ""]
    resubmitted = [f for f in m.files if parse_landing_name(f).suffix != ""]
    assert resubmitted, "a handful of district resubmissions is expected"
    last_statewide = max((out / f).stat().st_mtime for f in statewide)
    assert all((out / f).stat().st_mtime > last_statewide for f in resubmitted)
    years = [parse_landing_name(f).school_year for f in statewide]
    assert years == sorted(years)


def test_clean_corrections_change_only_a_few_rows_of_the_latest_year(clean):
    out, m = clean
    assert m.defects == []
    assert len(m.corrections) >= 3
    for c in m.corrections:
        assert c["school_year"] == "2025-26"
        family, code = c["family"], c["district_code"]
        _, resub = read_landing(out / c["file_name"])
        assert {r["district_code"] for _, r in resub} == {code}
        original = [r for r in rows_of(out, family, "2025-26") if r["district_code"] == code]

        def canon(rows):
            return sorted(tuple(sorted(r.items())) for r in rows)

        assert canon(original) != canon(r for _, r in resub)
        assert 1 <= len(c["lines"]) <= 3


# ---------------------------------------------------------------------------------------
# the file contract (DATA_SPEC section 1)
# ---------------------------------------------------------------------------------------


@pytest.mark.fast
def test_files_parse_per_data_spec(clean):
    out, m = clean
    for name in m.files:
        landing = parse_landing_name(name)
        assert landing is not None, name
        family = FAMILIES[landing.family]
        header, rows = read_landing(out / name)
        assert sorted(header) == sorted(family.column_names), name
        assert rows, name
        if family.yearly:
            assert {r["school_year"] for _, r in rows} == {landing.school_year}, name
        if landing.family == "pl_participation":
            start, end = school_year_bounds(landing.school_year)
            assert all(start <= r["completed_on"] <= end for _, r in rows)
            assert all(0 < float(r["hours"]) <= 40 for _, r in rows)
            assert {r["role"] for _, r in rows} == set(family.column("role").values)
            for col in ("activity_kind", "provider", "format", "framework"):
                assert {r[col] for _, r in rows} == set(family.column(col).values), col


@pytest.mark.fast
def test_codes_are_five_digits_with_leading_zeros_kept_in_the_csv_text(clean):
    out, m = clean
    text = (out / "districts_2025-26.csv").read_text(encoding="utf-8-sig")
    assert re.search(r"^01010,Alcona Community Schools,LEA,", text, re.M)
    for name in m.files:
        _, rows = read_landing(out / name)
        for _, r in rows:
            for col in ("district_code", "building_code", "isd_code"):
                if col in r:
                    assert re.fullmatch(r"\d{5}", r[col]), (name, col, r[col])
    for sy in m.school_years:
        d = directory(out, sy)
        for code, r in d.items():
            assert 1 <= int(code[:2]) <= 83
            assert r["isd_code"] in d and d[r["isd_code"]]["district_type"] == "ISD"
            if r["district_type"] == "ISD":
                assert r["isd_code"] == code and code.endswith("00")
        buildings = [(r["district_code"], r["building_code"]) for r in rows_of(out, "enrollment", sy)]
        assert len({b for _, b in buildings}) == len(buildings), "building codes are distinct statewide"


@pytest.mark.fast
def test_names_with_commas_and_apostrophes_survive_quoting(clean):
    out, _ = clean
    names = {r["district_name"] for r in rows_of(out, "districts", "2025-26")}
    assert "St. Mary's Academy, Inc." in names
    buildings = {r["building_name"] for r in rows_of(out, "enrollment", "2025-26")}
    assert "Martin Luther King, Jr. Elementary School" in buildings
    assert any("'" in b for b in buildings)
    text = (out / "districts_2025-26.csv").read_text(encoding="utf-8-sig")
    assert '"St. Mary\'s Academy, Inc."' in text


def test_some_files_have_a_bom_or_padded_upper_case_headers(clean):
    out, m = clean
    raw = {f: (out / f).read_bytes() for f in m.files}
    assert any(b.startswith(b"\xef\xbb\xbf") for b in raw.values())
    first_lines = [b.decode("utf-8-sig").split("\n", 1)[0] for b in raw.values()]
    assert any(re.search(r"(^|,) ?[A-Z_]+ ?(,|$)", line) and " " in line for line in first_lines)


def test_directory_changes_over_the_years(tmp_path):
    m = generate_landing(tmp_path, districts=60, years=5, seed=3)
    first, last = directory(tmp_path, "2021-22"), directory(tmp_path, "2025-26")
    assert [f for f in m.files if f.startswith("districts_")] == [f"districts_{sy}.csv" for sy in m.school_years]
    both = first.keys() & last.keys()
    assert any(first[c]["district_name"] != last[c]["district_name"] for c in both), "a renamed district"
    assert any(first[c]["isd_code"] != last[c]["isd_code"] for c in both), "an LEA that moved ISD"
    opened, closed = last.keys() - first.keys(), first.keys() - last.keys()
    assert len(opened) == 1 and last[opened.pop()]["district_type"] == "PSA"
    assert len(closed) == 1 and first[closed.pop()]["district_type"] == "PSA"
    emails = [r["data_contact_email"] for r in last.values()]
    assert sum(bool(e) for e in emails) > 0.8 * len(emails)
    assert any(not e for e in emails)
    assert all(re.fullmatch(r"data@[a-z0-9]+\.k12\.mi\.us", e) for e in emails if e)


# ---------------------------------------------------------------------------------------
# realism (docs/DOMAIN_FACTS.md)
# ---------------------------------------------------------------------------------------


def test_default_size_is_michigan_sized(michigan):
    out, m = michigan
    assert m.school_years == ["2025-26"]
    d = directory(out, "2025-26")
    types = defaultdict(int)
    for r in d.values():
        types[r["district_type"]] += 1
    assert types["ISD"] == 56
    assert 520 <= types["LEA"] <= 545 and 280 <= types["PSA"] <= 305
    enrollment = rows_of(out, "enrollment", "2025-26")
    students = sum(int(r["student_count"]) for r in enrollment)
    assert 1_300_000 <= students <= 1_500_000
    assert 3_000 <= len(enrollment) <= 3_550
    by_district = defaultdict(int)
    for r in enrollment:
        by_district[r["district_code"]] += int(r["student_count"])
    sizes = sorted(by_district.values())
    assert 40_000 <= sizes[-1] <= 60_000, "one big city district"
    leas = sorted(by_district[c] for c, r in d.items() if r["district_type"] == "LEA")
    psas = sorted(by_district[c] for c, r in d.items() if r["district_type"] == "PSA")
    assert sum(s < 3000 for s in leas) > 0.6 * len(leas)
    assert sum(s < 500 for s in psas) > 0.4 * len(psas)
    locales = defaultdict(int)
    for r in d.values():
        if r["district_type"] == "LEA":
            locales[r["locale"]] += 1
    assert max(locales, key=locales.get) == "rural"
    psa_urban = sum(r["locale"] in ("city", "suburb") for r in d.values() if r["district_type"] == "PSA")
    assert psa_urban > 0.7 * types["PSA"]
    pl_rows = (out / "pl_participation_2025-26.csv").read_bytes().count(b"\n") - 1
    assert 150_000 <= pl_rows <= 400_000


@pytest.mark.fast
def test_staffing_is_consistent_with_enrollment(clean):
    out, m = clean
    for sy in m.school_years:
        students = defaultdict(int)
        buildings = defaultdict(int)
        for r in rows_of(out, "enrollment", sy):
            students[r["district_code"]] += int(r["student_count"])
            buildings[r["district_code"]] += 1
        staff = {r["district_code"]: r for r in rows_of(out, "staffing", sy)}
        assert staff.keys() == students.keys()
        total_teachers = sum(int(r["teacher_count"]) for r in staff.values())
        assert 14 <= sum(students.values()) / total_teachers <= 19
        for code, r in staff.items():
            assert int(r["building_leader_count"]) >= buildings[code]
            assert int(r["district_leader_count"]) >= 1
            assert int(r["tech_staff_count"]) >= 1


def test_device_sub_counts_never_exceed_device_count_in_clean_data(clean):
    out, m = clean
    for name in (f for f in m.files if f.startswith("devices_")):
        for _, r in read_landing(out / name)[1]:
            n = int(r["device_count"])
            assert 0 <= int(r["devices_over_5_years"]) <= n
            assert 0 <= int(r["take_home_count"]) <= n


def test_device_figures_improve_over_the_years(tmp_path):
    m = generate_landing(tmp_path, districts=60, years=5, seed=9, resubmissions=False)
    per_student, aging = [], []
    for sy in m.school_years:
        students = sum(int(r["student_count"]) for r in rows_of(tmp_path, "enrollment", sy))
        dev = rows_of(tmp_path, "devices", sy)
        comp = [r for r in dev if r["device_type"] in COMPUTING]
        student_devices = sum(int(r["device_count"]) for r in comp if r["user_group"] == "student")
        per_student.append(student_devices / students)
        aging.append(sum(int(r["devices_over_5_years"]) for r in comp) / sum(int(r["device_count"]) for r in comp))
        types = {(r["device_type"], r["user_group"]) for r in dev}
        assert {("chromebook", "student"), ("laptop", "teacher"), ("hotspot", "student")} <= types
        assert {"tablet", "desktop", "interactive_display"} <= {t for t, _ in types}
    assert per_student == sorted(per_student) and 0.7 <= per_student[0] <= 0.9 and 0.9 <= per_student[-1] <= 1.1
    assert aging == sorted(aging, reverse=True)


def test_connectivity_improves_and_stays_in_range(tmp_path):
    m = generate_landing(tmp_path, districts=200, years=5, seed=4, resubmissions=False)
    meets, cost = [], []
    for sy in m.school_years:
        students = defaultdict(int)
        for r in rows_of(tmp_path, "enrollment", sy):
            students[r["district_code"]] += int(r["student_count"])
        conn = rows_of(tmp_path, "connectivity", sy)
        kbps = [float(r["internet_bandwidth_mbps"]) * 1000 / students[r["district_code"]] for r in conn]
        meets.append(sum(k >= 1000 for k in kbps) / len(kbps))
        cpm = sorted(float(r["monthly_internet_cost_usd"]) / float(r["internet_bandwidth_mbps"]) for r in conn)
        cost.append(cpm[len(cpm) // 2])
        for r in conn:
            assert 60 <= float(r["wifi_classrooms_covered_pct"]) <= 100
            assert r["erate_discount_pct"] == "" or 20 <= int(r["erate_discount_pct"]) <= 90
            assert int(r["hotspots_loaned"]) <= int(r["students_without_home_internet"])
        assert any(r["wan_bandwidth_mbps"] == "" for r in conn) and any(r["erate_discount_pct"] == "" for r in conn)
    assert meets == sorted(meets) and 0.65 <= meets[-1] <= 0.85
    assert cost == sorted(cost, reverse=True) and 0.7 <= cost[-1] <= 3.0


def test_pl_educators_never_exceed_staffing_and_rates_are_plausible(clean):
    out, m = clean
    rates = []
    for sy in m.school_years:
        staff = {r["district_code"]: r for r in rows_of(out, "staffing", sy)}
        people = defaultdict(set)
        for r in rows_of(out, "pl_participation", sy):
            people[(r["district_code"], r["role"])].add(r["educator_id"])
        for code, s in staff.items():
            leaders = len(people[(code, "building_leader")] | people[(code, "district_leader")])
            assert len(people[(code, "building_leader")]) <= int(s["building_leader_count"])
            assert leaders <= int(s["building_leader_count"]) + int(s["district_leader_count"])
            assert len(people[(code, "teacher")]) <= int(s["teacher_count"])
            assert len(people[(code, "tech_staff")]) <= int(s["tech_staff_count"])
        teachers = sum(int(s["teacher_count"]) for s in staff.values())
        rates.append(sum(len(people[(c, "teacher")]) for c in staff) / teachers)
    assert all(0.40 <= r <= 0.85 for r in rates) and rates == sorted(rates)


@pytest.mark.fast
def test_educator_ids_are_stable_across_years(clean):
    out, _ = clean
    ids = [
        {(r["district_code"], r["educator_id"]) for r in rows_of(out, "pl_participation", sy)}
        for sy in ("2024-25", "2025-26")
    ]
    assert len(ids[0] & ids[1]) > 0.3 * len(ids[0])
    assert all(re.fullmatch(r"(T\d{6}|L\d{5}|IT\d{4}|S\d{6})", e) for _, e in ids[0])


def test_year_over_year_changes_stay_small_in_clean_data(tmp_path):
    m = generate_landing(tmp_path, districts=60, years=5, seed=13)
    assert validate(tmp_path) == (set(), set())
    totals = {}
    for sy in m.school_years:
        s, dv = defaultdict(int), defaultdict(int)
        for r in rows_of(tmp_path, "enrollment", sy):
            s[r["district_code"]] += int(r["student_count"])
        for r in rows_of(tmp_path, "devices", sy):
            dv[r["district_code"]] += int(r["device_count"])
        totals[sy] = (s, dv)
    for prev, cur in pairwise(m.school_years):
        for i in (0, 1):
            for code, v in totals[cur][i].items():
                if code in totals[prev][i]:
                    assert abs(v - totals[prev][i][code]) / totals[prev][i][code] < 0.25


# ---------------------------------------------------------------------------------------
# defects
# ---------------------------------------------------------------------------------------


def test_clean_data_has_no_defects_and_a_validator_finds_none(clean):
    out, m = clean
    assert m.defects == []
    assert validate(out) == (set(), set())


def test_every_rule_kind_is_injected_with_its_severity(dirty):
    _, m = dirty
    assert {d.rule for d in m.defects} == set(INJECTED_RULES)
    for d in m.defects:
        assert d.severity == ("error" if d.rule in BLOCKING_RULES else "warning")
        assert d.rule in BLOCKING_RULES or d.rule in WARNING_RULES


def test_more_defects_as_the_rate_grows(tmp_path):
    low = generate_landing(tmp_path / "low", **SMALL, seed=1, defects=0.02)
    high = generate_landing(tmp_path / "high", **SMALL, seed=1, defects=0.5)
    assert {d.rule for d in low.defects} == set(INJECTED_RULES)

    def districts(m):
        return {(d.school_year, d.district_code) for d in m.defects}

    assert len(districts(high)) > 2 * len(districts(low))
    assert len(districts(high)) >= 0.8 * 0.5 * 60 * 2


def test_each_injected_defect_is_in_the_named_file_at_the_named_line(dirty):
    out, m = dirty
    for d in m.defects:
        path = out / d.file_name
        assert path.exists(), d
        landing = parse_landing_name(d.file_name)
        assert (landing.family, landing.school_year) == (d.family, d.school_year)
        if d.rule == "empty_file":
            assert path.stat().st_size == 0
            continue
        if d.rule == "encoding_not_utf8":
            with pytest.raises(UnicodeDecodeError):
                path.read_bytes().decode("utf-8")
            assert d.value in path.read_bytes().decode("cp1252")
            continue
        header, rows = read_landing(path)
        if d.rule == "missing_required_column":
            assert d.column not in header and d.column in FAMILIES[d.family].column_names
            continue
        if d.rule == "extra_column":
            assert d.column in header and d.column not in FAMILIES[d.family].column_names
            continue
        if d.line is None:
            assert d.rule in ("yoy_student_count_swing", "yoy_device_total_swing", "pl_leaders_exceed_staffing")
            assert any(r["district_code"] == d.district_code for _, r in rows)
            continue
        row = dict(rows)[d.line]
        assert row["district_code"] == d.district_code, d
        if d.column is not None:
            assert row[d.column] == (d.value or ""), d


def test_a_validator_finds_exactly_the_defects_the_manifest_names(dirty):
    out, m = dirty
    errors, warnings = validate(out)
    assert errors == {(d.file_name, d.district_code, d.rule) for d in m.errors()}
    assert warnings == {(d.file_name, d.district_code, d.rule) for d in m.warnings()}
    assert {(f, c) for f, c, _ in errors} == m.expected_quarantine()


def test_a_validator_agrees_at_a_high_rate_and_over_more_years(tmp_path):
    m = generate_landing(tmp_path, districts=60, years=4, seed=21, defects=0.6)
    errors, warnings = validate(tmp_path)
    assert errors == {(d.file_name, d.district_code, d.rule) for d in m.errors()}
    assert warnings == {(d.file_name, d.district_code, d.rule) for d in m.warnings()}


def test_whole_file_defects_are_confined_to_one_district_resubmission(dirty):
    out, m = dirty
    whole = [d for d in m.defects if d.whole_file]
    assert {d.rule for d in whole} == set(WHOLE_FILE_RULES)
    for d in whole:
        assert d.line is None
        landing = parse_landing_name(d.file_name)
        assert landing.suffix == d.district_code
        if d.rule in ("missing_required_column", "extra_column"):
            assert {r["district_code"] for _, r in read_landing(out / d.file_name)[1]} == {d.district_code}
    assert sum(d.rule == "empty_file" for d in m.defects) == 1
    statewide = {d.file_name for d in m.errors() if parse_landing_name(d.file_name).suffix == ""}
    assert statewide, "some row-level defects go into statewide extracts"


def test_warning_districts_are_free_of_blocking_errors(dirty):
    _, m = dirty
    blocked = {(d.family, d.school_year, d.district_code) for d in m.errors()}
    for d in m.warnings():
        assert (d.family, d.school_year, d.district_code) not in blocked


def test_year_over_year_swings_exceed_half_of_last_year(dirty):
    out, m = dirty
    for d in m.warnings():
        if d.rule not in ("yoy_student_count_swing", "yoy_device_total_swing"):
            continue
        col = "student_count" if d.rule == "yoy_student_count_swing" else "device_count"
        prev_year = m.school_years[m.school_years.index(d.school_year) - 1]
        now = sum(int(r[col]) for _, r in read_landing(out / d.file_name)[1] if r["district_code"] == d.district_code)
        before = sum(int(r[col]) for r in rows_of(out, d.family, prev_year) if r["district_code"] == d.district_code)
        assert abs(now - before) > 0.5 * before


def test_bad_code_format_is_recorded_as_written(dirty):
    out, m = dirty
    for d in (d for d in m.defects if d.rule == "bad_code_format"):
        assert not re.fullmatch(r"\d{5}", d.district_code)
        assert ("0" + d.district_code) in directory(out, d.school_year) or len(d.district_code) == 4


@pytest.mark.fast
def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        generate_landing(tmp_path, districts=60, defects=1.5)
    with pytest.raises(ValueError):
        generate_landing(tmp_path, districts=60, last_school_year="2025-27")
    with pytest.raises(ValueError):
        generate_landing(tmp_path, districts=60, years=0)


# ---------------------------------------------------------------------------------------
# bench shapes: heavy warnings, per-district files
# ---------------------------------------------------------------------------------------

RATE_PARTS = {  # metric: (numerator, denominator), as the rate_over_100 warn tests check them
    "teacher_device_coverage_pct": ("teacher_devices", "teacher_count"),
    "home_internet_gap_pct": ("without_home", "student_count"),
    "hotspot_coverage_pct": ("hotspots", "without_home"),
    "leader_pl_rate_pct": ("leaders_in_pl", "leader_count"),
    "teacher_pl_rate_pct": ("teachers_in_pl", "teacher_count"),
    "tech_staff_pl_rate_pct": ("tech_staff_in_pl", "tech_staff_count"),
}


def published_rows(landing: Path) -> dict:
    """(family, school_year, district) -> rows of its latest submission (received order)."""
    files = sorted(landing.iterdir(), key=lambda p: (p.stat().st_mtime, p.name))
    out: dict = {}
    for p in files:
        name = parse_landing_name(p.name)
        if name.family == "districts":
            continue
        by_district: dict = defaultdict(list)
        for _, r in read_landing(p)[1]:
            by_district[r["district_code"]].append(r)
        for code, rows in by_district.items():
            out[(name.family, name.school_year, code)] = rows
    return out


def rates_over_100(landing: Path) -> set:
    """(school_year, district, metric) of every rate over 100, from the CSV text."""
    published = published_rows(landing)
    sums: dict = defaultdict(dict)
    for (family, sy, code), rows in published.items():
        s = sums[(sy, code)]
        if family == "enrollment":
            s["student_count"] = sum(int(r["student_count"]) for r in rows)
        elif family == "staffing":
            r = rows[0]
            s["teacher_count"] = int(r["teacher_count"])
            s["leader_count"] = int(r["building_leader_count"]) + int(r["district_leader_count"])
            s["tech_staff_count"] = int(r["tech_staff_count"])
        elif family == "devices":
            s["teacher_devices"] = sum(
                int(r["device_count"]) for r in rows if r["user_group"] == "teacher" and r["device_type"] in COMPUTING
            )
        elif family == "connectivity":
            s["without_home"] = int(rows[0]["students_without_home_internet"])
            s["hotspots"] = int(rows[0]["hotspots_loaned"])
        elif family == "pl_participation":
            for name, roles in (
                ("leaders_in_pl", LEADERS),
                ("teachers_in_pl", ("teacher",)),
                ("tech_staff_in_pl", ("tech_staff",)),
            ):
                s[name] = len({r["educator_id"] for r in rows if r["role"] in roles})
    found = set()
    for (sy, code), s in sums.items():
        for metric, (num, den) in RATE_PARTS.items():
            if num in s and den in s and s[den] > 0 and s[num] > s[den]:
                found.add((sy, code, metric))
    return found


@pytest.fixture(scope="module")
def heavy(tmp_path_factory):
    out = tmp_path_factory.mktemp("heavy")
    return out, generate_landing(out, districts=60, years=3, seed=13, heavy_warnings=0.9)


def test_heavy_warnings_are_warnings_only_and_exactly_those_recorded(heavy):
    out, m = heavy
    assert m.errors() == [] and m.heavy_warning_rate == 0.9
    assert {d.rule for d in m.defects} == set(HEAVY_WARNING_RULES)
    errors, warnings = validate(out)
    assert errors == set()
    cross_file = {(d.file_name, d.district_code, d.rule) for d in m.defects if d.rule != "rate_over_100"}
    assert warnings == cross_file
    assert {
        (d.school_year, d.district_code, d.column) for d in m.defects if d.rule == "rate_over_100"
    } == rates_over_100(out)


def test_heavy_warnings_reach_most_districts_through_a_tenth_of_the_staff(heavy):
    out, m = heavy
    latest = m.school_years[-1]
    staffing = {r["district_code"]: r for r in rows_of(out, "staffing", latest, statewide_only=False)}
    enrolled = defaultdict(int)
    for r in rows_of(out, "enrollment", latest):
        enrolled[r["district_code"]] += int(r["student_count"])
    # a tenth of the staff: about one teacher for 170 students instead of 17
    thin = [c for c, r in staffing.items() if enrolled[c] / max(1, int(r["teacher_count"])) > 60]
    assert len(thin) >= 0.7 * len(staffing)
    warned = {(d.school_year, d.district_code) for d in m.defects}
    for sy in m.school_years:
        active = len(directory(out, sy))
        assert len({c for y, c in warned if y == sy}) >= 0.8 * active
    rates = {d.column for d in m.defects if d.rule == "rate_over_100"}
    assert {"teacher_device_coverage_pct", "leader_pl_rate_pct", "teacher_pl_rate_pct"} <= rates


def test_heavy_warnings_leave_the_other_families_byte_identical(heavy, tmp_path):
    out, m = heavy
    generate_landing(tmp_path, districts=60, years=3, seed=13)
    for p in sorted(tmp_path.iterdir()):
        family = parse_landing_name(p.name).family
        same = p.read_bytes() == (out / p.name).read_bytes()
        if family in ("districts", "connectivity", "pl_participation"):
            assert same, p.name
        if family == "staffing" and parse_landing_name(p.name).suffix == "":
            assert not same, p.name
        assert p.stat().st_mtime == (out / p.name).stat().st_mtime


def test_per_district_files_hold_exactly_the_statewide_rows_one_district_each(tmp_path):
    statewide, split = tmp_path / "statewide", tmp_path / "split"
    ms = generate_landing(statewide, districts=60, years=2, seed=4, resubmissions=False)
    mp = generate_landing(split, districts=60, years=2, seed=4, resubmissions=False, per_district_files=True)
    assert mp.per_district_files and mp.rows == ms.rows and mp.defects == []
    assert sorted(mp.files) == sorted(p.name for p in split.iterdir())
    for sy in ms.school_years:
        codes = set(directory(split, sy))
        assert (split / f"districts_{sy}.csv").read_bytes() == (statewide / f"districts_{sy}.csv").read_bytes()
        for family in YEARLY_FAMILIES:
            parts = sorted(split.glob(f"{family}_{sy}_*.csv"))
            assert not (split / f"{family}_{sy}.csv").exists()
            whole = statewide / f"{family}_{sy}.csv"
            header = whole.read_bytes().split(b"\n", 1)[0]
            seen: list = []
            for p in parts:
                code = parse_landing_name(p.name).suffix
                assert code in codes
                assert p.read_bytes().split(b"\n", 1)[0] == header
                assert p.stat().st_mtime == whole.stat().st_mtime
                rows = [r for _, r in read_landing(p)[1]]
                assert rows and {r["district_code"] for r in rows} == {code}
                seen += rows
            expected = [r for _, r in read_landing(whole)[1]]

            def key(r):
                return tuple(sorted(r.items()))

            assert sorted(seen, key=key) == sorted(expected, key=key)
    assert validate(split) == (set(), set())


def test_per_district_files_with_heavy_warnings_name_the_district_files(tmp_path):
    m = generate_landing(
        tmp_path, districts=40, years=2, seed=8, resubmissions=False, per_district_files=True, heavy_warnings=0.5
    )
    assert m.defects
    for d in m.defects:
        assert parse_landing_name(d.file_name).suffix == d.district_code
        assert (tmp_path / d.file_name).exists()
    errors, warnings = validate(tmp_path)
    assert errors == set()
    assert warnings == {(d.file_name, d.district_code, d.rule) for d in m.defects if d.rule != "rate_over_100"}
    assert {
        (d.school_year, d.district_code, d.column) for d in m.defects if d.rule == "rate_over_100"
    } == rates_over_100(tmp_path)


@pytest.mark.fast
def test_bench_options_refuse_what_they_cannot_honour(tmp_path):
    with pytest.raises(ValueError, match="clean"):
        generate_landing(tmp_path, districts=20, defects=0.1, heavy_warnings=0.5)
    with pytest.raises(ValueError, match="clean"):
        generate_landing(tmp_path, districts=20, defects=0.1, per_district_files=True, resubmissions=False)
    with pytest.raises(ValueError, match="resubmissions"):
        generate_landing(tmp_path, districts=20, per_district_files=True)
    with pytest.raises(ValueError):
        generate_landing(tmp_path, districts=20, heavy_warnings=1.5)


def test_manifest_names_the_bench_options_only_when_used(tmp_path):
    plain = generate_landing(tmp_path / "a", districts=20, years=1, seed=1, resubmissions=False)
    assert "heavy_warning_rate" not in plain.to_dict() and "per_district_files" not in plain.to_dict()
    used = generate_landing(
        tmp_path / "b", districts=20, years=2, seed=1, resubmissions=False, heavy_warnings=0.5, per_district_files=True
    )
    again = GenerationManifest.from_json(used.to_json())
    assert again.heavy_warning_rate == 0.5 and again.per_district_files and again.to_json() == used.to_json()


def test_cli_writes_per_district_files_with_heavy_warnings(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        [
            "--out",
            str(tmp_path / "landing"),
            "--districts",
            "20",
            "--years",
            "2",
            "--per-district-files",
            "--heavy-warnings",
            "0.8",
        ]
    )
    assert run_from_args(args) == 0
    names = os.listdir(tmp_path / "landing")
    assert all(re.fullmatch(r"(districts_\d{4}-\d{2}|[a-z_]+_\d{4}-\d{2}_\d{5})\.csv", n) for n in names), names
    assert "rate_over_100" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parser.parse_args(["--out", "x", "--heavy-warnings", "2"])


# ---------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------


@pytest.mark.fast
def test_cli_writes_files_manifest_and_a_summary(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    manifest_path = tmp_path / "manifest.json"
    args = parser.parse_args(
        [
            "--out",
            str(tmp_path / "landing"),
            "--districts",
            "40",
            "--years",
            "2",
            "--seed",
            "3",
            "--defects",
            "0.1",
            "--manifest",
            str(manifest_path),
        ]
    )
    assert run_from_args(args) == 0
    printed = capsys.readouterr().out
    data = json.loads(manifest_path.read_text())
    assert set(data) >= {"files", "rows", "defects"}
    assert sorted(data["files"]) == sorted(os.listdir(tmp_path / "landing"))
    assert "pl_participation" in printed and "bad_type" in printed and "files" in printed
    m = GenerationManifest.from_json(manifest_path.read_text())
    assert {d.rule for d in m.defects} == set(INJECTED_RULES)
    with pytest.raises(SystemExit):
        parser.parse_args(["--out", "x", "--defects", "2"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--districts", "10"])


# ---------------------------------------------------------------------------------------
# a small reference validator of DATA_SPEC section 2
# ---------------------------------------------------------------------------------------

INT_RE = re.compile(r"^\d+$")
NUM_RE = re.compile(r"^\d+(\.\d+)?$")
CODE_RE = re.compile(r"^\d{5}$")
LEADERS = ("building_leader", "district_leader")


def _valid_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", text))


def validate(landing: Path) -> tuple[set, set]:
    """(file, district as written, rule) of every blocking error and warning."""
    files = sorted(landing.iterdir(), key=lambda p: (p.stat().st_mtime, p.name))
    errors: set = set()
    warnings: set = set()
    known: set[str] = set()
    for p in files:
        if parse_landing_name(p.name).family == "districts":
            known |= {r["district_code"] for _, r in read_landing(p)[1]}
    buildings: set = set()
    for p in files:
        landing = parse_landing_name(p.name)
        if landing.family == "enrollment" and p.stat().st_size:
            try:
                buildings |= {
                    (r.get("school_year"), r.get("district_code"), r.get("building_code"))
                    for _, r in read_landing(p)[1]
                }
            except UnicodeDecodeError:
                pass
    accepted: dict = defaultdict(list)  # (family, sy, district) -> [(file, rows)]

    def record(name: str, bad: set[str], code, rule):
        errors.add((name, code, rule))
        bad.add(code)

    for seq, p in enumerate(files):
        landing = parse_landing_name(p.name)
        family = FAMILIES[landing.family]
        if not family.yearly:
            continue
        sy = landing.school_year
        data = p.read_bytes()
        if not data:
            errors.add((p.name, landing.suffix, "empty_file"))
            continue
        try:
            data.decode("utf-8-sig")
        except UnicodeDecodeError:
            errors.add((p.name, landing.suffix, "encoding_not_utf8"))
            continue
        header, rows = read_landing(p)
        bad: set[str] = set()
        err = partial(record, p.name, bad)  # err(code, rule): a blocking error of this file

        codes = {r["district_code"] for _, r in rows}
        for col in family.column_names:
            if col not in header:
                for code in codes:
                    err(code, "missing_required_column")
        for col in header:
            if col not in family.column_names:
                for code in codes:
                    warnings.add((p.name, code, "extra_column"))
        start, end = school_year_bounds(sy)
        for _, r in rows:
            code = r["district_code"]
            for c in family.columns:
                if c.name not in r:
                    continue
                v = r[c.name]
                if v == "":
                    if c.required:
                        err(code, "required_value_missing")
                    continue
                if c.kind == "code":
                    if not CODE_RE.match(v):
                        err(code, "bad_code_format")
                elif c.kind == "integer" and not INT_RE.match(v) or c.kind == "number" and not NUM_RE.match(v):
                    err(code, "bad_type")
                elif c.kind == "date" and not _valid_date(v):
                    err(code, "bad_type")
                elif c.kind == "enum" and v not in c.values:
                    err(code, "value_not_allowed")
                elif c.kind in ("integer", "number"):
                    x = float(v)
                    if (c.min_value is not None and (x < c.min_value or (c.min_exclusive and x == c.min_value))) or (
                        c.max_value is not None and x > c.max_value
                    ):
                        err(code, "out_of_range")
                elif c.kind == "school_year" and v != sy:
                    err(code, "school_year_mismatch")
                elif c.kind == "date" and not start <= v <= end:
                    err(code, "date_outside_school_year")
            if CODE_RE.match(code) and code not in known:
                err(code, "unknown_district")
            if landing.family == "devices":
                n = r.get("device_count", "")
                for sub in ("devices_over_5_years", "take_home_count"):
                    m = r.get(sub, "")
                    if INT_RE.match(n) and INT_RE.match(m) and int(m) > int(n):
                        err(code, "count_exceeds_device_count")
                if CODE_RE.match(r["building_code"]) and (sy, code, r["building_code"]) not in buildings:
                    err(code, "building_not_in_enrollment")
        seen: dict = {}
        for _, r in rows:
            key = tuple(r.get(k) for k in family.key)
            whole = tuple(sorted(r.items()))
            if key in seen:
                if seen[key] == whole:
                    warnings.add((p.name, r["district_code"], "exact_duplicate_row"))
                elif family.record_key:
                    warnings.add((p.name, r["district_code"], "duplicate_pl_record"))
                else:
                    err(r["district_code"], "duplicate_key_conflict")
            else:
                seen[key] = whole
        # exact duplicates and repeated PL records are loaded once (the first line)
        kept: dict = defaultdict(list)
        loaded: set = set()
        for _, r in rows:
            key = tuple(r.get(k) for k in family.record_key) if family.record_key else tuple(sorted(r.items()))
            if r["district_code"] not in bad and key not in loaded:
                loaded.add(key)
                kept[r["district_code"]].append(r)
        for code, kept_rows in kept.items():
            accepted[(landing.family, sy, code)].append((seq, p.name, kept_rows))

    def effective(family, sy, code):
        found = accepted.get((family, sy, code))
        return max(found, key=lambda x: x[0]) if found else None

    years = sorted({sy for (_, sy, _) in accepted})
    for prev, cur in pairwise(years):
        for family, col, rule in (
            ("enrollment", "student_count", "yoy_student_count_swing"),
            ("devices", "device_count", "yoy_device_total_swing"),
        ):
            for fam, sy, code in list(accepted):
                if fam != family or sy != cur:
                    continue
                a, b = effective(family, prev, code), effective(family, cur, code)
                if a and b:
                    before, now = sum(int(r[col]) for r in a[2]), sum(int(r[col]) for r in b[2])
                    if before and abs(now - before) > 0.5 * before:
                        warnings.add((b[1], code, rule))
    for fam, sy, code in list(accepted):
        if fam != "pl_participation":
            continue
        pl, staff = effective(fam, sy, code), effective("staffing", sy, code)
        if pl and staff:
            leaders = {r["educator_id"] for r in pl[2] if r["role"] in LEADERS}
            s = staff[2][0]
            if len(leaders) > int(s["building_leader_count"]) + int(s["district_leader_count"]):
                warnings.add((pl[1], code, "pl_leaders_exceed_staffing"))
    return errors, warnings
