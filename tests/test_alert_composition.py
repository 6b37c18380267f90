"""The alert e-mails of a run are composed set-based (a few grouped queries over all
districts, flows/alerts/compose.py) and must be exactly the messages of the reference
composition, district by district (tests/alert_reference.py): same alerts in the same
order, same recipients, subjects, bodies and attachments, byte for byte once the two
things that differ between any two compositions (the Date header and the random MIME
boundaries) are set aside. Checked on warehouses the real pipeline built, with many
districts and every kind of problem, and with limits small enough to cut lists short."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest

from alert_reference import compose_reference
from flows.alerts import AlertOptions, SmtpSettings
from flows.alerts.compose import compose_run_alerts
from flows.warehouse import audit
from landing_files import (
    CONNECTIVITY,
    DEVICES,
    DIRECTORY_ROWS,
    ENROLLMENT,
    STAFFING,
    Landing,
    run_ingestion,
)

SMTP = SmtpSettings(
    host=None,
    port=25,
    user=None,
    sender="roadmap@mi.example.gov",
    state_recipients=("state-office@mi.example.gov", "deputy@mi.example.gov", "data.quality.team@mi.example.gov"),
    state_contact_name="MDE Office of Educational Technology",
    state_contact_email="edtech@mi.example.gov",
)
RUN = "20261128T215927Z-781fca"  # a real run id: long enough to fold the attachments' headers
SMTP_NO_STATE = SmtpSettings(host=None, port=25, user=None, sender=None)
OPTIONS = [
    AlertOptions(),
    AlertOptions(example_rows=1, max_attachment_rows=2, subject_prefix="[test]"),
    AlertOptions(example_rows=0, max_attachment_rows=1),
]

_BOUNDARY = re.compile(rb"={15}\d+==")
_DATE = re.compile(rb"^Date: .*$", re.M)


def normalised(message) -> bytes:
    raw = message if isinstance(message, bytes) else bytes(message)
    boundaries = {}
    raw = _BOUNDARY.sub(lambda m: boundaries.setdefault(m.group(0), b"BOUNDARY-%d" % len(boundaries)), raw)
    return _DATE.sub(b"Date: -", raw)


def assert_same_alerts(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Compares the composition with the reference under several options, mail settings
    and chunk sizes; returns how many messages were compared."""
    compared = 0
    for smtp, options, chunks in (
        (SMTP, OPTIONS[0], (1, 1000)),
        (SMTP, OPTIONS[1], (3,)),
        (SMTP_NO_STATE, OPTIONS[2], (2,)),
    ):
        expected = compose_reference(con, run_id, smtp, options)
        for chunk in chunks:
            got = list(compose_run_alerts(con, run_id, smtp, options, chunk_districts=chunk))
            assert [a.alert_id for a in got] == [a.alert_id for a in expected]
            for new, old in zip(got, expected, strict=True):
                assert (new.scope, new.district_code, new.recipients, new.subject, new.state_contact) == (
                    old.scope,
                    old.district_code,
                    old.recipients,
                    old.subject,
                    old.state_contact,
                ), new.alert_id
                assert normalised(new.message) == normalised(old.message), (new.alert_id, options)
                compared += 1
    return compared


def districts_alerted(con, run_id: str) -> int:
    return con.execute(
        "select count(distinct district_code) from audit.issues where run_id = ? and district_code is not null",
        [run_id],
    ).fetchall()[0][0]


def test_generated_defects_of_every_kind_compose_as_the_reference(tmp_path):
    """Two nights of generated data with a quarter of the districts defective (errors,
    warnings, held-back rows of several families, resubmissions, year-over-year swings)."""
    from roadmap_demo_data.generate import generate_landing

    landing = tmp_path / "landing"
    generate_landing(landing, districts=40, years=2, seed=11, defects=0.25)
    db = tmp_path / "wh" / "roadmap.duckdb"
    db.parent.mkdir(parents=True)
    con, _, _ = run_ingestion(landing, db, run_id=RUN)
    try:
        audit.finish_run(con, RUN, "succeeded")
        assert districts_alerted(con, RUN) >= 8
        rules = {r[0] for r in con.execute("select distinct rule from audit.issues where run_id = ?", [RUN]).fetchall()}
        assert len(rules) >= 5, rules
        assert con.execute("select count(distinct family) from audit.quarantine_rows").fetchall()[0][0] >= 2
        assert assert_same_alerts(con, RUN) > 0
    finally:
        con.close()


def test_hand_written_problems_compose_as_the_reference(tmp_path):
    """Districts without a contact, not in the directory, with a
    line separator in the name; issues of no district; a row with several issues; a family
    whose files differ in their columns; a year-over-year swing (no file, no line)."""
    landing = Landing(tmp_path / "landing")
    landing.directory(
        rows=DIRECTORY_ROWS
        + [
            "01030,Cedar\u0085Falls\u2028Schools,LEA,01000,Alcona,rural,data@cedar.example.org",
        ]
    )
    landing.directory(
        "districts_2023-24.csv",
        rows=DIRECTORY_ROWS
        + [
            "01030,Cedar\u0085Falls\u2028Schools,LEA,01000,Alcona,rural,data@cedar.example.org",
        ],
    )
    landing.csv(
        "enrollment_2023-24.csv",
        ENROLLMENT,
        [
            "2023-24,01010,00101,Alcona Elementary,300",
            "2023-24,01020,00201,Bay Harbor K-12,400",
            "2023-24,01030,00301,Cedar Falls,150",
        ],
    )
    landing.csv(
        "enrollment_2024-25.csv",
        ENROLLMENT,
        [
            "2024-25,01010,00101,Alcona Elementary,900",  # a swing of 200 %
            "2024-25,01010,00102,Alcona High,-5",
            "2024-25,01020,00201,Bay Harbor K-12,4x0",
            "2024-25,01030,00301,Cedar Falls,-1",
            "2024-25,01700,00701,Lighthouse Campus,120",
            "2024-25,09999,00901,Nowhere School,-3",
        ],
    )
    landing.csv(
        "staffing_2024-25.csv",
        STAFFING,
        [
            "2024-25,01020,=1+2,-2,1,1",
            "2024-25,01700,-1,1,1,1",
            "2024-25,01010,30,3,2,1",
            "2024-25,01030,x,y,z,1",
        ],
    )
    landing.csv(
        "staffing_2024-25_fix.csv",
        STAFFING.replace(",tech_staff_count", ""),
        [
            "2024-25,01030,-4,1,1",
        ],
    )
    landing.csv("staffing_2024-25_b.csv", "notes," + STAFFING, ["=HYPERLINK(1),2024-25,01700,-2,1,1,1"])
    landing.csv(
        "connectivity_2024-25.csv",
        CONNECTIVITY,
        [
            "2024-25,01020,<b>fast</b>,,90,400,50,10,5",
            "2024-25,01010,600,1000,95,500,60,40,20",
        ],
    )
    landing.csv("devices_2024-25.csv", DEVICES, ["2024-25,01010,00199,laptop,student,10,2,1"])
    landing.csv("laptops_2024-25.csv", STAFFING, ["2024-25,01010,30,3,2,1"])
    db = tmp_path / "wh" / "roadmap.duckdb"
    db.parent.mkdir(parents=True)
    con, _, _ = run_ingestion(landing.path, db, run_id="run-1")
    try:
        audit.finish_run(con, "run-1", "succeeded")
        assert districts_alerted(con, "run-1") >= 5
        assert (
            con.execute(
                "select count(*) from audit.issues where run_id = 'run-1' and district_code is null"
            ).fetchall()[0][0]
            >= 1
        )
        assert assert_same_alerts(con, "run-1") > 0
    finally:
        con.close()


@pytest.mark.slow
def test_the_demo_warehouse_composes_as_the_reference(demo_warehouse, tmp_path):
    """The warehouse the nightly flow (with dbt and the checks after the build) built."""
    copy = tmp_path / "roadmap.duckdb"
    shutil.copyfile(demo_warehouse.warehouse, copy)
    con = duckdb.connect(str(copy))
    try:
        run_id = demo_warehouse.summary.run_id
        assert districts_alerted(con, run_id) >= 5
        assert assert_same_alerts(con, run_id) > 0
    finally:
        con.close()


@pytest.mark.fast
def test_no_issue_no_message(tmp_path):
    landing = Landing(tmp_path / "landing")
    landing.directory()
    landing.csv("staffing_2024-25.csv", STAFFING, ["2024-25,01010,30,3,2,1"])
    con, _, _ = run_ingestion(landing.path, tmp_path / "wh.duckdb", run_id="run-1")
    try:
        assert list(compose_run_alerts(con, "run-1", SMTP, AlertOptions())) == []
        assert compose_reference(con, "run-1", SMTP, AlertOptions()) == []
    finally:
        con.close()


def _many_districts(db: Path, districts: int) -> None:
    """A run in which each of `districts` districts has two warnings and one held-back row
    (written straight into the audit tables: the shape of a night with heavy warnings)."""
    from flows.nightly import prepare_schemas
    from flows.settings import load_settings

    con = duckdb.connect(str(db))
    try:
        prepare_schemas(con, load_settings(None, landing_dir=db.parent, warehouse=db))
        audit.start_run(con, "run-1", None, str(db.parent))
        con.execute(
            """
            insert into raw.districts by name
            select lpad(i::varchar, 5, '0') as district_code, 'District ' || i as district_name,
                   'data@d' || i || '.example.org' as data_contact_email, 1 as _received_seq, i + 2 as _line
            from range(?) t(i)
            """,
            [districts],
        )
        con.execute(
            """
            insert into audit.issues
            select 'run-1', 'f1', 'staffing_2024-25.csv', 'staffing', '2024-25', lpad(i::varchar, 5, '0'),
                   i * 2 + j + 2, rule, 'warning', 'teacher_count', (i * 7 % 13)::varchar,
                   rule || ': check the count of line ' || i
            from range(?) t(i), (values (0, 'low_ratio'), (1, 'yoy_swing')) r(j, rule)
            """,
            [districts],
        )
        con.execute(
            """
            insert into audit.quarantine_rows
            select 'run-1', 'f1', 'staffing', '2024-25', lpad(i::varchar, 5, '0'), i * 2 + 2,
                   to_json({'school_year': '2024-25', 'district_code': lpad(i::varchar, 5, '0'), 'teacher_count': 'x'})
            from range(?) t(i)
            """,
            [districts],
        )
        audit.finish_run(con, "run-1", "succeeded")
    finally:
        con.close()


def _queue_peak(tmp_path: Path, districts: int) -> tuple[int, Path]:
    """Python's peak memory while queueing the run's messages, and the outbox folder."""
    import tracemalloc

    from flows.alerts import queue_run_alerts
    from flows.settings import load_settings

    db = tmp_path / f"wh{districts}" / "roadmap.duckdb"
    db.parent.mkdir()
    _many_districts(db, districts)
    con = duckdb.connect(str(db))
    try:
        settings = load_settings(None, landing_dir=db.parent, warehouse=db)
        tracemalloc.start()
        queued = queue_run_alerts(con, settings, "run-1", smtp=SMTP_NO_STATE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        con.close()
    assert len(queued) == districts
    return peak, db.parent / "outbox" / "pending" / "run-1"


def _held_message_size(eml: Path) -> float:
    """What holding one such composed message in memory costs (as the e-mail object the
    messages were built as before they were streamed)."""
    import email
    import email.policy
    import tracemalloc

    from flows.alerts.compose import build_message

    parsed = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    text, html = parsed.get_body(("plain",)).get_content(), parsed.get_body(("html",)).get_content()
    attached = [(p.get_filename(), p.get_content().encode("utf-8")) for p in parsed.iter_attachments()]
    tracemalloc.start()
    try:
        held = [
            build_message(
                run_id="run-1",
                alert_id=f"district-{i}",
                smtp=SMTP_NO_STATE,
                recipients=["a@b.example"],
                subject="s",
                text=text,
                html=html,
                attachments=attached,
            )
            for i in range(20)
        ]
        return tracemalloc.get_traced_memory()[0] / len(held)
    finally:
        tracemalloc.stop()


def test_memory_while_queueing_does_not_grow_with_the_messages(tmp_path):
    """Each message goes to the outbox as it is composed: four times the districts cost a
    small fraction of what holding the extra messages would."""
    small_peak, _ = _queue_peak(tmp_path, 150)
    large_peak, outbox = _queue_peak(tmp_path, 600)
    held = _held_message_size(next(outbox.glob("district-*.eml")))
    growth_per_district = (large_peak - small_peak) / 450
    assert growth_per_district < held / 4, (small_peak, large_peak, held)
