"""The review's submission status (marts.submission_status): for each school year with
a collection deadline (and the review's year), how many districts have each yearly
family published, held back or missing, and the districts with something outstanding,
as of the run. Counts of districts, never of students: nothing to suppress."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ..warehouse.db import scalar


def _exists(con) -> bool:
    return bool(
        scalar(
            con,
            "select count(*) from information_schema.tables "
            "where table_schema = 'marts' and table_name = 'submission_status'",
        )
    )


def as_of(config_dir: Path) -> dt.date:
    """Today for the collection (ROADMAP_TODAY, else the schedule's time zone)."""
    from ..ingest.collection import today
    from ..settings import config_location, load_settings

    try:
        settings = load_settings(config_location(config_dir)[1])
    except Exception:  # a report folder without roadmap.yml: the machine's date
        return today(None)
    return today(settings)


def submission_status(con, school_year: str, when: dt.date) -> dict | None:
    """{"as_of", "years": [{school_year, deadline, families: [...]}], "outstanding": [...], "total"}
    or None when the warehouse has no submission_status (built before it existed)."""
    if not _exists(con):
        return None
    from ..ingest.collection import outstanding_districts

    cur = con.execute(
        """
        select school_year, family, min(deadline) as deadline,
               count(*) filter (where status = 'published') as published,
               count(*) filter (where status = 'held_back') as held_back,
               count(*) filter (where status = 'missing') as missing
        from marts.submission_status
        where deadline is not null or school_year = ?
        group by school_year, family
        order by school_year desc, family
        """,
        [school_year],
    )
    names = [d[0] for d in cur.description]
    years: dict[str, dict] = {}
    for row in cur.fetchall():
        r = dict(zip(names, row, strict=True))
        y = years.setdefault(
            r["school_year"], {"school_year": r["school_year"], "deadline": r["deadline"], "families": []}
        )
        y["families"].append(r)
    outstanding = outstanding_districts(con, when)
    return {
        "as_of": f"{when:%Y-%m-%d}",
        "years": list(years.values()),
        "outstanding": outstanding,
        "total": int(outstanding[0]["districts"]) if outstanding else 0,
    }
