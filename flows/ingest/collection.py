"""The yearly collection: which families each district owes for a school year, by when
(`collection:` in config/roadmap.yml), and the reminders to districts that have not
sent them (docs/DATA_SPEC.md, "Submission tracking").

    reference.collection_deadlines   school_year, family, deadline, remind_days_before

is rewritten from the config by every run (like the rest of `reference`), and
marts.submission_status (dbt) joins it to what each district sent. After the build,
`queue_reminders` queues one e-mail per district and deadline to the district's data
contact (the latest directory's `data_contact_email`) about its own families still
missing, `remind_days_before` days before the deadline up to the deadline itself. The
families reminded are recorded in `audit.reminders`, published with the run: a family
is reminded once per district and deadline, whatever the number of nights, and never
once its file was received (held back or not). Delivery is the alerts' outbox
(flows/alerts): exactly once, with a stable Message-ID.

"Today" is the date in the schedule's time zone, or ROADMAP_TODAY (YYYY-MM-DD) when set.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import duckdb

from ..school_years import is_school_year
from ..settings import ConfigError, Settings
from ..warehouse.db import run
from .families import YEARLY_FAMILIES
from .latest_submission import latest_directory_sql

TODAY_VARIABLE = "ROADMAP_TODAY"

DEADLINES_DDL = """
create or replace table reference.collection_deadlines (
    school_year varchar not null,
    family varchar not null,
    deadline date not null,
    remind_days_before integer not null,
    primary key (school_year, family)
)"""

REMINDERS_DDL = """
create table if not exists audit.reminders (
    district_code varchar,
    school_year varchar,
    family varchar,
    deadline date,
    run_id varchar,
    alert_id varchar,
    recipient varchar,
    queued_at timestamptz
)"""


@dataclass(frozen=True)
class Deadline:
    school_year: str
    family: str
    deadline: dt.date
    remind_days_before: int


def _date(value, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not a date written YYYY-MM-DD") from None


def deadlines(settings: Settings) -> list[Deadline]:
    """The configured deadlines, one per school year and yearly family.

    collection:
      remind_days_before: 14
      deadlines:
        "2025-26": "2026-10-15"                  # every yearly family
        "2026-27": {default: "2027-10-15", pl_participation: "2027-07-31"}
    """
    section = settings.section("collection")
    where = f"collection in {settings.config_file}"
    try:
        remind = int(section.get("remind_days_before", 14))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: remind_days_before must be a whole number of days") from None
    if remind < 0:
        raise ConfigError(f"{where}: remind_days_before must be 0 or more days")
    out = []
    for year, value in (section.get("deadlines") or {}).items():
        year = str(year)
        if not is_school_year(year):
            raise ConfigError(f"{where}: deadlines: {year!r} is not a school year written YYYY-YY (e.g. 2025-26)")
        per_family = value if isinstance(value, dict) else {"default": value}
        unknown = set(per_family) - {"default", *YEARLY_FAMILIES}
        if unknown:
            raise ConfigError(
                f"{where}: deadlines {year}: {', '.join(sorted(map(str, unknown)))} is not a yearly "
                f"family ({', '.join(YEARLY_FAMILIES)}) nor 'default'"
            )
        for family in YEARLY_FAMILIES:
            given = per_family.get(family, per_family.get("default"))
            if given is not None:
                out.append(Deadline(year, family, _date(given, f"{where}: deadlines {year} {family}"), remind))
    return out


def today(settings: Settings | None) -> dt.date:
    """The date the run is in: ROADMAP_TODAY (YYYY-MM-DD) when set, else today in the
    schedule's time zone (schedule.timezone, America/Detroit by default)."""
    value = os.environ.get(TODAY_VARIABLE, "").strip()
    if value:
        return _date(value, TODAY_VARIABLE)
    zone = str((settings.section("schedule") if settings else {}).get("timezone") or "America/Detroit")
    try:
        return dt.datetime.now(ZoneInfo(zone)).date()
    except Exception:
        return dt.date.today()


def read_deadlines(config_dir) -> list[Deadline]:
    """The deadlines of the roadmap.yml in `config_dir` (none when it has none)."""
    from pathlib import Path

    from ..settings import CONFIG_FILE, load_settings

    path = Path(config_dir) / CONFIG_FILE
    if not path.is_file():
        return []
    return deadlines(load_settings(path))


def write_deadlines(con: duckdb.DuckDBPyConnection, rows: list[Deadline]) -> None:
    """reference.collection_deadlines, rewritten (flows/warehouse/reference.py load_reference)."""
    run(con, "create schema if not exists reference")
    run(con, DEADLINES_DDL)
    if rows:
        con.executemany(
            "insert into reference.collection_deadlines values (?, ?, ?, ?)",
            [(d.school_year, d.family, d.deadline, d.remind_days_before) for d in rows],
        )


def outstanding_districts(con: duckdb.DuckDBPyConnection, as_of: dt.date, limit: int = 200) -> list[dict]:
    """Districts with families missing or held back, for school years whose collection
    has a deadline (the state's alert and the review): one row per district and school
    year, with its families in each state. One grouped query."""
    cur = con.execute(
        """
        select school_year, district_code, any_value(district_name) as district_name,
               list(family order by family) filter (where status = 'missing') as missing,
               list(family || ' (' || coalesce(held_for, 'held') || ')' order by family)
                   filter (where status = 'held_back') as held_back,
               min(deadline) as deadline, min(deadline) < ? as overdue,
               count(*) over () as districts
        from marts.submission_status
        where status in ('missing', 'held_back') and deadline is not null
        group by school_year, district_code
        order by school_year desc, overdue desc, district_code
        limit ?
        """,
        [as_of, limit],
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def due_reminders(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> list[dict]:
    """Per district and deadline: its families still missing (nothing received) whose
    reminder window is open today (deadline - remind_days_before <= today <= deadline),
    not reminded before, with the district's data contact. One query."""
    run(con, REMINDERS_DDL)
    cur = con.execute(
        f"""
        with contacts as ({latest_directory_sql()})
        select s.district_code, c.district_name, c.data_contact_email, s.school_year, s.deadline,
               list(s.family order by s.family) as families
        from marts.submission_status s
        join reference.collection_deadlines d using (school_year, family)
        join contacts c using (district_code)
        where s.status = 'missing'
          and ? between s.deadline - d.remind_days_before and s.deadline
          and (s.district_code, s.school_year, s.family, s.deadline) not in (
              select (district_code, school_year, family, deadline) from audit.reminders
          )
        group by all
        order by s.deadline, s.district_code
        """,
        [as_of],
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
