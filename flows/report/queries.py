"""Every SQL statement the annual review and the exports run against the warehouse.

Tables and columns read (docs/ARCHITECTURE.md, "Marts" and "audit"):

* ``marts.metric_values``: scope, district_code, school_year, metric, value,
  previous_value, change_from_previous_year, target, comparison, meets_target
* ``marts.objective_progress``: objective_id, metric (the objective -> metric map)
* ``marts.objectives``: objective_id, parent_id, strategy_id, strategy_title, level,
  objective_text, sort_order, is_measured, metrics, unmeasured_reason
* ``marts.district_year_metrics``: district_code, school_year, district_name, isd_code,
  district_type, locale, county, data_complete, has_<family>, the people counts of
  ``suppression.PEOPLE_COUNTS`` and the other sides of ``suppression.RATIOS``
* ``marts.state_year_metrics``: school_year, the same counts, districts_in_directory,
  districts_reporting, districts_complete
* ``audit.issues``: file_id, file_name, family, school_year, district_code, rule, severity
* ``audit.files``: school_year, received_at, status, rows_read, rows_loaded,
  rows_quarantined
* exports: every table and view of schema ``marts`` (information_schema)

Suppression is decided once per connection (:func:`prepare`: primary and
complementary, ``flows.report.suppression``) and kept in the temporary table
``report_suppression`` (one row per scope x district x year, a status per figure:
0 published, 1 withheld to protect another figure ``np``, 2 under the threshold
``<10``), and the totals of every grouping of ``privacy.groupings`` with their status
in ``report_group_suppression`` (grouping, group_value, school_year, count, value,
status: what a view of ISD or locale totals may publish). Every query joins them, so
withheld values are turned into NULL (with their status) before any row reaches Python.
The suppressed long table of metric values is built once, as the temporary table
``report_mv``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb
import pandas as pd

from ..school_years import previous_school_year_sql
from ..warehouse.db import scalar
from . import suppression

FAMILIES = ("enrollment", "staffing", "devices", "connectivity", "pl_participation")
SUPPRESSION_TABLE = "report_suppression"
GROUPS_TABLE = "report_group_suppression"
MV_TABLE = "report_mv"


def connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    warehouse = Path(warehouse)
    if not warehouse.is_file():
        raise FileNotFoundError(f"warehouse not found: {warehouse}")
    con = duckdb.connect(str(warehouse), read_only=True)
    con.execute("SET enable_progress_bar = false")
    return con


def _q(name: str) -> str:
    """Quote an identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _in_list(values: Iterable[str]) -> str:
    vals = [_lit(v) for v in values]
    return "(" + ", ".join(vals) + ")" if vals else "(NULL)"


def _fetch(con, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


# ------------------------------------------------------------------------- suppression


def _columns(con, schema: str, table: str) -> set[str]:
    return {c for c, _ in table_columns(con, schema, table)}


def suppression_inputs(con) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What :func:`flows.report.suppression.protect` needs, in two bulk reads."""
    figures = set(suppression.BASIS)
    ratio_sides = {c for num, den, _ in suppression.RATIOS.values() for c in (num, den)}
    wanted = set(suppression.PEOPLE_COUNTS) | figures | ratio_sides
    d_cols = _columns(con, "marts", "district_year_metrics")
    s_cols = _columns(con, "marts", "state_year_metrics")
    keys = ["district_code", "school_year", "locale", "district_type", "isd_code"]
    d_sel = keys + sorted(wanted & d_cols)
    s_sel = ["school_year"] + sorted(wanted & s_cols)
    districts = _fetch(con, f"SELECT {', '.join(map(_q, d_sel))} FROM marts.district_year_metrics")
    state = _fetch(con, f"SELECT {', '.join(map(_q, s_sel))} FROM marts.state_year_metrics")
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
            + [f"CAST({_q(c)} AS TINYINT) AS {_q(c)}" for c in suppression.FIGURES]
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE {SUPPRESSION_TABLE} AS SELECT {cols} FROM _report_suppression_frame")
    finally:
        con.unregister("_report_suppression_frame")
    # the totals of every grouping with their status, for views that publish them (ISD)
    con.register("_report_groups_frame", supp.groups)
    try:
        con.execute(
            f'CREATE OR REPLACE TEMP TABLE {GROUPS_TABLE} AS SELECT "grouping", group_value, school_year, '
            '"count", value, CAST(status AS TINYINT) AS status FROM _report_groups_frame'
        )
    finally:
        con.unregister("_report_groups_frame")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {MV_TABLE} AS {safe_long_sql('marts.metric_values', _MV_COLS)}")
    return supp


def _status_case(metric_sql: str, alias: str) -> str:
    whens = " ".join(f"WHEN {_lit(m)} THEN {alias}.{_q(m)}" for m in suppression.BASIS)
    return f"coalesce(CASE {metric_sql} {whens} END, 0)"


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
        cond = " AND ".join(
            [f"tp.{k} = t.{k}" for k in keys]
            + [
                "tp.metric = t.metric",
                "tp.scope = t.scope",
                "tp.district_code IS NOT DISTINCT FROM t.district_code",
                f"tp.school_year = {prev_sy}",
            ]
        )
        prev_value, prev_join = "tp.value", f"LEFT JOIN {table} AS tp ON {cond}"
    return f"""
        SELECT x.*, x._st > 0 AS _sup, x._pst > 0 AS _psup,
               CASE WHEN (x._st > 0 OR x._pst > 0)
                     AND NOT (x.value IS NULL AND x._st = 0)
                     AND NOT (x._prev_value IS NULL AND x._pst = 0)
                    THEN greatest(x._st, x._pst) ELSE 0 END AS _cst,
               (x._st > 0 OR x._pst > 0)
                AND NOT (x.value IS NULL AND x._st = 0)
                AND NOT (x._prev_value IS NULL AND x._pst = 0) AS _csup
        FROM (
            SELECT t.*, {prev_value} AS _prev_value,
                   {_status_case("t.metric", "f")} AS _st,
                   {_status_case("t.metric", "fp")} AS _pst
            FROM {table} AS t
            {prev_join}
            LEFT JOIN {SUPPRESSION_TABLE} AS f
                   ON f.scope = t.scope AND f.district_code IS NOT DISTINCT FROM t.district_code
                  AND f.school_year = t.school_year
            LEFT JOIN {SUPPRESSION_TABLE} AS fp
                   ON fp.scope = t.scope AND fp.district_code IS NOT DISTINCT FROM t.district_code
                  AND fp.school_year = {prev_sy}
        ) AS x
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


# ----------------------------------------------------------------------------- report


def years_on_record(con) -> pd.DataFrame:
    """Every school year on record with how complete it is: districts in that year's
    directory, districts with published data in all five families, and reporting."""
    return _fetch(
        con,
        """
        WITH y AS (
            SELECT school_year FROM marts.state_year_metrics
            UNION
            SELECT school_year FROM marts.district_year_metrics
        )
        SELECT y.school_year,
               coalesce(s.districts_in_directory, 0) AS districts_in_directory,
               coalesce(s.districts_complete, 0) AS districts_complete,
               coalesce(s.districts_reporting, 0) AS districts_reporting
        FROM y LEFT JOIN marts.state_year_metrics AS s USING (school_year)
        WHERE y.school_year IS NOT NULL
        ORDER BY y.school_year
        """,
    )


def objectives(con) -> pd.DataFrame:
    return _fetch(
        con,
        """
        SELECT objective_id, parent_id, strategy_id, strategy_title, level, objective_text,
               sort_order, is_measured, metrics, unmeasured_reason
        FROM marts.objectives
        ORDER BY sort_order, objective_id
        """,
    )


def state_years(con, school_years: list[str]) -> pd.DataFrame:
    """marts.state_year_metrics for the given years (all columns; a handful of rows),
    with the status of every suppressible figure as ``_st__<figure>``."""
    st = ", ".join(f"f.{_q(c)} AS {_q('_st__' + c)}" for c in suppression.FIGURES)
    return _fetch(
        con,
        f"""
        SELECT s.*, {st}
        FROM marts.state_year_metrics AS s
        LEFT JOIN {SUPPRESSION_TABLE} AS f ON f.scope = 'state' AND f.school_year = s.school_year
        WHERE s.school_year IN {_in_list(school_years)}
        ORDER BY s.school_year
        """,
    )


def metric_summary(con, school_year: str) -> pd.DataFrame:
    """Per metric for the year: the state figure and its change (with their status),
    the target, and over districts: how many have a figure, how many of those are
    published, and how many published figures meet the target. Counts of districts
    meeting a target are taken over published figures only: a count over all would give
    a withheld district's yes/no back by subtraction."""
    return _fetch(
        con,
        f"""
        SELECT metric,
               any_value(CASE WHEN _sup THEN NULL ELSE value END) FILTER (WHERE scope = 'state')
                   AS state_value,
               coalesce(max(_st) FILTER (WHERE scope = 'state'), 0) AS state_status,
               any_value(CASE WHEN _csup THEN NULL ELSE change_from_previous_year END)
                   FILTER (WHERE scope = 'state') AS state_change,
               coalesce(max(_cst) FILTER (WHERE scope = 'state'), 0) AS state_change_status,
               max(target) AS target,
               count(value) FILTER (WHERE scope = 'district') AS districts_with_data,
               count(value) FILTER (WHERE scope = 'district' AND NOT _sup) AS districts_published,
               count(*) FILTER (WHERE scope = 'district' AND NOT _sup AND meets_target)
                   AS districts_meeting,
               count(*) FILTER (WHERE scope = 'district' AND _sup) AS districts_suppressed
        FROM {MV_TABLE}
        WHERE school_year = ?
        GROUP BY metric
        """,
        [school_year],
    )


def objective_metric_map(con) -> pd.DataFrame:
    return _fetch(con, "SELECT DISTINCT objective_id, metric FROM marts.objective_progress ORDER BY 1, 2")


def metric_trends(con, school_years: list[str]) -> pd.DataFrame:
    """Per metric x school year: the state figure (withheld as NULL), the target, and
    over published district figures the share meeting it (for yes/no metrics)."""
    return _fetch(
        con,
        f"""
        SELECT metric, school_year,
               any_value(CASE WHEN _sup THEN NULL ELSE value END) FILTER (WHERE scope = 'state')
                   AS state_value,
               coalesce(max(_st) FILTER (WHERE scope = 'state'), 0) AS state_status,
               max(target) AS target,
               any_value(comparison) AS comparison,
               count(value) FILTER (WHERE scope = 'district' AND NOT _sup) AS districts_published,
               avg(value) FILTER (WHERE scope = 'district' AND NOT _sup) AS district_mean
        FROM {MV_TABLE}
        WHERE school_year IN {_in_list(school_years)}
        GROUP BY metric, school_year
        ORDER BY metric, school_year
        """,
    )


def distribution_stats(con, school_year: str, metrics: Iterable[str]) -> pd.DataFrame:
    """The spread of published district figures, per metric, by locale and by district
    type: number of districts, minimum, quartiles, maximum and mean (withheld figures
    are left out before anything is computed). Also per metric the districts withheld
    and without data."""
    return _fetch(
        con,
        f"""
        WITH v AS (
            SELECT mv.metric, d.locale, d.district_type, mv.value, mv._sup
            FROM {MV_TABLE} AS mv
            JOIN marts.district_year_metrics AS d
              ON d.district_code = mv.district_code AND d.school_year = mv.school_year
            WHERE mv.scope = 'district' AND mv.school_year = ? AND mv.metric IN {_in_list(metrics)}
        )
        SELECT metric,
               CASE WHEN GROUPING(locale) = 0 THEN 'locale' ELSE 'district_type' END AS grouping,
               coalesce(CASE WHEN GROUPING(locale) = 0 THEN locale ELSE district_type END, 'unknown')
                   AS group_value,
               count(value) FILTER (WHERE NOT _sup) AS n,
               min(value) FILTER (WHERE NOT _sup) AS min,
               quantile_cont(value, 0.25) FILTER (WHERE NOT _sup) AS q1,
               quantile_cont(value, 0.5) FILTER (WHERE NOT _sup) AS median,
               quantile_cont(value, 0.75) FILTER (WHERE NOT _sup) AS q3,
               max(value) FILTER (WHERE NOT _sup) AS max,
               avg(value) FILTER (WHERE NOT _sup) AS mean,
               count(*) FILTER (WHERE _sup) AS withheld,
               count(*) FILTER (WHERE value IS NULL AND NOT _sup) AS no_data
        FROM v
        GROUP BY GROUPING SETS ((metric, locale), (metric, district_type))
        ORDER BY 1, 2, 3
        """,
        [school_year],
    )


def share_meeting_by_group(con, school_year: str, metrics: Iterable[str]) -> pd.DataFrame:
    """For yes/no metrics: per locale and per district type, districts with a published
    figure and how many of them meet it (counts of districts, not of people)."""
    return _fetch(
        con,
        f"""
        SELECT mv.metric,
               CASE WHEN GROUPING(d.locale) = 0 THEN 'locale' ELSE 'district_type' END AS grouping,
               coalesce(CASE WHEN GROUPING(d.locale) = 0 THEN d.locale ELSE d.district_type END,
                        'unknown') AS group_value,
               count(mv.value) FILTER (WHERE NOT mv._sup) AS districts_with_data,
               count(*) FILTER (WHERE mv.value = 1 AND NOT mv._sup) AS districts_meeting
        FROM {MV_TABLE} AS mv
        JOIN marts.district_year_metrics AS d
          ON d.district_code = mv.district_code AND d.school_year = mv.school_year
        WHERE mv.scope = 'district' AND mv.school_year = ? AND mv.metric IN {_in_list(metrics)}
        GROUP BY GROUPING SETS ((mv.metric, d.locale), (mv.metric, d.district_type))
        ORDER BY 1, 2, 3
        """,
        [school_year],
    )


_SHORTFALL = """CASE {cmp} WHEN '>=' THEN greatest({t} - {v}, 0)
                           WHEN '<=' THEN greatest({v} - {t}, 0) END"""


def _shortfall(v: str, t: str = "target", cmp: str = "comparison") -> str:
    return _SHORTFALL.format(v=v, t=t, cmp=cmp)


def gap_analysis(con, school_year: str, metrics: Iterable[str], limit: int) -> pd.DataFrame:
    """G4.S3.B.a: per target metric, the districts furthest from the target (shortfall in
    the metric's unit), among districts whose figure is published (not suppressed)."""
    return _fetch(
        con,
        f"""
        WITH cur AS (
            SELECT mv.metric, mv.district_code, d.district_name, d.isd_code,
                   isd.district_name AS isd_name, d.locale, d.district_type,
                   mv.value, mv.target, mv.comparison,
                   CASE WHEN mv._csup THEN NULL ELSE mv.change_from_previous_year END
                       AS change_from_previous_year,
                   mv._cst AS change_status,
                   {_shortfall("mv.value", "mv.target", "mv.comparison")} AS shortfall
            FROM {MV_TABLE} AS mv
            JOIN marts.district_year_metrics AS d
              ON d.district_code = mv.district_code AND d.school_year = mv.school_year
            LEFT JOIN marts.district_year_metrics AS isd
              ON isd.district_code = d.isd_code AND isd.school_year = d.school_year
            WHERE mv.scope = 'district' AND mv.school_year = ? AND NOT mv._sup
              AND mv.value IS NOT NULL AND mv.target IS NOT NULL
              AND mv.metric IN {_in_list(metrics)}
        )
        SELECT *,
               count(*) FILTER (WHERE shortfall > 0) OVER (PARTITION BY metric) AS districts_short,
               count(*) OVER (PARTITION BY metric) AS districts_published
        FROM cur
        QUALIFY shortfall > 0
            AND row_number() OVER (PARTITION BY metric ORDER BY shortfall DESC, district_code) <= ?
        ORDER BY metric, shortfall DESC, district_code
        """,
        [school_year, int(limit)],
    )


def published_counts(con, school_year: str, metrics: Iterable[str]) -> pd.DataFrame:
    """Per target metric: districts with a published figure, and how many are short."""
    return _fetch(
        con,
        f"""
        SELECT metric, count(*) AS districts_published,
               count(*) FILTER (WHERE {_shortfall("value")} > 0) AS districts_short
        FROM {MV_TABLE}
        WHERE scope = 'district' AND school_year = ? AND NOT _sup AND value IS NOT NULL
          AND target IS NOT NULL AND metric IN {_in_list(metrics)}
        GROUP BY metric
        """,
        [school_year],
    )


def most_improved(con, school_year: str, previous_year: str, metrics: Iterable[str], limit: int) -> pd.DataFrame:
    """G4.S1.E: per metric, districts ranked by how much of their shortfall from the
    target they closed since last year (shortfall last year minus shortfall this year,
    in the metric's unit; going beyond the target earns nothing more). Only districts
    with a published, unsuppressed figure in both years."""
    return _fetch(
        con,
        f"""
        WITH pair AS (
            SELECT c.metric, c.district_code, p.value AS previous_value, c.value,
                   c.target, c.comparison,
                   {_shortfall("p.value", "c.target", "c.comparison")} AS previous_shortfall,
                   {_shortfall("c.value", "c.target", "c.comparison")} AS shortfall
            FROM {MV_TABLE} AS c
            JOIN {MV_TABLE} AS p
              ON p.scope = 'district' AND p.metric = c.metric
             AND p.district_code = c.district_code AND p.school_year = ?
            WHERE c.scope = 'district' AND c.school_year = ?
              AND c.metric IN {_in_list(metrics)}
              AND NOT c._sup AND NOT p._sup
              AND c.value IS NOT NULL AND p.value IS NOT NULL AND c.target IS NOT NULL
        ),
        ranked AS (
            SELECT pair.*, previous_shortfall - shortfall AS improvement,
                   CASE WHEN previous_shortfall > 0
                        THEN (previous_shortfall - shortfall) / previous_shortfall END
                       AS share_of_gap_closed,
                   count(*) OVER (PARTITION BY metric) AS districts_eligible,
                   d.district_name, d.isd_code, d.locale, d.district_type
            FROM pair
            JOIN marts.district_year_metrics AS d
              ON d.district_code = pair.district_code AND d.school_year = ?
        )
        SELECT * FROM ranked
        QUALIFY improvement > 0
            AND row_number() OVER (
                    PARTITION BY metric
                    ORDER BY improvement DESC, share_of_gap_closed DESC NULLS LAST, district_code
                ) <= ?
        ORDER BY metric, improvement DESC, share_of_gap_closed DESC NULLS LAST, district_code
        """,
        [previous_year, school_year, school_year, int(limit)],
    )


def eligible_for_recognition(con, school_year: str, previous_year: str, metrics: Iterable[str]) -> pd.DataFrame:
    """Per metric: districts with an unsuppressed figure in both years."""
    return _fetch(
        con,
        f"""
        SELECT c.metric, count(*) AS districts_eligible
        FROM {MV_TABLE} AS c
        JOIN {MV_TABLE} AS p
          ON p.scope = 'district' AND p.metric = c.metric
         AND p.district_code = c.district_code AND p.school_year = ?
        WHERE c.scope = 'district' AND c.school_year = ? AND c.metric IN {_in_list(metrics)}
          AND NOT c._sup AND NOT p._sup AND c.value IS NOT NULL AND p.value IS NOT NULL
        GROUP BY c.metric
        """,
        [previous_year, school_year],
    )


def districts(con, school_year: str) -> pd.DataFrame:
    """The districts of the year with their directory attributes and data status."""
    has = ", ".join(f"d.has_{f}" for f in FAMILIES)
    return _fetch(
        con,
        f"""
        SELECT d.district_code, d.district_name, d.district_type, d.locale, d.county,
               d.isd_code, isd.district_name AS isd_name, d.data_complete, {has}
        FROM marts.district_year_metrics AS d
        LEFT JOIN marts.district_year_metrics AS isd
          ON isd.district_code = d.isd_code AND isd.school_year = d.school_year
        WHERE d.school_year = ?
        ORDER BY coalesce(isd.district_name, d.isd_code), d.district_type <> 'ISD',
                 d.district_name, d.district_code
        """,
        [school_year],
    )


def quarantined(con, school_year: str) -> pd.DataFrame:
    """Blocking errors (audit.issues severity 'error') of the year, per district and
    family, and whether that family is nevertheless published for the district (from
    an earlier good submission)."""
    published = " ".join(f"WHEN '{f}' THEN d.has_{f}" for f in FAMILIES)
    return _fetch(
        con,
        f"""
        SELECT i.district_code, any_value(d.district_name) AS district_name, i.family,
               count(*) AS issues,
               count(DISTINCT i.file_id) AS files,
               string_agg(DISTINCT i.rule, ', ' ORDER BY i.rule) AS rules,
               any_value(CASE i.family {published} END) AS family_published
        FROM audit.issues AS i
        LEFT JOIN marts.district_year_metrics AS d
          ON d.district_code = i.district_code AND d.school_year = i.school_year
        WHERE i.severity = 'error' AND i.school_year = ? AND i.district_code IS NOT NULL
        GROUP BY i.district_code, i.family
        ORDER BY district_name, i.district_code, i.family
        """,
        [school_year],
    )


def file_level_errors(con, school_year: str) -> pd.DataFrame:
    """Blocking errors of the year not tied to one district (e.g. an unreadable file)."""
    return _fetch(
        con,
        """
        SELECT i.file_name, i.family, string_agg(DISTINCT i.rule, ', ' ORDER BY i.rule) AS rules,
               count(*) AS issues
        FROM audit.issues AS i
        WHERE i.severity = 'error' AND i.school_year = ? AND i.district_code IS NULL
        GROUP BY i.file_name, i.family
        ORDER BY i.file_name
        """,
        [school_year],
    )


def files_summary(con, school_year: str) -> pd.DataFrame:
    return _fetch(
        con,
        """
        SELECT status, count(*) AS files, sum(rows_read) AS rows_read,
               sum(rows_loaded) AS rows_loaded, sum(rows_quarantined) AS rows_quarantined
        FROM audit.files
        WHERE school_year = ?
        GROUP BY status
        ORDER BY status
        """,
        [school_year],
    )


def last_file_received(con) -> object:
    return scalar(con, "SELECT max(received_at) FROM audit.files")


def district_history(
    con, metrics: Iterable[str], school_years: list[str], series_metrics: Iterable[str] = ()
) -> pd.DataFrame:
    """Every district's figures (withheld ones NULL, with their status), for the
    per-district pages: of the last of ``school_years`` for ``metrics``, and of every one
    of them for ``series_metrics`` (the small charts)."""
    return _fetch(
        con,
        f"""
        SELECT district_code, school_year, metric,
               CASE WHEN _sup THEN NULL ELSE value END AS value,
               _st AS status,
               CASE WHEN _csup THEN NULL ELSE change_from_previous_year END
                   AS change_from_previous_year,
               _cst AS change_status,
               CASE WHEN _sup THEN NULL ELSE meets_target END AS meets_target
        FROM {MV_TABLE}
        WHERE scope = 'district' AND metric IN {_in_list(metrics)}
          AND (school_year = {_lit(school_years[-1])}
               OR (school_year IN {_in_list(school_years)} AND metric IN {_in_list(series_metrics)}))
        """,
    )


# ----------------------------------------------------------------------------- exports


def marts_tables(con) -> list[str]:
    rows = con.execute(
        """
        SELECT table_name FROM information_schema.tables
        WHERE table_schema = 'marts' AND table_catalog = current_database()
        ORDER BY table_name
        """
    ).fetchall()
    return [r[0] for r in rows]


def table_columns(con, schema: str, table: str) -> list[tuple[str, str]]:
    rows = con.execute(
        """
        SELECT column_name, data_type FROM information_schema.columns
        WHERE table_schema = ? AND table_name = ? AND table_catalog = current_database()
        ORDER BY ordinal_position
        """,
        [schema, table],
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


# Columns never exported: contact details of district staff.
EXPORT_DROPPED_COLUMNS = ("data_contact_email",)

_LONG_REQUIRED = {"scope", "district_code", "school_year", "metric", "value"}
_TEXT_TYPES = ("VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR")
_NUMBER_RE = r"^[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
_FORMULA_RE = r"^[=+\-@\t\r]"


def _is_text(data_type: str) -> bool:
    return data_type.upper().split("(")[0] in _TEXT_TYPES


def neutralise_formula_sql(expr: str) -> str:
    """CSV formula-injection defence: text starting with = + - @ TAB or CR gets a leading
    apostrophe, unless it is a plain number (``-3.5`` stays ``-3.5``)."""
    return (
        f"CASE WHEN regexp_matches({expr}, '{_FORMULA_RE}') "
        f"AND NOT regexp_matches({expr}, '{_NUMBER_RE}') "
        f"THEN '''' || {expr} ELSE {expr} END"
    )


def export_view_sql(con, table: str) -> tuple[str, list[tuple[str, str]], list[str]]:
    """A SELECT over ``marts.<table>`` with suppression applied (``report_suppression``
    must exist: :func:`prepare`).

    Returns (sql, columns, suppressible): the SELECT yields every exported column
    (withheld cells NULL), one status ``_st__<column>`` per suppressible column (0
    published, 1 ``np``, 2 ``<10``), and ``suppressed_columns`` (the names of the
    withheld cells of the row, ';'-separated, NULL when none).
    """
    cols = [(c, t) for c, t in table_columns(con, "marts", table) if c not in EXPORT_DROPPED_COLUMNS]
    names = [c for c, _ in cols]
    fq = f"marts.{_q(table)}"
    flags: list[tuple[str, str]] = []

    if _LONG_REQUIRED <= set(names):
        source = f"({safe_long_sql(fq, names)}) AS t"
        for c in names:
            if c == "value":
                flags.append((c, "t._st"))
            elif c == "meets_target":
                flags.append(
                    (c, "CASE WHEN t.target IS NOT NULL THEN t._st ELSE 0 END" if "target" in names else "t._st")
                )
            elif c == "previous_value":
                flags.append((c, "t._pst"))
            elif c == "change_from_previous_year":
                flags.append((c, "t._cst"))
    else:
        if "isd_code" in names and "school_year" in names and "district_code" not in names:
            # an ISD's figures (marts.isd_year_metrics): the status of the ISD's figures
            joins = (
                f" LEFT JOIN {SUPPRESSION_TABLE} AS f ON f.scope = 'isd'"
                " AND f.district_code = t.isd_code AND f.school_year = t.school_year"
            )
        elif "district_code" in names and "school_year" in names:
            joins = (
                f" LEFT JOIN {SUPPRESSION_TABLE} AS f ON f.scope = 'district'"
                " AND f.district_code = t.district_code AND f.school_year = t.school_year"
            )
        elif "school_year" in names:
            joins = f" LEFT JOIN {SUPPRESSION_TABLE} AS f ON f.scope = 'state' AND f.school_year = t.school_year"
        else:
            joins = None
        for c in names:
            if c not in suppression.FIGURES:
                continue
            if joins is None:
                # no district or year to know the counts behind this figure: publish nothing of it
                flags.append((c, str(suppression.PRIMARY)))
            else:
                flags.append((c, f"coalesce(f.{_q(c)}, 0)"))
        source = f"{fq} AS t{joins or ''}"

    flag_of = dict(flags)
    select: list[str] = []
    for c in names:
        if c in flag_of:
            select.append(f"CASE WHEN ({flag_of[c]}) > 0 THEN NULL ELSE t.{_q(c)} END AS {_q(c)}")
        else:
            select.append(f"t.{_q(c)} AS {_q(c)}")
    for c, cond in flags:
        select.append(f"CAST(coalesce({cond}, 0) AS TINYINT) AS {_q('_st__' + c)}")
    if flags:
        parts = ", ".join(f"CASE WHEN coalesce({cond}, 0) > 0 THEN {_lit(c)} END" for c, cond in flags)
        select.append(f"nullif(concat_ws(';', {parts}), '') AS suppressed_columns")
    sql = f"SELECT {', '.join(select)} FROM {source}"
    return sql, cols, [c for c, _ in flags]


def copy_export(
    con,
    table: str,
    csv_path: Path,
    parquet_path: Path,
    min_cell_size: int,
) -> None:
    """Write the suppressed table as Parquet (typed; withheld cells NULL) and as CSV
    (withheld cells ``<10`` or ``np``; text neutralised against formula injection)."""
    view_sql, cols, suppressible = export_view_sql(con, table)
    small = suppression.marker(min_cell_size)
    order = ", ".join(f"v.{_q(c)} NULLS LAST" for c, _ in cols)
    view = _q(f"_export_{table}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS {view_sql}")
    try:
        typed = [_q(c) for c, _ in cols] + (["suppressed_columns"] if suppressible else [])
        con.execute(
            f"COPY (SELECT {', '.join(typed)} FROM {view} AS v ORDER BY {order}) "
            f"TO {_lit(str(parquet_path))} (FORMAT parquet)"
        )
        text: list[str] = []
        for c, t in cols:
            qc = _q(c)
            if c in suppressible:
                st = _q("_st__" + c)
                text.append(
                    f"CASE WHEN {st} = {suppression.PRIMARY} THEN {_lit(small)} "
                    f"WHEN {st} = {suppression.COMPLEMENTARY} THEN {_lit(suppression.NOT_PUBLISHED)} "
                    f"ELSE CAST({qc} AS VARCHAR) END AS {qc}"
                )
            elif _is_text(t):
                text.append(f"{neutralise_formula_sql(qc)} AS {qc}")
            else:
                text.append(qc)
        if suppressible:
            text.append("suppressed_columns")
        con.execute(
            f"COPY (SELECT {', '.join(text)} FROM {view} AS v ORDER BY {order}) "
            f"TO {_lit(str(csv_path))} (FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"')"
        )
    finally:
        con.execute(f"DROP VIEW IF EXISTS {view}")


# ------------------------------------------------------------ connectivity benchmarks


def connectivity_benchmarks(con) -> pd.DataFrame:
    """reference.connectivity_benchmarks (benchmark, value, label, source): the values the
    marts were built with; empty when the warehouse predates them."""
    if not _columns(con, "reference", "connectivity_benchmarks"):
        return pd.DataFrame(columns=["benchmark", "value", "label", "source"])
    return _fetch(con, "SELECT benchmark, value, label, source FROM reference.connectivity_benchmarks")


def connectivity_figures(con, school_years: list[str]) -> pd.DataFrame:
    """The connectivity benchmarks per school year, for the state (isd_code NULL) and
    every ISD, in one query over marts.district_year_metrics, counting only published
    district figures (status 0 in ``report_suppression``): no figure is ever computed
    from a withheld count. Districts and students meeting 100 kbps and 1 Mbps per
    student, the WAN goal, the affordability gap; the spread of cost per Mbps (not a
    count of people: over every district with a figure), districts above the affordable
    price; and how many districts' figures were left out as withheld."""
    ok = "coalesce(f.kbps_per_student, 0) = 0 AND coalesce(f.student_count, 0) = 0"
    return _fetch(
        con,
        f"""
        WITH d AS (
            SELECT d.school_year, d.isd_code, d.student_count, d.kbps_per_student,
                   d.meets_short_term_bandwidth_goal AS short_ok, d.meets_long_term_bandwidth_goal AS long_ok,
                   d.wan_kbps_per_student, d.meets_wan_goal, d.cost_per_mbps_usd, d.above_affordable_cost,
                   d.could_meet_goal_within_budget,
                   {ok} AS bw_pub,
                   coalesce(f.meets_wan_goal, 0) = 0 AS wan_pub,
                   coalesce(f.could_meet_goal_within_budget, 0) = 0 AS afford_pub
            FROM marts.district_year_metrics AS d
            LEFT JOIN {SUPPRESSION_TABLE} AS f
                   ON f.scope = 'district' AND f.district_code = d.district_code
                  AND f.school_year = d.school_year
            WHERE d.school_year IN {_in_list(school_years)}
        )
        SELECT school_year, isd_code, GROUPING(isd_code) = 1 AS is_state,
               count(*) FILTER (WHERE kbps_per_student IS NOT NULL AND bw_pub) AS districts_with_bandwidth,
               count(*) FILTER (WHERE kbps_per_student IS NOT NULL AND NOT bw_pub) AS districts_bandwidth_withheld,
               count(*) FILTER (WHERE short_ok AND bw_pub) AS districts_short,
               count(*) FILTER (WHERE long_ok AND bw_pub) AS districts_long,
               sum(student_count) FILTER (WHERE kbps_per_student IS NOT NULL AND bw_pub) AS students_with_bandwidth,
               coalesce(sum(student_count) FILTER (WHERE short_ok AND bw_pub), 0) AS students_short,
               coalesce(sum(student_count) FILTER (WHERE long_ok AND bw_pub), 0) AS students_long,
               count(*) FILTER (WHERE wan_kbps_per_student IS NOT NULL AND wan_pub) AS districts_with_wan,
               count(*) FILTER (WHERE meets_wan_goal AND wan_pub) AS districts_wan,
               count(cost_per_mbps_usd) AS districts_with_cost,
               quantile_cont(cost_per_mbps_usd, 0.25) AS cost_q1,
               quantile_cont(cost_per_mbps_usd, 0.5) AS cost_median,
               quantile_cont(cost_per_mbps_usd, 0.75) AS cost_q3,
               count(*) FILTER (WHERE above_affordable_cost) AS districts_above_cost,
               count(*) FILTER (WHERE long_ok = false AND bw_pub AND afford_pub) AS districts_below_long,
               count(*) FILTER (WHERE could_meet_goal_within_budget AND bw_pub AND afford_pub)
                   AS districts_could_meet
        FROM d
        GROUP BY GROUPING SETS ((school_year), (school_year, isd_code))
        ORDER BY school_year, is_state DESC, isd_code
        """,
    )


# ------------------------------------------------------------------------- ISD pages


def isds(con, school_year: str) -> pd.DataFrame:
    """The ISDs of the year (marts.isd_year_metrics) with their names and districts."""
    return _fetch(
        con,
        """
        SELECT isd_code, isd_name, districts_in_directory, districts_complete
        FROM marts.isd_year_metrics
        WHERE school_year = ?
        ORDER BY coalesce(isd_name, isd_code), isd_code
        """,
        [school_year],
    )


def isd_figures(con, school_year: str, metrics: Iterable[str]) -> pd.DataFrame:
    """Every ISD's figure of each metric for the year, long (isd_code, metric, value,
    status): withheld figures are NULL with their status (``report_suppression``, scope
    ``isd``), in one query for all ISDs."""
    wanted = [m for m in metrics if m in _columns(con, "marts", "isd_year_metrics")]
    if not wanted:
        return pd.DataFrame(columns=["isd_code", "metric", "value", "status"])
    cols = ", ".join(f"CAST({_q(m)} AS DOUBLE) AS {_q(m)}" for m in wanted)
    return _fetch(
        con,
        f"""
        WITH wide AS (
            SELECT isd_code, school_year, {cols}
            FROM marts.isd_year_metrics WHERE school_year = ?
        ),
        long AS (
            SELECT isd_code, school_year, metric, value
            FROM wide UNPIVOT INCLUDE NULLS (value FOR metric IN ({", ".join(map(_q, wanted))}))
        )
        SELECT long.isd_code, long.metric,
               {_status_case("long.metric", "f")} AS status,
               CASE WHEN {_status_case("long.metric", "f")} > 0 THEN NULL ELSE long.value END AS value
        FROM long
        LEFT JOIN {SUPPRESSION_TABLE} AS f
               ON f.scope = 'isd' AND f.district_code = long.isd_code AND f.school_year = long.school_year
        """,
        [school_year],
    )
