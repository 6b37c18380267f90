"""Validation on distinct values (flows.ingest.expectations.validate_table) gives exactly what a
straightforward row-by-row Great Expectations validation of the whole file gives: the
same issue rows and the same summary per expectation.

The reference below is the row-by-row implementation the pipeline used before: every
row (with its derived columns) goes to pandas in batches that never split a district.
While a test of this module runs, every file the ingestion validates is validated both
ways and compared. The hand-written cases of test_ingestion.py are run again here under
that comparison (imported below), and so is a generated landing folder full of defects.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from flows.ingest import expectations as v
from flows.ingest import validate as validate_stage
from flows.warehouse.db import run, scalar
from landing_files import run_ingestion
from test_ingestion import *  # noqa: F403  (the hand-written cases, run again under the comparison)

# ------------------------------------------------------------------ the reference


def _reference_validate_table(con, table, family, known, batch_rows=500_000):
    """Row-by-row: every row of every file, with its derived columns, through Great
    Expectations (batches never split a file's district, so uniqueness is checked whole)."""
    warnings = v.remove_duplicates(con, table, family)
    derived = v.derived_columns(family, table, known)
    exprs = ", ".join(["t.*", *(f"{d.expr} as {d.name}" for d in derived.values())])
    joins = " ".join(d.join for d in derived.values() if d.join)
    checked = f"{table}_checked"
    run(
        con,
        f"""
        create or replace temp table {checked} as
        with enriched as (select {exprs} from {table} t {joins}),
        district_sizes as (select _file, district_code, count(*) as n from enriched group by all),
        batches as (
            select _file, district_code,
                   (coalesce(sum(n) over (order by _file, district_code nulls last
                                          rows between unbounded preceding and 1 preceding), 0)
                    // {int(batch_rows)}) as _batch
            from district_sizes
        )
        select e.*, b._batch from enriched e
        join batches b on b._file = e._file and b.district_code is not distinct from e.district_code
        """,
    )
    n_batches = scalar(con, f"select coalesce(max(_batch), -1) + 1 from {checked}")
    suite = v._suite(family.name).part(tuple(range(len(v._suite(family.name).expectations))))
    batch_definition = v._batch_definition()
    summary: dict[str, dict] = {}
    frames = [warnings]
    rows = 0
    for b in range(n_batches):
        df = con.execute(f"select * exclude (_batch) from {checked} where _batch = ? order by _file, _line", [b]).df()
        rows += len(df)
        result = batch_definition.get_batch(batch_parameters={"dataframe": df}).validate(
            suite, result_format="COMPLETE"
        )
        for res in result.results:
            cfg = res.expectation_config
            s = summary.setdefault(v._identity(cfg.type, dict(cfg.kwargs), cfg.meta), v._blank_summary(res))
            frames.append(_reference_record(res, df, s))
    run(con, f"drop table if exists {checked}")
    if any(s["raised_exception"] for s in summary.values()):
        raise v.ValidationCouldNotRun("reference: " + "; ".join(str(s["exception_message"]) for s in summary.values()))
    frames = [f for f in frames if len(f)]
    issues = (
        pd.concat(frames, ignore_index=True)[v.ROW_ISSUE_COLUMNS]
        if frames
        else pd.DataFrame(columns=v.ROW_ISSUE_COLUMNS)
    )
    return v.ValidationOutcome(row_issues=issues, results=list(summary.values()), rows_validated=rows)


def _reference_record(res, df, summary):
    if v._raised(res, summary):
        return pd.DataFrame(columns=v.ROW_ISSUE_COLUMNS)
    result = res.result or {}
    summary["element_count"] += int(result.get("element_count") or len(df))
    if res.success:
        return pd.DataFrame(columns=v.ROW_ISSUE_COLUMNS)
    summary["success"] = False
    positions = v._unexpected_positions(res)
    summary["unexpected_count"] += int(result.get("unexpected_count") or len(positions))
    if not positions:
        return pd.DataFrame(columns=v.ROW_ISSUE_COLUMNS)
    meta = res.expectation_config.meta or {}
    column = meta.get("column")
    at = df.iloc[positions]
    values = at[column] if column in at.columns else pd.Series([None] * len(at), index=at.index)
    return v._issue_frame(meta, at["_file"].to_numpy(), at["_line"].to_numpy(), at["district_code"].to_numpy(), values)


# ------------------------------------------------------------------ the comparison


def _plain(x):
    if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
        return None
    return x.item() if hasattr(x, "item") else x


def _issue_rows(frame: pd.DataFrame) -> list[tuple]:
    rows = [tuple(_plain(x) for x in r) for r in frame[v.ROW_ISSUE_COLUMNS].itertuples(index=False)]
    return sorted(rows, key=repr)


def _summaries(results: list[dict]) -> list[tuple]:
    """Per expectation, summed over the files of the batch."""
    totals: dict[tuple, list] = {}
    for s in results:
        key = (s["expectation_type"], s["column_name"], s["rule"], s["severity"], s["raised_exception"])
        t = totals.setdefault(key, [True, 0, 0])
        t[0] = t[0] and bool(s["success"])
        t[1] += int(s["unexpected_count"])
        t[2] += int(s["element_count"])
    return sorted(
        (
            (k[0], k[1], k[2], k[3], success, k[4], unexpected, elements)
            for k, (success, unexpected, elements) in totals.items()
        ),
        key=repr,
    )


class Comparison:
    def __init__(self, batch_rows: int | None = None):
        self.batch_rows = batch_rows
        self.files = 0
        self.issues = 0
        self.failed_expectations = 0

    def __call__(self, con, table, family, known, batch_rows=500_000):
        batch_rows = self.batch_rows or batch_rows
        ref_table = f"{table}__reference"
        run(con, f"create or replace temp table {ref_table} as select * from {table}")
        try:
            try:
                expected = _reference_validate_table(con, ref_table, family, known, batch_rows)
            except v.ValidationCouldNotRun:
                with pytest.raises(v.ValidationCouldNotRun):
                    v.validate_table(con, table, family, known, batch_rows=batch_rows)
                raise
            got = v.validate_table(con, table, family, known, batch_rows=batch_rows)
        finally:
            run(con, f"drop table if exists {ref_table}")
        assert _issue_rows(got.row_issues) == _issue_rows(expected.row_issues), f"issues differ for {family.name}"
        assert _summaries(got.results) == _summaries(expected.results), f"summaries differ for {family.name}"
        assert got.rows_validated == expected.rows_validated
        self.files += scalar(con, f"select count(distinct _file) from {table}")
        self.issues += len(got.row_issues)
        self.failed_expectations += sum(1 for s in got.results if not s["success"])
        return got


@pytest.fixture(autouse=True)
def compare_with_row_by_row(monkeypatch):
    comparison = Comparison()
    monkeypatch.setattr(validate_stage, "validate_table", comparison)
    return comparison


@pytest.mark.slow
@pytest.mark.parametrize("batch_rows,districts", [(None, 40), (401, 40)])  # files split over several GX runs
def test_generated_files_with_many_defects_validate_as_row_by_row(tmp_path, monkeypatch, batch_rows, districts):
    from roadmap_demo_data.generate import generate_landing

    comparison = Comparison(batch_rows)
    monkeypatch.setattr(validate_stage, "validate_table", comparison)
    generate_landing(tmp_path / "landing", districts=districts, years=2, defects=0.3)
    con, loaded, _ = run_ingestion(tmp_path / "landing", tmp_path / "wh.duckdb")
    assert comparison.files > 10  # every file that could be read (a few are unreadable on purpose)
    assert comparison.issues > 20 and comparison.failed_expectations > 5, (
        comparison.issues,
        comparison.failed_expectations,
    )
    # the summaries stored: element_count is the file's row count, unexpected_count counts rows
    rows = con.execute(
        """
        select v.rule, v.unexpected_count, v.element_count, f.rows_read,
               (select count(*) from audit.issues i where i.file_id = v.file_id and i.rule = v.rule
                  and i.column_name is not distinct from v.column_name and i.severity = v.severity) as issues
        from audit.validation_results v join audit.files f using (file_id)
        """
    ).fetchall()
    assert rows and all(element <= read for _, _, element, read, _ in rows)
    assert all(unexpected <= issues for _, unexpected, _, _, issues in rows)


def test_null_is_a_value_and_shorter_groups_are_padded(landing, tmp_path, compare_with_row_by_row):
    """A domain of one column much longer than the others, NULLs in every column."""
    landing.directory()
    rows = [f"2024-25,01010,{100 + i:05d},B{i},{i if i % 7 else ''}" for i in range(300)]
    rows += ["2024-25,,00999,,", "2024-25,01010,00101,dup,5", ",01020,1x,Q,-1", "2024-25,01030,00400,Z,abc"]
    landing.csv("enrollment_2024-25.csv", "school_year,district_code,building_code,building_name,student_count", rows)
    compare_with_row_by_row.batch_rows = 13
    run_ingestion(landing.path, tmp_path / "wh.duckdb")
    assert compare_with_row_by_row.files == 2 and compare_with_row_by_row.issues > 40
