"""The command line says what to fix and exits with the documented codes."""

from __future__ import annotations

import duckdb
import pytest


def test_missing_landing_folder_exits_2_and_touches_no_warehouse(tmp_path, capsys):
    from flows.cli import main

    warehouse = tmp_path / "warehouse" / "roadmap.duckdb"
    code = main(["nightly", "--landing", str(tmp_path / "nowhere"), "--warehouse", str(warehouse)])
    assert code == 2
    assert "landing folder" in capsys.readouterr().err
    assert not warehouse.exists()


@pytest.mark.fast
def test_missing_config_file_exits_2(tmp_path, capsys):
    from flows.cli import main

    code = main(["runs", "--config", str(tmp_path / "absent.yml")])
    assert code == 2
    assert "absent.yml" in capsys.readouterr().err


@pytest.mark.fast
def test_run_that_died_holding_the_lock_is_recorded_as_interrupted(tmp_path):
    from flows.warehouse import audit

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    audit.ensure_audit_schema(con)
    holder = {"run_id": "20261101T020000Z-abc123", "pid": 4242, "started_at": "2026-11-01T02:00:00+00:00"}
    audit.record_interrupted_run(con, holder)
    audit.record_interrupted_run(con, holder)  # recorded once
    rows = con.execute("select run_id, status, message from audit.runs").fetchall()
    assert len(rows) == 1 and rows[0][:2] == ("20261101T020000Z-abc123", "interrupted")
    assert "4242" in rows[0][2]
