"""Benchmark of the nightly run against a plain-DuckDB floor.

    .venv/bin/python bench/run_bench.py                      # Michigan default, five school years
    .venv/bin/python bench/run_bench.py --districts 13000    # national scale, about 15x the data

It generates the landing files (timed apart, not part of the run), then runs in
separate processes, so each has its own peak memory:
  1. the pipeline: `flows.nightly.nightly` (Prefect flow: discover, validate with Great
     Expectations, load, dbt build, publish), with the time of each stage;
  2. the floor: the same loads and district-year metrics written directly in DuckDB SQL
     (bench/floor.sql), with no orchestration, validation framework or dbt.
It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_pipeline(landing: Path, warehouse: Path) -> dict:
    os.environ.setdefault("ROADMAP_PSEUDONYM_KEY", "bench-key-not-a-secret")
    started = time.perf_counter()
    from flows.nightly import nightly

    imported = time.perf_counter()
    summary = nightly(landing_dir=str(landing), warehouse=str(warehouse), with_report=False)
    total = time.perf_counter() - started
    return {
        "total_seconds": total,
        "import_seconds": imported - started,
        "stages": summary.stage_seconds,
        "rows_loaded": summary.rows_loaded,
        "rows_quarantined": summary.rows_quarantined,
        "peak_mb": _peak_mb(),
        "warehouse_mb": warehouse.stat().st_size / 1e6,
    }


def child_floor(landing: Path, database: Path) -> dict:
    import duckdb

    started = time.perf_counter()
    files = sorted((p for p in landing.iterdir() if p.suffix == ".csv"), key=lambda p: (p.stat().st_mtime, p.name))
    order = " union all ".join(f"select '{p}', {i}" for i, p in enumerate(files)) or "select '', 0"
    params = {"order": order}
    for family in ("enrollment", "staffing", "devices", "connectivity", "pl_participation"):
        params[f"files_{family}"] = repr([str(p) for p in files if p.name.startswith(family + "_")])
    sql = (REPO / "bench" / "floor.sql").read_text().format(**params)
    con = duckdb.connect(str(database))
    con.execute(sql).fetchall()
    rows = con.execute("select count(*) from district_year_metrics").fetchall()[0][0]
    con.close()
    return {"total_seconds": time.perf_counter() - started, "district_years": rows, "peak_mb": _peak_mb()}


def _run_child(kind: str, *paths: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, *map(str, paths)],
        capture_output=True,
        text=True,
        env={**os.environ, "PREFECT_LOGGING_LEVEL": "WARNING"},
    )
    if out.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--districts", type=int, default=None, help="total districts (default: Michigan, about 900)")
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--defects", type=float, default=0.0)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the data here (default: a temp folder)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *paths = args.child
        result = (child_pipeline if kind == "pipeline" else child_floor)(*map(Path, paths))
        print(json.dumps(result))
        return 0

    from flows.generate import generate_landing

    work = args.workdir or Path(tempfile.mkdtemp(prefix="roadmap-bench-"))
    landing = work / "landing"
    started = time.perf_counter()
    manifest = generate_landing(landing, districts=args.districts, years=args.years, seed=args.seed, defects=args.defects)
    generated = time.perf_counter() - started
    size_mb = sum(p.stat().st_size for p in landing.iterdir()) / 1e6
    rows = sum(manifest.rows.values())

    pipeline = _run_child("pipeline", landing, work / "warehouse" / "roadmap.duckdb")
    floor = _run_child("floor", landing, work / "floor.duckdb")

    print(f"data: {args.districts or 'Michigan default'} districts, {args.years} school years, "
          f"{len(manifest.files)} files, {rows:,} rows, {size_mb:,.1f} MB of CSV (generated in {generated:.1f} s)")
    print(f"  rows per family: " + ", ".join(f"{k} {v:,}" for k, v in manifest.rows.items()))
    print()
    print(f"{'stage':<28}{'seconds':>10}")
    for stage, seconds in pipeline["stages"].items():
        print(f"  {stage:<26}{seconds:>10.2f}")
    print(f"  {'(python + library import)':<26}{pipeline['import_seconds']:>10.2f}")
    print(f"{'pipeline, end to end':<28}{pipeline['total_seconds']:>10.2f}   peak memory {pipeline['peak_mb']:,.0f} MB, "
          f"warehouse {pipeline['warehouse_mb']:,.0f} MB")
    print(f"{'plain-DuckDB floor':<28}{floor['total_seconds']:>10.2f}   peak memory {floor['peak_mb']:,.0f} MB")
    print(f"{'pipeline / floor':<28}{pipeline['total_seconds'] / floor['total_seconds']:>10.1f}x")
    print(f"{'rows loaded / quarantined':<28}{pipeline['rows_loaded']:>10,} / {pipeline['rows_quarantined']:,}")
    print(f"\nfiles kept in {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
