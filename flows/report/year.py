"""The school year a review shows: the one requested, else the latest with
substantially complete data (report.default_year_min_complete_share of
config/roadmap.yml), and the sentence that says why."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .cells import records


@dataclass
class YearChoice:
    """The school year a review shows, and why."""

    school_year: str
    reason: str
    requested: bool
    shown_years: list[str]
    later_years: list[str] = field(default_factory=list)


def choose_school_year(years: pd.DataFrame, requested: str | None, min_share: float) -> YearChoice:
    """The year to show: the one requested, else the latest school year with
    substantially complete data: at least ``min_share`` of the districts in its
    directory have published data in all five yearly files. When no year reaches it,
    the most complete year (the latest of equals). A year still being collected, or a
    stray later year with a few rows, is never the default."""
    recs = records(years)
    if not recs:
        raise ValueError("the warehouse has no school year on record")
    on_record = [r["school_year"] for r in recs]

    def share(r) -> float:
        d = int(r["districts_in_directory"] or 0)
        return int(r["districts_complete"] or 0) / d if d else 0.0

    def describe(r) -> str:
        return (
            f"{int(r['districts_complete'] or 0):,} of the {int(r['districts_in_directory'] or 0):,} districts "
            f"in its directory ({100 * share(r):.0f}%) submitted all five yearly files"
        )

    by_year = {r["school_year"]: r for r in recs}
    pct = f"{100 * min_share:.0f}%"
    if requested:
        if requested not in by_year:
            raise ValueError(f"school year {requested} is not on record; years on record: {', '.join(on_record)}")
        sy = requested
        reason = f"This review shows {sy}, the year requested: {describe(by_year[sy])}."
        requested_flag = True
    else:
        qualifying = [r for r in recs if share(r) >= min_share and share(r) > 0]
        if qualifying:
            pick = qualifying[-1]
            sy = pick["school_year"]
            reason = (
                f"This review shows {sy}, the latest school year with substantially complete data "
                f"(at least {pct} of the districts with all five yearly files): {describe(pick)}."
            )
        else:
            best = max(recs, key=lambda r: (share(r), r["school_year"]))
            sy = best["school_year"]
            reason = (
                f"This review shows {sy}: no school year yet has {pct} of its districts with all five "
                f"yearly files, and {sy} is the most complete: {describe(best)}."
            )
        requested_flag = False
    later = [y for y in on_record if y > sy]
    if later and not requested_flag:
        reason += (
            " Later years on record are not complete enough yet: "
            + "; ".join(f"{y} ({describe(by_year[y])})" for y in later)
            + "."
        )
    shown = [y for y in on_record if y <= sy]
    return YearChoice(sy, reason, requested_flag, shown, later)
