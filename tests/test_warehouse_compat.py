"""The published warehouse opens in the DuckDB 1.x clients analysts use
(flows/warehouse/publish.py, STORAGE_VERSION; docs/analysts_guide.md).

The clients are the real ones: DuckDB 1.4 (long-term support) and 1.5, the Python
package and the command line, each in its own virtual environment installed by
`make test` from a hash-pinned lock in tests/compat/. Each opens the warehouse the real
pipeline built read-only, in its own process, and reads every mart and audit table (the
same rows DuckDB 2.0 reads) and every other table and view.

Also: DuckDB 2.0 keeps writing a file in the storage version it was created with
(whatever is written, after checkpoints, reopening and byte copies), so the published
file stays readable at no cost per night; and a warehouse in another version is
converted without losing a table, view, constraint or row, once, by the next run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import duckdb
import pytest

from compat_clients import VERSIONS, client_dir
from flows.warehouse.publish import STORAGE_VERSION, convert_database, create_database, storage_version

# Reads every table and view given; prints per relation its row count, and for marts and
# audit every row (JSON, sorted), so that the caller compares them with DuckDB 2.0's.
READ_ALL = textwrap.dedent(
    """
    import json, sys
    import duckdb

    path, relations = sys.argv[1], json.loads(sys.argv[2])
    con = duckdb.connect(path, read_only=True)
    con.execute("set enable_progress_bar = false")
    out = {"version": duckdb.__version__, "relations": {}}
    for schema, name in relations:
        cur = con.execute(f'select * from "{schema}"."{name}"')
        columns = [d[0] for d in cur.description]
        if schema in ("marts", "audit"):
            rows = cur.fetchall()
            entry = {"rows": len(rows), "data": sorted(json.dumps(list(r), default=str, sort_keys=True) for r in rows)}
        else:
            n = 0
            while batch := cur.fetchmany(100000):
                n += len(batch)
            entry = {"rows": n}
        entry["columns"] = columns
        out["relations"][f"{schema}.{name}"] = entry
    con.close()
    print(json.dumps(out))
    """
)


def relations(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = current_database() "
        "union all select schema_name, view_name from duckdb_views() "
        "where database_name = current_database() and not internal order by all"
    ).fetchall()


def read_all(python: str | Path, warehouse: Path, names: list[tuple[str, str]]) -> dict:
    result = subprocess.run(
        [str(python), "-c", READ_ALL, str(warehouse), json.dumps(names)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_the_published_warehouse_is_in_the_storage_version_the_1x_clients_read(demo_warehouse_path):
    assert storage_version(demo_warehouse_path) == STORAGE_VERSION
    con = duckdb.connect(str(demo_warehouse_path), read_only=True)
    try:
        recorded = con.execute(
            "select storage_version from audit.published order by publish_seq desc limit 1"
        ).fetchall()
    finally:
        con.close()
    assert recorded == [(STORAGE_VERSION,)]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_duckdb_1x_python_client_reads_every_mart_and_audit_table(demo_warehouse_path, version):
    import sys

    con = duckdb.connect(str(demo_warehouse_path), read_only=True)
    try:
        names = relations(con)
    finally:
        con.close()
    schemas = {s for s, _ in names}
    assert {"marts", "audit", "raw", "staging", "intermediate", "reference"} <= schemas
    old = read_all(client_dir(version) / "bin" / "python", demo_warehouse_path, names)
    assert old["version"].startswith(version + ".")
    new = read_all(sys.executable, demo_warehouse_path, names)  # DuckDB 2.0, the same way
    assert new["version"].startswith("2.")
    marts = [n for n in old["relations"] if n.startswith("marts.")]
    assert len(marts) >= 6 and "audit.published" in old["relations"] and "audit.runs" in old["relations"]
    for name, entry in new["relations"].items():
        assert old["relations"][name] == entry, f"DuckDB {old['version']} reads {name} differently"
    assert all(old["relations"][m]["rows"] > 0 for m in marts)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_duckdb_1x_command_line_reads_every_mart(demo_warehouse_path, version):
    con = duckdb.connect(str(demo_warehouse_path), read_only=True)
    try:
        marts = [n for s, n in relations(con) if s == "marts"]
        counts = {n: con.execute(f'select count(*) from marts."{n}"').fetchall()[0][0] for n in marts}
    finally:
        con.close()
    cli = client_dir(version) / "bin" / "duckdb"
    script = "".join(f"SELECT '{n}' AS mart, count(*) AS n FROM marts.\"{n}\";\n" for n in marts)
    result = subprocess.run(
        [str(cli), "-readonly", "-csv", "-noheader", str(demo_warehouse_path)],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    got = dict(line.split(",") for line in result.stdout.split())
    assert {k: int(v) for k, v in got.items()} == counts
    version_line = subprocess.run([str(cli), "--version"], capture_output=True, text=True).stdout
    assert version_line.startswith(f"v{version}.")


# --------------------------------------------------------- the version stays as created

WORKLOAD = [
    # every kind of column the pipeline writes, and more, in sizes that get compressed
    """create table t as select i, 'district ' || (i % 900) as name, i / 7.0 as d, (i % 100)::decimal(18, 2) as dec,
       i % 3 = 0 as b, date '2020-07-01' + (i % 1500)::int as day,
       timestamptz '2024-01-01 00:00:00+00' + to_seconds(i) as ts, [i, i + 1] as l, {'a': i, 'b': 'x'} as s,
       map(['k'], [i]) as m, ('{"x": ' || i || '}')::json as j from range(300000) r(i)""",
    "create schema marts",
    "create table marts.k (id varchar primary key, v bigint not null)",
    "insert into marts.k select 'id' || i, i from range(50000) r(i)",
    "create view marts.v as select name, count(*) as n from t group by name",
    "create sequence seq",
    "checkpoint",
    "update t set d = d * 2 where i % 5 = 0",
    "delete from t where i % 11 = 0",
    "create or replace table t2 as select * from t where i % 2 = 0",
    "drop table t2",
    "alter table marts.k add column note varchar",
    "force checkpoint",
    "vacuum",
]


def test_duckdb_keeps_writing_a_file_in_the_version_it_was_created_with(tmp_path):
    path = tmp_path / "w.duckdb"
    create_database(path)
    assert storage_version(path) == STORAGE_VERSION
    for i, statement in enumerate(WORKLOAD):
        con = duckdb.connect(str(path))  # reopened as the pipeline and dbt open it: no setting
        try:
            con.execute(statement).fetchall()
        finally:
            con.close()
        assert storage_version(path) == STORAGE_VERSION, statement
        if i == 6:  # a byte copy, as each night's work copy is, then written on
            copy = tmp_path / "copy.duckdb"
            shutil.copyfile(path, copy)
            shutil.move(copy, path)
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = relations(con)
    finally:
        con.close()
    for version in VERSIONS:
        old = read_all(client_dir(version) / "bin" / "python", path, names)
        assert old["relations"]["main.t"]["rows"] == 300000 - len(range(0, 300000, 11))
        assert old["relations"]["marts.k"]["rows"] == 50000


@pytest.mark.fast
def test_a_type_the_storage_version_cannot_hold_fails_loudly_rather_than_upgrading_the_file(tmp_path):
    path = tmp_path / "w.duckdb"
    create_database(path)
    con = duckdb.connect(str(path))
    try:
        with pytest.raises(duckdb.Error, match=re.escape(STORAGE_VERSION)):
            con.execute("create table v as select 1::variant as x")
    finally:
        con.close()
    assert storage_version(path) == STORAGE_VERSION


def test_converting_a_warehouse_keeps_every_table_view_constraint_and_row(demo_warehouse_path, tmp_path):
    newer = tmp_path / "newer.duckdb"
    back = tmp_path / "back.duckdb"
    con = duckdb.connect()
    try:  # the demo warehouse as DuckDB 2.0 writes by default (a warehouse from before STORAGE_VERSION)
        con.execute(f"attach '{demo_warehouse_path}' as src (read_only)")
        con.execute(f"attach '{newer}' as dst (storage_version 'v2.0.0')")
        con.execute("copy from database src to dst")
        con.execute("detach dst")
    finally:
        con.close()
    assert storage_version(newer) == "v2.0.0"
    convert_database(newer, back)
    assert storage_version(back) == STORAGE_VERSION

    con = duckdb.connect()
    try:
        con.execute(f"attach '{demo_warehouse_path}' as a (read_only)")
        con.execute(f"attach '{back}' as b (read_only)")

        def catalog(db):
            return {
                "columns": con.execute(
                    "select schema_name, table_name, column_name, data_type, is_nullable, column_default "
                    f"from duckdb_columns() where database_name = '{db}' order by all"
                ).fetchall(),
                "constraints": con.execute(
                    "select schema_name, table_name, constraint_type, constraint_text "
                    f"from duckdb_constraints() where database_name = '{db}' order by all"
                ).fetchall(),
                "views": con.execute(
                    f"select schema_name, view_name, lower(sql) from duckdb_views() where database_name = '{db}' "
                    "and not internal order by all"
                ).fetchall(),
            }

        assert catalog("a") == catalog("b")
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = 'a' order by all"
        ).fetchall()
        assert len(tables) > 20
        for schema, table in tables:
            for x, y in (("a", "b"), ("b", "a")):
                missing = con.execute(
                    f'select count(*) from (select * from {x}."{schema}"."{table}" '
                    f'except all select * from {y}."{schema}"."{table}")'
                ).fetchall()[0][0]
                assert missing == 0, f"{schema}.{table} differs after conversion"
    finally:
        con.close()
