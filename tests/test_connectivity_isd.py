"""Connectivity against the national benchmarks and the ISD view (issue 13, parts 1 and
2), on a warehouse the real nightly flow built from hand-written landing files
(tests/connectivity_landing.py: the table there is the arithmetic behind every figure
expected here), and on the review built from it."""

from __future__ import annotations

import math
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from connectivity_landing import LATEST, SMALL, YEARS, write_connectivity_landing
from flows.warehouse.reference import read_reference

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config"

pytestmark = pytest.mark.slow  # one nightly run (dbt build) for the module


@pytest.fixture(scope="module")
def warehouse(prefect_server, tmp_path_factory) -> Path:
    from conftest import build_warehouse

    wh, _, _ = build_warehouse(tmp_path_factory.mktemp("conn-wh"), write_connectivity_landing)
    return wh


def _rows(warehouse: Path, sql: str, params=()) -> list[dict]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cur = con.execute(sql, list(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def _approx(a, b) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


# ------------------------------------------------------------------------ the marts


def test_district_flags_against_each_benchmark(warehouse):
    rows = {
        r["district_code"]: r
        for r in _rows(
            warehouse,
            """
        SELECT district_code, kbps_per_student, meets_short_term_bandwidth_goal AS short,
               meets_long_term_bandwidth_goal AS long, wan_bandwidth_mbps, wan_kbps_per_student,
               meets_wan_goal, cost_per_mbps_usd, above_affordable_cost, affordable_bandwidth_mbps,
               affordable_kbps_per_student, could_meet_goal_within_budget
        FROM marts.district_year_metrics WHERE school_year = ?""",
            [LATEST],
        )
    }
    expected = {
        # code: short, long, wan kbps, meets wan, above $3, Mbps at $3, could meet
        "10000": (True, True, None, None, False, 200 / 3, None),
        "10010": (True, False, 10000.0, True, True, 2000 / 3, False),
        "10020": (False, False, 2500.0, False, True, 500.0, True),
        "10030": (True, True, None, None, False, 100 / 3, None),
        "20000": (True, False, 10000.0, True, True, 200.0, True),  # exactly 1,000 kbps at $3
        "20010": (True, True, 15000.0, True, False, 1000.0, None),
        "20020": (None, None, None, None, None, None, None),  # no connectivity file
    }
    for code, (short, long, wan, meets_wan, above, afford, could) in expected.items():
        r = rows[code]
        assert (
            r["short"],
            r["long"],
            r["meets_wan_goal"],
            r["above_affordable_cost"],
            r["could_meet_goal_within_budget"],
        ) == (short, long, meets_wan, above, could), code
        assert (r["wan_kbps_per_student"] is None) == (wan is None) and (
            wan is None or _approx(r["wan_kbps_per_student"], wan)
        ), code
        assert (r["affordable_bandwidth_mbps"] is None) == (afford is None), code
        if afford is not None:
            assert _approx(r["affordable_bandwidth_mbps"], afford), code
    assert _approx(rows["10020"]["affordable_kbps_per_student"], 1250.0)
    assert rows["10000"]["wan_bandwidth_mbps"] is None and rows["10010"]["wan_bandwidth_mbps"] == 10000


def test_state_shares_of_districts_and_students(warehouse):
    s = {r["school_year"]: r for r in _rows(warehouse, "SELECT * FROM marts.state_year_metrics")}
    r = s[LATEST]
    assert (
        r["districts_with_bandwidth_data"],
        r["districts_meeting_short_term_goal"],
        r["districts_meeting_long_term_goal"],
    ) == (6, 5, 3)
    assert _approx(r["districts_meeting_short_term_goal_pct"], 500 / 6)
    assert _approx(r["districts_meeting_long_term_goal_pct"], 50.0)
    # students: 100 + 1000 + 400 + 8 + 200 + 2000 with a bandwidth figure (not 20020's 500)
    assert (
        r["students_with_bandwidth_data"],
        r["students_meeting_short_term_goal"],
        r["students_meeting_long_term_goal"],
    ) == (3708, 3308, 2108)
    assert _approx(r["students_meeting_short_term_goal_pct"], 100 * 3308 / 3708)
    assert _approx(r["students_meeting_long_term_goal_pct"], 100 * 2108 / 3708)
    assert (r["districts_with_wan_data"], r["districts_meeting_wan_goal"]) == (4, 3)
    assert _approx(r["districts_meeting_wan_goal_pct"], 75.0)
    # cost per Mbps 1, 1, 2, 4, 6, 50: continuous quartiles 1.25, 3, 5.5
    assert r["districts_with_cost_data"] == 6
    assert [round(r[c], 9) for c in ("cost_per_mbps_usd_q1", "cost_per_mbps_usd_median", "cost_per_mbps_usd_q3")] == [
        1.25,
        3.0,
        5.5,
    ]
    assert (
        r["districts_above_affordable_cost"],
        r["districts_below_long_term_goal"],
        r["districts_could_meet_goal_within_budget"],
    ) == (3, 3, 2)
    assert _approx(r["districts_above_affordable_cost_pct"], 50.0)
    # the earlier year: 100, 90, 30, 50, 100, 1000, 100 Mbps over 100, 1000, 400, 8, 200, 2000, 500 students
    e = s[YEARS[0]]
    assert (
        e["districts_with_bandwidth_data"],
        e["districts_meeting_short_term_goal"],
        e["districts_meeting_long_term_goal"],
        e["districts_with_wan_data"],
    ) == (7, 5, 2, 0)
    assert e["districts_meeting_wan_goal_pct"] is None  # no district reported a WAN bandwidth


def test_isd_year_metrics_by_the_states_rule(warehouse):
    i = {
        r["isd_code"]: r
        for r in _rows(warehouse, "SELECT * FROM marts.isd_year_metrics WHERE school_year = ?", [LATEST])
    }
    assert set(i) == {"10000", "20000"}
    a, b = i["10000"], i["20000"]
    assert (a["isd_name"], a["districts_in_directory"], a["student_count"]) == ("Lake Huron ISD", 4, 1508)
    assert (b["isd_name"], b["districts_in_directory"], b["student_count"]) == ("Grand Plains ISD", 3, 2700)
    # sums of numerators over sums of denominators, over districts with both
    assert _approx(a["kbps_per_student"], 1000 * (200 + 500 + 30 + 50) / 1508)
    assert _approx(b["kbps_per_student"], 1000 * (100 + 3000) / 2200)  # 20020 has no connectivity
    assert _approx(a["cost_per_mbps_usd"], (200 + 2000 + 1500 + 100) / 780)
    assert (a["meets_bandwidth_target"], b["meets_bandwidth_target"]) == (False, True)
    assert (a["districts_meeting_short_term_goal"], a["districts_meeting_long_term_goal"]) == (3, 2)
    assert (a["students_meeting_short_term_goal"], a["students_meeting_long_term_goal"]) == (1108, 108)
    assert _approx(a["students_meeting_long_term_goal_pct"], 100 * 108 / 1508)
    assert (b["students_with_bandwidth_data"], b["students_meeting_long_term_goal"]) == (2200, 2000)
    assert (a["districts_with_wan_data"], a["districts_meeting_wan_goal"]) == (2, 1)
    assert (b["districts_with_wan_data"], b["districts_meeting_wan_goal"]) == (2, 2)
    # cost per Mbps 1, 2, 4, 50 (ISD 10000) and 1, 6 (ISD 20000)
    assert [
        a[c] for c in ("cost_per_mbps_usd_q1", "cost_per_mbps_usd_median", "cost_per_mbps_usd_q3")
    ] == pytest.approx([1.75, 3.0, 15.5])
    assert [
        b[c] for c in ("cost_per_mbps_usd_q1", "cost_per_mbps_usd_median", "cost_per_mbps_usd_q3")
    ] == pytest.approx([2.25, 3.5, 4.75])
    assert (a["districts_below_long_term_goal"], a["districts_could_meet_goal_within_budget"]) == (2, 1)
    assert (b["districts_below_long_term_goal"], b["districts_could_meet_goal_within_budget"]) == (1, 1)


def test_isd_and_state_share_one_set_of_columns(warehouse):
    """Every column of the state's mart is in the ISD's, with the same type: one rule."""
    cols = _rows(
        warehouse,
        """
        SELECT table_name, column_name, data_type FROM information_schema.columns
        WHERE table_schema = 'marts' AND table_name IN ('state_year_metrics', 'isd_year_metrics')""",
    )
    state = {(c["column_name"], c["data_type"]) for c in cols if c["table_name"] == "state_year_metrics"}
    isd = {(c["column_name"], c["data_type"]) for c in cols if c["table_name"] == "isd_year_metrics"}
    assert state - {("school_year", "VARCHAR")} <= isd


def test_benchmarks_come_from_config(warehouse):
    stored = {
        r["benchmark"]: r["value"]
        for r in _rows(warehouse, "SELECT benchmark, value FROM reference.connectivity_benchmarks")
    }
    configured = yaml.safe_load((CONFIG / "metrics.yml").read_text())["connectivity_benchmarks"]
    assert stored == {k: float(v["value"]) for k, v in configured.items()}


def test_a_broken_benchmark_configuration_is_refused(tmp_path):
    cfg = tmp_path / "config"
    shutil.copytree(CONFIG, cfg)
    metrics = yaml.safe_load((cfg / "metrics.yml").read_text())
    metrics["connectivity_benchmarks"]["short_term_kbps_per_student"]["value"] = "fast"
    del metrics["connectivity_benchmarks"]["wan_kbps_per_student"]
    (cfg / "metrics.yml").write_text(yaml.safe_dump(metrics))
    with pytest.raises(ValueError) as raised:
        read_reference(cfg)
    assert "short_term_kbps_per_student: value must be a number > 0" in str(raised.value)
    assert "wan_kbps_per_student is not configured" in str(raised.value)


# ----------------------------------------------------------------------- the review


class _Tables(HTMLParser):
    """Cells by (table id or class, row key, data-figure/column) from the review."""

    def __init__(self):
        super().__init__()
        self.cells: dict[tuple[str, str], str] = {}
        self.links: list[str] = []
        self._row = None
        self._figure = None
        self._text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "tr":
            self._row = a.get("data-school-year") or a.get("data-metric") or a.get("data-district-code")
        if tag == "td" and self._row and (a.get("data-figure")):
            self._figure = a["data-figure"]
            self._text = []

    def handle_data(self, data):
        if self._figure:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self._figure:
            self.cells[(self._row, self._figure)] = "".join(self._text).strip()
            self._figure = None


def _parse(path: Path) -> _Tables:
    p = _Tables()
    p.feed(path.read_text(encoding="utf-8"))
    return p


@pytest.fixture(scope="module")
def open_review(warehouse, tmp_path_factory):
    """The review with a threshold of 1: nothing withheld, every figure as by hand."""
    from flows.report import build_report

    cfg = tmp_path_factory.mktemp("cfg1") / "config"
    shutil.copytree(CONFIG, cfg)
    roadmap = yaml.safe_load((cfg / "roadmap.yml").read_text())
    roadmap.setdefault("privacy", {})["min_cell_size"] = 1
    (cfg / "roadmap.yml").write_text(yaml.safe_dump(roadmap))
    return build_report(warehouse, tmp_path_factory.mktemp("review1"), LATEST, config_dir=cfg)


@pytest.fixture(scope="module")
def review(warehouse, tmp_path_factory):
    """The review with the threshold of 10, complementary suppression over the ISD
    totals only (with seven districts, the locale and type groupings would withhold
    them all)."""
    from flows.report import build_report

    cfg = tmp_path_factory.mktemp("cfg10") / "config"
    shutil.copytree(CONFIG, cfg)
    roadmap = yaml.safe_load((cfg / "roadmap.yml").read_text())
    roadmap.setdefault("privacy", {}).update(min_cell_size=10, groupings=["isd_code"])
    (cfg / "roadmap.yml").write_text(yaml.safe_dump(roadmap))
    return build_report(warehouse, tmp_path_factory.mktemp("review"), LATEST, config_dir=cfg)


def _withheld(warehouse) -> dict[str, set[str]]:
    """The districts (and ISDs) whose bandwidth figure the review withholds."""
    from flows.report import suppression_sql

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        suppression_sql.prepare(con, 10, ("isd_code",))
        rows = con.execute(
            "SELECT scope, district_code FROM report_suppression WHERE school_year = ? "
            "AND (kbps_per_student > 0 OR student_count > 0)",
            [LATEST],
        ).fetchall()
    finally:
        con.close()
    out: dict[str, set[str]] = {"district": set(), "isd": set(), "state": set()}
    for scope, code in rows:
        out[scope].add(code)
    return out


def test_review_connectivity_section_by_hand(open_review):
    html = open_review.html_path.read_text(encoding="utf-8")
    assert 'id="connectivity"' in html and 'href="#connectivity"' in html
    c = _parse(open_review.html_path).cells
    assert c[(LATEST, "short_districts")] == "5 of 6 (83.3%)"
    assert c[(LATEST, "short_students")] == "89.2% (3,308 of 3,708)"
    assert c[(LATEST, "long_districts")] == "3 of 6 (50.0%)"
    assert c[(LATEST, "long_students")] == "56.9% (2,108 of 3,708)"  # 56.85...
    assert c[(LATEST, "wan")] == "3 of 4 (75.0%)"
    assert c[(LATEST, "cost")] == "$1.25, $3.00, $5.50"
    assert c[(LATEST, "above_cost")] == "3 of 6 (50.0%)"
    assert (c[(LATEST, "below_long")], c[(LATEST, "could_meet")]) == ("3", "2")
    # the trend: the earlier year, 5 and 2 of 7 districts; no WAN reported
    assert c[(YEARS[0], "short_districts")] == "5 of 7 (71.4%)"
    assert c[(YEARS[0], "long_districts")] == "2 of 7 (28.6%)"
    assert c[(YEARS[0], "wan")] == "not reported"
    # the national context, each with its source, from config/metrics.yml
    for item in yaml.safe_load((CONFIG / "metrics.yml").read_text())["national_context"]:
        assert item["text"].replace("$", "$") in html.replace("&#39;", "'")
        assert item["source"] in html
    assert "100 kbps per student (short-term goal)" in html


def test_review_connectivity_never_counts_a_withheld_district(review, warehouse):
    """With the threshold of 10, Tiny Creek (8 students) is withheld, and so is any
    district complementary suppression withholds with it: every share is over the
    published districts only, and equals the hand computation over exactly those."""
    withheld = _withheld(warehouse)["district"]
    assert SMALL in withheld and len(withheld) < 6
    students = {"10000": 100, "10010": 1000, "10020": 400, "10030": 8, "20000": 200, "20010": 2000}
    short = {"10000", "10010", "10030", "20000", "20010"}
    long = {"10000", "10030", "20010"}
    shown = {k: v for k, v in students.items() if k not in withheld}
    c = _parse(review.html_path).cells
    n_short, n_long = len(short & set(shown)), len(long & set(shown))
    assert c[(LATEST, "short_districts")] == f"{n_short} of {len(shown)} ({100 * n_short / len(shown):.1f}%)"
    assert c[(LATEST, "long_districts")] == f"{n_long} of {len(shown)} ({100 * n_long / len(shown):.1f}%)"
    s_short = sum(v for k, v in shown.items() if k in short)
    s_long = sum(v for k, v in shown.items() if k in long)
    total = sum(shown.values())
    assert c[(LATEST, "short_students")] == f"{100 * s_short / total:.1f}% ({s_short:,} of {total:,})"
    assert c[(LATEST, "long_students")] == f"{100 * s_long / total:.1f}% ({s_long:,} of {total:,})"
    html = review.html_path.read_text(encoding="utf-8")
    assert f"({len([k for k in withheld if k in students])} withheld)" in html


def test_isd_pages_linked_from_the_review_and_the_district_pages(open_review):
    sy = LATEST
    links = _parse(open_review.html_path).links
    assert f"isds/{sy}/10000.html" in links and f"isds/{sy}/20000.html" in links
    page = open_review.isd_pages_dir / "10000.html"
    assert page.is_file() and (open_review.isd_pages_dir / "index.html").is_file()
    index = (open_review.district_pages_dir / "index.html").read_text(encoding="utf-8")
    assert f'<a href="../../isds/{sy}/20000.html">Grand Plains ISD</a>' in index
    district_page = open_review.district_pages_dir / "10020.html"
    assert f'href="../../isds/{sy}/10000.html"' in district_page.read_text(encoding="utf-8")
    text = page.read_text(encoding="utf-8")
    # its districts side by side, each linked to its page; not the other ISD's
    for code in ("10000", "10010", "10020", "10030"):
        assert f'href="../../districts/{sy}/{code}.html"' in text
    assert "20010" not in text
    # its figures against the state and the target
    row = re.search(r'<tr data-metric="kbps_per_student">(.*?)</tr>', text, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert cells[1] == f"{1000 * 780 / 1508:,.0f} kbps"  # the ISD
    assert cells[2] == f"{1000 * 3880 / 3708:,.0f} kbps"  # Michigan: all districts with both
    assert cells[3] == "≥ 1,000 kbps" and cells[4] == "no"
    conn = _parse(page).cells
    assert conn[(sy, "long_students")] == "7.2% (108 of 1,508)"
    assert conn[(sy, "cost")] == "$1.75, $3.00, $15.50"
    assert (conn[(sy, "below_long")], conn[(sy, "could_meet")]) == ("2", "1")


def test_isd_pages_withhold_what_is_built_on_a_small_count(review, warehouse):
    text = (review.isd_pages_dir / "10000.html").read_text(encoding="utf-8")
    # Tiny Creek's own figures are <10 side by side
    row = re.search(r'<tr data-district-code="10030">(.*?)</tr>', text, re.S).group(1)
    assert "&lt;10" in row
    # the ISD's kbps per student is built on Tiny Creek's students: not published
    isd_row = re.search(r'<tr data-metric="kbps_per_student">(.*?)</tr>', text, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", isd_row, re.S)
    assert cells[1] in ("np", "&lt;10")
    # and the connectivity counts leave it out
    assert "withheld)" in text
    # the other ISD has no small district: its rate is published, as by hand
    withheld = _withheld(warehouse)
    assert not {"20000", "20010", "20020"} & withheld["district"] and "20000" not in withheld["isd"]
    other = (review.isd_pages_dir / "20000.html").read_text(encoding="utf-8")
    isd_row = re.search(r'<tr data-metric="kbps_per_student">(.*?)</tr>', other, re.S).group(1)
    assert re.findall(r"<td[^>]*>(.*?)</td>", isd_row, re.S)[1] == f"{1000 * 3100 / 2200:,.0f} kbps"


def test_isd_figures_are_the_sum_over_their_districts_on_any_data(report_warehouse):
    """On the review tests' warehouse (18 districts, three ISDs, withheld and missing
    families): every ISD figure equals the state's rule applied to its districts."""
    con = duckdb.connect(str(report_warehouse.warehouse), read_only=True)
    try:
        d = con.execute("SELECT * FROM marts.district_year_metrics").df()
        isd = con.execute("SELECT * FROM marts.isd_year_metrics").df()
    finally:
        con.close()
    ratios = {
        "students_per_device": ("student_count", "student_devices", 1),
        "teacher_device_coverage_pct": ("teacher_devices", "teacher_count", 100),
        "kbps_per_student": ("internet_bandwidth_mbps", "student_count", 1000),
        "cost_per_mbps_usd": ("monthly_internet_cost_usd", "internet_bandwidth_mbps", 1),
        "home_internet_gap_pct": ("students_without_home_internet", "student_count", 100),
        "teacher_pl_rate_pct": ("teachers_in_pl", "teacher_count", 100),
        "tech_staff_pl_rate_pct": ("tech_staff_in_pl", "tech_staff_count", 100),
    }
    sums = ["student_count", "teacher_count", "pl_hours_online", "tpack_samr_participants"]
    checked = 0
    for (code, sy), g in d.groupby(["isd_code", "school_year"]):
        row = isd[(isd["isd_code"] == code) & (isd["school_year"] == sy)]
        assert len(row) == 1, (code, sy)
        row = row.iloc[0]
        for m, (num, den, k) in ratios.items():
            both = g[g[num].notna() & g[den].notna()]
            dsum = both[den].sum()
            want = None if both.empty or dsum == 0 else k * both[num].sum() / dsum
            got = row[m]
            if want is None:
                assert pd.isna(got), (code, sy, m)
            else:
                assert got == pytest.approx(want, rel=1e-9), (code, sy, m)
            checked += 1
        for c in sums:
            want = g[c].sum(min_count=1)
            assert (pd.isna(want) and pd.isna(row[c])) or row[c] == pytest.approx(want), (code, sy, c)
        assert row["districts_in_directory"] == len(g)
        assert row["districts_meeting_long_term_goal"] == int(g["meets_long_term_bandwidth_goal"].fillna(False).sum())
    assert checked > 0


def test_exports_withhold_isd_and_state_figures_built_on_a_small_count(warehouse, tmp_path):
    """The suppressed exports of the new columns and mart: an ISD's figure built on Tiny
    Creek's 8 students is withheld, the other ISD's is not; the state's shares of
    districts and students meeting a benchmark are tallies of withheld district flags."""
    import csv

    from flows.report import export_marts

    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    roadmap = yaml.safe_load((config / "roadmap.yml").read_text())
    roadmap.setdefault("privacy", {}).update(min_cell_size=10, groupings=["isd_code"])
    (config / "roadmap.yml").write_text(yaml.safe_dump(roadmap))
    export_marts(warehouse, tmp_path / "out", config_dir=config)
    out = tmp_path / "out" / "exports"
    with (out / "isd_year_metrics.csv").open(encoding="utf-8", newline="") as fh:
        isd = {(r["isd_code"], r["school_year"]): r for r in csv.DictReader(fh)}
    a, b = isd[("10000", LATEST)], isd[("20000", LATEST)]
    for column in ("kbps_per_student", "students_meeting_long_term_goal_pct", "districts_meeting_short_term_goal"):
        assert a[column] in ("np", "<10"), column
        assert column in a["suppressed_columns"].split(";")
    assert float(b["kbps_per_student"]) == pytest.approx(1000 * 3100 / 2200)
    assert float(b["students_meeting_long_term_goal_pct"]) == pytest.approx(100 * 2000 / 2200)
    assert float(a["cost_per_mbps_usd_median"]) == pytest.approx(3.0)  # not a count of people
    with (out / "state_year_metrics.csv").open(encoding="utf-8", newline="") as fh:
        state = {r["school_year"]: r for r in csv.DictReader(fh)}
    for column in (
        "students_meeting_short_term_goal_pct",
        "districts_meeting_long_term_goal",
        "districts_could_meet_goal_within_budget",
    ):
        assert state[LATEST][column] == "np", column
    with (out / "district_year_metrics.csv").open(encoding="utf-8", newline="") as fh:
        small = next(r for r in csv.DictReader(fh) if r["district_code"] == SMALL and r["school_year"] == LATEST)
    assert small["meets_long_term_bandwidth_goal"] == "<10" and small["affordable_kbps_per_student"] == "<10"


def test_no_published_isd_figure_is_built_on_a_withheld_district_figure(report_warehouse):
    """On the review tests' warehouse (a district of 8 students, counts of 0, every
    grouping): wherever an ISD's rate, share or tally is published, every district
    figure of the ISD it is built on is published too, and so are the ISD's counts
    under it; an ISD's count of people is published only as the ISD total protected by
    complementary suppression."""
    from flows.report import suppression, suppression_sql

    con = duckdb.connect(str(report_warehouse.warehouse), read_only=True)
    try:
        suppression_sql.prepare(con, 10)
        flags = con.execute("SELECT * FROM report_suppression").df()
        d = con.execute("SELECT district_code, school_year, isd_code FROM marts.district_year_metrics").df()
        groups = con.execute(f"SELECT * FROM {suppression_sql.GROUPS_TABLE} WHERE grouping = 'isd_code'").df()
    finally:
        con.close()
    dist = flags[flags["scope"] == "district"].merge(d, on=["district_code", "school_year"])
    isd = flags[flags["scope"] == "isd"].rename(columns={"district_code": "isd_code"})
    assert len(isd) == len(d[["isd_code", "school_year"]].drop_duplicates())
    withheld_any = 0
    for name in suppression.FIGURES:
        source = suppression.TALLIES.get(name, name)
        worst = dist.groupby(["isd_code", "school_year"])[source].max().rename("worst").reset_index()
        m = isd.merge(worst, on=["isd_code", "school_year"])
        if name in suppression.PEOPLE_COUNTS:
            g = groups[groups["count"] == name].rename(columns={"group_value": "isd_code"})
            m = m.merge(g[["isd_code", "school_year", "status"]], on=["isd_code", "school_year"], how="left")
            assert (m[name] == m["status"].fillna(0)).all(), name
            continue
        published = m[m[name] == 0]
        assert (published["worst"] == 0).all(), (name, published[published["worst"] > 0])
        for c in suppression.BASIS.get(source, ()):
            counts = isd.set_index(["isd_code", "school_year"])[c]
            assert (counts.loc[list(zip(published["isd_code"], published["school_year"], strict=True))] == 0).all(), (
                name,
                c,
            )
        withheld_any += int((m[name] > 0).sum())
    assert withheld_any > 0  # Birch Hollow (8 students) is in an ISD: something is withheld


def test_every_district_page_links_to_an_isd_page_that_exists(report_warehouse, tmp_path):
    """On the review tests' warehouse (three ISDs, eighteen districts): a page per ISD of
    the year, each linked from the review; every district page's ISD link opens one of
    them, which lists that district among its own."""
    from flows.report import build_report

    result = build_report(report_warehouse.warehouse, tmp_path / "review", config_dir=CONFIG)
    con = duckdb.connect(str(report_warehouse.warehouse), read_only=True)
    try:
        isds = {
            r[0]
            for r in con.execute(
                "SELECT isd_code FROM marts.isd_year_metrics WHERE school_year = ?", [result.school_year]
            ).fetchall()
        }
    finally:
        con.close()
    assert {p.name for p in result.isd_pages} == {f"{c}.html" for c in isds} and len(isds) == 3
    review_links = set(_parse(result.html_path).links)
    assert {f"isds/{result.school_year}/{c}.html" for c in isds} <= review_links
    assert 'id="connectivity"' in result.html_path.read_text(encoding="utf-8")
    for page in result.district_pages:
        code = page.stem
        target = [h for h in _parse(page).links if "/isds/" in h]
        assert len(target) == 1, page
        isd_page = (page.parent / target[0]).resolve()
        assert isd_page.is_file(), target
        assert f'data-district-code="{code}"' in isd_page.read_text(encoding="utf-8"), (code, isd_page.name)
