"""Suppressed exports of every marts table (CSV and Parquet) for people outside the
analysts' team. The SQL is in ``export_sql``; the suppression rules in ``suppression``
(decided once, in SQL, by ``suppression_sql``)."""

from __future__ import annotations

from pathlib import Path

from . import export_sql, suppression, suppression_sql
from .config import load_config
from .sql import connect

README = """# MI Roadmap Goal Four: published extracts of the warehouse marts

One CSV and one Parquet file per table of the `marts` schema of the warehouse.

Small-cell suppression (DATA_SPEC section 4): any count of students or educators
below {n} is not published, nor any figure built on such a count (for example a
participation rate whose leaders or teachers number fewer than {n}, or a change from
last year when either year is suppressed). A count of 0 is a count below {n}.

Complementary suppression: a published total (the state, and every locale, district
type and ISD) minus its published districts would give a withheld count back, so
where needed further counts are withheld too, with the figures built on them, until no
withheld value can be worked out by subtraction (or any other combination of the
published totals and the state's ratios). Of two withheld counts in a total, at least
one is {big} or more, so the hidden sum says nothing of a count below {n}.

* In the CSV files a cell withheld because it counts fewer than {n} people (or is built
  on such a count) reads `{mark}`; a cell withheld to protect another reads `np` (not
  published: it may be any value, {n} or more).
* In the Parquet files a withheld cell is empty (null), so that columns keep their
  numeric types.
* In both, the column `suppressed_columns` lists the withheld cells of the row
  (names separated by `;`). An empty cell that is not listed there means "no data"
  (the district did not submit that file, or the figure's denominator is missing);
  it never means 0.
* `state_year_metrics.districts_meeting_bandwidth_target` is withheld (`np`) in a
  year where any district's bandwidth figure is: count the districts meeting the
  target from their published rows instead.

CSV files are UTF-8 with a header row. Text cells that begin with `=`, `+`, `-`, `@`,
a tab or a carriage return carry a leading apostrophe (`'`) so that spreadsheet
programs do not run them as formulas; numbers are written as numbers. The Parquet
files hold the text unchanged.

Contact e-mail addresses of district staff are not exported.
"""


def export_marts(warehouse: Path, out_dir: Path, *, config_dir: Path = Path("config")) -> list[Path]:
    """Write every marts table, suppressed, as ``out_dir/exports/<table>.csv`` and
    ``<table>.parquet``. Returns the data files written (CSV then Parquet per table);
    a README.md describing the conventions is written beside them."""
    cfg = load_config(config_dir)
    n = cfg.min_cell_size
    export_dir = Path(out_dir) / "exports"
    export_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    con = connect(Path(warehouse))
    try:
        suppression_sql.prepare(con, n, cfg.groupings)
        for table in export_sql.marts_tables(con):
            csv_path = export_dir / f"{table}.csv"
            parquet_path = export_dir / f"{table}.parquet"
            tmp_csv = csv_path.with_name(csv_path.name + ".tmp")
            tmp_parquet = parquet_path.with_name(parquet_path.name + ".tmp")
            export_sql.copy_export(con, table, tmp_csv, tmp_parquet, n)
            tmp_csv.replace(csv_path)
            tmp_parquet.replace(parquet_path)
            written += [csv_path, parquet_path]
    finally:
        con.close()
    (export_dir / "README.md").write_text(
        README.format(n=n, big=2 * n - 1, mark=suppression.marker(n)), encoding="utf-8"
    )
    return written
