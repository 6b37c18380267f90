"""`roadmap generate` (docs/INTERFACE.md): its options and its console output. Only argparse
here at import time, so that building the `roadmap` parser does not load numpy or DuckDB;
the generator itself is imported when the command runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DESCRIPTION = "Realistic landing files for every family of DATA_SPEC section 1, deterministic by seed."


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("a rate must be between 0 and 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="landing folder to write into")
    parser.add_argument(
        "--districts",
        type=int,
        default=None,
        metavar="N",
        help="total number of districts (default: Michigan, about 896; 13000 = national scale)",
    )
    parser.add_argument("--years", type=int, default=5, metavar="K", help="school years to generate (default 5)")
    parser.add_argument("--seed", type=int, default=42, metavar="S", help="random seed (default 42)")
    parser.add_argument(
        "--defects",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="share of districts per year given a defect, 0..1 (default 0: clean data)",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the manifest (files, rows, injected defects) as JSON",
    )
    parser.add_argument(
        "--last-school-year",
        default="2025-26",
        metavar="YYYY-YY",
        help="the latest school year generated (default 2025-26)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="one line (files, rows, defects) instead of the tables by family and rule"
    )
    parser.add_argument(
        "--no-resubmissions", action="store_true", help="write only statewide extracts (no clean district corrections)"
    )
    parser.add_argument(
        "--heavy-warnings",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="benchmarks: share of districts per year whose staffing counts are a tenth of the real "
        "ones (rates over 100), with year-over-year swings: many warnings, no blocking error "
        "(clean data only, default 0)",
    )
    parser.add_argument(
        "--per-district-files",
        action="store_true",
        help="benchmarks: one file per district and family, <family>_<SY>_<code>.csv, as districts "
        "upload their own (clean data, no resubmissions)",
    )


def run_from_args(args) -> int:
    from .generate import generate_landing
    from .manifest import BLOCKING_RULES

    started = time.perf_counter()
    try:
        manifest = generate_landing(
            Path(args.out),
            districts=args.districts,
            years=args.years,
            seed=args.seed,
            defects=args.defects,
            last_school_year=getattr(args, "last_school_year", "2025-26"),
            resubmissions=not (getattr(args, "no_resubmissions", False) or getattr(args, "per_district_files", False)),
            heavy_warnings=getattr(args, "heavy_warnings", 0.0),
            per_district_files=getattr(args, "per_district_files", False),
        )
    except ValueError as exc:
        print(f"roadmap generate: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "manifest", None):
        path = Path(args.manifest)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(manifest.to_json() + "\n", encoding="utf-8")
    elapsed = time.perf_counter() - started
    if getattr(args, "quiet", False):
        print(
            f"Wrote {len(manifest.files)} files to {args.out} ({manifest.districts} districts, "
            f"{manifest.school_years[0]}..{manifest.school_years[-1]}, {sum(manifest.rows.values()):,} rows; "
            f"defects: {len(manifest.errors())} blocking, {len(manifest.warnings())} warnings"
            + (f", listed in {args.manifest}" if getattr(args, "manifest", None) else "")
            + ")"
        )
        return 0
    print(
        f"Wrote {len(manifest.files)} files to {args.out} "
        f"({manifest.districts} districts, {manifest.school_years[0]}..{manifest.school_years[-1]}, "
        f"seed {manifest.seed}) in {elapsed:.1f} s"
    )
    for family, n in manifest.rows.items():
        print(f"  {family:<18} {n:>12,} rows")
    if manifest.defects:
        print(f"Defects injected: {len(manifest.errors())} blocking, {len(manifest.warnings())} warnings")
        for rule, n in manifest.defects_by_rule().items():
            severity = "error" if rule in BLOCKING_RULES else "warning"
            print(f"  {rule:<28} {severity:<8} {n:>5}")
    else:
        print("Defects injected: none (clean data)")
    if getattr(args, "manifest", None):
        print(f"Manifest: {args.manifest}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m roadmap_demo_data", description=DESCRIPTION)
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
