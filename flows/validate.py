"""Validation of landing files with Great Expectations.

The rules of DATA_SPEC section 1 live as Great Expectations suites in
`expectations/<family>.json` (written from `flows/families.py` by
`python -m flows.validate --write-suites`; a test keeps the two in step). Each
expectation carries in its `meta` the rule id, the severity and the message a district
data contact reads.

How a file is checked:
1. the reader (`read_csv.py`) has put its rows, as text, into a DuckDB temp table;
2. DuckDB removes exact duplicate rows (and repeated PL records), which are warnings,
   and adds derived columns the suites check: typed numbers and dates, and flags for
   "district in the directory" and "building in that year's enrollment";
3. the rows go to pandas in batches that never split a district (so key uniqueness is
   checked whole), and each batch is validated with `result_format=COMPLETE` so every
   failing row is known by its line;
4. an expectation that *could not run* (an exception inside Great Expectations) is
   never counted as a pass nor as bad data: it raises `ValidationCouldNotRun` and the
   run fails loudly.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from .db import run, scalar
from .families import (
    CODE_PATTERN,
    EMAIL_PATTERN,
    FAMILIES,
    INTEGER_PATTERN,
    NUMBER_PATTERN,
    Column,
    Family,
    school_year_bounds,
)
from .issues import Issue
from .settings import EXPECTATIONS_DIR

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
log = logging.getLogger(__name__)

SIGNED_INTEGER = r"^-?\d+$"
SIGNED_NUMBER = r"^-?(?:\d+(?:\.\d*)?|\.\d+)$"
ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"

ROW_ISSUE_COLUMNS = ["line", "district_code", "rule", "severity", "column_name", "value", "message"]


class ValidationCouldNotRun(Exception):
    """An expectation raised instead of giving a verdict: neither a pass nor bad data."""


# --------------------------------------------------------------------------- suites


def _exp(type_: str, rule: str, message: str, reported: str | None, severity: str = "error", **kwargs) -> dict:
    meta = {"rule": rule, "severity": severity, "message": message}
    if reported:
        meta["column"] = reported  # the landing-file column the issue is reported against
    return {"type": type_, "kwargs": kwargs, "meta": meta}


def _column_expectations(family: Family, col: Column) -> list[dict]:
    c = col.name
    out: list[dict] = []
    if col.required:
        # educator_id is checked after it was replaced by its keyed hash (null stays null)
        checked = "educator_key" if c == "educator_id" else c
        out.append(
            _exp("expect_column_values_to_not_be_null", "required_value_missing", f"{c} is required but empty", c, column=checked)
        )
    if col.kind == "code":
        out.append(
            _exp(
                "expect_column_values_to_match_regex",
                "bad_code_format",
                f"{c} must be exactly five digits, keeping leading zeros (01010, not 1010): "
                "format the column as text in the spreadsheet before exporting",
                c,
                column=c,
                regex=CODE_PATTERN,
            )
        )
    elif col.kind == "school_year":
        out.append(
            _exp(
                "expect_column_values_to_be_in_set",
                "school_year_mismatch",
                "school_year must match the year in the file name",
                c,
                column=c,
                value_set={"$PARAMETER": "file_school_year"},
            )
        )
    elif col.kind == "enum":
        out.append(
            _exp(
                "expect_column_values_to_be_in_set",
                "value_not_allowed",
                f"{c} must be one of: {', '.join(col.values)}",
                c,
                column=c,
                value_set=list(col.values),
            )
        )
    elif col.kind == "email":
        out.append(
            _exp(
                "expect_column_values_to_match_regex", "bad_type", f"{c} must be an e-mail address", c,
                column=c, regex=EMAIL_PATTERN,
            )
        )
    elif col.kind in ("integer", "number"):
        whole = col.kind == "integer"
        out.append(
            _exp(
                "expect_column_values_to_match_regex",
                "bad_type",
                f"{c} must be a {'whole number' if whole else 'number'} written with digits only "
                "(no thousands separators, units or text, e.g. 1000 not 1,000 or 1000 Mbps)",
                c,
                column=c,
                regex=SIGNED_INTEGER if whole else SIGNED_NUMBER,
            )
        )
        bounds: dict[str, Any] = {}
        text = []
        if col.min_value is not None:
            bounds["min_value"] = col.min_value
            bounds["strict_min"] = col.min_exclusive
            text.append(f"{'>' if col.min_exclusive else '>='} {col.min_value:g}")
        if col.max_value is not None:
            bounds["max_value"] = col.max_value
            text.append(f"<= {col.max_value:g}")
        if bounds:
            out.append(
                _exp(
                    "expect_column_values_to_be_between",
                    "out_of_range",
                    f"{c} must be {' and '.join(text)}",
                    c,
                    column=f"{c}__typed",
                    **bounds,
                )
            )
    elif col.kind == "date":
        out.append(
            _exp(
                "expect_column_values_to_match_regex", "bad_type", f"{c} must be a date written YYYY-MM-DD", c,
                column=c, regex=ISO_DATE,
            )
        )
        out.append(
            _exp(
                "expect_column_values_to_be_in_set", "bad_type", f"{c} is not a calendar date", c,
                column=f"{c}__is_date", value_set=[True],
            )
        )
        out.append(
            _exp(
                "expect_column_values_to_be_between",
                "date_outside_school_year",
                f"{c} must fall inside the school year of the file (July 1 to June 30)",
                c,
                column=f"{c}__typed",
                min_value={"$PARAMETER": "school_year_start"},
                max_value={"$PARAMETER": "school_year_end"},
            )
        )
    return out


def build_suite_dict(family: Family) -> dict:
    expectations: list[dict] = []
    for col in family.columns:
        expectations.extend(_column_expectations(family, col))
    if family.name == "districts":
        expectations.append(
            _exp(
                "expect_column_values_to_be_in_set",
                "unknown_isd",
                "isd_code must be the code of an ISD listed in the same directory file (an ISD names itself)",
                "isd_code",
                column="_isd_known",
                value_set=[True],
            )
        )
    else:
        expectations.append(
            _exp(
                "expect_column_values_to_be_in_set",
                "unknown_district",
                "district_code is not in the state directory: check the code, or ask the state to add the district",
                "district_code",
                column="_district_known",
                value_set=[True],
            )
        )
    if family.name == "devices":
        for sub in ("devices_over_5_years", "take_home_count"):
            expectations.append(
                _exp(
                    "expect_column_pair_values_a_to_be_greater_than_b",
                    "count_exceeds_device_count",
                    f"{sub} cannot be larger than device_count",
                    sub,
                    column_A="device_count__typed",
                    column_B=f"{sub}__typed",
                    or_equal=True,
                    ignore_row_if="either_value_is_missing",
                )
            )
        expectations.append(
            _exp(
                "expect_column_values_to_be_in_set",
                "building_not_in_enrollment",
                "building_code is not in that district's enrollment file for the school year: "
                "send the enrollment row for the building first, or fix the code",
                "building_code",
                column="_building_known",
                value_set=[True],
            )
        )
    if not family.record_key:
        message = f"more than one row for the same {', '.join(family.key)} with different values: keep one"
        if len(family.key) == 1:
            expectations.append(
                _exp("expect_column_values_to_be_unique", "duplicate_key_conflict", message, family.key[0], column=family.key[0])
            )
        else:
            expectations.append(
                _exp(
                    "expect_compound_columns_to_be_unique",
                    "duplicate_key_conflict",
                    message,
                    family.key[-1],
                    column_list=list(family.key),
                    ignore_row_if="any_value_is_missing",
                )
            )
    return {"name": f"landing.{family.name}", "expectations": expectations, "meta": {"family": family.name}}


def suite_path(family_name: str, directory: Path = EXPECTATIONS_DIR) -> Path:
    return directory / f"{family_name}.json"


def write_suites(directory: Path = EXPECTATIONS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for family in FAMILIES.values():
        path = suite_path(family.name, directory)
        path.write_text(json.dumps(build_suite_dict(family), indent=2) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


@lru_cache(maxsize=None)
def load_suite_dict(family_name: str, directory: Path = EXPECTATIONS_DIR) -> dict:
    path = suite_path(family_name, directory)
    if not path.is_file():
        raise FileNotFoundError(f"expectation suite {path} is missing: run `python -m flows.validate --write-suites`")
    return json.loads(path.read_text(encoding="utf-8"))


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


@lru_cache(maxsize=None)
def _suite(family_name: str):
    import great_expectations as gx

    return gx.ExpectationSuite(**load_suite_dict(family_name))


def derived_columns(family: Family) -> list[str]:
    """SQL expressions that add the columns the suite checks beside the raw text."""
    exprs = []
    for col in family.columns:
        if col.kind in ("integer", "number"):
            exprs.append(f"try_cast({col.name} as double) as {col.name}__typed")
        elif col.kind == "date":
            # as the number YYYYMMDD: Great Expectations compares numbers vectorised,
            # but datetimes one row at a time in Python
            exprs.append(f"cast(strftime(try_strptime({col.name}, '%Y-%m-%d'), '%Y%m%d') as double) as {col.name}__typed")
            exprs.append(
                f"({col.name} is null or try_strptime({col.name}, '%Y-%m-%d') is not null) as {col.name}__is_date"
            )
    return exprs


@dataclass
class KnownCodes:
    """What rows are checked against: the directory and each year's enrollment, as
    DuckDB tables (temp tables of the run's connection)."""

    districts_table: str  # column district_code
    buildings_table: str  # columns school_year, district_code, building_code


@dataclass
class ValidationOutcome:
    row_issues: pd.DataFrame  # ROW_ISSUE_COLUMNS, one row per failing row and rule
    results: list[dict] = field(default_factory=list)  # one per expectation, summed over batches
    rows_validated: int = 0


def remove_duplicates(con: duckdb.DuckDBPyConnection, table: str, family: Family) -> pd.DataFrame:
    """Drop exact duplicate rows (and repeated PL records) from `table`, keeping the first
    line; return the dropped lines as warning issues."""
    cols = ", ".join(c if c != "educator_id" else "educator_key" for c in family.column_names)
    checks = [("exact_duplicate_row", cols, "the same row appears more than once; it was loaded once")]
    if family.record_key:
        key = ", ".join("educator_key" if c == "educator_id" else c for c in family.record_key)
        checks.append(
            (
                "duplicate_pl_record",
                key,
                "the same educator, activity and completion date appear more than once; counted once",
            )
        )
    frames = []
    for rule, partition, message in checks:
        columns = [c.strip() for c in partition.split(",")]
        matches = " and ".join(f"t.{c} is not distinct from g.{c}" for c in columns)
        # group first: in the usual file without duplicates this is one aggregate, no join
        dropped = con.execute(
            f"""
            with repeated as (
                select {partition}, min(_line) as first_line
                from {table} group by {partition} having count(*) > 1
            )
            select t._line as line, t.district_code, ? as rule, 'warning' as severity, null as column_name,
                   'same as line ' || g.first_line as value, ? as message
            from {table} t join repeated g on {matches}
            where t._line > g.first_line
            order by t._line
            """,
            [rule, message],
        ).df()
        if len(dropped):
            con.register("_dropped_lines", dropped[["line"]])
            run(con, f"delete from {table} where _line in (select line from _dropped_lines)")
            con.unregister("_dropped_lines")
            frames.append(dropped)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ROW_ISSUE_COLUMNS)


def validate_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    family: Family,
    school_year: str | None,
    known: KnownCodes,
    batch_rows: int = 500_000,
) -> ValidationOutcome:
    """Validate the rows of `table` against the family's suite."""
    warnings = remove_duplicates(con, table, family)
    flags = []
    joins = []
    if family.name == "districts":
        flags.append(
            f"(t.isd_code is null or t.isd_code in (select district_code from {table} where district_type = 'ISD')) as _isd_known"
        )
    else:
        flags.append(f"(t.district_code is null or kd.district_code is not null) as _district_known")
        joins.append(
            f"left join (select distinct district_code from {known.districts_table}) kd on kd.district_code = t.district_code"
        )
    if family.name == "devices":
        flags.append("(t.building_code is null or kb.building_code is not null) as _building_known")
        joins.append(
            f"left join (select distinct school_year, district_code, building_code from {known.buildings_table}) kb "
            "on kb.school_year = t.school_year and kb.district_code = t.district_code and kb.building_code = t.building_code"
        )
    exprs = ", ".join(["t.*", *derived_columns(family), *flags])
    checked = f"{table}_checked"
    # batches never split a district: the key uniqueness check sees all of a district's rows
    run(
        con,
        f"""
        create or replace temp table {checked} as
        with enriched as (
            select {exprs} from {table} t {' '.join(joins)}
        ),
        district_sizes as (
            select district_code, count(*) as n from enriched group by district_code
        ),
        batches as (
            select district_code,
                   (coalesce(sum(n) over (order by district_code nulls last rows between unbounded preceding and 1 preceding), 0)
                    // {int(batch_rows)}) as _batch
            from district_sizes
        )
        select e.*, b._batch from enriched e join batches b on b.district_code is not distinct from e.district_code
        order by b._batch, e._line
        """,
    )
    n_batches = scalar(con, f"select coalesce(max(_batch), -1) + 1 from {checked}")
    params: dict[str, Any] = {}
    if school_year:
        start, end = school_year_bounds(school_year)
        params = {
            "file_school_year": [school_year],
            "school_year_start": int(start.replace("-", "")),
            "school_year_end": int(end.replace("-", "")),
        }
    suite = _suite(family.name)
    batch_definition = _batch_definition()
    summary: dict[int, dict] = {}
    issue_frames = [warnings]
    rows = 0
    for b in range(n_batches):
        df = con.execute(f"select * exclude (_batch) from {checked} where _batch = ? order by _line", [b]).df()
        df.index = df.pop("_line").to_numpy()
        rows += len(df)
        batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
        result = batch.validate(suite, expectation_parameters=params, result_format="COMPLETE")
        for i, res in enumerate(result.results):
            issue_frames.append(_record(res, df, summary.setdefault(i, _blank_summary(res))))
    run(con, f"drop table if exists {checked}")
    could_not_run = [s for s in summary.values() if s["raised_exception"]]
    if could_not_run:
        detail = "; ".join(f"{s['expectation_type']} on {s['column_name']}: {s['exception_message']}" for s in could_not_run)
        raise ValidationCouldNotRun(
            f"Great Expectations could not evaluate {len(could_not_run)} expectation(s) of suite "
            f"landing.{family.name} ({detail}). This is a fault of the pipeline or the suite, not of the data: "
            "the run stops so that no file is judged on a check that did not run."
        )
    frames = [f for f in issue_frames if len(f)]
    row_issues = (
        pd.concat(frames, ignore_index=True)[ROW_ISSUE_COLUMNS] if frames else pd.DataFrame(columns=ROW_ISSUE_COLUMNS)
    )
    return ValidationOutcome(row_issues=row_issues, results=list(summary.values()), rows_validated=rows)


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


def _record(res, df: pd.DataFrame, summary: dict) -> pd.DataFrame:
    """Fold one batch's result into the summary and return its failing rows as issues."""
    info = res.exception_info or {}
    errors = [info] if "raised_exception" in info else list(info.values())
    raised = [e for e in errors if isinstance(e, dict) and e.get("raised_exception")]
    if raised:
        summary["raised_exception"] = True
        summary["success"] = False
        summary["exception_message"] = raised[0].get("exception_message")
        return pd.DataFrame(columns=ROW_ISSUE_COLUMNS)
    result = res.result or {}
    summary["element_count"] += int(result.get("element_count") or len(df))
    if res.success:
        return pd.DataFrame(columns=ROW_ISSUE_COLUMNS)
    summary["success"] = False
    lines = list(result.get("unexpected_index_list") or [])
    summary["unexpected_count"] += int(result.get("unexpected_count") or len(lines))
    if not lines:
        return pd.DataFrame(columns=ROW_ISSUE_COLUMNS)
    if isinstance(lines[0], dict):  # some expectations report {index_column: value} records
        lines = [next(iter(r.values())) for r in lines]
    meta = res.expectation_config.meta or {}
    column = meta.get("column")
    at = df.loc[lines]
    values = at[column] if column in at.columns else pd.Series([None] * len(at), index=at.index)
    return pd.DataFrame(
        {
            "line": at.index.to_numpy(),
            "district_code": at["district_code"].to_numpy(),
            "rule": meta.get("rule"),
            "severity": meta.get("severity", "error"),
            "column_name": column,
            "value": values.astype("string").str.slice(0, 200).to_numpy(),
            "message": meta.get("message"),
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.validate")
    parser.add_argument("--write-suites", action="store_true", help="write expectations/*.json from flows/families.py")
    args = parser.parse_args(argv)
    if args.write_suites:
        for path in write_suites():
            print(path)
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
