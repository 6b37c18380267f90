"""Every SQL statement the annual review and the exports run against the warehouse.

Tables and columns read (docs/ARCHITECTURE.md, "Marts" and "audit"):

* ``marts.metric_values``: scope, district_code, school_year, metric, value,
  previous_value, change_from_previous_year, target, comparison, meets_target
* ``marts.objective_progress``: objective_id, metric, school_year, scope, district_code,
  value, target, meets_target, change_from_previous_year
* ``marts.objectives``: objective_id, parent_id, strategy_id, strategy_title, level,
  objective_text, sort_order, is_measured, metrics, unmeasured_reason
* ``marts.district_year_metrics``: district_code, school_year, district_name, isd_code,
  district_type, locale, county, data_complete, has_<family>, and the people counts of
  ``suppression.PEOPLE_COUNTS`` (for suppression)
* ``marts.state_year_metrics``: school_year, the people counts, districts_in_directory,
  districts_reporting, districts_complete, districts_with_bandwidth_data,
  districts_meeting_bandwidth_target
* ``audit.issues``: file_id, file_name, family, school_year, district_code, rule, severity
* ``audit.files``: school_year, received_at, status, rows_read, rows_loaded,
  rows_quarantined
* exports: every table and view of schema ``marts`` (information_schema)

Suppression is applied here, in SQL, with the rules of ``flows.report.suppression``:
suppressed values are turned into NULL (with a flag) before any row reaches Python.
Only small, aggregated or per-year result sets are fetched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import duckdb
import pandas as pd

from . import suppression

FAMILIES = ("enrollment", "staffing", "devices", "connectivity", "pl_participation")


def connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    warehouse = Path(warehouse)
    if not warehouse.is_file():
        raise FileNotFoundError(f"warehouse not found: {warehouse}")
    return duckdb.connect(str(warehouse), read_only=True)


def _q(name: str) -> str:
    """Quote an identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _in_list(values: Iterable[str]) -> str:
    vals = [_lit(v) for v in values]
    return "(" + ", ".join(vals) + ")" if vals else "(NULL)"


def prev_school_year_sql(expr: str) -> str:
    """SQL for the school year just before ``expr`` ('2024-25' -> '2023-24')."""
    start = f"CAST(substr({expr}, 1, 4) AS INTEGER)"
    return f"printf('%d-%02d', {start} - 1, {start} % 100)"


def _fetch(con, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


# ----------------------------------------------------------------- suppressed long tables


def safe_long_sql(table: str, columns: Iterable[str], min_cell_size: int) -> str:
    """A SELECT over a long table (one row per scope x district x metric x year:
    marts.metric_values, marts.objective_progress) adding the flags

    * ``_sup``: this year's figure is suppressed,
    * ``_psup``: last year's figure is suppressed,
    * ``_csup``: the change from last year is suppressed (either year is suppressed and
      neither is simply missing; a missing year makes the change "no data"),

    computed from the people counts of that district (or the state) in that year and in
    the year before, and ``_prev_value`` (last year's figure, unsuppressed).
    """
    cols = set(columns)
    cur: Callable[[str], str] = lambda c: f"coalesce(d.{c}, s.{c})"  # noqa: E731
    prv: Callable[[str], str] = lambda c: f"coalesce(dp.{c}, sp.{c})"  # noqa: E731
    prev_sy = prev_school_year_sql("t.school_year")
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
    sup = suppression.suppressed_case_sql("t.metric", "t.value", cur, min_cell_size)
    psup = suppression.suppressed_case_sql("t.metric", prev_value, prv, min_cell_size)
    return f"""
        SELECT x.*,
               ((x._sup OR x._psup)
                AND NOT (x.value IS NULL AND NOT x._sup)
                AND NOT (x._prev_value IS NULL AND NOT x._psup)) AS _csup
        FROM (
            SELECT t.*, {prev_value} AS _prev_value, {sup} AS _sup, {psup} AS _psup
            FROM {table} AS t
            {prev_join}
            LEFT JOIN marts.district_year_metrics AS d
                   ON t.scope = 'district' AND d.district_code = t.district_code
                  AND d.school_year = t.school_year
            LEFT JOIN marts.state_year_metrics AS s
                   ON t.scope = 'state' AND s.school_year = t.school_year
            LEFT JOIN marts.district_year_metrics AS dp
                   ON t.scope = 'district' AND dp.district_code = t.district_code
                  AND dp.school_year = {prev_sy}
            LEFT JOIN marts.state_year_metrics AS sp
                   ON t.scope = 'state' AND sp.school_year = {prev_sy}
        ) AS x
    """


_MV_COLS = (
    "scope", "district_code", "school_year", "metric", "value", "previous_value",
    "change_from_previous_year", "target", "comparison", "meets_target",
)
_OP_COLS = (
    "objective_id", "metric", "school_year", "scope", "district_code", "value", "target",
    "meets_target", "change_from_previous_year",
)


def _safe_mv(n: int) -> str:
    return safe_long_sql("marts.metric_values", _MV_COLS, n)


def _safe_op(n: int) -> str:
    return safe_long_sql("marts.objective_progress", _OP_COLS, n)


# ----------------------------------------------------------------------------- report


def years_on_record(con) -> list[str]:
    rows = con.execute(
        """
        SELECT school_year FROM marts.state_year_metrics
        UNION
        SELECT school_year FROM marts.district_year_metrics
        ORDER BY school_year
        """
    ).fetchall()
    return [r[0] for r in rows if r[0] is not None]


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
    """marts.state_year_metrics for the given years (all columns; a handful of rows)."""
    return _fetch(
        con,
        f"SELECT * FROM marts.state_year_metrics WHERE school_year IN {_in_list(school_years)} "
        "ORDER BY school_year",
    )


def objective_metric_summary(con, school_year: str, n: int) -> pd.DataFrame:
    """Per objective x metric for the year: the state figure and its change (suppressed),
    the target, and how many districts have data / meet the target / are suppressed."""
    return _fetch(
        con,
        f"""
        WITH op AS ({_safe_op(n)})
        SELECT objective_id, metric,
               any_value(CASE WHEN _sup THEN NULL ELSE value END) FILTER (WHERE scope = 'state')
                   AS state_value,
               coalesce(bool_or(_sup) FILTER (WHERE scope = 'state'), FALSE) AS state_suppressed,
               any_value(CASE WHEN _csup THEN NULL ELSE change_from_previous_year END)
                   FILTER (WHERE scope = 'state') AS state_change,
               coalesce(bool_or(_csup) FILTER (WHERE scope = 'state'), FALSE)
                   AS state_change_suppressed,
               any_value(CASE WHEN _sup THEN NULL ELSE meets_target END)
                   FILTER (WHERE scope = 'state') AS state_meets_target,
               max(target) AS target,
               count(value) FILTER (WHERE scope = 'district') AS districts_with_data,
               count(*) FILTER (WHERE scope = 'district' AND meets_target) AS districts_meeting,
               count(*) FILTER (WHERE scope = 'district' AND _sup) AS districts_suppressed,
               count(*) FILTER (WHERE scope = 'district') AS districts_listed
        FROM op
        WHERE school_year = ?
        GROUP BY objective_id, metric
        """,
        [school_year],
    )


def metric_trends(con, n: int) -> pd.DataFrame:
    """Per metric x school year (all years): the state figure (suppressed) and, over
    districts, how many have data and meet the target, and the share with value 1
    (for yes/no metrics)."""
    return _fetch(
        con,
        f"""
        WITH mv AS ({_safe_mv(n)})
        SELECT metric, school_year,
               any_value(CASE WHEN _sup THEN NULL ELSE value END) FILTER (WHERE scope = 'state')
                   AS state_value,
               coalesce(bool_or(_sup) FILTER (WHERE scope = 'state'), FALSE) AS state_suppressed,
               any_value(CASE WHEN _csup THEN NULL ELSE change_from_previous_year END)
                   FILTER (WHERE scope = 'state') AS state_change,
               coalesce(bool_or(_csup) FILTER (WHERE scope = 'state'), FALSE)
                   AS state_change_suppressed,
               max(target) AS target,
               any_value(comparison) AS comparison,
               count(value) FILTER (WHERE scope = 'district') AS districts_with_data,
               count(*) FILTER (WHERE scope = 'district' AND meets_target) AS districts_meeting,
               avg(value) FILTER (WHERE scope = 'district') AS district_mean
        FROM mv
        GROUP BY metric, school_year
        ORDER BY metric, school_year
        """,
    )


def district_values(con, school_year: str, metrics: Iterable[str], n: int) -> pd.DataFrame:
    """One row per district x metric for the year, with the district's locale and type.
    Suppressed figures come back as NULL with ``suppressed`` true."""
    return _fetch(
        con,
        f"""
        WITH mv AS ({_safe_mv(n)})
        SELECT mv.metric, mv.district_code, d.district_name, d.locale, d.district_type,
               CASE WHEN mv._sup THEN NULL ELSE mv.value END AS value,
               mv._sup AS suppressed
        FROM mv
        JOIN marts.district_year_metrics AS d
          ON d.district_code = mv.district_code AND d.school_year = mv.school_year
        WHERE mv.scope = 'district' AND mv.school_year = ? AND mv.metric IN {_in_list(metrics)}
        ORDER BY mv.metric, d.district_name, mv.district_code
        """,
        [school_year],
    )


def share_meeting_by_group(con, school_year: str, metrics: Iterable[str]) -> pd.DataFrame:
    """For yes/no metrics: per locale and per district type, districts with data and
    districts meeting (counts of districts, not of people)."""
    return _fetch(
        con,
        f"""
        SELECT mv.metric,
               CASE WHEN GROUPING(d.locale) = 0 THEN 'locale' ELSE 'district_type' END AS grouping,
               coalesce(d.locale, d.district_type) AS group_value,
               count(mv.value) AS districts_with_data,
               count(*) FILTER (WHERE mv.value = 1) AS districts_meeting
        FROM marts.metric_values AS mv
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


def gap_analysis(con, school_year: str, metrics: Iterable[str], n: int, limit: int) -> pd.DataFrame:
    """G4.S3.B.a: per target metric, the districts furthest from the target (shortfall in
    the metric's unit), among districts whose figure is published (not suppressed)."""
    return _fetch(
        con,
        f"""
        WITH mv AS ({_safe_mv(n)}),
        cur AS (
            SELECT mv.metric, mv.district_code, d.district_name, d.isd_code,
                   isd.district_name AS isd_name, d.locale, d.district_type,
                   mv.value, mv.target, mv.comparison,
                   CASE WHEN mv._csup THEN NULL ELSE mv.change_from_previous_year END
                       AS change_from_previous_year,
                   mv._csup AS change_suppressed,
                   {_shortfall('mv.value', 'mv.target', 'mv.comparison')} AS shortfall
            FROM mv
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


def most_improved(
    con, school_year: str, previous_year: str, metrics: Iterable[str], n: int, limit: int
) -> pd.DataFrame:
    """G4.S1.E: per metric, districts ranked by how much of their shortfall from the
    target they closed since last year (shortfall last year minus shortfall this year,
    in the metric's unit; going beyond the target earns nothing more). Only districts
    with a published, unsuppressed figure in both years."""
    return _fetch(
        con,
        f"""
        WITH mv AS ({_safe_mv(n)}),
        pair AS (
            SELECT c.metric, c.district_code, p.value AS previous_value, c.value,
                   c.target, c.comparison,
                   {_shortfall('p.value', 'c.target', 'c.comparison')} AS previous_shortfall,
                   {_shortfall('c.value', 'c.target', 'c.comparison')} AS shortfall
            FROM mv AS c
            JOIN mv AS p
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


def eligible_for_recognition(
    con, school_year: str, previous_year: str, metrics: Iterable[str], n: int
) -> pd.DataFrame:
    """Per metric: districts with an unsuppressed figure in both years."""
    return _fetch(
        con,
        f"""
        WITH mv AS ({_safe_mv(n)})
        SELECT c.metric, count(*) AS districts_eligible
        FROM mv AS c
        JOIN mv AS p
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
    return con.execute("SELECT max(received_at) FROM audit.files").fetchone()[0]


def district_history(con, metrics: Iterable[str], n: int) -> pd.DataFrame:
    """Every district's figures for every year (suppressed), for the per-district pages:
    at most districts x metrics x years rows, a few columns."""
    return _fetch(
        con,
        f"""
        WITH mv AS ({_safe_mv(n)})
        SELECT district_code, school_year, metric,
               CASE WHEN _sup THEN NULL ELSE value END AS value,
               _sup AS suppressed,
               CASE WHEN _csup THEN NULL ELSE change_from_previous_year END
                   AS change_from_previous_year,
               _csup AS change_suppressed,
               CASE WHEN _sup THEN NULL ELSE meets_target END AS meets_target
        FROM mv
        WHERE scope = 'district' AND metric IN {_in_list(metrics)}
        ORDER BY district_code, metric, school_year
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


def export_view_sql(
    con, table: str, min_cell_size: int
) -> tuple[str, list[tuple[str, str]], list[str]]:
    """A SELECT over ``marts.<table>`` with suppression applied.

    Returns (sql, columns, suppressible): the SELECT yields every exported column
    (suppressed cells NULL), one boolean ``_sup__<column>`` per suppressible column, and
    ``suppressed_columns`` (the names of the suppressed cells of the row, ';'-separated,
    NULL when none).
    """
    n = int(min_cell_size)
    cols = [(c, t) for c, t in table_columns(con, "marts", table) if c not in EXPORT_DROPPED_COLUMNS]
    names = [c for c, _ in cols]
    fq = f"marts.{_q(table)}"
    select: list[str] = []
    flags: list[tuple[str, str]] = []

    if _LONG_REQUIRED <= set(names):
        base = f"({safe_long_sql(fq, names, n)})"
        for c in names:
            if c == "value":
                flags.append((c, "t._sup"))
            elif c == "meets_target":
                cond = "t._sup AND t.target IS NOT NULL" if "target" in names else "t._sup"
                flags.append((c, f"({cond})"))
            elif c == "previous_value":
                flags.append((c, "t._psup"))
            elif c == "change_from_previous_year":
                flags.append((c, "t._csup"))
        # the long SELECT exposes t.* plus _sup/_psup; alias it again as t
        source = f"{base} AS t"
    else:
        joins = ""
        if "district_code" in names and "school_year" in names:
            joins = (
                " LEFT JOIN marts.district_year_metrics AS d"
                " ON d.district_code = t.district_code AND d.school_year = t.school_year"
            )
            other = "d"
        elif "school_year" in names:
            joins = " LEFT JOIN marts.state_year_metrics AS d ON d.school_year = t.school_year"
            other = "d"
        else:
            other = None
        other_cols: set[str] = set()
        if other is not None:
            ref = "district_year_metrics" if "district_code" in names else "state_year_metrics"
            other_cols = {c for c, _ in table_columns(con, "marts", ref)}
        for c in names:
            if not suppression.is_suppressible(c):
                continue
            basis = suppression.BASIS[c]
            if all(b in names or b in other_cols for b in basis):
                count_sql = lambda b: f"t.{_q(b)}" if b in names else f"{other}.{_q(b)}"  # noqa: E731
                flags.append((c, suppression.suppressed_sql(c, f"t.{_q(c)}", count_sql, n)))
            else:
                # the counts behind this figure are not available: publish nothing of it
                flags.append((c, "TRUE"))
        source = f"{fq} AS t{joins}"

    flag_of = dict(flags)
    for c in names:
        if c in flag_of:
            select.append(f"CASE WHEN {flag_of[c]} THEN NULL ELSE t.{_q(c)} END AS {_q(c)}")
        else:
            select.append(f"t.{_q(c)} AS {_q(c)}")
    for c, cond in flags:
        select.append(f"coalesce({cond}, FALSE) AS {_q('_sup__' + c)}")
    if flags:
        parts = ", ".join(f"CASE WHEN coalesce({cond}, FALSE) THEN {_lit(c)} END" for c, cond in flags)
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
    """Write the suppressed table as Parquet (typed; suppressed cells NULL) and as CSV
    (suppressed cells ``<10``; text neutralised against formula injection)."""
    view_sql, cols, suppressible = export_view_sql(con, table, min_cell_size)
    mark = suppression.marker(min_cell_size)
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
                text.append(
                    f"CASE WHEN {_q('_sup__' + c)} THEN {_lit(mark)} "
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
