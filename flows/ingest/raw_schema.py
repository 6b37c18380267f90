"""DDL of the pipeline-owned schemas `raw` (docs/ARCHITECTURE.md): one typed table per
landing-file family, with the lineage columns every loaded row carries. Each column's
name and type come from its definition in flows/ingest/families.py."""

from __future__ import annotations

from .families import FAMILIES, Family

LINEAGE_COLUMNS = (
    ("_file_id", "VARCHAR"),
    ("_received_seq", "BIGINT"),
    ("_line", "BIGINT"),
    ("_run_id", "VARCHAR"),
)


def raw_columns(family: Family) -> list[tuple[str, str]]:
    """(name, SQL type) of raw.<family>, in table order."""
    cols = [(c.raw_name, c.sql_type) for c in family.columns]
    if family.name == "districts":
        cols.append(("effective_school_year", "VARCHAR"))
    return cols + list(LINEAGE_COLUMNS)


def raw_ddl() -> list[str]:
    """The raw tables, and the audit tables dbt reads as sources (submission tracking:
    marts.submission_status), so that a build never lacks a source."""
    from ..warehouse.audit import AUDIT_DDL

    statements = list(AUDIT_DDL) + ["create schema if not exists raw"]
    for family in FAMILIES.values():
        body = ",\n    ".join(f"{name} {sql_type}" for name, sql_type in raw_columns(family))
        statements.append(f"create table if not exists {family.raw_table} (\n    {body}\n)")
    return statements
