"""Incremental nightly builds (flows/warehouse/transform.py: plan_build): a night builds only the
dbt models downstream of the sources that changed since the last build, and nothing
when none did; the marts stay identical, row for row and column for column, to a full
rebuild from the same raw.

The main test runs random sequences of nights through the real nightly flow: landing
files written by hand (statewide extracts, district resubmissions that replace earlier
ones, single corrected values, new school years, new directory versions, files with
blocking errors, changed targets in config), and after every night compares each mart
and intermediate table of the published warehouse with a full `dbt build` of a copy of
it. Seeds are fixed; ROADMAP_TEST_NIGHT_SEEDS="1,2,3" runs others.
"""

from __future__ import annotations

import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest
import yaml

from dbt_fixtures import CONFIG_DIR, connectivity, create_warehouse, district, enrollment, insert_rows, one
from flows.warehouse.reference import load_reference
from flows.warehouse.transform import run_dbt_build
from landing_files import CONNECTIVITY, DEVICES, DIRECTORY_HEADER, ENROLLMENT, PL, STAFFING, Landing

REPO = Path(__file__).resolve().parent.parent
YEARS = ["2022-23", "2023-24", "2024-25", "2025-26"]
FAMILIES = ["enrollment", "staffing", "devices", "connectivity", "pl_participation"]
HEADERS = {
    "enrollment": ENROLLMENT,
    "staffing": STAFFING,
    "devices": DEVICES,
    "connectivity": CONNECTIVITY,
    "pl_participation": PL,
}
# district -> (name, type); ISDs name themselves as their ISD
DISTRICTS = {
    "01000": ("Alpha ISD", "ISD"),
    "01010": ("Alcona Community Schools", "LEA"),
    "01020": ("Bay Harbor Schools", "LEA"),
    "01700": ("Lighthouse Academy", "PSA"),
    "02000": ("Beta ISD", "ISD"),
    "02010": ("Cedar Public Schools", "LEA"),
    "02030": ("Dune Valley Schools", "LEA"),
}
ISDS = ["01000", "02000"]
MODEL_TABLES = (
    "select table_schema, table_name from information_schema.tables"
    " where table_schema in ('intermediate', 'marts') and table_type = 'BASE TABLE' order by all"
)


def relations(warehouse: Path) -> dict[str, list[tuple]]:
    """Every table dbt built (marts and intermediate), all columns, rows sorted."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        out = {}
        for schema, table in con.execute(MODEL_TABLES).fetchall():
            cursor = con.execute(f'select * from "{schema}"."{table}" order by all')
            out[f"{schema}.{table}"] = ([d[0] for d in cursor.description], cursor.fetchall())
        return out
    finally:
        con.close()


def differences(left: dict, right: dict) -> str:
    """The first rows that differ, table by table, for the failure message."""
    lines = []
    for name in sorted(set(left) | set(right)):
        if left.get(name) == right.get(name):
            continue
        (columns, rows), (_, other) = left.get(name, ([], [])), right.get(name, ([], []))
        only_left, only_right = sorted(set(rows) - set(other)), sorted(set(other) - set(rows))
        lines.append(f"{name}: {len(only_left)} row(s) only in the first, {len(only_right)} only in the second")
        for row in only_left[:3] + only_right[:3]:
            lines.append("  " + ", ".join(f"{c}={v!r}" for c, v in zip(columns, row, strict=True)))
    return "\n".join(lines)


def builds(warehouse: Path) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("select mode, reason, selected from audit.dbt_builds order by build_seq").fetchall()
    finally:
        con.close()


def loaded_sources(warehouse: Path, run_id: str) -> set[str]:
    """The raw tables this run added rows to."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "select distinct f.family from audit.load_counts c join audit.files f using (file_id)"
            " where c.run_id = ? and c.rows_loaded > 0",
            [run_id],
        ).fetchall()
        return {f"raw.{r[0]}" for r in rows}
    finally:
        con.close()


# ------------------------------------------------------------------ what a build selects

SY = "2024-25"


def small_warehouse(path: Path) -> Path:
    """Two districts with enrollment and connectivity, built once (full)."""
    create_warehouse(path)
    con = duckdb.connect(str(path))
    try:
        insert_rows(
            con,
            "districts",
            [
                district("10001", "Alpha Public Schools", "LEA", "50001"),
                district("10002", "Beta Public Schools", "LEA", "50001"),
                district("50001", "Washtenaw ISD", "ISD", "50001"),
            ],
            received_seq=1,
            effective_school_year=SY,
        )
        insert_rows(
            con,
            "enrollment",
            [enrollment(SY, "10001", "00101", 500), enrollment(SY, "10002", "00201", 300)],
            received_seq=2,
        )
        insert_rows(
            con,
            "connectivity",
            [
                connectivity(SY, code, mbps=400, wifi_pct=100, monthly_cost=400, without_home_internet=20, hotspots=10)
                for code in ("10001", "10002")
            ],
            received_seq=3,
        )
    finally:
        con.close()
    first = run_dbt_build(path)
    assert first.mode == "full" and first.models
    return path


def test_nothing_changed_no_dbt_build(tmp_path):
    db_path = small_warehouse(tmp_path / "roadmap.duckdb")
    con = duckdb.connect(str(db_path))
    try:
        load_reference(con, CONFIG_DIR)  # every run rewrites the reference tables: same content
    finally:
        con.close()
    summary = run_dbt_build(db_path, incremental=True)
    assert summary.mode == "up to date" and summary.nodes == ()
    assert "no source changed" in summary.reason
    assert [b[0] for b in builds(db_path)] == ["full", "up to date"]


def test_changed_sources_rebuild_what_depends_on_them_and_nothing_else(tmp_path):
    db_path = small_warehouse(tmp_path / "roadmap.duckdb")
    config_dir = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config_dir)
    metrics = yaml.safe_load((config_dir / "metrics.yml").read_text())
    metrics["targets"]["kbps_per_student"]["target"] = 1500
    (config_dir / "metrics.yml").write_text(yaml.safe_dump(metrics, sort_keys=False))
    con = duckdb.connect(str(db_path))
    try:  # 10002 resubmits its connectivity; the bandwidth target changed in config
        insert_rows(
            con,
            "connectivity",
            [connectivity(SY, "10002", mbps=600, wifi_pct=90, monthly_cost=500, without_home_internet=30, hotspots=30)],
            received_seq=4,
        )
        load_reference(con, config_dir)
    finally:
        con.close()

    summary = run_dbt_build(db_path, incremental=True)
    assert summary.mode == "incremental"
    assert "raw.connectivity" in summary.reason and "reference.metric_targets" in summary.reason
    assert "raw.enrollment" not in summary.reason and "reference.objectives" not in summary.reason
    built = {n.name for n in summary.models}
    assert {
        "stg_district_files__connectivity",
        "int_connectivity__district_years",
        "stg_reference__metric_targets",
        "district_year_metrics",
        "state_year_metrics",
        "metric_values",
        "objective_progress",
    } <= built
    # nothing that reads only unchanged sources
    assert not built & {
        "stg_district_files__enrollment",
        "int_enrollment__district_years",
        "int_pl_participation__district_years",
        "int_districts__history",
        "dim_district_history",
        "objectives",
        "stg_reference__objectives",
    }
    tested = {n.attached_to for n in summary.tests if n.attached_to}
    assert "district_year_metrics" in tested and "dim_district_history" not in tested
    row = one(
        db_path,
        "select kbps_per_student, meets_bandwidth_target from marts.district_year_metrics"
        " where district_code = '10002'",
    )
    assert row == {"kbps_per_student": 2000.0, "meets_bandwidth_target": True}  # 600 Mbps x 1000 / 300 >= 1500

    rebuilt = tmp_path / "rebuilt" / "roadmap.duckdb"
    rebuilt.parent.mkdir()
    shutil.copyfile(db_path, rebuilt)
    assert run_dbt_build(rebuilt).mode == "full"
    assert relations(rebuilt) == relations(db_path)


def test_a_missing_model_table_rebuilds_everything(tmp_path):
    db_path = small_warehouse(tmp_path / "roadmap.duckdb")
    con = duckdb.connect(str(db_path))
    try:
        con.execute("drop table marts.objectives")
    finally:
        con.close()
    summary = run_dbt_build(db_path, incremental=True)
    assert summary.mode == "full" and "marts.objectives" in summary.reason
    assert one(db_path, "select count(*) > 0 as built from marts.objectives") == {"built": True}


# ------------------------------------------------------------------ random landing files


@dataclass
class Nights:
    """Writes each night's landing files; remembers what it sent, to correct it later."""

    rng: random.Random
    landing: Landing
    config_file: Path
    sent: dict[tuple[str, str, str], list[list[str]]] = field(default_factory=dict)
    directory_versions: int = 0
    counter: int = 0
    log: list[str] = field(default_factory=list)

    def name(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}_n{self.counter}.csv"

    # rows of one district, as lists of cells
    def rows(self, family: str, year: str, code: str) -> list[list[str]]:
        r = self.rng
        start = int(year[:4])
        buildings = [code[2:] + "01"] + ([code[2:] + "02"] if r.random() < 0.5 else [])
        if family == "enrollment":
            return [[year, code, b, f"Building {b}", str(r.choice([0, r.randint(1, 900)]))] for b in buildings]
        if family == "staffing":
            return [[year, code, *(str(r.randint(0, n)) for n in (60, 5, 4, 5))]]
        if family == "devices":
            out = []
            for device_type, group in r.sample(
                [
                    ("chromebook", "student"),
                    ("laptop", "student"),
                    ("tablet", "teacher"),
                    ("laptop", "teacher"),
                    ("hotspot", "student"),
                    ("desktop", "staff"),
                ],
                r.randint(1, 4),
            ):
                count = r.randint(0, 600)
                out.append(
                    [
                        year,
                        code,
                        buildings[0],
                        device_type,
                        group,
                        str(count),
                        str(r.randint(0, count)),
                        str(r.randint(0, count)),
                    ]
                )
            return out
        if family == "connectivity":
            return [
                [
                    year,
                    code,
                    f"{r.randint(10, 3000)}.{r.randint(0, 9)}",
                    r.choice(["", "1000"]),
                    f"{r.randint(0, 100)}",
                    f"{r.randint(0, 9000)}.{r.randint(0, 99):02d}",
                    r.choice(["", "40", "85"]),
                    str(r.randint(0, 120)),
                    str(r.randint(0, 120)),
                ]
            ]
        # pl_participation: a few educators, some with several records
        out = []
        for _ in range(r.randint(1, 7)):
            role = r.choice(["teacher", "teacher", "building_leader", "district_leader", "tech_staff", "support_staff"])
            educator = f"{role[:2].upper()}{r.randint(1, 4)}"
            activity = r.randint(1, 5)
            out.append(
                [
                    year,
                    code,
                    educator,
                    role,
                    f"A{activity}",
                    f"Activity {activity}",
                    r.choice(["course", "workshop", "pln_meeting", "coaching", "skill_assessment"]),
                    r.choice(["REMC", "ISD", "MACUL"]),
                    r.choice(["face_to_face", "online", "blended"]),
                    r.choice(["TPACK", "SAMR", "OER", "CBE", "none"]),
                    r.choice(["0.25", "0.5", "1", "1.5", "2.75", "3", "12.1", "40"]),
                    f"{start + r.choice([0, 1])}-{r.choice(['03', '05', '09', '11'])}-{r.randint(1, 28):02d}",
                ]
            )
        return out

    def write(self, family: str, year: str, codes: list[str], file_name: str, rows=None) -> None:
        lines = []
        for code in codes:
            district_rows = rows if rows is not None else self.rows(family, year, code)
            self.sent[(family, year, code)] = district_rows
            lines += [",".join(cells) for cells in district_rows]
        self.landing.csv(file_name, HEADERS[family], lines)
        self.log.append(f"{file_name}: {len(lines)} rows for {', '.join(codes)}")

    def statewide(self) -> None:
        family, year = self.rng.choice(FAMILIES), self.rng.choice(YEARS)
        codes = sorted(self.rng.sample(sorted(DISTRICTS), self.rng.randint(1, len(DISTRICTS))))
        self.write(family, year, codes, self.name(f"{family}_{year}"))

    def district_resubmission(self) -> None:
        family, year, code = self.rng.choice(FAMILIES), self.rng.choice(YEARS), self.rng.choice(sorted(DISTRICTS))
        self.write(family, year, [code], self.name(f"{family}_{year}_{code}"))

    def corrected_value(self) -> None:
        """The same rows as sent before for one district, with one number changed."""
        if not self.sent:
            return self.district_resubmission()
        (family, year, code), rows = self.rng.choice(sorted(self.sent.items()))
        rows = [list(cells) for cells in rows]
        line = self.rng.randrange(len(rows))
        numeric = {
            "enrollment": [4],
            "staffing": [2, 3, 4, 5],
            "devices": [5],
            "connectivity": [2, 7, 8],
            "pl_participation": [10],
        }[family]
        column = self.rng.choice(numeric)
        if family == "devices":  # keep the counts below it valid
            rows[line][5] = str(int(rows[line][5]) + self.rng.randint(1, 50))
        elif family == "pl_participation":
            rows[line][10] = self.rng.choice(["0.75", "2", "5.5"])
        elif family == "connectivity" and column == 2:
            rows[line][2] = f"{self.rng.randint(10, 3000)}.5"
        else:
            rows[line][column] = str(int(float(rows[line][column])) + self.rng.randint(1, 9))
        self.write(family, year, [code], self.name(f"{family}_{year}_{code}"), rows=rows)

    def directory(self, year: str | None = None) -> None:
        """A new directory version: names, ISDs, locales change; districts come and go."""
        self.directory_versions += 1
        year = year or self.rng.choice(YEARS)
        codes = ISDS + [c for c in sorted(DISTRICTS) if c not in ISDS and self.rng.random() < 0.8]
        lines = []
        for code in codes:
            name, kind = DISTRICTS[code]
            isd = code if kind == "ISD" else self.rng.choice(ISDS)
            if self.rng.random() < 0.3:
                name += f" (v{self.directory_versions})"
            locale = self.rng.choice(["city", "suburb", "town", "rural"])
            county = self.rng.choice(["Alcona", "Bay", "Cedar"])
            email = self.rng.choice(["", f"data@{code}.example.org"])
            lines.append(f"{code},{name},{kind},{isd},{county},{locale},{email}")
        self.landing.csv(self.name(f"districts_{year}"), DIRECTORY_HEADER, lines)
        self.log.append(f"directory effective {year}: {len(lines)} districts")

    def blocked_file(self) -> None:
        """A resubmission with a blocking error: quarantined, raw unchanged."""
        year, code = self.rng.choice(YEARS), self.rng.choice(sorted(DISTRICTS))
        self.landing.csv(self.name(f"staffing_{year}_{code}"), STAFFING, [f"{year},{code},thirty,3,2,2"])
        self.log.append(f"blocked staffing file for {code} {year}")

    def changed_target(self) -> None:
        metrics_file = self.config_file.parent / "metrics.yml"
        metrics = yaml.safe_load(metrics_file.read_text())
        metrics["targets"]["kbps_per_student"]["target"] = self.rng.choice([100, 500, 1000, 1500])
        metrics_file.write_text(yaml.safe_dump(metrics, sort_keys=False))
        self.log.append(f"kbps_per_student target {metrics['targets']['kbps_per_student']['target']}")

    def night(self, number: int) -> None:
        if number == 0:
            self.directory(YEARS[1])
            for _ in range(self.rng.randint(2, 4)):
                self.statewide()
            return
        actions = [
            self.statewide,
            self.district_resubmission,
            self.district_resubmission,
            self.corrected_value,
            self.corrected_value,
            self.directory,
            self.blocked_file,
            self.changed_target,
        ]
        for _ in range(self.rng.choice([0, 1, 1, 2, 3])):  # 0: a night with nothing new
            self.rng.choice(actions)()


def night_seeds() -> list[int]:
    text = os.environ.get("ROADMAP_TEST_NIGHT_SEEDS", "")
    return [int(s) for s in text.split(",") if s.strip()] or [7]  # more: ROADMAP_TEST_NIGHT_SEEDS=7,2024,...


@pytest.mark.slow
@pytest.mark.parametrize("seed", night_seeds())
def test_incremental_nights_give_the_marts_of_a_full_rebuild(seed, prefect_server, tmp_path):
    from flows.nightly import nightly

    rng = random.Random(seed)
    config_dir = tmp_path / "config"
    shutil.copytree(REPO / "config", config_dir)
    nights = Nights(rng, Landing(tmp_path / "landing"), config_dir / "roadmap.yml")
    warehouse = tmp_path / "warehouse" / "roadmap.duckdb"
    rebuilt = tmp_path / "rebuilt" / "roadmap.duckdb"
    rebuilt.parent.mkdir()
    modes = []
    for number in range(7 if os.environ.get("ROADMAP_TEST_EXTENDED") == "1" else 5):
        before = len(nights.log)
        nights.night(number)
        what = "; ".join(nights.log[before:]) or "nothing new"
        summary = nightly(
            landing_dir=str(nights.landing.path),
            warehouse=str(warehouse),
            config_file=str(nights.config_file),
            with_report=False,
        )
        assert summary.status == "succeeded", what

        (mode, reason, selected) = builds(warehouse)[-1]
        modes.append(mode)
        changed = loaded_sources(warehouse, summary.run_id)
        if number == 0:
            assert mode == "full", reason
        elif mode == "incremental":
            # it selected exactly the raw tables this night added rows to (and the
            # reference tables when config changed), nothing else
            # (the dbt source district_files is the DuckDB schema raw)
            selected_sources = {
                s.removeprefix("source:").removesuffix("+").replace("district_files.", "raw.", 1)
                for s in selected.split()
            }
            assert {s for s in selected_sources if s.startswith("raw.")} == changed, (what, selected)
            assert all(
                s.startswith(("source:district_files.", "source:reference.", "source:audit.")) for s in selected.split()
            ), selected
        else:
            assert mode == "up to date" and not changed, (what, reason)

        # the same raw, rebuilt whole
        shutil.copyfile(warehouse, rebuilt)
        full = run_dbt_build(rebuilt)
        assert full.mode == "full" and full.models
        incremental_tables, full_tables = relations(warehouse), relations(rebuilt)
        assert incremental_tables == full_tables, (
            f"night {number} ({what}), incremental vs full rebuild:\n" + differences(incremental_tables, full_tables)
        )
    # the sequence exercised the incremental path, not only full builds
    assert "incremental" in modes, (modes, nights.log)

    # config/roadmap.yml run.incremental_builds: false rebuilds everything, same marts
    settings = yaml.safe_load(nights.config_file.read_text())
    settings["run"]["incremental_builds"] = False
    nights.config_file.write_text(yaml.safe_dump(settings, sort_keys=False))
    published = relations(warehouse)
    summary = nightly(
        landing_dir=str(nights.landing.path),
        warehouse=str(warehouse),
        config_file=str(nights.config_file),
        with_report=False,
    )
    assert summary.status == "succeeded" and summary.files_new == 0
    assert builds(warehouse)[-1][:2] == ("full", "full build asked for")
    assert relations(warehouse) == published, differences(published, relations(warehouse))
