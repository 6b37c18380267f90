"""The SQL of the exports (``flows.report.exports``): every table of schema ``marts``
(information_schema), selected with suppression applied (``suppression_sql``) and
copied to Parquet (typed, withheld cells NULL) and CSV (withheld cells ``<10`` /
``np``, text neutralised against formula injection)."""

from __future__ import annotations

from pathlib import Path

from . import suppression
from .sql import quote_ident, quote_literal, table_columns
from .suppression_sql import SUPPRESSION_TABLE, safe_long_sql


def marts_tables(con) -> list[str]:
    rows = con.execute(
        """
        select table_name from information_schema.tables
        where table_schema = 'marts' and table_catalog = current_database()
        order by table_name
        """
    ).fetchall()
    return [r[0] for r in rows]


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
        f"case when regexp_matches({expr}, '{_FORMULA_RE}') "
        f"and not regexp_matches({expr}, '{_NUMBER_RE}') "
        f"then '''' || {expr} else {expr} end"
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
    fq = f"marts.{quote_ident(table)}"
    flags: list[tuple[str, str]] = []

    if _LONG_REQUIRED <= set(names):
        source = f"({safe_long_sql(fq, names)}) as t"
        for c in names:
            if c == "value":
                flags.append((c, "t._st"))
            elif c == "meets_target":
                flags.append(
                    (c, "case when t.target is not null then t._st else 0 end" if "target" in names else "t._st")
                )
            elif c == "previous_value":
                flags.append((c, "t._pst"))
            elif c == "change_from_previous_year":
                flags.append((c, "t._cst"))
    else:
        if "isd_code" in names and "school_year" in names and "district_code" not in names:
            # an ISD's figures (marts.isd_year_metrics): the status of the ISD's figures
            joins = (
                f" left join {SUPPRESSION_TABLE} as f on f.scope = 'isd'"
                " and f.district_code = t.isd_code and f.school_year = t.school_year"
            )
        elif "district_code" in names and "school_year" in names:
            joins = (
                f" left join {SUPPRESSION_TABLE} as f on f.scope = 'district'"
                " and f.district_code = t.district_code and f.school_year = t.school_year"
            )
        elif "school_year" in names:
            joins = f" left join {SUPPRESSION_TABLE} as f on f.scope = 'state' and f.school_year = t.school_year"
        else:
            joins = None
        for c in names:
            if c not in suppression.FIGURES:
                continue
            if joins is None:
                # no district or year to know the counts behind this figure: publish nothing of it
                flags.append((c, str(suppression.PRIMARY)))
            else:
                flags.append((c, f"coalesce(f.{quote_ident(c)}, 0)"))
        source = f"{fq} as t{joins or ''}"

    flag_of = dict(flags)
    select: list[str] = []
    for c in names:
        if c in flag_of:
            select.append(f"case when ({flag_of[c]}) > 0 then null else t.{quote_ident(c)} end as {quote_ident(c)}")
        else:
            select.append(f"t.{quote_ident(c)} as {quote_ident(c)}")
    for c, cond in flags:
        select.append(f"cast(coalesce({cond}, 0) as tinyint) as {quote_ident('_st__' + c)}")
    if flags:
        parts = ", ".join(f"case when coalesce({cond}, 0) > 0 then {quote_literal(c)} end" for c, cond in flags)
        select.append(f"nullif(concat_ws(';', {parts}), '') as suppressed_columns")
    sql = f"select {', '.join(select)} from {source}"
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
    order = ", ".join(f"v.{quote_ident(c)} nulls last" for c, _ in cols)
    view = quote_ident(f"_export_{table}")
    con.execute(f"create or replace temp view {view} as {view_sql}")
    try:
        typed = [quote_ident(c) for c, _ in cols] + (["suppressed_columns"] if suppressible else [])
        con.execute(
            f"copy (select {', '.join(typed)} from {view} as v order by {order}) "
            f"to {quote_literal(str(parquet_path))} (format parquet)"
        )
        text: list[str] = []
        for c, t in cols:
            qc = quote_ident(c)
            if c in suppressible:
                st = quote_ident("_st__" + c)
                text.append(
                    f"case when {st} = {suppression.PRIMARY} then {quote_literal(small)} "
                    f"when {st} = {suppression.COMPLEMENTARY} then {quote_literal(suppression.NOT_PUBLISHED)} "
                    f"else cast({qc} as varchar) end as {qc}"
                )
            elif _is_text(t):
                text.append(f"{neutralise_formula_sql(qc)} as {qc}")
            else:
                text.append(qc)
        if suppressible:
            text.append("suppressed_columns")
        con.execute(
            f"copy (select {', '.join(text)} from {view} as v order by {order}) "
            f"to {quote_literal(str(csv_path))} (format csv, header true, delimiter ',', quote '\"')"
        )
    finally:
        con.execute(f"drop view if exists {view}")
