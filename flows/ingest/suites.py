"""The Great Expectations suites of the landing files, from the file families.

The rules of DATA_SPEC section 1 are Great Expectations suites, one per family, built
here from `flows/ingest/families.py` as structured data (`suite_for`). The validate
stage runs them straight from there (flows/ingest/expectations.py); they are also
written, for review and for other tools, to `expectations/<family>.json` by

    python -m flows.ingest.suites --write-suites

and a test keeps the committed files equal to what families.py gives. Each expectation
carries in its `meta` the rule id, the severity and the message a district data
contact reads.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ..settings import EXPECTATIONS_DIR
from .families import (
    CODE_PATTERN,
    EMAIL_PATTERN,
    FAMILIES,
    ISO_DATE_PATTERN,
    SIGNED_INTEGER_PATTERN,
    SIGNED_NUMBER_PATTERN,
    Column,
    Family,
)

# the columns of the batch table the suites check besides the family's: which file of
# the batch a row comes from, and the school year of that file's name
FILE_COLUMN = "_file"
FILE_YEAR_COLUMN = "_file_sy"


@dataclass(frozen=True)
class Expectation:
    """One expectation of a suite: a Great Expectations type and its arguments, and what
    a failing row means (rule id, severity, the message a district reads, the landing
    column the issue is reported against)."""

    type: str
    kwargs: dict[str, Any] = field(hash=False)
    rule: str
    severity: str
    message: str
    column: str | None = None

    @property
    def meta(self) -> dict[str, str]:
        meta = {"rule": self.rule, "severity": self.severity, "message": self.message}
        if self.column:
            meta["column"] = self.column
        return meta

    def config(self) -> dict:
        """The expectation as Great Expectations and expectations/<family>.json take it."""
        return {"type": self.type, "kwargs": self.kwargs, "meta": self.meta}

    @property
    def columns_read(self) -> list[str]:
        """The batch-table (or derived) columns the expectation reads."""
        kw = self.kwargs
        return [kw[k] for k in ("column", "column_A", "column_B") if k in kw] + list(kw.get("column_list") or [])

    @property
    def checks_uniqueness(self) -> bool:
        return self.type in ("expect_compound_columns_to_be_unique", "expect_column_values_to_be_unique")


@dataclass(frozen=True)
class Suite:
    family: str
    expectations: tuple[Expectation, ...]

    @property
    def name(self) -> str:
        return f"landing.{self.family}"

    def config(self, indexes: tuple[int, ...] | None = None) -> dict:
        """The suite (or the expectations at `indexes`) as Great Expectations and the
        JSON file take it."""
        chosen = self.expectations if indexes is None else [self.expectations[i] for i in indexes]
        return {"name": self.name, "expectations": [e.config() for e in chosen], "meta": {"family": self.family}}


# ------------------------------------------------------------------ the rules


def _exp(type_: str, rule: str, message: str, reported: str | None, severity: str = "error", **kwargs) -> Expectation:
    return Expectation(type_, kwargs, rule, severity, message, reported)


def _column_expectations(col: Column) -> list[Expectation]:
    c = col.name
    out: list[Expectation] = []
    if col.required:
        # educator_id is checked after it was replaced by its keyed hash (null stays null)
        checked = col.raw_name
        out.append(
            _exp(
                "expect_column_values_to_not_be_null",
                "required_value_missing",
                f"{c} is required but empty",
                c,
                column=checked,
            )
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
                column=f"{c}__as_in_file_name",
                value_set=[True],
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
                "expect_column_values_to_match_regex",
                "bad_type",
                f"{c} must be an e-mail address",
                c,
                column=c,
                regex=EMAIL_PATTERN,
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
                regex=SIGNED_INTEGER_PATTERN if whole else SIGNED_NUMBER_PATTERN,
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
                "expect_column_values_to_match_regex",
                "bad_type",
                f"{c} must be a date written YYYY-MM-DD",
                c,
                column=c,
                regex=ISO_DATE_PATTERN,
            )
        )
        out.append(
            _exp(
                "expect_column_values_to_be_in_set",
                "bad_type",
                f"{c} is not a calendar date",
                c,
                column=f"{c}__is_date",
                value_set=[True],
            )
        )
        out.append(
            _exp(
                "expect_column_values_to_be_in_set",
                "date_outside_school_year",
                f"{c} must fall inside the school year of the file (July 1 to June 30)",
                c,
                column=f"{c}__in_school_year",
                value_set=[True],
            )
        )
    return out


def suite_for(family: Family) -> Suite:
    """The family's suite, from its definition in families.py."""
    expectations: list[Expectation] = []
    for col in family.columns:
        expectations.extend(_column_expectations(col))
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
        # unique within one file (`_file`: the file's number in the batch validated)
        expectations.append(
            _exp(
                "expect_compound_columns_to_be_unique",
                "duplicate_key_conflict",
                f"more than one row for the same {', '.join(family.key)} with different values: keep one",
                family.key[-1],
                column_list=[FILE_COLUMN, *family.key],
                ignore_row_if="any_value_is_missing",
            )
        )
    return Suite(family.name, tuple(expectations))


@cache
def family_suite(family_name: str) -> Suite:
    """The suite the validate stage runs for a family."""
    return suite_for(FAMILIES[family_name])


def suite_path(family_name: str, directory: Path = EXPECTATIONS_DIR) -> Path:
    return directory / f"{family_name}.json"


def write_suites(directory: Path = EXPECTATIONS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for family in FAMILIES.values():
        path = suite_path(family.name, directory)
        path.write_text(json.dumps(suite_for(family).config(), indent=2) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.ingest.suites")
    parser.add_argument(
        "--write-suites", action="store_true", help="write expectations/*.json from flows/ingest/families.py"
    )
    args = parser.parse_args(argv)
    if args.write_suites:
        for path in write_suites():
            print(path)
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
