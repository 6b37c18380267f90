"""Submission tracking (flows/ingest/collection.py, marts.submission_status) and the reminders
to districts before the collection deadline, through nightly runs of the real flow
(ingest, dbt, publish, outbox) and a real SMTP server (aiosmtpd). "Today" is set with
ROADMAP_TODAY, as an operator would (docs/INTERFACE.md)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from landing_files import CONNECTIVITY, DEVICES, ENROLLMENT, PL, STAFFING
from mail_server import MailServer, _free_port

REPO = Path(__file__).resolve().parent.parent
STATE_TO = "state-office@mi.example.gov"
SY = "2024-25"
DEADLINE = "2025-10-15"


@pytest.fixture
def mail(monkeypatch):
    server = MailServer(_free_port()).start()
    monkeypatch.setenv("ROADMAP_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ROADMAP_SMTP_PORT", str(server.port))
    monkeypatch.setenv("ROADMAP_ALERT_TO", STATE_TO)
    monkeypatch.setenv("ROADMAP_ALERT_FROM", "roadmap@mi.example.gov")
    yield server
    server.stop()


def _config(tmp_path: Path, collection: dict) -> Path:
    config_dir = tmp_path / "config"
    shutil.copytree(REPO / "config", config_dir)
    raw = yaml.safe_load((config_dir / "roadmap.yml").read_text())
    raw["alerts"].update(send_retries=1, send_retry_delay_seconds=0.01)
    raw["collection"] = collection
    (config_dir / "roadmap.yml").write_text(yaml.safe_dump(raw))
    return config_dir / "roadmap.yml"


def _reminders(mail) -> list:
    """The reminder e-mails the server received (not the data-quality alerts)."""
    return [m for m in mail.received if str(m.msg["X-Roadmap-Alert-Id"]).startswith("reminder-")]


def _status(warehouse: Path) -> dict[tuple[str, str], tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "select district_code, family, status, received, published, file_name, held_for, deadline "
            "from marts.submission_status where school_year = ?",
            [SY],
        ).fetchall()
        reminders = con.execute("select district_code, family, deadline from audit.reminders order by all").fetchall()
    finally:
        con.close()
    return {(r[0], r[1]): r[2:] for r in rows}, reminders


@pytest.mark.slow
def test_reminders_go_once_to_districts_missing_files_and_never_to_those_that_sent_them(
    prefect_server, landing, tmp_path, mail, monkeypatch
):
    """01010 sends all five files, 01020 sends enrollment, a staffing file held back for a
    bad value and an unreadable devices file,
    01000 (the ISD) sends nothing, 01700 has no data contact. Before the reminder window
    nothing goes; in it, 01000 is reminded of its five families and 01020 of the two
    it never sent (a file held back was sent); the next night, nobody again."""
    from flows.nightly import nightly

    config = _config(tmp_path, {"remind_days_before": 14, "deadlines": {SY: DEADLINE}})
    warehouse = tmp_path / "wh" / "roadmap.duckdb"
    args = dict(landing_dir=str(landing.path), warehouse=str(warehouse), config_file=str(config), with_report=False)
    landing.directory()
    landing.csv(f"enrollment_{SY}_01010.csv", ENROLLMENT, [f"{SY},01010,00101,Alcona Elementary,300"])
    landing.csv(f"staffing_{SY}_01010.csv", STAFFING, [f"{SY},01010,30,3,2,1"])
    landing.csv(f"devices_{SY}_01010.csv", DEVICES, [f"{SY},01010,00101,laptop,student,100,10,5"])
    landing.csv(f"connectivity_{SY}_01010.csv", CONNECTIVITY, [f"{SY},01010,600,1000,95,500,60,40,20"])
    landing.csv(
        f"pl_participation_{SY}_01010.csv",
        PL,
        [f"{SY},01010,E1,teacher,A1,Intro,course,REMC,online,TPACK,2,2024-09-01"],
    )
    landing.csv(f"enrollment_{SY}_01020.csv", ENROLLMENT, [f"{SY},01020,00201,Bay Harbor K-12,400"])
    landing.csv(f"staffing_{SY}_01020.csv", STAFFING, [f"{SY},01020,twenty,2,1,1"])
    landing.write(f"devices_{SY}_01020.csv", (REPO / "tests/corpus/binary_data.csv").read_bytes())  # held back whole

    # night 1: a month before the deadline, outside the window
    monkeypatch.setenv("ROADMAP_TODAY", "2025-09-15")
    first = nightly(**args)
    assert first.status == "succeeded"
    status, reminders = _status(warehouse)
    assert reminders == []
    assert _reminders(mail) == []
    # the mart, by hand: 4 districts x 5 families
    assert len(status) == 20
    assert {f: s[0] for (d, f), s in status.items() if d == "01010"} == dict.fromkeys(
        ["enrollment", "staffing", "devices", "connectivity", "pl_participation"], "published"
    )
    assert status[("01020", "enrollment")][:4] == ("published", True, True, f"enrollment_{SY}_01020.csv")
    assert status[("01020", "staffing")][:5] == ("held_back", True, False, f"staffing_{SY}_01020.csv", "bad_type")
    assert status[("01020", "devices")][:5] == ("held_back", True, False, f"devices_{SY}_01020.csv", "unreadable_file")
    assert status[("01020", "connectivity")][:3] == ("missing", False, False)
    assert all(s[0] == "missing" for (d, _), s in status.items() if d in ("01000", "01700"))
    assert {s[5] for s in status.values()} == {dt.date(2025, 10, 15)}
    (state,) = mail.to(STATE_TO)
    text = state.text()
    assert "SUBMISSIONS (as of 2025-09-15" in text
    assert (
        "01000 Alpha ISD (due 2025-10-15): missing connectivity, devices, enrollment, pl_participation, staffing"
        in text
    )
    assert "held back devices (unreadable_file), staffing (bad_type)" in text
    assert "01010 Alcona" not in text.split("SUBMISSIONS")[1]
    mail.received.clear()

    # night 2: ten days before the deadline
    monkeypatch.setenv("ROADMAP_TODAY", "2025-10-05")
    second = nightly(**args)
    assert second.status == "succeeded" and second.files_new == 0
    assert len(_reminders(mail)) == len(mail.received) == 2  # no new issue: no alert, only the reminders
    reminded = {tuple(m.rcpt_tos): m for m in _reminders(mail)}
    assert sorted(reminded) == [("data@bayharbor.example.org",), ("isd@alpha.example.org",)]
    isd = reminded[("isd@alpha.example.org",)]
    assert "2025-10-15" in str(isd.msg["Subject"]) and isd.msg["Message-ID"]
    for family in ("enrollment", "staffing", "devices", "connectivity", "pl_participation"):
        assert f"{family}_{SY}_01000.csv" in isd.text()
    bay = reminded[("data@bayharbor.example.org",)].text()
    assert "connectivity_2024-25_01020.csv" in bay and "pl_participation_2024-25_01020.csv" in bay
    for sent in ("staffing", "enrollment", "devices"):  # sent (two held back): never reminded
        assert sent not in bay
    assert "01010" not in bay and "Alpha" not in bay  # nothing of another district
    _, reminders = _status(warehouse)
    assert len(reminders) == 7 and {r[0] for r in reminders} == {"01000", "01020"}
    mail.received.clear()

    # night 3: the ISD sends its enrollment; nobody is reminded again
    landing.csv(f"enrollment_{SY}_01000.csv", ENROLLMENT, [f"{SY},01000,00001,ISD Center,50"])
    monkeypatch.setenv("ROADMAP_TODAY", "2025-10-06")
    third = nightly(**args)
    assert third.status == "succeeded" and third.files_new == 1
    assert [m.rcpt_tos for m in mail.received] == []
    status, reminders = _status(warehouse)
    assert status[("01000", "enrollment")][0] == "published" and len(reminders) == 7

    # the review shows the submission status as of the run
    from flows.report import build_report

    result = build_report(warehouse, tmp_path / "reports", None, config_dir=config.parent)
    html = result.html_path.read_text()
    section = html.split('id="submission-status"')[1].split("</section>")[0]
    assert "as of 2025-10-06" in html.split('id="submission-status"')[1][:80]
    assert "2024-25: due 2025-10-15" in section
    row = section.split("01000 Alpha ISD")[1].split("</tr>")[0]
    assert "connectivity, devices, pl_participation, staffing" in row and "enrollment" not in row
    assert "staffing (bad_type)" in section.split("01020 Bay Harbor")[1].split("</tr>")[0]
    assert "01010 Alcona" not in section


@pytest.mark.fast
def test_collection_config_is_checked_with_messages_that_say_what_to_fix(tmp_path, monkeypatch):
    from flows.ingest.collection import deadlines, today
    from flows.settings import ConfigError, load_settings

    good = load_settings(
        _config(
            tmp_path / "a",
            {
                "remind_days_before": 7,
                "deadlines": {"2025-26": {"default": "2026-10-15", "pl_participation": "2026-07-31"}},
            },
        )
    )
    got = {(d.school_year, d.family): (d.deadline, d.remind_days_before) for d in deadlines(good)}
    assert got[("2025-26", "pl_participation")] == (dt.date(2026, 7, 31), 7)
    assert got[("2025-26", "devices")] == (dt.date(2026, 10, 15), 7) and len(got) == 5
    for collection, says in [
        ({"deadlines": {"2025": "2026-10-15"}}, "not a school year"),
        ({"deadlines": {"2025-26": "15/10/2026"}}, "not a date written YYYY-MM-DD"),
        ({"deadlines": {"2025-26": {"laptops": "2026-10-15"}}}, "not a yearly family"),
        ({"remind_days_before": -1}, "0 or more days"),
    ]:
        with pytest.raises(ConfigError, match=says):
            deadlines(load_settings(_config(tmp_path / says.replace(" ", "_"), collection)))
    monkeypatch.setenv("ROADMAP_TODAY", "2025-10-05")
    assert today(good) == dt.date(2025, 10, 5)
    monkeypatch.setenv("ROADMAP_TODAY", "yesterday")
    with pytest.raises(ConfigError, match="ROADMAP_TODAY"):
        today(good)
