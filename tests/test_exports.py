"""Suppressed CSV and Parquet exports of the marts (flows.report.export_marts), on a
warehouse the real nightly flow built from hand-written landing files
(tests/report_landing.py, `report_warehouse`)."""

from __future__ import annotations

import csv
import hashlib
import math
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from flows.report import export_marts
from flows.report.suppression import BASIS, PEOPLE_COUNTS, is_suppressed
from report_landing import BIRCH, FORMULA_NAME, LATEST, MISSING_PL

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
WITHHELD = ("<10", "np")


@pytest.fixture(scope="module")
def warehouse(report_warehouse) -> Path:
    return report_warehouse.warehouse


@pytest.fixture(scope="module")
def exported(warehouse, tmp_path_factory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("out")
    return out / "exports", export_marts(warehouse, out, config_dir=CONFIG)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def marts_tables(warehouse: Path) -> list[str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'"
            ).fetchall()
        ]
    finally:
        con.close()


def raw(warehouse: Path, sql: str, params=None) -> pd.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def test_every_marts_table_is_exported_as_csv_and_parquet(warehouse, exported):
    export_dir, written = exported
    tables = marts_tables(warehouse)
    assert len(tables) >= 6
    for t in tables:
        assert export_dir / f"{t}.csv" in written
        assert export_dir / f"{t}.parquet" in written
        assert (export_dir / f"{t}.csv").is_file() and (export_dir / f"{t}.parquet").is_file()
    assert all(p.exists() for p in written)
    readme = (export_dir / "README.md").read_text()
    assert "<10" in readme and "`np`" in readme and "19 or more" in readme


def test_exports_have_every_row_of_the_marts(warehouse, exported):
    export_dir, _ = exported
    for t in marts_tables(warehouse):
        n = int(raw(warehouse, f"SELECT count(*) AS n FROM marts.{t}")["n"][0])
        assert len(read_csv(export_dir / f"{t}.csv")) == n, t
        assert pq.read_metadata(export_dir / f"{t}.parquet").num_rows == n, t


def test_no_count_under_ten_in_the_exports(exported):
    export_dir, _ = exported
    rows = read_csv(export_dir / "district_year_metrics.csv") + read_csv(export_dir / "state_year_metrics.csv")
    seen = 0
    for r in rows:
        for c in PEOPLE_COUNTS:
            v = r[c]
            if v in ("", *WITHHELD):
                continue
            seen += 1
            assert float(v) >= 10, (c, r.get("district_code"), v)
    assert seen > 100
    long = read_csv(export_dir / "metric_values.csv") + read_csv(export_dir / "objective_progress.csv")
    for r in long:
        if r["metric"] in PEOPLE_COUNTS and r["value"] not in ("", *WITHHELD):
            assert float(r["value"]) >= 10, r
    for pf in ("district_year_metrics", "state_year_metrics"):
        df = pd.read_parquet(export_dir / f"{pf}.parquet")
        for c in PEOPLE_COUNTS:
            vals = df[c].dropna()
            assert (vals >= 10).all(), (pf, c)


def test_every_figure_is_its_marts_value_or_withheld_and_small_ones_always_are(warehouse, exported):
    """A figure built on a count under 10 reads <10; a figure withheld to protect another
    reads np; every other figure is exactly the warehouse's."""
    export_dir, _ = exported
    src = raw(warehouse, "SELECT * FROM marts.district_year_metrics")
    out = {(r["district_code"], r["school_year"]): r for r in read_csv(export_dir / "district_year_metrics.csv")}
    small = complementary = 0
    for rec in src.to_dict("records"):
        rec = {k: (None if _blank(v) else v) for k, v in rec.items()}
        row = out[(rec["district_code"], rec["school_year"])]
        listed = set((row["suppressed_columns"] or "").split(";")) - {""}
        for metric in BASIS:
            if is_suppressed(metric, rec[metric], rec, 10):
                small += 1
                assert row[metric] == "<10", (metric, rec["district_code"], rec["school_year"])
                assert metric in listed
            elif row[metric] == "np":
                complementary += 1
                assert metric in listed
            elif rec[metric] is None:
                assert row[metric] == "", (metric, rec["district_code"])
                assert metric not in listed
            elif isinstance(rec[metric], bool):
                assert row[metric] == str(rec[metric]).lower()
            else:
                assert float(row[metric]) == pytest.approx(float(rec[metric]))
    assert small > 100 and complementary > 5
    tiny = out[(BIRCH, LATEST)]
    for metric in (
        "student_count",
        "kbps_per_student",
        "home_internet_gap_pct",
        "leader_pl_rate_pct",
        "teacher_pl_rate_pct",
        "hotspot_coverage_pct",
        "meets_bandwidth_target",
    ):
        assert tiny[metric] == "<10", metric


def test_the_one_district_under_ten_students_is_protected_by_another(exported):
    """The state's student count minus the published districts must not give the one
    district under 10 back: another district's count is withheld with it."""
    export_dir, _ = exported
    rows = [r for r in read_csv(export_dir / "district_year_metrics.csv") if r["school_year"] == LATEST]
    marks = [r["student_count"] for r in rows]
    assert marks.count("<10") == 1 and marks.count("np") >= 1


def test_a_count_of_zero_is_suppressed_too(warehouse, exported):
    export_dir, _ = exported
    zero = raw(
        warehouse,
        "SELECT district_code, school_year FROM marts.district_year_metrics WHERE tech_staff_count = 0",
    )
    assert len(zero)
    out = {(r["district_code"], r["school_year"]): r for r in read_csv(export_dir / "district_year_metrics.csv")}
    for code, sy in zero.itertuples(index=False):
        assert out[(code, sy)]["tech_staff_count"] == "<10"
        # the rate is null (0 / 0) in the warehouse, yet "no data" would reveal the 0
        assert out[(code, sy)]["tech_staff_pl_rate_pct"] == "<10"


def test_missing_values_are_empty_not_zero_and_not_marked_suppressed(exported):
    export_dir, _ = exported
    out = {(r["district_code"], r["school_year"]): r for r in read_csv(export_dir / "district_year_metrics.csv")}
    row = out[(MISSING_PL, LATEST)]  # no PL file this year
    assert row["leader_pl_rate_pct"] == ""
    assert "leader_pl_rate_pct" not in (row["suppressed_columns"] or "").split(";")
    assert row["has_pl_participation"] == "false"
    mv = read_csv(export_dir / "metric_values.csv")
    r = next(
        x
        for x in mv
        if x["district_code"] == MISSING_PL and x["school_year"] == LATEST and x["metric"] == "leader_pl_rate_pct"
    )
    assert r["value"] == "" and r["change_from_previous_year"] == "" and r["meets_target"] == ""


def test_change_from_last_year_is_withheld_when_either_year_is(exported):
    export_dir, _ = exported
    mv = read_csv(export_dir / "metric_values.csv")
    tiny = [
        x
        for x in mv
        if x["district_code"] == BIRCH
        and x["school_year"] == LATEST
        and x["metric"] in ("student_count", "kbps_per_student")
    ]
    assert tiny and all(x["change_from_previous_year"] == "<10" and x["previous_value"] == "<10" for x in tiny)
    for x in mv:
        if x["value"] in WITHHELD or x["previous_value"] in WITHHELD:
            assert x["change_from_previous_year"] in (*WITHHELD, ""), x
        if x["change_from_previous_year"] not in (*WITHHELD, ""):
            # a published change always comes with both years published
            assert x["value"] not in WITHHELD and x["previous_value"] not in WITHHELD, x


def test_the_state_tally_of_districts_meeting_a_withheld_figure_is_withheld(exported):
    export_dir, _ = exported
    state = {r["school_year"]: r for r in read_csv(export_dir / "state_year_metrics.csv")}
    districts = read_csv(export_dir / "district_year_metrics.csv")
    for sy, row in state.items():
        withheld = any(r["meets_bandwidth_target"] in WITHHELD for r in districts if r["school_year"] == sy)
        assert (row["districts_meeting_bandwidth_target"] == "np") == withheld, sy


def test_csv_export_neutralises_formula_injection(exported):
    export_dir, _ = exported
    for path in export_dir.glob("*.csv"):
        for r in read_csv(path):
            for v in r.values():
                if v and v.startswith(FORMULA_START):
                    float(v)  # only plain numbers may start with + or -
    rows = read_csv(export_dir / "district_year_metrics.csv")
    names = {r["district_code"]: r["district_name"] for r in rows}
    assert names["33900"] == "'" + FORMULA_NAME
    assert names["50900"] == "'@Home Virtual Academy"
    mv = read_csv(export_dir / "metric_values.csv")
    negatives = [x["change_from_previous_year"] for x in mv if x["change_from_previous_year"].startswith("-")]
    assert negatives and all(float(v) < 0 for v in negatives)


def test_parquet_export_matches_suppressed_csv(warehouse, exported):
    export_dir, _ = exported
    for t in marts_tables(warehouse):
        table = pq.read_table(export_dir / f"{t}.parquet")
        rows_csv = read_csv(export_dir / f"{t}.csv")
        rows_pq = table.to_pylist()
        assert list(rows_csv[0].keys()) == table.column_names, t
        assert len(rows_csv) == len(rows_pq)
        for rc, rp in zip(rows_csv, rows_pq, strict=True):
            suppressed = set((rp.get("suppressed_columns") or "").split(";")) - {""}
            for c in table.column_names:
                text, value = rc[c], rp[c]
                if c in suppressed:
                    assert text in WITHHELD and value is None, (t, c)
                elif value is None:
                    assert text == "", (t, c, text)
                elif isinstance(value, bool):
                    assert text == str(value).lower(), (t, c)
                elif isinstance(value, (int, float)):
                    assert float(text) == pytest.approx(float(value)), (t, c)
                elif isinstance(value, str):
                    expected = "'" + value if value.startswith(FORMULA_START) and not _is_number(value) else value
                    assert text == expected, (t, c)
                else:
                    assert text, (t, c)


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def test_parquet_keeps_numeric_types(exported):
    export_dir, _ = exported
    schema = pq.read_schema(export_dir / "district_year_metrics.parquet")
    assert str(schema.field("leader_pl_rate_pct").type) == "double"
    assert str(schema.field("student_count").type) == "int64"
    assert str(schema.field("district_code").type) == "string"
    assert str(schema.field("data_complete").type) == "bool"


def test_contact_emails_are_not_exported(exported):
    export_dir, _ = exported
    for path in export_dir.glob("*.csv"):
        assert "@example.invalid" not in path.read_text(encoding="utf-8"), path
    assert "data_contact_email" not in pq.read_schema(export_dir / "dim_district_history.parquet").names


def test_codes_keep_their_leading_zeros(exported):
    export_dir, _ = exported
    rows = read_csv(export_dir / "district_year_metrics.csv")
    assert "01010" in {r["district_code"] for r in rows}


def test_export_leaves_the_warehouse_unchanged(warehouse, tmp_path):
    before = hashlib.sha256(warehouse.read_bytes()).hexdigest()
    export_marts(warehouse, tmp_path, config_dir=CONFIG)
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == before


def test_exports_use_the_configured_cell_size(warehouse, tmp_path):
    cfg = tmp_path / "config"
    shutil.copytree(CONFIG, cfg)
    roadmap = yaml.safe_load((cfg / "roadmap.yml").read_text())
    roadmap["privacy"]["min_cell_size"] = 25
    (cfg / "roadmap.yml").write_text(yaml.safe_dump(roadmap))
    export_marts(warehouse, tmp_path / "out", config_dir=cfg)
    rows = read_csv(tmp_path / "out" / "exports" / "district_year_metrics.csv")
    assert any(r["leader_count"] == "<25" for r in rows)
    for r in rows:
        for c in PEOPLE_COUNTS:
            if r[c] not in ("", "<25", "np"):
                assert float(r[c]) >= 25


@pytest.mark.slow
def test_exports_of_the_demo_warehouse_show_no_count_under_ten(demo_warehouse_path, tmp_path):
    written = export_marts(Path(demo_warehouse_path), tmp_path, config_dir=CONFIG)
    assert {p.suffix for p in written} == {".csv", ".parquet"}
    for r in read_csv(tmp_path / "exports" / "district_year_metrics.csv"):
        for c in PEOPLE_COUNTS:
            if r[c] not in ("", *WITHHELD):
                assert float(r[c]) >= 10, (c, r["district_code"])
        for v in r.values():
            if v and v.startswith(FORMULA_START):
                float(v)
