"""The review's queries of the warehouse: set-based reads whose withheld values are
NULL (with their status) before any row reaches Python, over the suppression tables of
``suppression_sql`` (:func:`flows.report.suppression_sql.prepare` runs first). The
exports' SQL is ``export_sql``.

Tables and columns read (docs/ARCHITECTURE.md, "Marts" and "audit"):

* ``marts.metric_values`` (as the suppressed ``report_mv``): scope, district_code,
  school_year, metric, value, previous_value, change_from_previous_year, target,
  comparison, meets_target
* ``marts.objectives``: objective_id, parent_id, strategy_id, strategy_title, level,
  objective_text, sort_order, is_measured, metrics, unmeasured_reason
* ``marts.district_year_metrics``: district_code, school_year, district_name, isd_code,
  district_type, locale, county, data_complete, has_<family>, the connectivity flags
* ``marts.state_year_metrics``: school_year, the same counts, districts_in_directory,
  districts_reporting, districts_complete
* ``marts.isd_year_metrics``: isd_code, isd_name, school_year, the figures of each ISD
* ``reference.connectivity_benchmarks``: benchmark, value, label, source
* ``audit.issues``: file_id, file_name, family, school_year, district_code, rule, severity
* ``audit.files``: school_year, received_at, status, rows_read, rows_loaded,
  rows_quarantined
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..warehouse.db import scalar
from . import suppression
from .sql import column_names, fetch, in_list, quote_ident, quote_literal
from .suppression_sql import MV_TABLE, SUPPRESSION_TABLE, status_case

FAMILIES = ("enrollment", "staffing", "devices", "connectivity", "pl_participation")


def years_on_record(con) -> pd.DataFrame:
    """Every school year on record with how complete it is: districts in that year's
    directory, districts with published data in all five families, and reporting."""
    return fetch(
        con,
        """
        with y as (
            select school_year from marts.state_year_metrics
            union
            select school_year from marts.district_year_metrics
        )
        select y.school_year,
               coalesce(s.districts_in_directory, 0) as districts_in_directory,
               coalesce(s.districts_complete, 0) as districts_complete,
               coalesce(s.districts_reporting, 0) as districts_reporting
        from y left join marts.state_year_metrics as s using (school_year)
        where y.school_year is not null
        order by y.school_year
        """,
    )


def objectives(con) -> pd.DataFrame:
    return fetch(
        con,
        """
        select objective_id, parent_id, strategy_id, strategy_title, level, objective_text,
               sort_order, is_measured, metrics, unmeasured_reason
        from marts.objectives
        order by sort_order, objective_id
        """,
    )


def state_years(con, school_years: list[str]) -> pd.DataFrame:
    """marts.state_year_metrics for the given years (all columns; a handful of rows),
    with the status of every suppressible figure as ``_st__<figure>``."""
    st = ", ".join(f"f.{quote_ident(c)} as {quote_ident('_st__' + c)}" for c in suppression.FIGURES)
    return fetch(
        con,
        f"""
        select s.*, {st}
        from marts.state_year_metrics as s
        left join {SUPPRESSION_TABLE} as f on f.scope = 'state' and f.school_year = s.school_year
        where s.school_year in {in_list(school_years)}
        order by s.school_year
        """,
    )


def metric_summary(con, school_year: str) -> pd.DataFrame:
    """Per metric for the year: the state figure and its change (with their status),
    the target, and over districts: how many have a figure, how many of those are
    published, and how many published figures meet the target. Counts of districts
    meeting a target are taken over published figures only: a count over all would give
    a withheld district's yes/no back by subtraction."""
    return fetch(
        con,
        f"""
        select metric,
               any_value(case when _sup then null else value end) filter (where scope = 'state')
                   as state_value,
               coalesce(max(_st) filter (where scope = 'state'), 0) as state_status,
               any_value(case when _csup then null else change_from_previous_year end)
                   filter (where scope = 'state') as state_change,
               coalesce(max(_cst) filter (where scope = 'state'), 0) as state_change_status,
               max(target) as target,
               count(value) filter (where scope = 'district') as districts_with_data,
               count(value) filter (where scope = 'district' and not _sup) as districts_published,
               count(*) filter (where scope = 'district' and not _sup and meets_target)
                   as districts_meeting,
               count(*) filter (where scope = 'district' and _sup) as districts_suppressed
        from {MV_TABLE}
        where school_year = ?
        group by metric
        """,
        [school_year],
    )


def metric_trends(con, school_years: list[str]) -> pd.DataFrame:
    """Per metric x school year: the state figure (withheld as NULL), the target, and
    over published district figures the share meeting it (for yes/no metrics)."""
    return fetch(
        con,
        f"""
        select metric, school_year,
               any_value(case when _sup then null else value end) filter (where scope = 'state')
                   as state_value,
               coalesce(max(_st) filter (where scope = 'state'), 0) as state_status,
               max(target) as target,
               any_value(comparison) as comparison,
               count(value) filter (where scope = 'district' and not _sup) as districts_published,
               avg(value) filter (where scope = 'district' and not _sup) as district_mean
        from {MV_TABLE}
        where school_year in {in_list(school_years)}
        group by metric, school_year
        order by metric, school_year
        """,
    )


def distribution_stats(con, school_year: str, metrics: Iterable[str]) -> pd.DataFrame:
    """The spread of published district figures, per metric, by locale and by district
    type: number of districts, minimum, quartiles, maximum and mean (withheld figures
    are left out before anything is computed). Also per metric the districts withheld
    and without data."""
    return fetch(
        con,
        f"""
        with v as (
            select mv.metric, d.locale, d.district_type, mv.value, mv._sup
            from {MV_TABLE} as mv
            join marts.district_year_metrics as d
              on d.district_code = mv.district_code and d.school_year = mv.school_year
            where mv.scope = 'district' and mv.school_year = ? and mv.metric in {in_list(metrics)}
        )
        select metric,
               case when grouping(locale) = 0 then 'locale' else 'district_type' end as grouping,
               coalesce(case when grouping(locale) = 0 then locale else district_type end, 'unknown')
                   as group_value,
               count(value) filter (where not _sup) as n,
               min(value) filter (where not _sup) as min,
               quantile_cont(value, 0.25) filter (where not _sup) as q1,
               quantile_cont(value, 0.5) filter (where not _sup) as median,
               quantile_cont(value, 0.75) filter (where not _sup) as q3,
               max(value) filter (where not _sup) as max,
               avg(value) filter (where not _sup) as mean,
               count(*) filter (where _sup) as withheld,
               count(*) filter (where value is null and not _sup) as no_data
        from v
        group by grouping sets ((metric, locale), (metric, district_type))
        order by 1, 2, 3
        """,
        [school_year],
    )


def share_meeting_by_group(con, school_year: str, metrics: Iterable[str]) -> pd.DataFrame:
    """For yes/no metrics: per locale and per district type, districts with a published
    figure and how many of them meet it (counts of districts, not of people)."""
    return fetch(
        con,
        f"""
        select mv.metric,
               case when grouping(d.locale) = 0 then 'locale' else 'district_type' end as grouping,
               coalesce(case when grouping(d.locale) = 0 then d.locale else d.district_type end,
                        'unknown') as group_value,
               count(mv.value) filter (where not mv._sup) as districts_with_data,
               count(*) filter (where mv.value = 1 and not mv._sup) as districts_meeting
        from {MV_TABLE} as mv
        join marts.district_year_metrics as d
          on d.district_code = mv.district_code and d.school_year = mv.school_year
        where mv.scope = 'district' and mv.school_year = ? and mv.metric in {in_list(metrics)}
        group by grouping sets ((mv.metric, d.locale), (mv.metric, d.district_type))
        order by 1, 2, 3
        """,
        [school_year],
    )


_SHORTFALL = """case {cmp} when '>=' then greatest({t} - {v}, 0)
                           when '<=' then greatest({v} - {t}, 0) end"""


def _shortfall(v: str, t: str = "target", cmp: str = "comparison") -> str:
    return _SHORTFALL.format(v=v, t=t, cmp=cmp)


def gap_analysis(con, school_year: str, metrics: Iterable[str], limit: int) -> pd.DataFrame:
    """G4.S3.B.a: per target metric, the districts furthest from the target (shortfall in
    the metric's unit), among districts whose figure is published (not suppressed)."""
    return fetch(
        con,
        f"""
        with cur as (
            select mv.metric, mv.district_code, d.district_name, d.isd_code,
                   isd.district_name as isd_name, d.locale, d.district_type,
                   mv.value, mv.target, mv.comparison,
                   case when mv._csup then null else mv.change_from_previous_year end
                       as change_from_previous_year,
                   mv._cst as change_status,
                   {_shortfall("mv.value", "mv.target", "mv.comparison")} as shortfall
            from {MV_TABLE} as mv
            join marts.district_year_metrics as d
              on d.district_code = mv.district_code and d.school_year = mv.school_year
            left join marts.district_year_metrics as isd
              on isd.district_code = d.isd_code and isd.school_year = d.school_year
            where mv.scope = 'district' and mv.school_year = ? and not mv._sup
              and mv.value is not null and mv.target is not null
              and mv.metric in {in_list(metrics)}
        )
        select *,
               count(*) filter (where shortfall > 0) over (partition by metric) as districts_short,
               count(*) over (partition by metric) as districts_published
        from cur
        qualify shortfall > 0
            and row_number() over (partition by metric order by shortfall desc, district_code) <= ?
        order by metric, shortfall desc, district_code
        """,
        [school_year, int(limit)],
    )


def published_counts(con, school_year: str, metrics: Iterable[str]) -> pd.DataFrame:
    """Per target metric: districts with a published figure, and how many are short."""
    return fetch(
        con,
        f"""
        select metric, count(*) as districts_published,
               count(*) filter (where {_shortfall("value")} > 0) as districts_short
        from {MV_TABLE}
        where scope = 'district' and school_year = ? and not _sup and value is not null
          and target is not null and metric in {in_list(metrics)}
        group by metric
        """,
        [school_year],
    )


def most_improved(con, school_year: str, previous_year: str, metrics: Iterable[str], limit: int) -> pd.DataFrame:
    """G4.S1.E: per metric, districts ranked by how much of their shortfall from the
    target they closed since last year (shortfall last year minus shortfall this year,
    in the metric's unit; going beyond the target earns nothing more). Only districts
    with a published, unsuppressed figure in both years."""
    return fetch(
        con,
        f"""
        with pair as (
            select c.metric, c.district_code, p.value as previous_value, c.value,
                   c.target, c.comparison,
                   {_shortfall("p.value", "c.target", "c.comparison")} as previous_shortfall,
                   {_shortfall("c.value", "c.target", "c.comparison")} as shortfall
            from {MV_TABLE} as c
            join {MV_TABLE} as p
              on p.scope = 'district' and p.metric = c.metric
             and p.district_code = c.district_code and p.school_year = ?
            where c.scope = 'district' and c.school_year = ?
              and c.metric in {in_list(metrics)}
              and not c._sup and not p._sup
              and c.value is not null and p.value is not null and c.target is not null
        ),
        ranked as (
            select pair.*, previous_shortfall - shortfall as improvement,
                   case when previous_shortfall > 0
                        then (previous_shortfall - shortfall) / previous_shortfall end
                       as share_of_gap_closed,
                   count(*) over (partition by metric) as districts_eligible,
                   d.district_name, d.isd_code, d.locale, d.district_type
            from pair
            join marts.district_year_metrics as d
              on d.district_code = pair.district_code and d.school_year = ?
        )
        select * from ranked
        qualify improvement > 0
            and row_number() over (
                    partition by metric
                    order by improvement desc, share_of_gap_closed desc nulls last, district_code
                ) <= ?
        order by metric, improvement desc, share_of_gap_closed desc nulls last, district_code
        """,
        [previous_year, school_year, school_year, int(limit)],
    )


def eligible_for_recognition(con, school_year: str, previous_year: str, metrics: Iterable[str]) -> pd.DataFrame:
    """Per metric: districts with an unsuppressed figure in both years."""
    return fetch(
        con,
        f"""
        select c.metric, count(*) as districts_eligible
        from {MV_TABLE} as c
        join {MV_TABLE} as p
          on p.scope = 'district' and p.metric = c.metric
         and p.district_code = c.district_code and p.school_year = ?
        where c.scope = 'district' and c.school_year = ? and c.metric in {in_list(metrics)}
          and not c._sup and not p._sup and c.value is not null and p.value is not null
        group by c.metric
        """,
        [previous_year, school_year],
    )


def districts(con, school_year: str) -> pd.DataFrame:
    """The districts of the year with their directory attributes and data status."""
    has = ", ".join(f"d.has_{f}" for f in FAMILIES)
    return fetch(
        con,
        f"""
        select d.district_code, d.district_name, d.district_type, d.locale, d.county,
               d.isd_code, isd.district_name as isd_name, d.data_complete, {has}
        from marts.district_year_metrics as d
        left join marts.district_year_metrics as isd
          on isd.district_code = d.isd_code and isd.school_year = d.school_year
        where d.school_year = ?
        order by coalesce(isd.district_name, d.isd_code), d.district_type <> 'ISD',
                 d.district_name, d.district_code
        """,
        [school_year],
    )


def quarantined(con, school_year: str) -> pd.DataFrame:
    """Blocking errors (audit.issues severity 'error') of the year, per district and
    family, and whether that family is nevertheless published for the district (from
    an earlier good submission)."""
    published = " ".join(f"when '{f}' then d.has_{f}" for f in FAMILIES)
    return fetch(
        con,
        f"""
        select i.district_code, any_value(d.district_name) as district_name, i.family,
               count(*) as issues,
               count(distinct i.file_id) as files,
               string_agg(distinct i.rule, ', ' order by i.rule) as rules,
               any_value(case i.family {published} end) as family_published
        from audit.issues as i
        left join marts.district_year_metrics as d
          on d.district_code = i.district_code and d.school_year = i.school_year
        where i.severity = 'error' and i.school_year = ? and i.district_code is not null
        group by i.district_code, i.family
        order by district_name, i.district_code, i.family
        """,
        [school_year],
    )


def file_level_errors(con, school_year: str) -> pd.DataFrame:
    """Blocking errors of the year not tied to one district (e.g. an unreadable file)."""
    return fetch(
        con,
        """
        select i.file_name, i.family, string_agg(distinct i.rule, ', ' order by i.rule) as rules,
               count(*) as issues
        from audit.issues as i
        where i.severity = 'error' and i.school_year = ? and i.district_code is null
        group by i.file_name, i.family
        order by i.file_name
        """,
        [school_year],
    )


def files_summary(con, school_year: str) -> pd.DataFrame:
    return fetch(
        con,
        """
        select status, count(*) as files, sum(rows_read) as rows_read,
               sum(rows_loaded) as rows_loaded, sum(rows_quarantined) as rows_quarantined
        from audit.files
        where school_year = ?
        group by status
        order by status
        """,
        [school_year],
    )


def last_file_received(con) -> object:
    return scalar(con, "select max(received_at) from audit.files")


def district_history(
    con, metrics: Iterable[str], school_years: list[str], series_metrics: Iterable[str] = ()
) -> pd.DataFrame:
    """Every district's figures (withheld ones NULL, with their status), for the
    per-district pages: of the last of ``school_years`` for ``metrics``, and of every one
    of them for ``series_metrics`` (the small charts)."""
    return fetch(
        con,
        f"""
        select district_code, school_year, metric,
               case when _sup then null else value end as value,
               _st as status,
               case when _csup then null else change_from_previous_year end
                   as change_from_previous_year,
               _cst as change_status,
               case when _sup then null else meets_target end as meets_target
        from {MV_TABLE}
        where scope = 'district' and metric in {in_list(metrics)}
          and (school_year = {quote_literal(school_years[-1])}
               or (school_year in {in_list(school_years)} and metric in {in_list(series_metrics)}))
        """,
    )


# ------------------------------------------------------------ connectivity benchmarks


def connectivity_benchmarks(con) -> pd.DataFrame:
    """reference.connectivity_benchmarks (benchmark, value, label, source): the values the
    marts were built with; empty when the warehouse predates them."""
    if not column_names(con, "reference", "connectivity_benchmarks"):
        return pd.DataFrame(columns=["benchmark", "value", "label", "source"])
    return fetch(con, "select benchmark, value, label, source from reference.connectivity_benchmarks")


def connectivity_figures(con, school_years: list[str]) -> pd.DataFrame:
    """The connectivity benchmarks per school year, for the state (isd_code NULL) and
    every ISD, in one query over marts.district_year_metrics, counting only published
    district figures (status 0 in ``report_suppression``): no figure is ever computed
    from a withheld count. Districts and students meeting 100 kbps and 1 Mbps per
    student, the WAN goal, the affordability gap; the spread of cost per Mbps (not a
    count of people: over every district with a figure), districts above the affordable
    price; and how many districts' figures were left out as withheld."""
    ok = "coalesce(f.kbps_per_student, 0) = 0 and coalesce(f.student_count, 0) = 0"
    return fetch(
        con,
        f"""
        with d as (
            select d.school_year, d.isd_code, d.student_count, d.kbps_per_student,
                   d.meets_short_term_bandwidth_goal as short_ok, d.meets_long_term_bandwidth_goal as long_ok,
                   d.wan_kbps_per_student, d.meets_wan_goal, d.cost_per_mbps_usd, d.above_affordable_cost,
                   d.could_meet_goal_within_budget,
                   {ok} as bw_pub,
                   coalesce(f.meets_wan_goal, 0) = 0 as wan_pub,
                   coalesce(f.could_meet_goal_within_budget, 0) = 0 as afford_pub
            from marts.district_year_metrics as d
            left join {SUPPRESSION_TABLE} as f
                   on f.scope = 'district' and f.district_code = d.district_code
                  and f.school_year = d.school_year
            where d.school_year in {in_list(school_years)}
        )
        select school_year, isd_code, grouping(isd_code) = 1 as is_state,
               count(*) filter (where kbps_per_student is not null and bw_pub) as districts_with_bandwidth,
               count(*) filter (where kbps_per_student is not null and not bw_pub) as districts_bandwidth_withheld,
               count(*) filter (where short_ok and bw_pub) as districts_short,
               count(*) filter (where long_ok and bw_pub) as districts_long,
               sum(student_count) filter (where kbps_per_student is not null and bw_pub) as students_with_bandwidth,
               coalesce(sum(student_count) filter (where short_ok and bw_pub), 0) as students_short,
               coalesce(sum(student_count) filter (where long_ok and bw_pub), 0) as students_long,
               count(*) filter (where wan_kbps_per_student is not null and wan_pub) as districts_with_wan,
               count(*) filter (where meets_wan_goal and wan_pub) as districts_wan,
               count(cost_per_mbps_usd) as districts_with_cost,
               quantile_cont(cost_per_mbps_usd, 0.25) as cost_q1,
               quantile_cont(cost_per_mbps_usd, 0.5) as cost_median,
               quantile_cont(cost_per_mbps_usd, 0.75) as cost_q3,
               count(*) filter (where above_affordable_cost) as districts_above_cost,
               count(*) filter (where long_ok = false and bw_pub and afford_pub) as districts_below_long,
               count(*) filter (where could_meet_goal_within_budget and bw_pub and afford_pub)
                   as districts_could_meet
        from d
        group by grouping sets ((school_year), (school_year, isd_code))
        order by school_year, is_state desc, isd_code
        """,
    )


# ------------------------------------------------------------------------- ISD pages


def isds(con, school_year: str) -> pd.DataFrame:
    """The ISDs of the year (marts.isd_year_metrics) with their names and districts."""
    return fetch(
        con,
        """
        select isd_code, isd_name, districts_in_directory, districts_complete
        from marts.isd_year_metrics
        where school_year = ?
        order by coalesce(isd_name, isd_code), isd_code
        """,
        [school_year],
    )


def isd_figures(con, school_year: str, metrics: Iterable[str]) -> pd.DataFrame:
    """Every ISD's figure of each metric for the year, long (isd_code, metric, value,
    status): withheld figures are NULL with their status (``report_suppression``, scope
    ``isd``), in one query for all ISDs."""
    wanted = [m for m in metrics if m in column_names(con, "marts", "isd_year_metrics")]
    if not wanted:
        return pd.DataFrame(columns=["isd_code", "metric", "value", "status"])
    cols = ", ".join(f"cast({quote_ident(m)} as double) as {quote_ident(m)}" for m in wanted)
    return fetch(
        con,
        f"""
        with wide as (
            select isd_code, school_year, {cols}
            from marts.isd_year_metrics where school_year = ?
        ),
        long as (
            select isd_code, school_year, metric, value
            from wide unpivot include nulls (value for metric in ({", ".join(map(quote_ident, wanted))}))
        )
        select long.isd_code, long.metric,
               {status_case("long.metric", "f")} as status,
               case when {status_case("long.metric", "f")} > 0 then null else long.value end as value
        from long
        left join {SUPPRESSION_TABLE} as f
               on f.scope = 'isd' and f.district_code = long.isd_code and f.school_year = long.school_year
        """,
        [school_year],
    )
