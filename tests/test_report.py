"""The annual review (flows.report.build_report), on a warehouse the real nightly flow
built from hand-written landing files (tests/report_landing.py, `report_warehouse`)."""

from __future__ import annotations

import hashlib
import html as _html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import numpy as np
import pytest
import yaml

from flows.report import ReportResult, build_report
from flows.report.build import choose_school_year
from report_landing import (
    BIRCH,
    FORMULA_NAME,
    LATEST,
    MISSING_PL,
    NAMES,
    NO_FILES,
    SLIPPING,
    YEARS,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config"
CHROMIUM = Path("/usr/bin/chromium")
WITHHELD = ("<10", "np")


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def warehouse(report_warehouse) -> Path:
    return report_warehouse.warehouse


@pytest.fixture(scope="module")
def report(warehouse, tmp_path_factory) -> ReportResult:
    return build_report(warehouse, tmp_path_factory.mktemp("report"), config_dir=CONFIG)


@pytest.fixture(scope="module")
def html(report) -> str:
    return report.html_path.read_text(encoding="utf-8")


def _goal4() -> dict:
    return yaml.safe_load((CONFIG / "roadmap_goal4.yml").read_text(encoding="utf-8"))


def _squash(s: str) -> str:
    return " ".join(str(s).split())


def _objective_ids() -> list[str]:
    ids = []
    for s in _goal4()["strategies"]:
        for o in s.get("objectives") or []:
            ids.append(o["id"])
            ids += [so["id"] for so in o.get("sub") or []]
    return ids


def _measured() -> dict[str, list[str]]:
    m = yaml.safe_load((CONFIG / "metrics.yml").read_text(encoding="utf-8"))
    return {k: list(v) for k, v in m["objective_metrics"].items()}


def _units() -> dict[str, str]:
    m = yaml.safe_load((CONFIG / "metrics.yml").read_text(encoding="utf-8"))
    return {k: v["unit"] for k, v in m["metrics"].items()}


class _Text(HTMLParser):
    """Visible text of an HTML document (scripts and styles left out)."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible_text(doc: str) -> str:
    p = _Text()
    p.feed(doc)
    return _squash(" ".join(p.parts))


class _Cells(HTMLParser):
    """Text of every element carrying data-count="true" (a count of people)."""

    def __init__(self):
        super().__init__()
        self.cells: list[str] = []
        self._stack: list[bool] = []
        self._buf: list[list[str]] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("br", "img", "meta", "link", "input", "hr", "col"):
            return
        is_count = dict(attrs).get("data-count") == "true"
        self._stack.append(is_count)
        if is_count:
            self._buf.append([])

    def handle_endtag(self, tag):
        if not self._stack:
            return
        if self._stack.pop():
            self.cells.append(_squash("".join(self._buf.pop())))

    def handle_data(self, data):
        for b in self._buf:
            b.append(data)


def count_cells(doc: str) -> list[str]:
    p = _Cells()
    p.feed(doc)
    return p.cells


def plotly_figures(doc: str) -> list[dict]:
    """Every figure passed to Plotly.newPlot in the document: {id, data, layout}."""
    dec = json.JSONDecoder()
    figs = []
    for m in re.finditer(r'Plotly\.newPlot\(\s*"([^"]+)",\s*', doc):
        data, end = dec.raw_decode(doc, m.end())
        rest = re.match(r"\s*,\s*", doc[end:])
        layout, _ = dec.raw_decode(doc, end + rest.end())
        figs.append({"id": m.group(1), "data": data, "layout": layout})
    return figs


def _decode(arr):
    """Plotly arrays, whether plain lists or typed arrays ({dtype, bdata})."""
    if isinstance(arr, dict) and "bdata" in arr:
        import base64

        return np.frombuffer(base64.b64decode(arr["bdata"]), dtype=arr["dtype"]).tolist()
    return arr or []


def _metric_sections(doc: str) -> dict[tuple[str, str], str]:
    """HTML of each metric block, keyed by (objective id, metric)."""
    out = {}
    for om in re.finditer(r'data-objective-id="([^"]+)" data-measured="true"', doc):
        start = om.end()
        nxt = re.search(r'<div class="objective(?: sub)?"|<section', doc[start:])
        chunk = doc[start : start + (nxt.start() if nxt else len(doc))]
        parts = re.split(r'<div class="metric" data-metric="([^"]+)">', chunk)
        for i in range(1, len(parts), 2):
            out[(om.group(1), parts[i])] = parts[i + 1]
    return out


def _rows(warehouse: Path, sql: str, params=None) -> list[dict]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cur = con.execute(sql, params or [])
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def page_cells(page: str) -> dict[str, list[str]]:
    """The cells of each metric row of a district page: {metric: [label, objectives,
    district, change, Michigan, target, meets]} (visible text)."""
    out = {}
    for m in re.finditer(r'<tr data-metric="([^"]+)">(.*?)</tr>', page, re.S):
        out[m.group(1)] = [
            _html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", m.group(2), re.S)
        ]
    return out


def _number(text: str) -> float:
    return float(re.sub(r"[^0-9.\-]", "", text.replace(",", "")))


# ---------------------------------------------------------------------------- the tests


def test_report_is_one_html_file_named_for_the_school_year(report):
    assert report.school_year == LATEST
    assert report.html_path.name == f"annual_review_{LATEST}.html"
    assert report.html_path.is_file()


def test_the_review_says_which_year_it_shows_and_why(html):
    reason = visible_text(html[html.index('id="year-reason"') :].split("</p>")[0] + "</p>")
    assert f"This review shows {LATEST}" in reason
    assert "substantially complete" in reason and "submitted all five yearly files" in reason
    assert re.search(r"\d+ of the 18 districts in its directory \(\d+%\)", reason)


@pytest.mark.fast
def test_default_year_passes_over_a_later_year_still_being_collected():
    import pandas as pd

    years = pd.DataFrame(
        {
            "school_year": ["2022-23", "2023-24", "2024-25", "2025-26", "2030-31"],
            "districts_in_directory": [900, 900, 900, 900, 900],
            "districts_complete": [880, 870, 860, 12, 0],
            "districts_reporting": [890, 890, 890, 40, 1],
        }
    )
    choice = choose_school_year(years, None, 0.5)
    assert choice.school_year == "2024-25"
    assert choice.shown_years == ["2022-23", "2023-24", "2024-25"]
    assert choice.later_years == ["2025-26", "2030-31"]
    assert "2025-26 (12 of the 900 districts" in choice.reason
    # the threshold is configured; nothing qualifying: the most complete year
    assert choose_school_year(years, None, 0.99).school_year == "2022-23"
    # asked for, a year is shown whatever its completeness, and says so
    asked = choose_school_year(years, "2025-26", 0.5)
    assert asked.school_year == "2025-26" and "the year requested" in asked.reason
    with pytest.raises(ValueError, match="not on record"):
        choose_school_year(years, "1999-00", 0.5)


def test_report_for_an_earlier_year_uses_that_years_figures(warehouse, tmp_path):
    r = build_report(warehouse, tmp_path, YEARS[1], config_dir=CONFIG)
    assert r.html_path.name == f"annual_review_{YEARS[1]}.html"
    text = visible_text(r.html_path.read_text(encoding="utf-8"))
    assert f"annual review of progress, {YEARS[1]}" in text
    assert f"Change from {YEARS[0]}" in text
    assert "the year requested" in text


def test_unknown_school_year_is_refused(warehouse, tmp_path):
    with pytest.raises(ValueError, match="not on record"):
        build_report(warehouse, tmp_path, "1999-00", config_dir=CONFIG)


def test_report_opens_offline_with_plotly_inlined_once(html):
    assert html.count("Plotly.newPlot(") > 0
    assert html.count("plotly.js v") <= 2  # the bundle's own banner
    assert len(re.findall(r"<script\b", html)) == html.count("Plotly.newPlot(") + 1
    assert not re.search(r"<script[^>]+src=", html)
    bundle_start = html.index("<script>")
    rest = html[:bundle_start] + html[html.index("</script>", bundle_start) :]
    assert not re.search(r"<link\b", rest)
    assert "@import" not in rest and "@font-face" not in rest
    assert not re.search(r"(src|href)=\"https?://", rest)
    assert not re.search(r"url\((?!#)", rest.split("</style>")[0])
    assert "cdn" not in rest.lower()


def test_report_prints_with_page_breaks_between_strategies(html):
    css = html.split("</style>")[0]
    assert "@media print" in css
    assert re.search(r"section\.strategy[^{]*\{[^}]*break-before:\s*page", css)
    assert re.search(r"\.chart[^{]*\{[^}]*break-inside:\s*avoid", css)


def test_every_strategy_section_is_in_the_report(html):
    text = visible_text(html)
    for s in _goal4()["strategies"]:
        assert (
            f'<section class="strategy" id="{s["id"].lower().replace(".", "-")}" data-strategy-id="{s["id"]}"' in html
        )
        assert _squash(s["title"]) in text


def test_every_objective_of_the_catalog_is_in_the_report_with_its_text(html):
    text = visible_text(html)
    for s in _goal4()["strategies"]:
        for o in s.get("objectives") or []:
            for item in [o] + list(o.get("sub") or []):
                assert f'data-objective-id="{item["id"]}"' in html, item["id"]
                assert _squash(item["text"]) in text, item["id"]


def test_each_measured_objective_has_a_trend_and_a_distribution_chart_per_metric(html):
    sections = _metric_sections(html)
    ids = re.findall(r'Plotly\.newPlot\(\s*"([^"]+)"', html)
    assert len(ids) == len(set(ids)), "every chart has its own element"
    for oid, metrics in _measured().items():
        for m in metrics:
            assert (oid, m) in sections, (oid, m)
            block = sections[(oid, m)]
            assert block.count("Plotly.newPlot(") == 2, (oid, m)
            assert "chart-trend" in block and "chart-dist" in block
            assert f"Michigan {LATEST}:" in visible_text(block)
            assert f"Change from {YEARS[1]}:" in visible_text(block)
            assert "Target:" in visible_text(block)


def test_distribution_charts_are_box_statistics_by_locale_and_by_type(html):
    figs = plotly_figures(html)
    dist = [f for f in figs if "Districts" in json.dumps(f["layout"].get("title", ""))]
    assert dist
    for f in dist:
        titles = [a.get("text") for a in f["layout"].get("annotations", [])]
        assert "By locale" in titles and "By district type" in titles
        for trace in f["data"]:
            # quartiles computed beforehand: no point per district in the chart
            assert trace["type"] == "box" and trace.get("boxpoints") is False
            assert "y" not in trace and len(_decode(trace["median"])) == len(_decode(trace["x"]))


def _published_values(report, metric: str) -> dict[str, float]:
    """What an attacker reads off the district pages: each district's shown figure."""
    out = {}
    for p in report.district_pages:
        cells = page_cells(p.read_text(encoding="utf-8")).get(metric)
        if cells and cells[2] not in (*WITHHELD, "no data"):
            out[p.stem] = _number(cells[2])
    return out


def test_box_statistics_are_those_of_the_published_figures_only(report, html, warehouse):
    """Each box is the quartiles of exactly the figures the district pages publish:
    withheld figures weigh nothing in any chart."""
    units = _units()
    groups = {
        r["district_code"]: r
        for r in _rows(
            warehouse,
            "SELECT district_code, locale, district_type FROM marts.district_year_metrics WHERE school_year = ?",
            [LATEST],
        )
    }
    sections = _metric_sections(html)
    checked = 0
    for (_oid, metric), block in sections.items():
        if units.get(metric) == "boolean":
            continue
        published = _published_values(report, metric)
        (dist,) = [f for f in plotly_figures(block) if "Districts" in json.dumps(f["layout"].get("title", ""))]
        for trace, key in zip(dist["data"], ("locale", "district_type"), strict=True):
            cats = _decode(trace["x"])
            for i, cat in enumerate(cats):
                label, n = re.match(r"(.*) \((\d+)\)$", cat).groups()
                members = [
                    v for c, v in published.items() if (groups[c][key] or "unknown") in (label, label.split(" ")[0])
                ]
                assert int(n) == len(members), (metric, cat)
                # shown values are rounded: compare within the display precision
                tol = 0.51 * 10 ** -{"percent": 1, "ratio": 2, "usd": 2}.get(units[metric], 0) * 2
                for stat, q in (("lowerfence", 0), ("q1", 25), ("median", 50), ("q3", 75), ("upperfence", 100)):
                    assert _decode(trace[stat])[i] == pytest.approx(np.percentile(members, q), abs=tol), (
                        metric,
                        cat,
                        stat,
                    )
                checked += 1
    assert checked > 20


def test_target_and_districts_meeting_it_are_stated(report, html):
    sections = _metric_sections(html)
    block = visible_text(sections[("G4.S3.A", "kbps_per_student")])
    assert "Target: ≥ 1,000 kbps" in block
    published = _published_values(report, "kbps_per_student")
    meet = sum(1 for v in published.values() if v >= 1000)
    assert f"{meet} of {len(published)} districts with a published figure meet the target" in block


def test_unmeasured_objectives_show_their_text_and_the_reason(html):
    m = yaml.safe_load((CONFIG / "metrics.yml").read_text(encoding="utf-8"))
    text = visible_text(html)
    for oid in _objective_ids():
        if oid in m["objective_metrics"]:
            continue
        reason = _squash(m["unmeasured"][oid])
        assert f'data-objective-id="{oid}" data-measured="false"' in html
        assert reason in text, oid


def test_no_count_under_ten_is_shown(report, html):
    pages = [html] + [p.read_text(encoding="utf-8") for p in report.district_pages]
    seen = 0
    for doc in pages:
        for cell in count_cells(doc):
            seen += 1
            if cell in (*WITHHELD, "no data"):
                continue
            assert float(cell.replace(",", "")) >= 10, cell
    assert seen > 50


def test_rates_built_on_small_counts_are_suppressed_on_district_pages(report, warehouse):
    page = (report.district_pages_dir / f"{BIRCH}.html").read_text(encoding="utf-8")
    row = _rows(
        warehouse,
        "SELECT * FROM marts.district_year_metrics WHERE district_code = ? AND school_year = ?",
        [BIRCH, LATEST],
    )[0]
    assert row["student_count"] < 10 and row["leader_count"] < 10
    cells = page_cells(page)
    for metric in (
        "student_count",
        "kbps_per_student",
        "leader_pl_rate_pct",
        "home_internet_gap_pct",
        "teacher_pl_rate_pct",
        "students_per_device",
    ):
        assert cells[metric][2] == "<10", (metric, cells[metric])
        assert cells[metric][3] == "<10", (metric, cells[metric])  # the change too
    assert f"{row['kbps_per_student']:,.0f} kbps" not in visible_text(page)


def test_a_count_of_zero_is_shown_as_under_ten_not_as_no_data(report, warehouse):
    row = _rows(
        warehouse,
        """SELECT * FROM marts.district_year_metrics
           WHERE tech_staff_count = 0 AND has_pl_participation AND school_year = ?
           ORDER BY district_code LIMIT 1""",
        [LATEST],
    )[0]
    assert row["tech_staff_pl_rate_pct"] is None  # 0 / 0
    page = (report.district_pages_dir / f"{row['district_code']}.html").read_text(encoding="utf-8")
    assert page_cells(page)["tech_staff_pl_rate_pct"][2] == "<10"


def test_missing_figure_is_shown_as_no_data_not_zero(report, html):
    page = (report.district_pages_dir / f"{MISSING_PL}.html").read_text(encoding="utf-8")
    cells = page_cells(page)
    for metric in ("leader_pl_rate_pct", "teacher_pl_rate_pct", "pl_hours_online", "oer_participants"):
        assert cells[metric][2] == "no data", (metric, cells[metric])
    assert "PL participation" in visible_text(page)
    dq = html[html.index('id="data-quality"') :]
    dq_text = visible_text(dq[: dq.index("</section>")])
    assert NAMES[MISSING_PL] in dq_text and "PL participation" in dq_text
    assert "never" in visible_text(html) and "not zero" in dq_text


def test_a_district_with_no_file_at_all_is_listed_as_such(warehouse, tmp_path):
    r = build_report(warehouse, tmp_path, YEARS[0], config_dir=CONFIG)
    doc = r.html_path.read_text(encoding="utf-8")
    table = doc[doc.index('id="incomplete-table"') :]
    table = visible_text(table[: table.index("</table>")])
    assert NAMES[NO_FILES] in table and "no file at all" in table
    page = visible_text((r.district_pages_dir / f"{NO_FILES}.html").read_text(encoding="utf-8"))
    assert "no data" in page and " 0.0%" not in page


def test_quarantined_submissions_are_listed_in_the_data_quality_section(html, warehouse):
    errors = _rows(
        warehouse,
        """SELECT i.district_code, d.district_name FROM audit.issues i
           JOIN marts.district_year_metrics d USING (district_code, school_year)
           WHERE i.severity = 'error' AND i.school_year = ?""",
        [LATEST],
    )
    assert errors
    table = html[html.index('id="quarantine-table"') :]
    table = visible_text(table[: table.index("</table>")])
    for e in errors:
        assert e["district_name"] in table
    assert "count_exceeds_device_count" in table and "an earlier submission" in table
    files = html[html.index('id="file-errors-table"') :]
    assert "encoding_not_utf8" in visible_text(files[: files.index("</table>")])
    assert "extra_column" not in table  # warnings are not quarantine


def test_gap_analysis_lists_the_published_districts_furthest_from_each_target(report, html):
    published = _published_values(report, "kbps_per_student")
    short = sorted((v, c) for c, v in published.items() if v < 1000)
    gap = html[html.index('<table class="gap-table" data-metric="kbps_per_student"') :]
    gap = gap[: gap.index("</table>")]
    codes = re.findall(r'<a href="districts/[^"]+">[^<]+</a> <span class="muted">([0-9]+)</span>', gap)
    assert codes and codes == [c for _, c in short][: len(codes)]
    assert BIRCH not in codes  # withheld figures are never ranked
    assert 'data-objective-id="G4.S3.B.a"' in html[html.index('id="gap-analysis"') - 60 :]


def test_recognition_states_its_criterion_and_ranks_by_gap_closed(report, html, tmp_path, warehouse):
    rec = html[html.index('id="recognition"') :]
    rec = rec[: rec.index("</section>")]
    text = visible_text(rec)
    assert "Criterion" in text and "last year's gap minus this year's" in text
    assert "not suppressed" in text
    # eligible: a figure published on the district's page in both years
    eligible_now = _published_values(report, "kbps_per_student").keys()
    before_report = build_report(warehouse, tmp_path, YEARS[1], config_dir=CONFIG)
    eligible_before = _published_values(before_report, "kbps_per_student").keys()
    value = {
        (r["district_code"], r["school_year"]): r["value"]
        for r in _rows(
            warehouse,
            "SELECT district_code, school_year, value FROM marts.metric_values "
            "WHERE scope = 'district' AND metric = 'kbps_per_student'",
        )
    }
    improvement = {
        c: max(1000 - value[(c, YEARS[1])], 0) - max(1000 - value[(c, LATEST)], 0)
        for c in eligible_now & eligible_before
    }
    expected = [c for c, imp in sorted(improvement.items(), key=lambda kv: (-kv[1], kv[0])) if imp > 0]
    table = rec[rec.index('data-metric="kbps_per_student"') :]
    table = table[: table.index("</table>")]
    codes = re.findall(r'<a href="districts/[^"]+">[^<]+</a> <span class="muted">([0-9]+)</span>', table)
    assert codes and codes == expected[:10]
    assert SLIPPING not in codes


def test_national_benchmarks_give_context_in_the_introduction(html):
    intro = html[html.index('id="introduction"') :]
    intro = visible_text(intro[: intro.index("</section>")])
    assert "1 Mbps per student" in intro and "100 kbps" in intro and "74 %" in intro


def test_district_pages_are_self_contained_and_linked_from_the_report(report, html, warehouse):
    codes = [
        r["district_code"]
        for r in _rows(
            warehouse, "SELECT district_code FROM marts.district_year_metrics WHERE school_year = ?", [LATEST]
        )
    ]
    assert sorted(p.stem for p in report.district_pages) == sorted(codes)
    for code in codes:
        assert f'href="districts/{LATEST}/{code}.html"' in html
        page = (report.district_pages_dir / f"{code}.html").read_text(encoding="utf-8")
        assert "<script" not in page and "<link" not in page
        assert not re.search(r"(src|href)=\"https?://", page) and "@import" not in page
        assert f'data-district-code="{code}"' in page
        assert f'href="../../annual_review_{LATEST}.html"' in page
        assert "<svg" in page  # its own figures vs state and targets
    index = (report.district_pages_dir / "index.html").read_text(encoding="utf-8")
    assert all(f'href="{c}.html"' in index for c in codes)


def test_district_names_from_the_data_are_escaped(html):
    from markupsafe import escape

    assert str(escape(FORMULA_NAME)) in html  # =HYPERLINK(&#34;http://...
    assert '<a href="http://example.invalid"' not in html


def test_report_leaves_the_warehouse_unchanged(warehouse, tmp_path):
    before = hashlib.sha256(warehouse.read_bytes()).hexdigest()
    build_report(warehouse, tmp_path, config_dir=CONFIG)
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == before
    assert not Path(str(warehouse) + ".wal").exists()


def test_report_uses_the_configured_cell_size(warehouse, tmp_path):
    cfg = tmp_path / "config"
    shutil.copytree(CONFIG, cfg)
    roadmap = yaml.safe_load((cfg / "roadmap.yml").read_text())
    roadmap["privacy"]["min_cell_size"] = 30
    (cfg / "roadmap.yml").write_text(yaml.safe_dump(roadmap))
    r = build_report(warehouse, tmp_path / "out", config_dir=cfg)
    doc = r.html_path.read_text(encoding="utf-8")
    assert "&lt;30" in doc
    for page in [doc] + [p.read_text(encoding="utf-8") for p in r.district_pages]:
        for cell in count_cells(page):
            if cell not in ("<30", "np", "no data"):
                assert float(cell.replace(",", "")) >= 30


@pytest.mark.fast
def test_missing_warehouse_is_reported_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="warehouse"):
        build_report(tmp_path / "nope.duckdb", tmp_path, config_dir=CONFIG)


# ------------------------------------------------------------- pages that follow the data


def _page_bytes(pages_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in pages_dir.glob("*.html")}


def test_district_pages_are_written_again_only_when_their_content_changed(warehouse, tmp_path):
    out = tmp_path / "out"
    first = build_report(warehouse, out, config_dir=CONFIG)
    assert first.pages_written == 18 and first.pages_unchanged == 0
    before = _page_bytes(first.district_pages_dir)
    stamps = {p.name: p.stat().st_mtime_ns for p in first.district_pages_dir.glob("*.html")}

    again = build_report(warehouse, out, config_dir=CONFIG)
    assert (again.pages_written, again.pages_unchanged, again.pages_removed) == (0, 18, 0)
    assert _page_bytes(again.district_pages_dir) == before
    assert all(
        p.stat().st_mtime_ns == stamps[p.name]
        for p in again.district_pages_dir.glob("*.html")
        if p.name != "index.html"
    )

    # a page deleted by hand comes back; a page of a district that is gone goes
    (first.district_pages_dir / f"{BIRCH}.html").unlink()
    (first.district_pages_dir / "99999.html").write_text("stale", encoding="utf-8")
    third = build_report(warehouse, out, config_dir=CONFIG)
    assert (third.pages_written, third.pages_removed) == (1, 1)
    assert not (first.district_pages_dir / "99999.html").exists()
    assert _page_bytes(third.district_pages_dir) == before

    # a changed target changes every page
    cfg = tmp_path / "config"
    shutil.copytree(CONFIG, cfg)
    metrics = yaml.safe_load((cfg / "metrics.yml").read_text())
    metrics["targets"]["kbps_per_student"]["target"] = 1500
    (cfg / "metrics.yml").write_text(yaml.safe_dump(metrics))
    fourth = build_report(warehouse, out, config_dir=cfg)
    assert fourth.pages_written == 18

    # and so does a new version of the code or templates
    import flows.report.pages as pages

    real = pages.code_version
    pages.code_version = lambda: "another version"
    try:
        assert build_report(warehouse, out, config_dir=CONFIG).pages_written == 18
    finally:
        pages.code_version = real


@pytest.mark.slow
def test_a_corrected_file_rewrites_only_the_pages_it_changes(report_warehouse, tmp_path, prefect_server):
    """One district's corrected PL file, loaded by the real nightly flow: the next review
    writes that district's page only, and every page is the same as a full build's."""
    from flows.nightly import nightly
    from landing_files import PL, Landing

    root = tmp_path / "copy"
    shutil.copytree(report_warehouse.landing.parent, root)
    warehouse = root / "warehouse" / "roadmap.duckdb"
    out = tmp_path / "out"
    first = build_report(warehouse, out, config_dir=CONFIG)
    before = _page_bytes(first.district_pages_dir)

    # 01010 resubmits its PL file with one more hour for one teacher
    rows = [
        r
        for r in (root / "landing" / f"pl_participation_{LATEST}.csv").read_text().splitlines()[1:]
        if r.split(",")[1] == "01010"
    ]
    first_row = rows[0].split(",")
    first_row[10] = str(float(first_row[10]) + 1)
    rows[0] = ",".join(first_row)
    Landing(root / "landing").csv(f"pl_participation_{LATEST}_01010.csv", PL, rows, mtime=1_900_000_000)
    summary = nightly(landing_dir=str(root / "landing"), warehouse=str(warehouse), with_report=False)
    assert summary.status == "succeeded" and summary.files_new == 1

    second = build_report(warehouse, out, config_dir=CONFIG)
    changed = {n for n, b in _page_bytes(second.district_pages_dir).items() if before.get(n) != b} - {"index.html"}
    assert changed == {"01010.html"}
    assert second.pages_written == 1 and second.pages_unchanged == 17
    full = build_report(warehouse, tmp_path / "full", config_dir=CONFIG)
    assert _page_bytes(full.district_pages_dir) == _page_bytes(second.district_pages_dir)


@pytest.mark.slow
def test_a_later_year_with_a_few_rows_does_not_become_the_reviews_year(report_warehouse, tmp_path, prefect_server):
    """A file for the next school year from two districts, loaded by the real nightly flow
    with its review: the review stays on the last complete year and says why."""
    from flows.nightly import nightly
    from landing_files import ENROLLMENT, Landing

    root = tmp_path / "copy"
    shutil.copytree(report_warehouse.landing.parent, root)
    later = f"{int(LATEST[:4]) + 1}-{(int(LATEST[:4]) + 2) % 100:02d}"
    Landing(root / "landing").csv(
        f"enrollment_{later}.csv",
        ENROLLMENT,
        [
            f"{later},50010,01001,Building 01001,1200",
            f"{later},33010,01001,Building 01001,1900",
        ],
        mtime=1_900_000_000,
    )
    cfg = tmp_path / "config"
    shutil.copytree(CONFIG, cfg)
    roadmap = yaml.safe_load((cfg / "roadmap.yml").read_text())
    roadmap["paths"]["reports_dir"] = str(tmp_path / "reports")
    (cfg / "roadmap.yml").write_text(yaml.safe_dump(roadmap))
    summary = nightly(
        landing_dir=str(root / "landing"),
        warehouse=str(root / "warehouse" / "roadmap.duckdb"),
        config_file=str(cfg / "roadmap.yml"),
    )
    assert summary.status == "succeeded" and summary.report
    # the nightly run's review is the last complete year's
    assert Path(summary.report).name == f"annual_review_{LATEST}.html"
    r = build_report(root / "warehouse" / "roadmap.duckdb", tmp_path / "out", config_dir=CONFIG)
    assert r.school_year == LATEST
    assert f"Later years on record are not complete enough yet: {later} (0 of the 18 districts" in r.year_reason
    text = visible_text(r.html_path.read_text(encoding="utf-8"))
    assert r.year_reason in text and f"later years on record: {later}" in text
    # asked for, the later year is shown, and says how complete it is
    asked = build_report(root / "warehouse" / "roadmap.duckdb", tmp_path / "asked", later, config_dir=CONFIG)
    assert asked.school_year == later and "the year requested" in asked.year_reason


# --------------------------------------------------------------- rendered in a browser


def _chromium(*args: str, profile: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    url = report.html_path.resolve().as_uri()
    res = _chromium("--dump-dom", url, profile=tmp_path / "profile-dom")
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    assert "</html>" in dom

    # every strategy section, with a drawn plotly chart in every measured objective
    for s in _goal4()["strategies"]:
        assert f'data-strategy-id="{s["id"]}"' in dom
    objectives = re.split(r'(?=<div class="objective[^"]*" id="[^"]+" data-objective-id=")', dom)
    measured = set(_measured())
    drawn = set()
    for chunk in objectives:
        m = re.match(r'<div class="objective[^"]*" id="[^"]+" data-objective-id="([^"]+)" data-measured="true"', chunk)
        if m:
            assert "plotly-graph-div" in chunk and "main-svg" in chunk, m.group(1)
            drawn.add(m.group(1))
    assert drawn == measured
    assert dom.count('class="main-svg"') >= 2 * sum(len(v) for v in _measured().values())

    for marker in (
        'class="gap-table"',
        'class="recognition-table"',
        'id="incomplete-table"',
        'id="quarantine-table"',
        'id="district-index"',
    ):
        assert marker in dom, marker

    cells = count_cells(dom)
    assert cells
    for cell in cells:
        if cell not in (*WITHHELD, "no data"):
            assert float(cell.replace(",", "")) >= 10, cell

    shot = tmp_path / "report.png"
    res = _chromium("--window-size=1100,3000", f"--screenshot={shot}", url, profile=tmp_path / "profile-shot")
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 20_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_report_builds_on_the_demo_warehouse_when_one_is_provided(demo_warehouse_path, tmp_path):
    r = build_report(Path(demo_warehouse_path), tmp_path, config_dir=CONFIG)
    doc = r.html_path.read_text(encoding="utf-8")
    for s in _goal4()["strategies"]:
        assert f'data-strategy-id="{s["id"]}"' in doc
    for cell in count_cells(doc):
        if cell not in (*WITHHELD, "no data"):
            assert float(cell.replace(",", "")) >= 10, cell
