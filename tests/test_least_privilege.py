"""Least privilege: what analysts are told to use cannot change the warehouse, and the
secrets and personal data the pipeline handles stay where they belong.

- the documented read-only ways in (docs/analysts_guide.md: `duckdb.connect(path,
  read_only=True)`, `ATTACH ... (READ_ONLY)`, SQLAlchemy with `read_only`) refuse every
  write, and leave the file byte for byte as it was;
- the pseudonym key and raw educator IDs appear in no run record, log line or warehouse
  byte, even when PL rows are malformed or quarantined;
- the key cannot be committed by accident.
"""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
from pathlib import Path

import duckdb
import pytest

from landing_files import run_ingestion

REPO = Path(__file__).resolve().parent.parent

STAFFING = "school_year,district_code,teacher_count,building_leader_count,district_leader_count,tech_staff_count"
PL = (
    "school_year,district_code,educator_id,role,activity_id,activity_title,activity_kind,provider,format,framework,"
    "hours,completed_on"
)
KEY = "9f2c4e6a" * 8  # 64 hex characters, shaped like the demo key (not written out: see the last test)
EDUCATOR_IDS = ["STAFF-4711", "STAFF-0815", "STAFF-QUAR-1", "STAFF-MALFORMED-9", "STAFF-SEMICOLON-3", "STAFF-DUP-5"]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def published(tmp_path, landing):
    """A published warehouse made the way the flow makes one (work copy, atomic swap),
    without dbt: raw, audit and reference schemas."""
    from flows.warehouse.publish import prepare_work_copy, publish_work_copy

    landing.directory()
    landing.csv("staffing_2024-25.csv", STAFFING, ["2024-25,01010,30,3,2,1", "2024-25,01020,20,2,1,1"])
    warehouse = tmp_path / "warehouse" / "roadmap.duckdb"
    work = prepare_work_copy(warehouse)
    con, _, _ = run_ingestion(landing.path, work)
    con.execute("checkpoint").fetchall()
    con.close()
    publish_work_copy(warehouse)
    return warehouse


WRITES = [
    "insert into raw.staffing (school_year, district_code) values ('2024-25', '09999')",
    "update raw.staffing set teacher_count = 0",
    "delete from raw.staffing",
    "drop table raw.staffing",
    "create table raw.mine (x integer)",
    "create or replace table raw.staffing as select 1 as x",
    "create schema scratch",
    "create view raw.v as select 1 as x",
    "alter table raw.staffing add column note varchar",
    "truncate audit.runs",
]


def _duckdb_read_only(path: Path):
    con = duckdb.connect(str(path), read_only=True)
    return (lambda sql: con.execute(sql).fetchall()), con.close


def _attach_read_only(path: Path):
    con = duckdb.connect()
    con.execute("attach ? as roadmap (read_only)", [str(path)]).fetchall()
    con.execute("use roadmap").fetchall()
    return (lambda sql: con.execute(sql).fetchall()), con.close


def _sqlalchemy_read_only(path: Path):
    from sqlalchemy import create_engine, text

    engine = create_engine(f"duckdb:///{path}", connect_args={"read_only": True})
    conn = engine.connect()

    def execute(sql):
        try:
            result = conn.execute(text(sql))
            return result.fetchall() if result.returns_rows else []
        except Exception:
            conn.rollback()  # as an analyst's session would, before the next statement
            raise

    def close():
        conn.close()
        engine.dispose()

    return execute, close


@pytest.mark.parametrize(
    "open_read_only",
    [_duckdb_read_only, _attach_read_only, _sqlalchemy_read_only],
    ids=["duckdb_read_only", "attach_read_only", "sqlalchemy_read_only"],
)
def test_the_documented_read_only_connections_cannot_change_the_published_warehouse(published, open_read_only):
    before = sha256_file(published)
    execute, close = open_read_only(published)
    try:
        assert execute("select count(*) from raw.staffing") == [(2,)]
        for sql in WRITES:
            with pytest.raises(Exception, match=r"(?i)read.only"):
                execute(sql)
        assert execute("select count(*) from raw.staffing") == [(2,)]
    finally:
        close()
    assert sha256_file(published) == before
    assert not published.with_name(published.name + ".wal").exists()


def _every_text_of(con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...]) -> str:
    """All values of every table of these schemas, as one string."""
    parts = []
    tables = con.execute(
        f"select table_schema, table_name from information_schema.tables "
        f"where table_schema in ({', '.join('?' for _ in schemas)})",
        list(schemas),
    ).fetchall()
    for schema, table in tables:
        parts.append(repr(con.execute(f'select * from "{schema}"."{table}"').fetchall()))
    return "\n".join(parts)


def test_the_key_and_raw_educator_ids_never_reach_the_run_record_the_logs_or_the_warehouse(landing, tmp_path, caplog):
    landing.directory()
    landing.csv(
        "pl_participation_2024-25.csv",
        PL,
        [
            "2024-25,01010,STAFF-4711,teacher,A1,Intro,course,REMC,online,TPACK,2,2024-09-01",
            "2024-25,01010,STAFF-DUP-5,teacher,A1,Intro,course,REMC,online,TPACK,2,2024-09-01",
            "2024-25,01010,STAFF-DUP-5,teacher,A1,Intro again,course,REMC,online,TPACK,3,2024-09-01",  # counted once
            "2024-25,01020,STAFF-0815,teacher,A2,More,workshop,ISTE,blended,SAMR,2,2024-09-02",
            "2024-25,01020,STAFF-QUAR-1,teacher,A2,More,workshop,ISTE,blended,SAMR,-1,2024-09-02",  # quarantined
            "2024-25,01700,STAFF-MALFORMED-9,teacher,A3,Too,many,fields,here,TPACK,2,2024-09-03,x",  # malformed
        ],
    )
    # a PL file sent with semicolons and no header row: its first line is data
    landing.write(
        "pl_participation_2024-25_01700.csv",
        "2024-25;01700;STAFF-SEMICOLON-3;teacher;A1;Intro;course;REMC;online;TPACK;2;2024-09-01\n",
    )
    db = tmp_path / "wh.duckdb"
    with caplog.at_level(logging.DEBUG):
        con, loaded, _ = run_ingestion(landing.path, db, key=KEY.encode())
    rules = {r[0] for r in con.execute("select rule from audit.issues").fetchall()}
    assert {"malformed_row", "wrong_delimiter", "out_of_range", "duplicate_pl_record"} <= rules
    # 01010's two records load (the repeated one once); 01020 and 01700 are held back
    assert con.execute("select count(*) from raw.pl_participation").fetchall() == [(2,)]
    recorded = _every_text_of(con, ("raw", "audit", "reference"))
    con.close()
    stored = db.read_bytes() + (
        db.with_name(db.name + ".wal").read_bytes() if db.with_name(db.name + ".wal").exists() else b""
    )
    for secret in [KEY, *EDUCATOR_IDS]:
        assert secret not in recorded, f"{secret} is in a warehouse table"
        assert secret.encode() not in stored, f"{secret} is in the warehouse file"
        assert secret not in caplog.text, f"{secret} is in the log"
    # the raw files are kept, as sent, only in the archive (outside the warehouse)
    archived = b"".join(p.read_bytes() for p in (tmp_path / "archive").rglob("*.csv"))
    assert b"STAFF-4711" in archived


@pytest.mark.fast
def test_data_the_demo_key_file_and_the_env_file_are_ignored_by_git():
    paths = [
        ".env",
        "data/.pseudonym_key",
        "data/warehouse/roadmap.duckdb",
        "data/landing/pl_participation_2024-25.csv",
        "data/archive/ab/x.csv",
        "data/reports/index.html",
        "elsewhere/roadmap.duckdb.building",
        ".pseudonym_key",
    ]
    ignored = subprocess.run(["git", "check-ignore", *paths], cwd=REPO, capture_output=True, text=True).stdout.split()
    assert sorted(ignored) == sorted(paths)
    assert (
        subprocess.run(["git", "ls-files", "data"], cwd=REPO, capture_output=True, text=True, check=True).stdout == ""
    )


KEY_ASSIGNMENT = re.compile(
    r"(?i)\b[\w.-]*(?:key|secret|token|password)[\w.-]*[\"']?\s*[:=]\s*[\"']?(?:[0-9a-f]{64}|[A-Za-z0-9+/_-]{40,}={0,2})\b"
)


@pytest.mark.fast
def test_no_tracked_file_holds_a_key_like_secret():
    for leak in (
        f"ROADMAP_PSEUDONYM_KEY={KEY}",
        f"pseudonym_key: '{KEY}'",
        f'"api_token": "{KEY}"',
        f"export SECRET_KEY={KEY}",
    ):
        assert KEY_ASSIGNMENT.search(leak), leak  # the pattern catches the usual ways of writing one down
    for fine in ("ROADMAP_PSEUDONYM_KEY=", "ROADMAP_PSEUDONYM_KEY=$(cat data/.pseudonym_key)", f"--hash=sha256:{KEY}"):
        assert not KEY_ASSIGNMENT.search(fine), fine
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    found = []
    for name in filter(None, files):
        path = REPO / name.decode()
        if name.endswith(b"requirements.lock") or not path.is_file() or path.stat().st_size > 2_000_000:
            continue  # the lock file's package hashes are not secrets
        text = path.read_bytes().decode("utf-8", errors="ignore")
        found += [f"{name.decode()}: {m.group(0)[:80]}" for m in KEY_ASSIGNMENT.finditer(text)]
    assert found == [], "a tracked file assigns a key-like value:\n" + "\n".join(found)


@pytest.mark.slow
def test_the_nightly_command_prints_and_publishes_no_key_and_no_raw_educator_id(landing, tmp_path, prefect_api_url):
    from test_crash_safety import run_nightly

    landing.directory()
    landing.csv("staffing_2024-25.csv", STAFFING, ["2024-25,01010,30,3,2,1", "2024-25,01020,20,2,1,1"])
    landing.csv(
        "pl_participation_2024-25.csv",
        PL,
        [
            "2024-25,01010,STAFF-4711,teacher,A1,Intro,course,REMC,online,TPACK,2,2024-09-01",
            "2024-25,01020,STAFF-0815,teacher,A2,More,workshop,ISTE,blended,SAMR,2,2024-09-02",
            "2024-25,01020,STAFF-QUAR-1,teacher,A2,More,workshop,ISTE,blended,SAMR,-1,2024-09-02",
            "2024-25,01700,STAFF-MALFORMED-9,teacher,A3,Too,many,fields,here,TPACK,2,2024-09-03,x",
        ],
    )
    warehouse = tmp_path / "warehouse" / "roadmap.duckdb"
    result = run_nightly(
        landing.path,
        warehouse,
        prefect_api_url,
        env={"ROADMAP_PSEUDONYM_KEY": KEY, "ROADMAP_ALERT_TO": "state-data-office@example.org"},
    )
    assert result.returncode == 0, result.output[-3000:]
    published = warehouse.read_bytes()
    recorded = query_all_text(warehouse)
    for secret in [KEY, *EDUCATOR_IDS]:
        assert secret not in result.output, f"{secret} was printed by the run"
        assert secret.encode() not in published, f"{secret} is in the published warehouse file"
        assert secret not in recorded
    mails = decoded_outbox(warehouse.parent / "outbox")
    assert "out_of_range" in mails and "malformed_row" in mails  # the alert e-mails about these rows were written
    for secret in [KEY, *EDUCATOR_IDS]:
        assert secret not in mails, f"{secret} is in an alert e-mail"


def decoded_outbox(outbox: Path) -> str:
    """Every message of the outbox as text: headers, bodies and attachments decoded."""
    import email
    from email import policy

    texts = []
    for path in outbox.rglob("*"):
        if not path.is_file():
            continue
        texts.append(path.read_bytes().decode("utf-8", errors="replace"))
        if path.suffix == ".eml":
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            for part in message.walk():
                payload = part.get_payload(decode=True)
                if payload:
                    texts.append(payload.decode("utf-8", errors="replace"))
    return "\n".join(texts)


def query_all_text(warehouse: Path) -> str:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        schemas = tuple(
            r[0] for r in con.execute("select distinct table_schema from information_schema.tables").fetchall()
        )
        return _every_text_of(con, schemas)
    finally:
        con.close()
