"""The annual review (flows.report.build_report), on a small synthetic warehouse with the
documented marts and audit columns (flows.report.synthetic)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
import yaml

from flows.report import ReportResult, build_report
from flows.report.suppression import BASIS, is_suppressed
from flows.report.synthetic import build_synthetic_warehouse

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config"
CHROMIUM = Path("/usr/bin/chromium")
LATEST = "2024-25"
TINY = "20030"  # 8 students, one leader, no tech staff
MISSING_PL = "33020"  # no published PL file in 2024-25 (and a quarantined one)
NO_FILES_2022 = "50020"  # no file at all in 2022-23


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    return build_synthetic_warehouse(
        tmp_path_factory.mktemp("wh") / "roadmap.duckdb", config_dir=CONFIG
    )


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

        import numpy as np

        return np.frombuffer(base64.b64decode(arr["bdata"]), dtype=arr["dtype"]).tolist()
    return arr or []


def _figure_numbers(fig: dict) -> list[float]:
    out = []
    for tr in fig["data"]:
        for key in ("y", "x"):
            for v in _decode(tr.get(key)):
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    out.append(float(v))
    return out


def _figure_strings(fig: dict) -> str:
    return json.dumps([tr.get("customdata") for tr in fig["data"]] + [tr.get("text") for tr in fig["data"]])


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


def _warehouse_rows(warehouse: Path, sql: str, params=None) -> list[dict]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cur = con.execute(sql, params or [])
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]
    finally:
        con.close()


# ---------------------------------------------------------------------------- the tests


def test_report_is_one_html_file_named_for_the_school_year(report):
    assert report.school_year == LATEST
    assert report.html_path.name == f"annual_review_{LATEST}.html"
    assert report.html_path.is_file()


def test_school_year_defaults_to_the_latest_on_record(report, warehouse):
    latest = _warehouse_rows(warehouse, "SELECT max(school_year) AS sy FROM marts.state_year_metrics")[0]["sy"]
    assert report.school_year == latest


def test_report_for_an_earlier_year_uses_that_years_figures(warehouse, tmp_path):
    r = build_report(warehouse, tmp_path, "2023-24", config_dir=CONFIG)
    assert r.html_path.name == "annual_review_2023-24.html"
    text = visible_text(r.html_path.read_text(encoding="utf-8"))
    assert "annual review of progress, 2023-24" in text
    assert "Change from 2022-23" in text


def test_unknown_school_year_is_refused(warehouse, tmp_path):
    with pytest.raises(ValueError, match="not on record"):
        build_report(warehouse, tmp_path, "1999-00", config_dir=CONFIG)


def test_report_opens_offline_with_plotly_inlined_once(html):
    assert html.count("Plotly.newPlot(") > 0
    # plotly.js itself is inlined once, no CDN or any other external resource
    assert html.count("plotly.js v") <= 2  # the bundle's own banner
    assert len(re.findall(r"<script\b", html)) == html.count("Plotly.newPlot(") + 1
    assert not re.search(r'<script[^>]+src=', html)
    # outside the plotly.js bundle (which names map-tile URLs it never fetches for these
    # charts), nothing refers to the network
    bundle_start = html.index("<script>")
    rest = html[:bundle_start] + html[html.index("</script>", bundle_start):]
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
        assert f'<section class="strategy" id="{s["id"].lower().replace(".", "-")}" data-strategy-id="{s["id"]}"' in html
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
    for oid, metrics in _measured().items():
        for m in metrics:
            assert (oid, m) in sections, (oid, m)
            block = sections[(oid, m)]
            assert block.count("Plotly.newPlot(") == 2, (oid, m)
            assert "chart-trend" in block and "chart-dist" in block
            assert "Michigan 2024-25:" in visible_text(block)
            assert "Change from 2023-24:" in visible_text(block)
            assert "Target:" in visible_text(block)


def test_distribution_charts_split_districts_by_locale_and_by_type(html):
    figs = plotly_figures(html)
    dist = [f for f in figs if "Districts" in json.dumps(f["layout"].get("title", ""))]
    assert dist
    for f in dist:
        titles = [a.get("text") for a in f["layout"].get("annotations", [])]
        assert "By locale" in titles and "By district type" in titles


def test_target_and_districts_meeting_it_are_stated(html, warehouse):
    sections = _metric_sections(html)
    block = visible_text(sections[("G4.S3.A", "kbps_per_student")])
    assert "Target: ≥ 1,000 kbps" in block
    row = _warehouse_rows(
        warehouse,
        """SELECT count(*) FILTER (WHERE kbps_per_student >= 1000) AS meet,
                  count(kbps_per_student) AS n
           FROM marts.district_year_metrics WHERE school_year = ?""",
        [LATEST],
    )[0]
    assert f"{row['meet']} of {row['n']} districts with data meet the target" in block


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
            if cell in ("<10", "no data"):
                continue
            assert float(cell.replace(",", "")) >= 10, cell
    assert seen > 50
    # charts of counts of people hold no value under 10
    units = _units()
    for fig_html_key, block in _metric_sections(html).items():
        if units.get(fig_html_key[1]) not in ("students", "educators"):
            continue
        for f in plotly_figures(block):
            title = json.dumps(f["layout"].get("title", ""))
            if "Districts" in title:
                assert all(v >= 10 for v in _figure_numbers(f) if v is not None), fig_html_key


def test_suppressed_district_values_are_not_in_any_chart_or_its_hover_data(html, warehouse):
    rows = _warehouse_rows(
        warehouse, "SELECT * FROM marts.district_year_metrics WHERE school_year = ?", [LATEST]
    )
    sections = _metric_sections(html)
    checked = 0
    for (oid, metric), block in sections.items():
        if metric not in BASIS or metric == "meets_bandwidth_target":
            continue
        dist = [f for f in plotly_figures(block) if "Districts" in json.dumps(f["layout"].get("title", ""))]
        assert len(dist) == 1
        published = sorted(
            round(float(r[metric]), 6)
            for r in rows
            if r[metric] is not None and not is_suppressed(metric, r[metric], r, 10)
        )
        # each panel (by locale, by type) holds exactly the published values, nothing else
        for trace in dist[0]["data"]:
            assert sorted(round(float(v), 6) for v in _decode(trace["y"])) == published, (oid, metric)
        hover = _figure_strings(dist[0])
        for r in rows:
            if is_suppressed(metric, r[metric], r, 10):
                checked += 1
                assert json.dumps(r["district_name"])[1:-1] not in hover, (metric, r["district_name"])
    assert checked > 20


def test_rates_built_on_small_counts_are_suppressed_on_district_pages(report, warehouse):
    page = (report.district_pages_dir / f"{TINY}.html").read_text(encoding="utf-8")
    row = _warehouse_rows(
        warehouse,
        "SELECT * FROM marts.district_year_metrics WHERE district_code = ? AND school_year = ?",
        [TINY, LATEST],
    )[0]
    assert row["student_count"] < 10 and row["leader_count"] < 10
    for metric in ("student_count", "kbps_per_student", "leader_pl_rate_pct", "home_internet_gap_pct",
                   "teacher_pl_rate_pct", "students_per_device"):
        cells = re.search(rf'<tr data-metric="{metric}">(.*?)</tr>', page, re.S).group(1)
        district_cell = re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)[2]
        assert district_cell.strip() == "&lt;10", (metric, district_cell)
    # the exact figures appear nowhere on the page
    text = visible_text(page)
    assert f"{row['kbps_per_student']:,.0f} kbps" not in text


def test_a_count_of_zero_is_shown_as_under_ten_not_as_no_data(report, warehouse):
    row = _warehouse_rows(
        warehouse,
        """SELECT * FROM marts.district_year_metrics
           WHERE tech_staff_count = 0 AND has_pl_participation AND school_year = ?
           ORDER BY district_code LIMIT 1""",
        [LATEST],
    )[0]
    assert row["tech_staff_pl_rate_pct"] is None  # 0 / 0
    page = (report.district_pages_dir / f"{row['district_code']}.html").read_text(encoding="utf-8")
    cells = re.search(r'<tr data-metric="tech_staff_pl_rate_pct">(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)[2].strip() == "&lt;10"


def test_missing_figure_is_shown_as_no_data_not_zero(report, html):
    page = (report.district_pages_dir / f"{MISSING_PL}.html").read_text(encoding="utf-8")
    for metric in ("leader_pl_rate_pct", "teacher_pl_rate_pct", "pl_hours_online", "oer_participants"):
        cells = re.search(rf'<tr data-metric="{metric}">(.*?)</tr>', page, re.S).group(1)
        district_cell = re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)[2].strip()
        assert district_cell == "no data", (metric, district_cell)
    assert "PL participation" in visible_text(page)
    # the data-quality section names the district and what is missing
    dq = html[html.index('id="data-quality"'):]
    dq_text = visible_text(dq[: dq.index("</section>")])
    assert "Meadowbrook Schools" in dq_text and "PL participation" in dq_text
    assert "never" in visible_text(html) and "not zero" in dq_text


def test_a_district_with_no_file_at_all_is_listed_as_such(warehouse, tmp_path):
    r = build_report(warehouse, tmp_path, "2022-23", config_dir=CONFIG)
    doc = r.html_path.read_text(encoding="utf-8")
    table = doc[doc.index('id="incomplete-table"'):]
    table = visible_text(table[: table.index("</table>")])
    assert "Harbor Point Community Schools" in table and "no file at all" in table
    page = visible_text((r.district_pages_dir / f"{NO_FILES_2022}.html").read_text(encoding="utf-8"))
    assert "no data" in page and " 0.0%" not in page


def test_quarantined_submissions_are_listed_in_the_data_quality_section(html, warehouse):
    errors = _warehouse_rows(
        warehouse,
        """SELECT i.district_code, d.district_name FROM audit.issues i
           JOIN marts.district_year_metrics d USING (district_code, school_year)
           WHERE i.severity = 'error' AND i.school_year = ?""",
        [LATEST],
    )
    table = html[html.index('id="quarantine-table"'):]
    table = visible_text(table[: table.index("</table>")])
    for e in errors:
        assert e["district_name"] in table
    assert "count_exceeds_device_count" in table and "an earlier submission" in table
    files = html[html.index('id="file-errors-table"'):]
    assert "encoding_not_utf8" in visible_text(files[: files.index("</table>")])
    # warnings are not quarantine
    assert "extra_column" not in table


def test_gap_analysis_lists_the_districts_furthest_from_each_target(html, warehouse):
    rows = _warehouse_rows(
        warehouse,
        """SELECT district_name, kbps_per_student FROM marts.district_year_metrics
           WHERE school_year = ? AND kbps_per_student < 1000 AND student_count >= 10
           ORDER BY kbps_per_student""",
        [LATEST],
    )
    gap = html[html.index('<table class="gap-table" data-metric="kbps_per_student"'):]
    gap = gap[: gap.index("</table>")]
    names = re.findall(r'<a href="districts/[^"]+">([^<]+)</a>', gap)
    assert names == [r["district_name"] for r in rows][: len(names)] and names
    assert 'data-objective-id="G4.S3.B.a"' in html[html.index('id="gap-analysis"') - 60:]


def test_recognition_states_its_criterion_and_ranks_by_gap_closed(html, warehouse):
    rec = html[html.index('id="recognition"'):]
    rec = rec[: rec.index("</section>")]
    text = visible_text(rec)
    assert "Criterion" in text and "last year's gap minus this year's" in text
    assert "not suppressed" in text
    rows = _warehouse_rows(
        warehouse,
        """SELECT c.district_code, d.district_name,
                  greatest(1000 - p.value, 0) - greatest(1000 - c.value, 0) AS improvement
           FROM marts.metric_values c
           JOIN marts.metric_values p ON p.metric = c.metric AND p.scope = 'district'
            AND p.district_code = c.district_code AND p.school_year = '2023-24'
           JOIN marts.district_year_metrics d ON d.district_code = c.district_code AND d.school_year = c.school_year
           JOIN marts.district_year_metrics dp ON dp.district_code = c.district_code AND dp.school_year = '2023-24'
           WHERE c.scope = 'district' AND c.metric = 'kbps_per_student' AND c.school_year = ?
             AND d.student_count >= 10 AND dp.student_count >= 10
             AND c.value IS NOT NULL AND p.value IS NOT NULL
           ORDER BY improvement DESC, c.district_code""",
        [LATEST],
    )
    expected = [r["district_name"] for r in rows if r["improvement"] > 0]
    table = rec[rec.index('data-metric="kbps_per_student"'):]
    table = table[: table.index("</table>")]
    names = re.findall(r'<a href="districts/[^"]+">([^<]+)</a>', table)
    import html as _h

    assert [_h.unescape(n) for n in names] == expected[:10]


def test_national_benchmarks_give_context_in_the_introduction(html):
    intro = html[html.index('id="introduction"'):]
    intro = visible_text(intro[: intro.index("</section>")])
    assert "1 Mbps per student" in intro and "100 kbps" in intro and "74 %" in intro


def test_district_pages_are_self_contained_and_linked_from_the_report(report, html, warehouse):
    codes = [
        r["district_code"]
        for r in _warehouse_rows(
            warehouse, "SELECT district_code FROM marts.district_year_metrics WHERE school_year = ?", [LATEST]
        )
    ]
    assert report.district_pages_dir is not None
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
    assert '=HYPERLINK(&#34;http://example.invalid&#34;,&#34;Click&#34;) Academy' in html or \
        "=HYPERLINK(&quot;http://example.invalid&quot;" in html
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
    for cell in count_cells(doc):
        if cell not in ("<30", "no data"):
            assert float(cell.replace(",", "")) >= 30


def test_missing_warehouse_is_reported_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="warehouse"):
        build_report(tmp_path / "nope.duckdb", tmp_path, config_dir=CONFIG)


# --------------------------------------------------------------- rendered in a browser


def _chromium(*args: str, profile: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    cmd = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=10000", *args,
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

    # the tables are there
    for marker in ('class="gap-table"', 'class="recognition-table"', 'id="incomplete-table"',
                   'id="quarantine-table"', 'id="district-index"'):
        assert marker in dom, marker

    # no number under 10 where a count of people is shown
    cells = count_cells(dom)
    assert cells
    for cell in cells:
        if cell not in ("<10", "no data"):
            assert float(cell.replace(",", "")) >= 10, cell

    shot = tmp_path / "report.png"
    res = _chromium("--window-size=1100,3000", f"--screenshot={shot}", url, profile=tmp_path / "profile-shot")
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 20_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_report_builds_on_the_demo_warehouse_when_one_is_provided(demo_warehouse_path, tmp_path):
    path = demo_warehouse_path
    r = build_report(Path(path), tmp_path, config_dir=CONFIG)
    doc = r.html_path.read_text(encoding="utf-8")
    for s in _goal4()["strategies"]:
        assert f'data-strategy-id="{s["id"]}"' in doc
    for cell in count_cells(doc):
        if cell not in ("<10", "no data"):
            assert float(cell.replace(",", "")) >= 10, cell
