"""The SQL side of suppression (the rules are ``flows.report.suppression``'s):
suppression is decided once per connection (:func:`prepare`: primary and
complementary, ``suppression.protect``) and kept in the temporary table
``report_suppression`` (one row per scope x district x year, a status per figure:
0 published, 1 withheld to protect another figure ``np``, 2 under the threshold
``<10``), and the totals of every grouping of ``privacy.groupings`` with their status
in ``report_group_suppression`` (grouping, group_value, school_year, count, value,
status: what a view of ISD or locale totals may publish). Every query of the review
and the exports joins them, so withheld values are turned into NULL (with their
status) before any row reaches Python. The suppressed long table of metric values is
built once, as the temporary table ``report_mv``.

Reads ``marts.district_year_metrics`` and ``marts.state_year_metrics`` (the people
counts of ``suppression.PEOPLE_COUNTS`` and the other sides of ``suppression.RATIOS``)
and ``marts.metric_values``.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..school_years import previous_school_year_sql
from . import suppression
from .sql import column_names, fetch, quote_ident, quote_literal

SUPPRESSION_TABLE = "report_suppression"
GROUPS_TABLE = "report_group_suppression"
MV_TABLE = "report_mv"


def suppression_inputs(con) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What :func:`flows.report.suppression.protect` needs, in two bulk reads."""
    figures = set(suppression.BASIS)
    ratio_sides = {c for num, den, _ in suppression.RATIOS.values() for c in (num, den)}
    wanted = set(suppression.PEOPLE_COUNTS) | figures | ratio_sides
    d_cols = column_names(con, "marts", "district_year_metrics")
    s_cols = column_names(con, "marts", "state_year_metrics")
    keys = ["district_code", "school_year", "locale", "district_type", "isd_code"]
    d_sel = keys + sorted(wanted & d_cols)
    s_sel = ["school_year"] + sorted(wanted & s_cols)
    districts = fetch(con, f"select {', '.join(map(quote_ident, d_sel))} from marts.district_year_metrics")
    state = fetch(con, f"select {', '.join(map(quote_ident, s_sel))} from marts.state_year_metrics")
    for frame in (districts, state):
        for c in wanted - set(frame.columns):
            frame[c] = float("nan")  # a figure the marts do not have: nothing to protect
    return districts, state


def prepare(con, min_cell_size: int, groupings: Iterable[str] = suppression.DEFAULT_GROUPINGS):
    """Decide suppression for the whole warehouse and keep it in the temporary tables
    ``report_suppression`` and ``report_mv``. Returns the ``Suppression``."""
    districts, state = suppression_inputs(con)
    supp = suppression.protect(districts, state, min_cell_size, groupings)
    flags = supp.long()
    con.register("_report_suppression_frame", flags)
    try:
        cols = ", ".join(
            ["scope", "district_code", "school_year"]
            + [f"cast({quote_ident(c)} as tinyint) as {quote_ident(c)}" for c in suppression.FIGURES]
        )
        con.execute(f"create or replace temp table {SUPPRESSION_TABLE} as select {cols} from _report_suppression_frame")
    finally:
        con.unregister("_report_suppression_frame")
    # the totals of every grouping with their status, for views that publish them (ISD)
    con.register("_report_groups_frame", supp.groups)
    try:
        con.execute(
            f'create or replace temp table {GROUPS_TABLE} as select "grouping", group_value, school_year, '
            '"count", value, cast(status as tinyint) as status from _report_groups_frame'
        )
    finally:
        con.unregister("_report_groups_frame")
    con.execute(f"create or replace temp table {MV_TABLE} as {safe_long_sql('marts.metric_values', _MV_COLS)}")
    return supp


def status_case(metric_sql: str, alias: str) -> str:
    whens = " ".join(f"when {quote_literal(m)} then {alias}.{quote_ident(m)}" for m in suppression.BASIS)
    return f"coalesce(case {metric_sql} {whens} end, 0)"


def safe_long_sql(table: str, columns: Iterable[str]) -> str:
    """A SELECT over a long table (one row per scope x district x metric x year:
    marts.metric_values, marts.objective_progress) adding

    * ``_st`` / ``_sup``: the status of this year's figure / whether it is withheld,
    * ``_pst`` / ``_psup``: the same for last year's figure,
    * ``_cst`` / ``_csup``: the same for the change from last year (withheld when either
      year is, unless either is simply missing: a missing year makes it "no data"),
    * ``_prev_value``: last year's figure (not suppressed),

    from ``report_suppression`` (see :func:`prepare`).
    """
    cols = set(columns)
    prev_sy = previous_school_year_sql("t.school_year")
    if "previous_value" in cols:
        prev_value, prev_join = "t.previous_value", ""
    else:
        keys = ["objective_id"] if "objective_id" in cols else []
        cond = " and ".join(
            [f"tp.{k} = t.{k}" for k in keys]
            + [
                "tp.metric = t.metric",
                "tp.scope = t.scope",
                "tp.district_code is not distinct from t.district_code",
                f"tp.school_year = {prev_sy}",
            ]
        )
        prev_value, prev_join = "tp.value", f"left join {table} as tp on {cond}"
    return f"""
        select x.*, x._st > 0 as _sup, x._pst > 0 as _psup,
               case when (x._st > 0 or x._pst > 0)
                     and not (x.value is null and x._st = 0)
                     and not (x._prev_value is null and x._pst = 0)
                    then greatest(x._st, x._pst) else 0 end as _cst,
               (x._st > 0 or x._pst > 0)
                and not (x.value is null and x._st = 0)
                and not (x._prev_value is null and x._pst = 0) as _csup
        from (
            select t.*, {prev_value} as _prev_value,
                   {status_case("t.metric", "f")} as _st,
                   {status_case("t.metric", "fp")} as _pst
            from {table} as t
            {prev_join}
            left join {SUPPRESSION_TABLE} as f
                   on f.scope = t.scope and f.district_code is not distinct from t.district_code
                  and f.school_year = t.school_year
            left join {SUPPRESSION_TABLE} as fp
                   on fp.scope = t.scope and fp.district_code is not distinct from t.district_code
                  and fp.school_year = {prev_sy}
        ) as x
    """


_MV_COLS = (
    "scope",
    "district_code",
    "school_year",
    "metric",
    "value",
    "previous_value",
    "change_from_previous_year",
    "target",
    "comparison",
    "meets_target",
)
