"""Running the Great Expectations suites (flows/ingest/suites.py) over a batch of
landing files, and turning the results into issues.

How a batch of files of one family is checked (every new file of the family in the run
is one batch, so a file costs milliseconds, not a framework call):
1. the reader (`read_csv.py`) has put the rows of every file, as text, into one DuckDB
   table, with `_file` (the file's number in the batch), `_file_sy` (the school year of
   its name) and `_line`;
2. DuckDB removes exact duplicate rows (and repeated PL records) within each file, which
   are warnings, and derives the columns the suites check: typed numbers and dates, and
   flags such as "district in the directory", "building in that year's enrollment",
   "school_year as in the file name";
3. Great Expectations checks the DISTINCT combinations of values of each group of
   columns over all the files at once (`result_format=COMPLETE`), and the failing
   combinations are joined back to every (file, line) holding them; key uniqueness is
   checked within each file, on the rows whose key repeats;
4. an expectation that *could not run* (an exception inside Great Expectations) is
   never counted as a pass nor as bad data: it raises `ValidationCouldNotRun`.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

import duckdb
import pandas as pd

from ..warehouse.db import drop_quietly, registered, run, scalar
from . import suites
from .families import Family
from .suites import FILE_COLUMN, FILE_YEAR_COLUMN, Expectation

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
log = logging.getLogger(__name__)

ROW_ISSUE_COLUMNS = ["file", "line", "district_code", "rule", "severity", "column_name", "value", "message"]


class ValidationCouldNotRun(Exception):
    """An expectation raised instead of giving a verdict: neither a pass nor bad data."""


# ------------------------------------------------------------------ great expectations


@lru_cache(maxsize=1)
def _batch_definition():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("landing")
    asset = source.add_dataframe_asset("landing_rows")
    return asset.add_batch_definition_whole_dataframe("whole_file")


class _Suite:
    """The family's suite (flows/ingest/suites.py), and the sub-suites (same expectation
    configurations, same meta) that one Great Expectations call runs."""

    def __init__(self, family_name: str):
        self.suite = suites.family_suite(family_name)
        self.expectations: tuple[Expectation, ...] = self.suite.expectations
        self._parts: dict[tuple[int, ...], Any] = {}

    def part(self, indexes: tuple[int, ...]):
        import great_expectations as gx

        if indexes not in self._parts:
            self._parts[indexes] = gx.ExpectationSuite(**self.suite.config(indexes))
        return self._parts[indexes]


@cache
def _suite(family_name: str) -> _Suite:
    return _Suite(family_name)


@dataclass(frozen=True)
class Derived:
    """A column the suite checks that is computed from landing columns: `expr` is SQL
    over the batch table as `t` (with `join`, a left join it needs), `sources` the
    columns of the batch table it is computed from."""

    name: str
    expr: str
    sources: tuple[str, ...]
    join: str = ""


def derived_columns(family: Family, table: str, known: KnownCodes) -> dict[str, Derived]:
    """The derived columns of the family's suite, by name."""
    out: list[Derived] = []
    for col in family.columns:
        c = col.name
        if col.kind in ("integer", "number"):
            out.append(Derived(f"{c}__typed", f"try_cast(t.{c} as double)", (c,)))
        elif col.kind == "date":
            parsed = f"try_strptime(t.{c}, '%Y-%m-%d')"
            first_day = f"make_date(cast(left(t.{FILE_YEAR_COLUMN}, 4) as integer), 7, 1)"
            out.append(Derived(f"{c}__is_date", f"(t.{c} is null or {parsed} is not null)", (c,)))
            out.append(
                Derived(
                    f"{c}__in_school_year",
                    f"({parsed} is null or t.{FILE_YEAR_COLUMN} is null or "
                    f"cast({parsed} as date) between {first_day} and {first_day} + interval 1 year - interval 1 day)",
                    (c, FILE_YEAR_COLUMN),
                )
            )
        elif col.kind == "school_year":
            out.append(
                Derived(
                    f"{c}__as_in_file_name",
                    f"(t.{c} is null or t.{FILE_YEAR_COLUMN} is null or t.{c} = t.{FILE_YEAR_COLUMN})",
                    (c, FILE_YEAR_COLUMN),
                )
            )
    if family.name == "districts":
        out.append(
            Derived(
                "_isd_known",
                "(t.isd_code is null or isd.district_code is not null)",
                ("isd_code", FILE_COLUMN),
                f"left join (select distinct {FILE_COLUMN}, district_code from {table} "
                "where district_type = 'ISD') isd "
                f"on isd.{FILE_COLUMN} = t.{FILE_COLUMN} and isd.district_code = t.isd_code",
            )
        )
    else:
        out.append(
            Derived(
                "_district_known",
                "(t.district_code is null or kd.district_code is not null)",
                ("district_code",),
                f"left join (select distinct district_code from {known.districts_table}) kd "
                "on kd.district_code = t.district_code",
            )
        )
    if family.name == "devices":
        out.append(
            Derived(
                "_building_known",
                "(t.building_code is null or kb.building_code is not null)",
                ("school_year", "district_code", "building_code"),
                "left join (select distinct school_year, district_code, building_code "
                f"from {known.buildings_table}) kb "
                "on kb.school_year = t.school_year and kb.district_code = t.district_code "
                "and kb.building_code = t.building_code",
            )
        )
    return {d.name: d for d in out}


@dataclass
class KnownCodes:
    """What rows are checked against: the directory and each year's enrollment, as
    DuckDB tables (temp tables of the run's connection)."""

    districts_table: str  # column district_code
    buildings_table: str  # columns school_year, district_code, building_code


@dataclass
class ValidationOutcome:
    row_issues: pd.DataFrame  # ROW_ISSUE_COLUMNS, one row per failing row and rule
    results: list[dict] = field(default_factory=list)  # per file and expectation (key "file")
    rows_validated: int = 0


def remove_duplicates(con: duckdb.DuckDBPyConnection, table: str, family: Family) -> pd.DataFrame:
    """Drop exact duplicate rows (and repeated PL records) within each file of `table`,
    keeping the first line; return the dropped lines as warning issues."""
    checks = [
        (
            "exact_duplicate_row",
            [FILE_COLUMN, *(c.raw_name for c in family.columns)],
            "the same row appears more than once; it was loaded once",
        )
    ]
    if family.record_key:
        checks.append(
            (
                "duplicate_pl_record",
                [FILE_COLUMN, *(family.column(c).raw_name for c in family.record_key)],
                "the same educator, activity and completion date appear more than once; counted once",
            )
        )
    frames = []
    for rule, columns, message in checks:
        partition = ", ".join(columns)
        matches = " and ".join(f"t.{c} is not distinct from g.{c}" for c in columns)
        # group first: in the usual file without duplicates this is one aggregate, no join
        dropped = con.execute(
            f"""
            with repeated as (
                select {partition}, min(_line) as first_line
                from {table} group by {partition} having count(*) > 1
            )
            select t.{FILE_COLUMN} as file, t._line as line, t.district_code, ? as rule, 'warning' as severity,
                   null as column_name, 'same as line ' || g.first_line as value, ? as message
            from {table} t join repeated g on {matches}
            where t._line > g.first_line
            order by t.{FILE_COLUMN}, t._line
            """,
            [rule, message],
        ).df()
        if len(dropped):
            with registered(con, "_dropped_lines", dropped[["file", "line"]]):
                run(
                    con,
                    f"delete from {table} where ({FILE_COLUMN}, _line) in (select (file, line) from _dropped_lines)",
                )
            frames.append(dropped)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ROW_ISSUE_COLUMNS)


def validate_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    family: Family,
    known: KnownCodes,
    batch_rows: int = 500_000,
) -> ValidationOutcome:
    """Validate the rows of `table` (every file of a batch: columns `_file`, `_file_sy`,
    `_line` and the family's) against the family's suite.

    Every expectation but the key uniqueness ones is a function of the values of the
    columns it reads (a derived column is a function of the columns it is computed
    from). So the suite is split by those columns: for each group of columns, Great
    Expectations checks the DISTINCT combinations of values that occur in the batch
    (NULL included), and the failing combinations are joined back to the (file, line)
    rows that hold them, which gives the same failing rows as checking every row. The
    uniqueness expectations run on the rows whose key occurs more than once in a file
    (the only rows that can fail them) plus one more row, so they always see data.
    """
    warnings = remove_duplicates(con, table, family)
    rows_per_file = dict(con.execute(f"select {FILE_COLUMN}, count(*) from {table} group by all").fetchall())
    n_rows = sum(rows_per_file.values())
    if not n_rows:
        return ValidationOutcome(
            row_issues=warnings[ROW_ISSUE_COLUMNS].reset_index(drop=True), results=[], rows_validated=0
        )
    suite = _suite(family.name)
    expectations = suite.expectations
    table_columns = [d[0] for d in con.execute(f"select * from {table} limit 0").description]
    derived = derived_columns(family, table, known)
    groups, unresolved, unique = _split_suite(expectations, table_columns, derived)
    summary: dict[int, dict] = {}
    found: dict[int, pd.DataFrame] = {}
    batch_definition = _batch_definition()
    chunk = max(1, int(batch_rows))
    temp_tables: list[str] = []
    try:
        # ---- value expectations, on distinct combinations
        for g, group in enumerate(groups):
            combos = f"{table}__combos{g}"
            temp_tables.append(combos)
            cols = ", ".join(f"{group.value(c, 't')} as {c}" for c in group.columns)
            run(
                con,
                f"create or replace temp table {combos} as "
                # the most frequent combination first: it pads shorter groups (below)
                f"select cast(row_number() over (order by _n desc) - 1 as bigint) as _cid, * exclude (_n) "
                f"from (select {cols}, count(*) as _n from {table} t group by all)",
            )
            group.table = combos
            group.size = scalar(con, f"select count(*) from {combos}")
            group.select = _combo_select(combos, group, derived)
        failing: dict[int, list[tuple[int, int]]] = {}  # group -> (expectation, combo id)
        pads: dict[int, pd.DataFrame] = {}  # group -> its most frequent combination (combo id 0)
        first = True
        for members in _pack(groups) or [[]]:
            longest = max([groups[g].size for g in members], default=1)
            for lo in range(0, longest, chunk):
                present = [g for g in members if groups[g].size > lo]
                indexes = sorted(
                    {i for g in present for i in groups[g].expectations} | (set(unresolved) if first else set())
                )
                first = False
                if not indexes:
                    continue
                n = min(chunk, longest - lo)
                frames = []
                for g in present:
                    part = con.execute(
                        f"select * exclude (_cid) from ({groups[g].select}) where _cid >= ? and _cid < ? order by _cid",
                        [lo, lo + n],
                    ).df()
                    if len(part) < n:
                        # side by side with a longer group: padded with copies of its most frequent
                        # combination (a copy cannot change any verdict; its positions are ignored below)
                        if g not in pads:
                            pads[g] = con.execute(
                                f"select * exclude (_cid) from ({groups[g].select}) where _cid = 0"
                            ).df()
                        part = pd.concat([part, pads[g].iloc[[0] * (n - len(part))]], ignore_index=True)
                    frames.append(part)
                df = pd.concat(frames, axis=1) if len(frames) > 1 else (frames[0] if frames else _first_row(con, table))
                batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
                result = batch.validate(suite.part(tuple(indexes)), result_format="COMPLETE")
                for i, res in _by_expectation(result.results, indexes, expectations):
                    s = summary.setdefault(i, _blank_summary(res))
                    if _raised(res, s) or res.success:
                        continue
                    g = next((g for g in present if i in groups[g].expectations), None)
                    if g is None:
                        continue
                    pairs = [(i, lo + p) for p in _unexpected_positions(res) if lo + p < groups[g].size]
                    if pairs:
                        failing.setdefault(g, []).extend(pairs)
                del df, frames
        for g, pairs in failing.items():
            rows = _rows_of_combos(con, table, groups[g], pairs, expectations, table_columns)
            for i, frame in rows.items():
                found[i] = frame
        # ---- uniqueness within each file, on the rows whose key is repeated
        for i in unique:
            _validate_unique(con, table, table_columns, i, suite, batch_definition, chunk, summary, found, temp_tables)
    finally:
        drop_quietly(con, *temp_tables)
    could_not_run = [s for s in summary.values() if s["raised_exception"]]
    if could_not_run:
        detail = "; ".join(
            f"{s['expectation_type']} on {s['column_name']}: {s['exception_message']}" for s in could_not_run
        )
        raise ValidationCouldNotRun(
            f"Great Expectations could not evaluate {len(could_not_run)} expectation(s) of suite "
            f"landing.{family.name} ({detail}). This is a fault of the pipeline or the suite, not of the data: "
            "no file is judged on a check that did not run."
        )
    issue_frames = [warnings, *(found[i] for i in sorted(found) if len(found[i]))]
    frames = [f for f in issue_frames if len(f)]
    row_issues = (
        pd.concat(frames, ignore_index=True)[ROW_ISSUE_COLUMNS] if frames else pd.DataFrame(columns=ROW_ISSUE_COLUMNS)
    )
    results = []
    for i in sorted(summary):
        failed_rows = found.get(i)
        per_file = failed_rows.groupby("file").size().to_dict() if failed_rows is not None and len(failed_rows) else {}
        for f, rows in rows_per_file.items():
            unexpected = int(per_file.get(f, 0))
            results.append(
                dict(summary[i], file=f, element_count=int(rows), unexpected_count=unexpected, success=unexpected == 0)
            )
    return ValidationOutcome(row_issues=row_issues, results=results, rows_validated=int(n_rows))


@dataclass
class _Group:
    columns: list[str]  # batch-table columns whose combinations are checked
    expectations: list[int]
    table: str = ""
    size: int = 0
    select: str = ""
    # columns of which only NULL or not matters (read by not-null expectations alone): their
    # combinations hold `true` or NULL instead of the value, so a column of a million
    # distinct educator keys is checked as two values
    nullness: tuple[str, ...] = ()

    def value(self, column: str, alias: str) -> str:
        """The column as its combinations hold it, over the rows of `alias`."""
        if column in self.nullness:
            return f"(case when {alias}.{column} is null then null else true end)"
        return f"{alias}.{column}"


def _split_suite(
    expectations: tuple[Expectation, ...], table_columns: list[str], derived: dict[str, Derived]
) -> tuple[list[_Group], list[int], list[int]]:
    """Groups of value expectations whose columns overlap (so the groups read disjoint
    columns), expectations naming a column that does not exist (Great Expectations
    reports them as not run), and uniqueness expectations."""
    groups: list[_Group] = []
    unresolved: list[int] = []
    unique: list[int] = []
    for i, e in enumerate(expectations):
        if e.checks_uniqueness:
            unique.append(i)
            continue
        sources: list[str] = []
        ok = True
        for c in e.columns_read:
            if c in table_columns:
                sources.append(c)
            elif c in derived:
                sources.extend(derived[c].sources)
            else:
                ok = False
        if not ok or not sources:
            unresolved.append(i)
            continue
        merged = _Group(columns=[], expectations=[i])
        for c in sources:
            if c not in merged.columns:
                merged.columns.append(c)
        keep = []
        for g in groups:
            if set(g.columns) & set(merged.columns):
                merged.columns = g.columns + [c for c in merged.columns if c not in g.columns]
                merged.expectations = sorted(g.expectations + merged.expectations)
            else:
                keep.append(g)
        groups = keep + [merged]
    groups.sort(key=lambda g: g.expectations[0])
    from_derived = {c for d in derived.values() for c in d.sources}
    for g in groups:
        g.nullness = tuple(
            c
            for c in g.columns
            if c not in from_derived
            and all(
                expectations[i].type == "expect_column_values_to_not_be_null"
                for i in g.expectations
                if c in expectations[i].columns_read
            )
        )
    return groups, unresolved, unique


# A group shorter than the longest of its Great Expectations call is padded; padding rows
# cost about as much as a call (~tens of ms) at this many row-checks.
_PAD_BUDGET = 200_000


def _pack(groups: list[_Group]) -> list[list[int]]:
    """Groups checked by one Great Expectations call each (side by side): a group joins the
    call of a longer group while the rows it would be padded with stay within budget."""
    bins: list[list[int]] = []
    for g in sorted(range(len(groups)), key=lambda g: -groups[g].size):
        for members in bins:
            longest = groups[members[0]].size
            if (longest - groups[g].size) * len(groups[g].expectations) <= _PAD_BUDGET:
                members.append(g)
                break
        else:
            bins.append([g])
    return bins


def _first_row(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    return con.execute(f"select * exclude (_line) from {table} order by {FILE_COLUMN}, _line limit 1").df()


def _combo_select(combos: str, group: _Group, derived: dict[str, Derived]) -> str:
    """The combinations of a group with the derived columns computed from them."""
    mine = [d for d in derived.values() if set(d.sources) <= set(group.columns)]
    columns = ", ".join(["t.*", *(f"{d.expr} as {d.name}" for d in mine)])
    joins = " ".join(d.join for d in mine if d.join)
    return f"select {columns} from {combos} t {joins}"


def _identity(type_: str, kwargs: dict, meta: dict | None) -> str:
    cols = [kwargs.get(k) for k in ("column", "column_A", "column_B")] + list(kwargs.get("column_list") or [])
    return json.dumps([type_, cols, meta or {}], sort_keys=True, default=str)


def _by_expectation(results, indexes: list[int], expectations: tuple[Expectation, ...]) -> list[tuple[int, Any]]:
    """Pair each result with the suite's expectation it is for (Great Expectations does not
    keep the suite's order, e.g. for an expectation that raised)."""
    where = {_identity(expectations[i].type, expectations[i].kwargs, expectations[i].meta): i for i in indexes}
    if len(where) != len(indexes) or len(results) != len(indexes):
        raise RuntimeError("expectations of one suite must differ in type, columns or meta")
    out = []
    for res in results:
        cfg = res.expectation_config
        out.append((where[_identity(cfg.type, dict(cfg.kwargs), cfg.meta)], res))
    return out


def _raised(res, summary: dict) -> bool:
    info = res.exception_info or {}
    errors = [info] if "raised_exception" in info else list(info.values())
    raised = [e for e in errors if isinstance(e, dict) and e.get("raised_exception")]
    if raised:
        summary["raised_exception"] = True
        summary["success"] = False
        summary["exception_message"] = raised[0].get("exception_message")
    return bool(raised)


def _unexpected_positions(res) -> list[int]:
    lines = list((res.result or {}).get("unexpected_index_list") or [])
    if lines and isinstance(lines[0], dict):
        lines = [next(iter(r.values())) for r in lines]
    return [int(p) for p in lines]


def _issue_frame(meta: dict, files, lines, districts, values) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "file": files,
            "line": lines,
            "district_code": districts,
            "rule": meta.get("rule"),
            "severity": meta.get("severity", "error"),
            "column_name": meta.get("column"),
            "value": values.astype("string").str.slice(0, 200).to_numpy(),
            "message": meta.get("message"),
        }
    )


def _rows_of_combos(
    con: duckdb.DuckDBPyConnection,
    table: str,
    group: _Group,
    pairs: list[tuple[int, int]],
    expectations: tuple[Expectation, ...],
    table_columns: list[str],
) -> dict[int, pd.DataFrame]:
    """The rows holding the failing combinations of a group, as issues per expectation."""
    failing = pd.DataFrame(pairs, columns=["exp", "cid"]).drop_duplicates()
    reported = sorted(
        {expectations[i].column for i in failing["exp"].unique() if expectations[i].column in table_columns}
    )
    match = " and ".join(f"{group.value(c, 't')} is not distinct from b.{c}" for c in group.columns)
    with registered(con, "_failing_combos", failing):
        rows = con.execute(
            f"""
            with b as (select f.exp, c.* from _failing_combos f join {group.table} c on c._cid = f.cid)
            select b.exp as _exp, t.{FILE_COLUMN} as _f, t._line as _line, t.district_code as _district
                   {"".join(f', t.{c} as "r_{c}"' for c in reported)}
            from {table} t join b on {match}
            order by b.exp, t.{FILE_COLUMN}, t._line
            """
        ).df()
    out = {}
    for i, part in rows.groupby("_exp", sort=True):
        meta = expectations[int(i)].meta
        column = meta.get("column")
        values = part[f"r_{column}"] if column in reported else pd.Series([None] * len(part), index=part.index)
        out[int(i)] = _issue_frame(
            meta, part["_f"].to_numpy(), part["_line"].to_numpy(), part["_district"].to_numpy(), values
        )
    return out


def _validate_unique(
    con, table, table_columns, i, suite: _Suite, batch_definition, chunk, summary, found, temp_tables
) -> None:
    """A uniqueness expectation, on the rows whose key occurs more than once (no other row
    can fail it) and the first row of the batch; Great Expectations calls never split a key."""
    e = suite.expectations[i]
    kw = e.kwargs
    keys = list(kw.get("column_list") or [kw.get("column")])
    meta = e.meta
    missing = [k for k in keys if k not in table_columns]
    wanted = [
        c for c in dict.fromkeys([*keys, FILE_COLUMN, "district_code", meta.get("column")]) if c and c in table_columns
    ]
    cols = ", ".join(wanted)
    if missing:  # Great Expectations reports the missing column as an expectation that could not run
        df = con.execute(f"select {cols} from {table} order by {FILE_COLUMN}, _line limit 1").df()
        result = batch_definition.get_batch(batch_parameters={"dataframe": df}).validate(
            suite.part((i,)), result_format="COMPLETE"
        )
        _raised(result.results[0], summary.setdefault(i, _blank_summary(result.results[0])))
        return
    by = ", ".join(keys)
    candidates = f"{table}__repeated{i}"
    temp_tables.append(candidates)
    run(
        con,
        f"""
        create or replace temp table {candidates} as
        select * exclude (_rn), (min(_rn) over (partition by {by})) // {chunk} as _batch
        from (
            select _line, {cols}, row_number() over (order by {by}, _line) as _rn
            from {table}
            qualify count(*) over (partition by {by}) > 1
                 or row_number() over (order by {FILE_COLUMN}, _line) = 1
        )
        """,
    )
    n_batches = scalar(con, f"select coalesce(max(_batch), -1) + 1 from {candidates}")
    frames = []
    for b in range(n_batches):
        df = con.execute(
            f"select * exclude (_batch) from {candidates} where _batch = ? order by {FILE_COLUMN}, _line", [b]
        ).df()
        lines = df.pop("_line")
        result = batch_definition.get_batch(batch_parameters={"dataframe": df}).validate(
            suite.part((i,)), result_format="COMPLETE"
        )
        res = result.results[0]
        s = summary.setdefault(i, _blank_summary(res))
        if _raised(res, s) or res.success:
            continue
        positions = _unexpected_positions(res)
        if positions:
            at = df.iloc[positions]
            column = meta.get("column")
            values = at[column] if column in at.columns else pd.Series([None] * len(at), index=at.index)
            frames.append(
                _issue_frame(
                    meta,
                    at[FILE_COLUMN].to_numpy(),
                    lines.iloc[positions].to_numpy(),
                    at["district_code"].to_numpy(),
                    values,
                )
            )
    if frames:
        found[i] = (
            pd.concat(frames, ignore_index=True).sort_values(["file", "line"], kind="stable").reset_index(drop=True)
        )


def _blank_summary(res) -> dict:
    cfg = res.expectation_config
    meta = cfg.meta or {}
    return {
        "expectation_type": cfg.type,
        "column_name": meta.get("column") or cfg.kwargs.get("column"),
        "rule": meta.get("rule"),
        "severity": meta.get("severity", "error"),
        "success": True,
        "raised_exception": False,
        "exception_message": None,
        "unexpected_count": 0,
        "element_count": 0,
    }
