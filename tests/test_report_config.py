"""The annual review's wording follows config/: the bandwidth target
(config/metrics.yml `targets.kbps_per_student`) and the objective IDs of the catalog
(config/roadmap_goal4.yml, with the review's sections in metrics.yml `review`). The
changed configuration goes through the real nightly flow (its reference tables and
dbt's marts), then into the review."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from flows.report import build_report, suppression_sql
from report_landing import LATEST

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config"
OLD_ID, NEW_ID = "G4.S3.B.a", "G4.S3.B.z"


def _changed_config(root: Path) -> Path:
    """A copy of config/ with the bandwidth target at 2 Mbps (2000 kbps), the WAN goal
    at 20 Gbps per 1,000 students, and the gap-analysis objective renamed everywhere
    the configuration names it."""
    cfg = root / "config"
    shutil.copytree(CONFIG, cfg)
    for name in ("roadmap_goal4.yml", "metrics.yml"):
        path = cfg / name
        text = path.read_text(encoding="utf-8")
        assert OLD_ID in text
        path.write_text(re.sub(rf"{re.escape(OLD_ID)}\b", NEW_ID, text), encoding="utf-8")
    metrics = yaml.safe_load((cfg / "metrics.yml").read_text(encoding="utf-8"))
    metrics["targets"]["kbps_per_student"]["target"] = 2000
    metrics["connectivity_benchmarks"]["wan_kbps_per_student"]["value"] = 20000
    (cfg / "metrics.yml").write_text(yaml.safe_dump(metrics, sort_keys=False), encoding="utf-8")
    return cfg


@pytest.fixture(scope="module")
def changed(prefect_server, tmp_path_factory):
    """(warehouse, config dir, review HTML, ISD pages) of the report landing files run
    through the nightly flow with the changed configuration (ROADMAP_CONFIG), built
    once for all workers."""
    from conftest import build_warehouse, built_once
    from report_landing import write_report_landing

    def build(root: Path) -> None:
        cfg = _changed_config(root)
        previous = os.environ.get("ROADMAP_CONFIG")
        os.environ["ROADMAP_CONFIG"] = str(cfg)
        try:
            build_warehouse(root, write_report_landing)
        finally:
            if previous is None:
                os.environ.pop("ROADMAP_CONFIG", None)
            else:
                os.environ["ROADMAP_CONFIG"] = previous

    root, _ = built_once(tmp_path_factory, "changed-config", build)
    cfg, warehouse = root / "config", root / "warehouse" / "roadmap.duckdb"
    result = build_report(warehouse, root / "review", LATEST, config_dir=cfg)
    isd_pages = [p.read_text(encoding="utf-8") for p in result.isd_pages]
    return warehouse, cfg, result.html_path.read_text(encoding="utf-8"), isd_pages


def _published_meeting(warehouse: Path, kbps: float) -> tuple[int, int]:
    """Districts of LATEST with a published bandwidth figure, and how many reach
    ``kbps`` per student, straight from marts.metric_values."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        suppression_sql.prepare(con, 10)
        return con.execute(
            f"""
            select count(*), count(*) filter (where value >= ?)
            from {suppression_sql.MV_TABLE}
            where scope = 'district' and metric = 'kbps_per_student' and school_year = ?
              and value is not null and not _sup
            """,
            [kbps, LATEST],
        ).fetchone()
    finally:
        con.close()


@pytest.mark.slow
def test_the_review_words_and_counts_the_configured_bandwidth_target(changed):
    warehouse, _, html, _ = changed
    published, meeting = _published_meeting(warehouse, 2000)
    assert published > 0
    share = f" ({100 * meeting / published:.0f}%)"
    card = (
        f'<div class="big">{meeting:,} of {published:,}{share}</div>'
        '<div class="lbl">districts with a published bandwidth figure meet 2 Mbps per student</div>'
    )
    assert card in html
    assert "this review's bandwidth target is 2 Mbps per student" in html
    assert "the long-term goal is this review's bandwidth target" not in html
    # the metric's own block, the gap analysis and the recognition say the same target
    assert "≥ 2,000 kbps" in html
    assert "target ≥ 1,000 kbps" not in html
    # the long-term benchmark is not the target and keeps its own wording
    assert "Districts meeting 1 Mbps per student" in html


@pytest.mark.slow
def test_the_connectivity_tables_word_the_configured_goals(changed):
    _, _, html, isd_pages = changed
    assert isd_pages
    for page in [html, *isd_pages]:
        assert "Districts meeting 20 Gbps per 1,000 students (WAN)" in page
        assert "10 Gbps" not in page.split('class="connectivity-table"')[1].split("</table>")[0]


@pytest.mark.slow
def test_a_renamed_objective_is_shown_renamed(changed):
    _, _, html, _ = changed
    assert OLD_ID not in html
    assert f'id="gap-analysis" data-objective-id="{NEW_ID}"' in html
    assert f'Gap analysis <span class="oid">{NEW_ID}</span>' in html
    assert f'<span class="oid">G4.S3.A, G4.S3.B, {NEW_ID}</span>' in html
    # the objective's own entry, which links to the gap analysis
    assert f'data-objective-id="{NEW_ID}"' in html.split('id="gap-analysis"')[0]


def test_a_review_naming_an_objective_the_catalog_lacks_is_refused(report_warehouse, tmp_path):
    cfg = tmp_path / "config"
    shutil.copytree(CONFIG, cfg)
    metrics = yaml.safe_load((cfg / "metrics.yml").read_text(encoding="utf-8"))
    metrics["review"]["sections"]["recognition"]["linked_from"].append("G4.S9.Z")
    metrics["review"]["headline_metrics"].append("no_such_metric")
    (cfg / "metrics.yml").write_text(yaml.safe_dump(metrics, sort_keys=False), encoding="utf-8")
    with pytest.raises(ValueError) as err:
        build_report(report_warehouse.warehouse, tmp_path / "review", config_dir=cfg)
    assert "review.sections.recognition.linked_from: G4.S9.Z" in str(err.value)
    assert "review.headline_metrics: no_such_metric" in str(err.value)


def test_the_review_sections_follow_the_configuration(report_warehouse, tmp_path):
    """Other recognition metrics and list length, and a section without objectives:
    the review names what is configured (nothing is kept from the defaults)."""
    cfg = tmp_path / "config"
    shutil.copytree(CONFIG, cfg)
    metrics = yaml.safe_load((cfg / "metrics.yml").read_text(encoding="utf-8"))
    sections = metrics["review"]["sections"]
    sections["recognition"]["metrics"] = ["teacher_pl_rate_pct", "kbps_per_student"]
    sections["recognition"]["top_n"] = 3
    sections["connectivity"]["objectives"] = []
    (cfg / "metrics.yml").write_text(yaml.safe_dump(metrics, sort_keys=False), encoding="utf-8")
    html = build_report(report_warehouse.warehouse, tmp_path / "review", config_dir=cfg).html_path.read_text(
        encoding="utf-8"
    )
    assert "On each of two metrics, Teachers in professional learning, Internet bandwidth per student," in html
    assert "The 3 largest improvements per metric are listed" in html
    recognition = html.split('id="recognition"')[1].split("</section>")[0]
    assert len(re.findall(r'<tr><td class="num">\d+</td>', recognition)) <= 6
    assert 'id="connectivity">' in html
    assert "Connectivity against the national benchmarks</h2>" in html
