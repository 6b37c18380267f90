"""`roadmap docs`: the dbt documentation site analysts read, built from the published
warehouse without writing to it."""

from __future__ import annotations

import hashlib
import json

import yaml

from conftest import REPO


def test_docs_site_describes_every_mart_column_with_its_objectives(demo_warehouse, tmp_path):
    from flows.cli import main

    before = hashlib.sha256(demo_warehouse.warehouse.read_bytes()).hexdigest()
    assert main(["docs", "--warehouse", str(demo_warehouse.warehouse), "--out", str(tmp_path / "docs")]) == 0
    index = tmp_path / "docs" / "index.html"
    assert index.stat().st_size > 100_000  # the static site embeds manifest and catalog
    catalog = json.loads((tmp_path / "docs" / "catalog.json").read_text())
    manifest = json.loads((tmp_path / "docs" / "manifest.json").read_text())
    marts = {
        n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["schema"] == "marts"
    }
    assert {"district_year_metrics", "state_year_metrics", "objective_progress", "objectives"} <= set(marts)
    for name, node in marts.items():
        assert node["description"].strip(), name
        in_catalog = {c.lower() for c in catalog["nodes"][node["unique_id"]]["columns"]}
        assert in_catalog == set(node["columns"]), name  # every column of the table is documented
        assert all(c["description"].strip() for c in node["columns"].values()), name
    # each metric column names the roadmap objectives it measures
    objective_map = yaml.safe_load((REPO / "config" / "metrics.yml").read_text())["objective_metrics"]
    columns = marts["district_year_metrics"]["columns"]
    for objective, metrics in objective_map.items():
        for metric in metrics:
            assert objective in columns[metric]["description"], (metric, objective)
    assert hashlib.sha256(demo_warehouse.warehouse.read_bytes()).hexdigest() == before
