"""Helpers for the dbt tests: a warehouse file with the raw DDL and the reference
schema, rows written straight into raw.<family> (as the load stage would, with
lineage), and read-only queries of the built marts."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import duckdb

from flows.ingest.families import FAMILIES
from flows.ingest.raw_schema import raw_columns, raw_ddl
from flows.warehouse.reference import load_reference

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "config"
DBT_PROJECT_DIR = REPO / "dbt_project"


def create_warehouse(db_path: Path, config_dir: Path = CONFIG_DIR) -> None:
    """A new DuckDB file with the empty raw tables and the reference schema from config."""
    con = duckdb.connect(str(db_path))
    try:
        for statement in raw_ddl():
            con.execute(statement)
        load_reference(con, config_dir)
    finally:
        con.close()


def educator_key(district_code: str, educator_id: str) -> str:
    """Stand-in for the ingestion's HMAC: 64 hex characters per district:educator."""
    return hashlib.sha256(f"{district_code}:{educator_id}".encode()).hexdigest()


def insert_rows(
    con: duckdb.DuckDBPyConnection,
    family: str,
    rows: Iterable[Mapping[str, Any]],
    *,
    received_seq: int,
    file_id: str | None = None,
    effective_school_year: str | None = None,
) -> None:
    """Write rows into raw.<family> as one loaded file: same _file_id and
    _received_seq, _line 2, 3, ... Missing columns are null."""
    columns = [name for name, _ in raw_columns(FAMILIES[family])]
    file_id = file_id or hashlib.sha256(f"{family}:{received_seq}".encode()).hexdigest()
    values = []
    for line, row in enumerate(rows, start=2):
        row = dict(row)
        unknown = set(row) - set(columns)
        if unknown:
            raise KeyError(f"raw.{family} has no column(s) {sorted(unknown)}")
        row.update(_file_id=file_id, _received_seq=received_seq, _line=line, _run_id="test-run")
        if family == "districts":
            row["effective_school_year"] = effective_school_year
        values.append(tuple(row.get(c) for c in columns))
    if values:
        placeholders = ", ".join("?" for _ in columns)
        con.executemany(f"insert into raw.{family} ({', '.join(columns)}) values ({placeholders})", values)


# ---- row builders: one call per landing-file row ------------------------------------


def district(
    code: str,
    name: str,
    district_type: str,
    isd_code: str,
    locale: str = "suburb",
    county: str = "Washtenaw",
    email: str | None = None,
) -> dict[str, Any]:
    return dict(
        district_code=code,
        district_name=name,
        district_type=district_type,
        isd_code=isd_code,
        county=county,
        locale=locale,
        data_contact_email=email,
    )


def enrollment(school_year: str, district_code: str, building_code: str, student_count: int) -> dict[str, Any]:
    return dict(
        school_year=school_year,
        district_code=district_code,
        building_code=building_code,
        building_name=f"Building {building_code}",
        student_count=student_count,
    )


def staffing(
    school_year: str,
    district_code: str,
    *,
    teachers: int,
    building_leaders: int,
    district_leaders: int,
    tech_staff: int,
) -> dict[str, Any]:
    return dict(
        school_year=school_year,
        district_code=district_code,
        teacher_count=teachers,
        building_leader_count=building_leaders,
        district_leader_count=district_leaders,
        tech_staff_count=tech_staff,
    )


def devices(
    school_year: str,
    district_code: str,
    building_code: str,
    device_type: str,
    user_group: str,
    count: int,
    over_5_years: int = 0,
    take_home: int = 0,
) -> dict[str, Any]:
    return dict(
        school_year=school_year,
        district_code=district_code,
        building_code=building_code,
        device_type=device_type,
        user_group=user_group,
        device_count=count,
        devices_over_5_years=over_5_years,
        take_home_count=take_home,
    )


def connectivity(
    school_year: str,
    district_code: str,
    *,
    mbps: float,
    wifi_pct: float,
    monthly_cost: float,
    without_home_internet: int,
    hotspots: int,
) -> dict[str, Any]:
    return dict(
        school_year=school_year,
        district_code=district_code,
        internet_bandwidth_mbps=mbps,
        wan_bandwidth_mbps=None,
        wifi_classrooms_covered_pct=wifi_pct,
        monthly_internet_cost_usd=monthly_cost,
        erate_discount_pct=None,
        students_without_home_internet=without_home_internet,
        hotspots_loaned=hotspots,
    )


def pl(
    school_year: str,
    district_code: str,
    educator_id: str,
    role: str,
    activity_id: str,
    *,
    kind: str = "course",
    fmt: str = "online",
    framework: str = "none",
    hours: float = 1.0,
    completed_on: str | None = None,
) -> dict[str, Any]:
    start = int(school_year[:4])
    return dict(
        school_year=school_year,
        district_code=district_code,
        educator_key=educator_key(district_code, educator_id),
        role=role,
        activity_id=activity_id,
        activity_title=f"Activity {activity_id}",
        activity_kind=kind,
        provider="REMC",
        format=fmt,
        framework=framework,
        hours=hours,
        completed_on=completed_on or f"{start}-10-15",
    )


# ---- reading the built warehouse ---------------------------------------------------------


def query(db_path: Path, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """Rows of a query on a read-only connection, as dicts; the connection is closed."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        cursor = con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def one(db_path: Path, sql: str, params: list[Any] | None = None) -> dict[str, Any]:
    rows = query(db_path, sql, params)
    assert len(rows) == 1, f"expected one row, got {len(rows)}: {sql} {params}"
    return rows[0]
