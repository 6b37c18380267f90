"""Write landing files by hand in tests, with control of bytes, encoding and mtime,
and run the ingestion stages (without dbt) against a DuckDB file."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

ENROLLMENT = "school_year,district_code,building_code,building_name,student_count"
STAFFING = "school_year,district_code,teacher_count,building_leader_count,district_leader_count,tech_staff_count"
DEVICES = (
    "school_year,district_code,building_code,device_type,user_group,device_count,devices_over_5_years,take_home_count"
)
CONNECTIVITY = (
    "school_year,district_code,internet_bandwidth_mbps,wan_bandwidth_mbps,wifi_classrooms_covered_pct,"
    "monthly_internet_cost_usd,erate_discount_pct,students_without_home_internet,hotspots_loaned"
)
PL = (
    "school_year,district_code,educator_id,role,activity_id,activity_title,activity_kind,provider,format,framework,"
    "hours,completed_on"
)

DIRECTORY_HEADER = "district_code,district_name,district_type,isd_code,county,locale,data_contact_email"
DIRECTORY_ROWS = [
    "01000,Alpha ISD,ISD,01000,Alcona,rural,isd@alpha.example.org",
    "01010,Alcona Community Schools,LEA,01000,Alcona,rural,data@alcona.example.org",
    "01020,Bay Harbor Schools,LEA,01000,Alcona,town,data@bayharbor.example.org",
    "01700,Lighthouse Academy,PSA,01000,Alcona,suburb,",
]


class Landing:
    """A landing folder; each write gets a later mtime than the one before."""

    def __init__(self, path: Path):
        self.path = path
        self.path.mkdir(parents=True, exist_ok=True)
        self._clock = 1_700_000_000

    def write(
        self, name: str, text: str | bytes, *, encoding: str = "utf-8", bom: bool = False, mtime: float | None = None
    ) -> Path:
        data = text if isinstance(text, bytes) else text.encode(encoding)
        if bom:
            data = b"\xef\xbb\xbf" + data
        path = self.path / name
        path.write_bytes(data)
        self._clock += 60
        stamp = mtime if mtime is not None else self._clock
        os.utime(path, (stamp, stamp))
        return path

    def csv(self, name: str, header: str, rows: list[str], **kwargs) -> Path:
        return self.write(name, "\n".join([header, *rows]) + "\n", **kwargs)

    def directory(self, name: str = "districts_2024-25.csv", rows: list[str] | None = None) -> Path:
        return self.csv(name, DIRECTORY_HEADER, rows or DIRECTORY_ROWS)


def run_ingestion(
    landing: Path, db: Path, *, run_id: str = "run-1", key: bytes | None = b"test-key", batch_rows: int = 500_000
):
    """discover -> validate -> load into `db` (no dbt), as the flow does; returns
    (connection, loaded files, note)."""
    from flows.ingest.batches import RunContext
    from flows.nightly import discover, ingest, prepare_schemas
    from flows.settings import load_settings
    from flows.warehouse import audit

    settings = load_settings(None, landing_dir=landing, warehouse=db)
    con = duckdb.connect(str(db))
    prepare_schemas(con, settings)
    audit.start_run(con, run_id, None, str(landing))
    discovery = discover.fn(con, settings)
    ctx = RunContext(run_id=run_id, pseudonym_key=key, batch_rows=batch_rows)
    loaded, note = ingest(con, discovery, ctx, settings)
    return con, loaded, note


def issues(con: duckdb.DuckDBPyConnection, run_id: str | None = None) -> list[dict]:
    cur = con.execute(
        "select * from audit.issues where ? is null or run_id = ? order by file_name, line, rule", [run_id, run_id]
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
