"""Data-quality alert e-mails (DATA_SPEC section 2) against a real SMTP server (aiosmtpd):
who gets what, exactly-once delivery through the outbox, STARTTLS + AUTH LOGIN, and the
password never leaking. The fast tests drive ingestion -> queue -> send directly (no
dbt, no Prefect); the slow one runs the real flow."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import shutil
import ssl
import threading
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from hypothesis import given
from hypothesis import strategies as st

from flows.alerts import (
    AlertOptions,
    Outbox,
    SmtpSettings,
    csv_safe,
    queue_run_alerts,
    send_pending,
    sync_statuses,
)
from flows.settings import load_settings
from flows.warehouse import audit
from landing_files import run_ingestion
from mail_server import MailServer, _free_port

REPO = Path(__file__).resolve().parent.parent
STATE_TO = "state-office@mi.example.gov"
PASSWORD = "s3cret-Pa55word!"

ENROLLMENT = "school_year,district_code,building_code,building_name,student_count"
STAFFING = "school_year,district_code,teacher_count,building_leader_count,district_leader_count,tech_staff_count"
CONNECTIVITY = (
    "school_year,district_code,internet_bandwidth_mbps,wan_bandwidth_mbps,wifi_classrooms_covered_pct,"
    "monthly_internet_cost_usd,erate_discount_pct,students_without_home_internet,hotspots_loaned"
)
FAST = AlertOptions(send_retries=2, send_retry_delay_seconds=0.01)


# --------------------------------------------------------------------------- SMTP server


@pytest.fixture
def mail(monkeypatch):
    server = MailServer(_free_port()).start()
    monkeypatch.setenv("ROADMAP_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ROADMAP_SMTP_PORT", str(server.port))
    monkeypatch.setenv("ROADMAP_ALERT_TO", STATE_TO)
    monkeypatch.setenv("ROADMAP_ALERT_FROM", "roadmap@mi.example.gov")
    yield server
    server.stop()


# ------------------------------------------------------------------------ landing data


def write_problem_files(landing) -> None:
    """01010 (contact) and 01020 (contact) have problems, 01700 has problems but no
    contact, 01000 (contact) has none; one file name matches no family."""
    landing.directory()
    landing.csv(
        "enrollment_2024-25.csv",
        ENROLLMENT,
        [
            "2024-25,01010,00101,Alcona Elementary,300",
            "2024-25,01010,00102,Alcona High,-5",
            "2024-25,01020,00201,Bay Harbor K-12,400",
            "2024-25,01000,00001,ISD Center,50",
            "2024-25,01700,00701,Lighthouse Campus,120",
        ],
    )
    landing.csv(
        "staffing_2024-25.csv",
        STAFFING,
        [
            "2024-25,01020,=1+2,2,1,1",
            "2024-25,01700,-1,1,1,1",
            "2024-25,01000,5,1,1,1",
            "2024-25,01010,30,3,2,1",
        ],
    )
    landing.csv(
        "connectivity_2024-25.csv",
        CONNECTIVITY,
        [
            "2024-25,01020,<b>fast</b>,,90,400,50,10,5",
            "2024-25,01010,600,1000,95,500,60,40,20",
        ],
    )
    landing.csv("laptops_2024-25.csv", STAFFING, ["2024-25,01010,30,3,2,1"])


def ingest_and_queue(landing, db: Path, run_id: str, **settings_kwargs):
    """One run without dbt: ingestion, run record, alerts queued; the file `db` stands
    for the published warehouse."""
    db.parent.mkdir(parents=True, exist_ok=True)
    con, _, _ = run_ingestion(landing.path, db, run_id=run_id)
    try:
        sync_statuses(con, db.parent / "outbox", current_run_id=run_id)
        audit.finish_run(con, run_id, "succeeded")
        settings = load_settings(None, landing_dir=landing.path, warehouse=db, **settings_kwargs)
        queued = queue_run_alerts(con, settings, run_id)
    finally:
        con.close()
    return settings, queued


def _csv_rows(text: str) -> list[dict]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text)))


def errors_of_run(db: Path, run_id: str) -> int:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("select errors from audit.runs where run_id = ?", [run_id]).fetchall()[0][0]
    finally:
        con.close()


# ------------------------------------------------------------------------------- tests


def test_state_gets_the_whole_picture_and_each_district_only_its_own_problems(landing, tmp_path, mail):
    db = tmp_path / "wh" / "roadmap.duckdb"
    write_problem_files(landing)
    settings, queued = ingest_and_queue(landing, db, "run-1")
    assert sorted(a.alert_id for a in queued) == ["district-01010", "district-01020", "state"]

    delivery = send_pending(settings, options=FAST)
    assert (delivery.sent, delivery.pending) == (3, 0)
    assert sorted(r for m in mail.received for r in m.rcpt_tos) == sorted(
        [STATE_TO, "data@alcona.example.org", "data@bayharbor.example.org"]
    )
    assert mail.to("isd@alpha.example.org") == []  # 01000 had no problem

    (state,) = mail.to(STATE_TO)
    text = state.text()
    assert state.msg["Subject"].startswith("[MI Roadmap data quality] run run-1:")
    for expected in (
        "enrollment_2024-25.csv",
        "staffing_2024-25.csv",
        "connectivity_2024-25.csv",
        "laptops_2024-25.csv",
        "01010",
        "01020",
        "01700",
        "Lighthouse Academy",
        "out_of_range",
        "bad_type",
        "unrecognised_file_name",
        "line 3",
        "teacher_count must be",
        "no data_contact_email",
    ):
        assert expected in text, expected
    assert "received no e-mail" in text and "belong to no single district" in text
    assert "&lt;b&gt;fast&lt;/b&gt;" in state.html() and "<b>fast</b>" not in state.html()
    state_files = state.attachments()
    state_csv = state_files["roadmap-issues-run-1-state.csv"]
    assert "01700" in state_csv and "laptops_2024-25.csv" in state_csv
    assert {"roadmap-held-back-run-1-state-enrollment.csv", "roadmap-held-back-run-1-state-staffing.csv"} <= set(
        state_files
    )

    total_errors = errors_of_run(db, "run-1")
    alcona, bay = mail.to("data@alcona.example.org"), mail.to("data@bayharbor.example.org")
    assert len(alcona) == len(bay) == 1
    (alcona,), (bay,) = alcona, bay
    assert "Alcona Community Schools (01010)" in alcona.msg["Subject"]
    assert "line 3" in alcona.text() and "out_of_range" in alcona.text() and "student_count must be" in alcona.text()
    for others in (
        "01020",
        "Bay Harbor",
        "bayharbor",
        "01700",
        "Lighthouse",
        "01000",
        "Alpha ISD",
        "laptops",
        "=1+2",
        "fast",
        STATE_TO,
        f"{total_errors} blocking",
    ):
        assert others not in alcona.everything(), others
    for others in (
        "01010",
        "Alcona",
        "01700",
        "Lighthouse",
        "01000",
        "Alpha ISD",
        "laptops",
        "Alcona High",
        "-5",
        STATE_TO,
        f"{total_errors} blocking",
    ):
        assert others not in bay.everything(), others

    # HTML escaped, CSV attached with line numbers and the held-back rows, injection-safe
    assert "&lt;b&gt;fast&lt;/b&gt;" in bay.html() and "<b>fast</b>" not in bay.html()
    bay_files = bay.attachments()
    bay_csv = bay_files["roadmap-issues-run-1-01020.csv"]
    lines = bay_csv.splitlines()
    assert lines[0].startswith("file_name,family,school_year,district_code,line,rule")
    assert any(",'=1+2," in line for line in lines)
    assert all(",01020," in line for line in lines[1:])
    assert "{" not in bay_csv  # no JSON in a cell
    # the held-back rows as real columns of their family, formula-safe
    (staffing_row,) = _csv_rows(bay_files["roadmap-held-back-run-1-01020-staffing.csv"])
    assert staffing_row["teacher_count"] == "'=1+2" and staffing_row["district_code"] == "01020"
    assert staffing_row["file_name"] == "staffing_2024-25.csv" and staffing_row["line"] == "2"
    assert "teacher_count" in staffing_row["issues_on_this_row"]
    assert not any(k.startswith("_") for k in staffing_row)
    assert {p.get_content_type() for p in bay.msg.walk()} >= {"text/plain", "text/html", "text/csv"}


def test_nothing_is_queued_or_sent_after_a_run_without_issues(landing, tmp_path, mail):
    landing.directory()
    landing.csv("staffing_2024-25.csv", STAFFING, ["2024-25,01010,30,3,2,1"])
    settings, queued = ingest_and_queue(landing, tmp_path / "wh.duckdb", "run-1")
    assert queued == []
    assert send_pending(settings).sent == 0 and mail.received == []


def test_server_down_then_up_delivers_each_alert_exactly_once(landing, tmp_path, mail, caplog):
    db = tmp_path / "wh" / "roadmap.duckdb"
    write_problem_files(landing)
    settings, first = ingest_and_queue(landing, db, "run-1")
    assert send_pending(settings, options=FAST).sent == 3

    # run 2: new problems, mail server down: the run completes, the mail waits
    landing.csv("staffing_2024-25_fix.csv", STAFFING, ["2024-25,01010,x,3,2,1"])
    settings, second = ingest_and_queue(landing, db, "run-2")
    assert [a.alert_id for a in second] == ["state", "district-01010"]
    mail.stop()
    delays: list[float] = []
    with caplog.at_level(logging.WARNING):
        delivery = send_pending(settings, options=FAST, sleep=delays.append)
    assert (delivery.sent, delivery.pending) == (0, 2)
    assert delays == [0.01, 0.02]  # exponential backoff, send_retries = 2
    assert "stay pending" in caplog.text
    pending = {m.alert_id: m for m in Outbox(settings.outbox_dir).messages("pending")}
    assert set(pending) == {"state", "district-01010"}
    assert all(m.attempts == 3 and "Connection refused" in m.meta["last_error"] for m in pending.values())

    # run 3: nothing new, server back: run 2's mail goes out, once
    mail.start()
    con, _, _ = run_ingestion(landing.path, db, run_id="run-3")
    sync_statuses(con, settings.outbox_dir, current_run_id="run-3")
    statuses = con.execute("select run_id, alert_id, status, attempts from audit.alerts order by all").fetchall()
    con.close()
    assert statuses == [
        ("run-1", "district-01010", "sent", 1),
        ("run-1", "district-01020", "sent", 1),
        ("run-1", "state", "sent", 1),
        ("run-2", "district-01010", "pending", 3),
        ("run-2", "state", "pending", 3),
    ]
    assert send_pending(settings, options=FAST).sent == 2
    assert send_pending(settings, options=FAST).sent == 0  # and never again
    ids = [r.msg["Message-ID"] for r in mail.received]
    assert len(ids) == 5 and len(set(ids)) == 5
    assert sorted(ids) == sorted(
        f"<{run}.{a}@mi.example.gov>"
        for run, a in [
            ("run-1", "state"),
            ("run-1", "district-01010"),
            ("run-1", "district-01020"),
            ("run-2", "state"),
            ("run-2", "district-01010"),
        ]
    )
    sent = {m.alert_id for m in Outbox(settings.outbox_dir).messages("sent") if m.run_id == "run-2"}
    assert sent == {"state", "district-01010"}

    con, _, _ = run_ingestion(landing.path, db, run_id="run-4")
    sync_statuses(con, settings.outbox_dir, current_run_id="run-4")
    assert con.execute("select count(*) from audit.alerts where status <> 'sent'").fetchall() == [(0,)]
    con.close()


def test_mail_queued_by_a_run_that_never_published_is_discarded_not_sent(landing, tmp_path, mail):
    db = tmp_path / "wh" / "roadmap.duckdb"
    write_problem_files(landing)
    settings, _ = ingest_and_queue(landing, db, "run-1")
    send_pending(settings, options=FAST)
    mail.received.clear()
    # run 2 works in a copy and crashes before the swap: its alerts are queued, never published
    work = db.with_name(db.name + ".building")
    shutil.copyfile(db, work)
    landing.csv("staffing_2024-25_b.csv", STAFFING, ["2024-25,01010,x,3,2,1"])
    ingest_and_queue(landing, work, "run-2")
    work.unlink()
    assert {m.run_id for m in Outbox(settings.outbox_dir).messages("pending")} == {"run-2"}

    assert send_pending(settings, options=FAST).unpublished == 2
    assert mail.received == []
    # the next run discards them: the work they describe is redone by that run
    con, _, _ = run_ingestion(landing.path, db, run_id="run-3")
    sync_statuses(con, settings.outbox_dir, current_run_id="run-3")
    con.close()
    assert list(Outbox(settings.outbox_dir).messages("pending")) == []
    assert {m.alert_id for m in Outbox(settings.outbox_dir).messages("discarded")} == {"state", "district-01010"}
    assert send_pending(settings, options=FAST).sent == 0 and mail.received == []


def test_failed_run_is_reported_to_the_state_recipients_only(landing, tmp_path, mail):
    from flows.nightly import _record_failed_run

    db = tmp_path / "wh" / "roadmap.duckdb"
    write_problem_files(landing)
    settings, _ = ingest_and_queue(landing, db, "run-1")
    send_pending(settings, options=FAST)
    mail.received.clear()
    _record_failed_run(settings, "run-2", None, RuntimeError("dbt build failed: 2 data tests failed"))
    assert send_pending(settings, options=FAST).sent == 1
    (msg,) = mail.received
    assert msg.rcpt_tos == [STATE_TO]
    assert "run-2 FAILED" in msg.msg["Subject"]
    assert "RuntimeError: dbt build failed: 2 data tests failed" in msg.text()
    assert "left as it was" in msg.text()


@pytest.mark.fast
def test_districts_without_a_usable_contact_are_listed_for_the_state(landing, tmp_path, mail):
    from landing_files import DIRECTORY_ROWS

    rows = [r.replace("data@bayharbor.example.org", "not-an-address") for r in DIRECTORY_ROWS]
    landing.directory(rows=rows)
    landing.csv("staffing_2024-25.csv", STAFFING, ["2024-25,01020,-3,2,1,1"])
    settings, queued = ingest_and_queue(landing, tmp_path / "wh.duckdb", "run-1")
    # the bad address keeps 01020's directory row out, so 01020 has no contact at all
    assert [a.scope for a in queued] == ["state"]
    send_pending(settings, options=FAST)
    (state,) = mail.received
    assert state.rcpt_tos == [STATE_TO]
    listed = state.text().split("received no e-mail", 1)[1]
    assert "01020" in listed and "not in the state directory" in listed


@given(st.text(max_size=30))
def test_csv_cells_a_spreadsheet_would_run_get_a_leading_apostrophe(value):
    safe = csv_safe(value)
    assert safe[:1] not in ("=", "+", "-", "@", "\t", "\r")
    assert safe == value or safe == "'" + value


# ------------------------------------------------------------------------ TLS and login


def _self_signed_cert(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_starttls_and_auth_login_deliver_and_the_password_never_leaks(landing, tmp_path, monkeypatch, caplog):
    pytest.importorskip("cryptography")
    cert, key = _self_signed_cert(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    mechanisms: list[str] = []
    lock = threading.Lock()

    def authenticator(server, session, envelope, mechanism, auth_data):
        with lock:
            mechanisms.append(mechanism)
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == b"roadmap"
            and auth_data.password == PASSWORD.encode()
        )
        return AuthResult(success=ok, handled=False)

    server = MailServer(
        _free_port(),
        kwargs=dict(
            tls_context=tls,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=authenticator,
            auth_exclude_mechanism=["PLAIN"],
        ),
    ).start()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client verifies the server against this certificate
        monkeypatch.setenv("ROADMAP_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("ROADMAP_SMTP_PORT", str(server.port))
        monkeypatch.setenv("ROADMAP_SMTP_STARTTLS", "true")
        monkeypatch.setenv("ROADMAP_SMTP_USER", "roadmap")
        monkeypatch.setenv("ROADMAP_ALERT_TO", STATE_TO)
        monkeypatch.setenv("ROADMAP_ALERT_FROM", "roadmap@mi.example.gov")
        db = tmp_path / "wh" / "roadmap.duckdb"
        write_problem_files(landing)
        caplog.set_level(logging.DEBUG)

        # a wrong password: refused, nothing sent, nothing retried, the password in no message
        monkeypatch.setenv("ROADMAP_SMTP_PASSWORD", PASSWORD + "-wrong")
        settings, _ = ingest_and_queue(landing, db, "run-1")
        delivery = send_pending(settings, options=FAST, sleep=lambda s: pytest.fail("no retry for a refused login"))
        assert (delivery.sent, delivery.pending) == (0, 3)
        assert "refused the login of 'roadmap'" in delivery.error
        (meta,) = {m.meta["last_error"] for m in Outbox(settings.outbox_dir).messages("pending")}
        assert "ROADMAP_SMTP_PASSWORD" in meta and PASSWORD not in meta

        monkeypatch.setenv("ROADMAP_SMTP_PASSWORD", PASSWORD)
        delivery = send_pending(settings, options=FAST)
        assert (delivery.sent, delivery.pending) == (3, 0)
        assert len(server.received) == 3 and set(mechanisms) == {"LOGIN"}
        assert PASSWORD not in repr(SmtpSettings.from_env()) and PASSWORD not in str(SmtpSettings.from_env())
    finally:
        server.stop()

    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail"))
    assert PASSWORD not in ours
    for path in settings.outbox_dir.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    assert PASSWORD.encode() not in db.read_bytes()
    import base64

    assert base64.b64encode(PASSWORD.encode()) not in db.read_bytes()


# ------------------------------------------------------------------------- whole flow


@pytest.mark.slow
def test_nightly_flow_alerts_once_even_when_the_mail_server_was_down(prefect_server, landing, tmp_path, mail, capsys):
    """Run 1 with the server down completes (pending); run 2 with it up sends run 1's
    mail once; `roadmap runs` and the run summary show it."""
    import duckdb
    import yaml

    from flows.cli import main
    from flows.nightly import nightly

    config_dir = tmp_path / "config"
    shutil.copytree(REPO / "config", config_dir)
    raw = yaml.safe_load((config_dir / "roadmap.yml").read_text())
    raw["alerts"].update(send_retries=1, send_retry_delay_seconds=0.01)
    (config_dir / "roadmap.yml").write_text(yaml.safe_dump(raw))
    warehouse = tmp_path / "wh" / "roadmap.duckdb"
    landing.directory()
    landing.csv(
        "enrollment_2024-25.csv",
        ENROLLMENT,
        [
            "2024-25,01010,00101,Alcona Elementary,300",
            "2024-25,01020,00201,Bay Harbor K-12,-4",
        ],
    )
    landing.csv("staffing_2024-25.csv", STAFFING, ["2024-25,01010,30,3,2,1", "2024-25,01020,20,2,1,1"])
    args = dict(
        landing_dir=str(landing.path),
        warehouse=str(warehouse),
        config_file=str(config_dir / "roadmap.yml"),
        with_report=False,
    )

    mail.stop()
    first = nightly(**args)
    assert first.status == "succeeded" and first.alerts == "0 sent, 2 pending"

    mail.start()
    second = nightly(**args)
    assert second.status == "succeeded" and second.files_new == 0 and second.alerts == "none"
    assert sorted(r for m in mail.received for r in m.rcpt_tos) == sorted([STATE_TO, "data@bayharbor.example.org"])
    (district,) = mail.to("data@bayharbor.example.org")
    assert "01010" not in district.everything() and "line 3" in district.text()

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute("select run_id, alert_id, status, attempts from audit.alerts order by alert_id").fetchall()
    finally:
        con.close()
    # synced at the start of run 2 (still pending then, after two attempts)
    assert rows == [(first.run_id, "district-01020", "pending", 2), (first.run_id, "state", "pending", 2)]
    # `roadmap runs` merges the record with the outbox, so it already knows they went out
    assert main(["runs", "--warehouse", str(warehouse), "--config", str(config_dir / "roadmap.yml")]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(first.run_id))
    assert "2 sent, 0 pending" in line
    meta = json.loads(next((warehouse.parent / "outbox" / "sent" / first.run_id).glob("state.json")).read_text())
    assert meta["scope"] == "state" and meta["recipients"] == [STATE_TO] and meta["sent_at"]


# ------------------------------------------------------- what a district's message says


def _held_back_numbers(text: str) -> int:
    """The sum of "N held back" in the YOUR FILES list of a district message."""
    import re

    files = text.split("YOUR FILES", 1)[1].split("WHAT TO FIX", 1)[0]
    return sum(int(n) for n in re.findall(r"(\d+) held back;", files))


def test_every_district_message_counts_exactly_the_rows_its_attachments_list(tmp_path, mail):
    """On generated data with every kind of defect: for each district message, the rows
    it says are held back, the rows its held-back attachments list, and the total it
    names are the same number; each attachment row carries its family's columns."""
    from roadmap_demo_data.generate import generate_landing

    landing = tmp_path / "landing"
    generate_landing(landing, districts=40, years=1, seed=7, defects=0.25, resubmissions=False)
    db = tmp_path / "wh" / "roadmap.duckdb"
    db.parent.mkdir(parents=True)
    con, _, _ = run_ingestion(landing, db, run_id="run-1")
    try:
        audit.finish_run(con, "run-1", "succeeded")
        settings = load_settings(None, landing_dir=landing, warehouse=db)
        queue_run_alerts(con, settings, "run-1")
        held = dict(
            con.execute(
                "select district_code, count(*) from audit.quarantine_rows where run_id = 'run-1' group by all"
            ).fetchall()
        )
    finally:
        con.close()
    assert send_pending(settings, options=FAST).pending == 0
    districts = [r for r in mail.received if r.msg["X-Roadmap-Alert-Id"].startswith("district-")]
    assert len(districts) >= 3 and any(held.values())
    checked = 0
    for message in districts:
        code = message.msg["X-Roadmap-Alert-Id"].removeprefix("district-")
        files = message.attachments()
        listed = 0
        for name, content in files.items():
            if "-held-back-" not in name:
                continue
            rows = _csv_rows(content)
            family = name.rsplit("-", 1)[1].removesuffix(".csv")
            assert all(r["district_code"] == code for r in rows), name
            assert {"file_name", "line", "issues_on_this_row", "school_year", "district_code"} <= set(rows[0]), name
            assert not any(k.startswith("_") or "{" in (v or "") for r in rows for k, v in r.items())
            assert family in name
            listed += len(rows)
        said = _held_back_numbers(message.text())
        assert said == listed == held.get(code, 0), (code, said, listed, held.get(code))
        if listed:
            assert f"Together these are the {listed} row(s)" in message.text().replace("\n", " ")
            checked += 1
    assert checked >= 2


def test_sender_reply_to_and_state_contact_are_read_when_the_message_is_sent(landing, tmp_path, mail, monkeypatch):
    """Queued with one sender and contact, sent after both were corrected: the message
    goes out with the corrected ones, and the outbox keeps what was sent."""
    import yaml

    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)

    def set_contact(name: str, email: str) -> None:
        raw = yaml.safe_load((config / "roadmap.yml").read_text())
        raw["alerts"]["state_contact"] = {"name": name, "email": email}
        (config / "roadmap.yml").write_text(yaml.safe_dump(raw))

    db = tmp_path / "wh" / "roadmap.duckdb"
    write_problem_files(landing)
    set_contact("Old Office", "old-office@mi.example.gov")
    monkeypatch.setenv("ROADMAP_ALERT_FROM", "typo@localhost.invalid")
    settings, queued = ingest_and_queue(landing, db, "run-1")
    # ingest_and_queue reads the project's config: queue again with ours
    import duckdb

    con = duckdb.connect(str(db))
    try:
        con.execute("delete from audit.alerts")
        for m in Outbox(db.parent / "outbox").messages("pending"):
            m.eml.unlink()
            m.sidecar.unlink()
        settings = load_settings(config, landing_dir=landing.path, warehouse=db)
        queue_run_alerts(con, settings, "run-1")
    finally:
        con.close()
    (pending,) = [m for m in Outbox(settings.outbox_dir).messages("pending") if m.alert_id == "district-01010"]
    assert b"Old Office" in pending.eml.read_bytes() or "Old Office" in pending.eml.read_text(errors="replace")

    monkeypatch.setenv("ROADMAP_ALERT_FROM", "roadmap@mi.example.gov")
    monkeypatch.setenv("ROADMAP_ALERT_TO", "state-office@mi.example.gov, deputy@mi.example.gov")
    set_contact("MDE Office of Educational Technology", "edtech@mi.example.gov")
    settings = load_settings(config, landing_dir=landing.path, warehouse=db)
    assert send_pending(settings, options=FAST).sent == 3
    for received in mail.received:
        assert received.msg["From"] == "roadmap@mi.example.gov"
        assert received.msg["Reply-To"] == "edtech@mi.example.gov"
        assert "Old Office" not in received.everything() and "old-office@" not in received.everything()
    (alcona,) = mail.to("data@alcona.example.org")
    assert "MDE Office of Educational Technology (edtech@mi.example.gov)" in alcona.text()
    assert "MDE Office of Educational Technology" in alcona.html()
    (state,) = [r for r in mail.received if r.msg["X-Roadmap-Alert-Id"] == "state"]
    assert sorted(state.rcpt_tos) == ["deputy@mi.example.gov", "state-office@mi.example.gov"]
    (sent,) = [m for m in Outbox(settings.outbox_dir).messages("sent") if m.alert_id == "district-01010"]
    assert sent.eml.read_bytes().replace(b"\r\n", b"\n") == alcona.raw.replace(b"\r\n", b"\n")


def test_without_a_sender_nothing_is_sent_until_one_is_set(landing, tmp_path, mail, monkeypatch):
    monkeypatch.delenv("ROADMAP_ALERT_FROM")
    write_problem_files(landing)
    settings, queued = ingest_and_queue(landing, tmp_path / "wh" / "roadmap.duckdb", "run-1")
    assert queued
    delivery = send_pending(settings, options=FAST)
    assert delivery.sent == 0 and delivery.pending == 3 and "ROADMAP_ALERT_FROM" in delivery.error
    assert mail.received == []
    assert all("ROADMAP_ALERT_FROM" in m.meta["last_error"] for m in Outbox(settings.outbox_dir).messages("pending"))
    monkeypatch.setenv("ROADMAP_ALERT_FROM", "roadmap@mi.example.gov")
    assert send_pending(settings, options=FAST).sent == 3
    assert {r.msg["From"] for r in mail.received} == {"roadmap@mi.example.gov"}


def test_alerts_switched_off_in_the_config_queue_nothing(landing, tmp_path, mail):
    import yaml

    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    raw = yaml.safe_load((config / "roadmap.yml").read_text())
    raw["alerts"]["enabled"] = False
    (config / "roadmap.yml").write_text(yaml.safe_dump(raw))
    write_problem_files(landing)
    db = tmp_path / "wh" / "roadmap.duckdb"
    db.parent.mkdir(parents=True)
    con, _, _ = run_ingestion(landing.path, db, run_id="run-1")
    try:
        audit.finish_run(con, "run-1", "succeeded")
        settings = load_settings(config, landing_dir=landing.path, warehouse=db)
        assert queue_run_alerts(con, settings, "run-1") == []
    finally:
        con.close()
    assert send_pending(settings, options=FAST).sent == 0 and mail.received == []
