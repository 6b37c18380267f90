"""Realistic landing files for every family of DATA_SPEC section 1, deterministic by seed.

`generate_landing` writes, for a synthetic but believable Michigan (docs/DOMAIN_FACTS.md):

* `districts_<SY>.csv`: one version of the state directory per school year, with a few
  realistic changes over the years (a renamed LEA, an LEA that moves to another ISD,
  a PSA that opens and one that closes);
* `<family>_<SY>.csv`: the statewide extract of each yearly family for each year;
* `<family>_<SY>_<district_code>.csv`: district resubmissions, received after the
  statewide extracts (their modification times are a few seconds later): a handful of
  clean corrections for the latest year, plus, with `defects > 0`, the files that carry
  most of the injected defects.

With `defects` (a rate in [0, 1]) every blocking error and warning kind of DATA_SPEC
section 2 is mixed in (at least one of each, about `rate x districts` affected districts
per year) and recorded in the returned `GenerationManifest`: rule, file, district as
written in the file, line (header = line 1) and column. Clean data raises no error and no
warning: sub-counts never exceed device_count, PL leaders/teachers/tech staff never exceed
staffing, rates stay <= 100 and year-over-year changes stay well under 50 %.

For benchmarks, two more shapes of night (clean data only): `heavy_warnings` (many
districts with warnings and no blocking error: staffing counts a tenth of the real ones,
year-over-year swings; every warning recorded in the manifest) and `per_district_files`
(every district uploads its own `<family>_<SY>_<code>.csv` instead of statewide extracts).

Everything large is vectorised with numpy and written with DuckDB `COPY` from
dictionary-encoded Arrow columns, so `districts=13000` (national scale) runs in seconds.
The same arguments give byte-identical files (numpy Generators seeded from `seed`, file
modification times derived from the seed and the school year, never from the clock).
"""

from __future__ import annotations

import calendar
import os
from pathlib import Path

import duckdb
import numpy as np

from flows.ingest.families import FAMILIES, YEARLY_FAMILIES
from flows.school_years import is_school_year

from .bench_shapes import HEAVY_WARNING_RULES, HeavyWarnings, write_per_district
from .corrections import correct
from .defects import Injector, Slot, plan
from .frame import Frame
from .manifest import (
    BLOCKING_RULES,
    INJECTED_RULES,
    WARNING_RULES,
    WHOLE_FILE_RULES,
    GenerationManifest,
    InjectedDefect,
)
from .state import build_traits, build_world
from .writers import (
    Pending,
    connectivity_frame,
    devices_frame,
    directory_frame,
    enrollment_frame,
    id_space,
    pl_frame,
    staffing_frame,
    write_file,
)

# the API: the entry point and what its manifest speaks of
__all__ = [
    "BLOCKING_RULES",
    "WARNING_RULES",
    "INJECTED_RULES",
    "WHOLE_FILE_RULES",
    "HEAVY_WARNING_RULES",
    "InjectedDefect",
    "GenerationManifest",
    "generate_landing",
]


def generate_landing(
    out_dir: Path,
    *,
    districts: int | None = None,
    years: int = 5,
    seed: int = 42,
    defects: float = 0.0,
    last_school_year: str = "2025-26",
    resubmissions: bool = True,
    heavy_warnings: float = 0.0,
    per_district_files: bool = False,
) -> GenerationManifest:
    """Writes realistic landing files into `out_dir` and returns what was written.

    districts: total number of districts (None = Michigan: 540 LEAs, 300 PSAs, 56 ISDs);
    years: school years ending with `last_school_year`; defects: rate in [0, 1] of
    districts per year that get a defect (0 = clean data); resubmissions: also write a
    handful of clean district corrections for the latest year.

    For the benchmark shapes (bench/run_bench.py), on clean data only (defects = 0):
    heavy_warnings: rate in [0, 1] of districts per year whose staffing counts are a
    tenth of the real ones, plus year-over-year swings (see HeavyWarnings): warnings
    only, every one recorded in the manifest; per_district_files: every yearly file is
    one district's own upload, `<family>_<SY>_<code>.csv`, instead of a statewide
    extract (no resubmissions then: a district's upload is its only file).
    """
    if not is_school_year(last_school_year):
        raise ValueError(f"last_school_year must look like 2025-26, got {last_school_year!r}")
    if years < 1:
        raise ValueError("years must be >= 1")
    if not 0.0 <= defects <= 1.0:
        raise ValueError("defects must be a rate between 0 and 1")
    if not 0.0 <= heavy_warnings <= 1.0:
        raise ValueError("heavy_warnings must be a rate between 0 and 1")
    if heavy_warnings and defects:
        raise ValueError("heavy warnings are generated on clean data: use defects=0 with heavy_warnings")
    if per_district_files and defects:
        raise ValueError("per-district files are generated clean: use defects=0 with per_district_files")
    if per_district_files and resubmissions:
        raise ValueError("per-district files have no resubmissions: use resubmissions=False with per_district_files")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    last_start = int(last_school_year[:4])
    starts = list(range(last_start - years + 1, last_start + 1))
    root = np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, 0x6D69])
    (s_world, s_traits, s_plan, s_inject, s_corr, s_quirk, *s_years) = root.spawn(6 + years)

    w = build_world(districts, starts, np.random.default_rng(s_world))
    tr = build_traits(w, np.random.default_rng(s_traits))
    ids = id_space(w, tr)
    T = len(starts)

    manifest = GenerationManifest(school_years=list(w.years), districts=w.n, seed=seed, defect_rate=float(defects))
    manifest.notes.extend(w.changes)
    manifest.heavy_warning_rate = float(heavy_warnings)
    manifest.per_district_files = bool(per_district_files)
    # its own random stream, so the other options' output stays as it was
    heavy = (
        HeavyWarnings(w, heavy_warnings, np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x6876]))
        if heavy_warnings
        else None
    )

    # clean corrections of the latest year: districts present in the last two years
    corr_rng = np.random.default_rng(s_corr)
    corrections: list[tuple[str, int]] = []
    if resubmissions:
        n_corr = min(12, max(3, round(w.n * 0.01)))
        ok = w.active[:, T - 1] & (w.active[:, T - 2] if T >= 2 else True)
        ok[[d for d in (w.opening_psa, w.closing_psa) if d >= 0]] = False
        pool = np.flatnonzero(ok)
        chosen = corr_rng.choice(pool, size=min(n_corr, len(pool)), replace=False)
        for k, d in enumerate(sorted(int(x) for x in chosen)):
            corrections.append((YEARLY_FAMILIES[k % len(YEARLY_FAMILIES)], d))
    slots, notes = plan(w, defects, np.random.default_rng(s_plan), {d for _, d in corrections})
    manifest.notes.extend(notes)

    injector = Injector(w, np.random.default_rng(s_inject), tr.id_base)
    quirk_rng = np.random.default_rng(s_quirk)
    rows: dict[str, int] = {name: 0 for name in FAMILIES}
    written: list[tuple[int, str]] = []  # (mtime, name)
    pending_resub: list[Pending] = []
    base_mtime = calendar.timegm((last_start, 10, 1, 12, 0, 0)) + (int(seed) % 86_400)

    # one thread: rows keep their order cheaply and memory stays low at national scale
    con = duckdb.connect(config={"threads": 1, "memory_limit": "1GB"})
    try:
        for t, sy in enumerate(w.years):
            mt = base_mtime - (T - 1 - t) * 86_400 * 7
            # the directory version effective from this year
            p = Pending(f"districts_{sy}.csv", "districts", directory_frame(w, t), bom=(t == 0))
            rows["districts"] += write_file(con, out_dir / p.name, p)
            os.utime(out_dir / p.name, (mt, mt))
            written.append((mt, p.name))

            year_rng = np.random.default_rng(s_years[t])
            frames: dict[str, Frame] = {
                "enrollment": enrollment_frame(w, t),
                "staffing": staffing_frame(w, t),
                "devices": devices_frame(w, tr, t, year_rng),
                "connectivity": connectivity_frame(w, tr, t),
            }
            frames["pl_participation"], cat = pl_frame(w, tr, ids, t, year_rng)
            injector.catalog = cat
            if heavy is not None:
                heavy.apply(frames, t)

            # single-district files are cut from the clean statewide data first
            resub: list[tuple[Slot | None, str, int, Frame]] = []
            for s in (x for x in slots if x.t == t and x.placement == "resubmission"):
                f = frames[s.family]
                if s.district >= 0:
                    sub = f.take(f.rows_of(s.district))
                    resub.append((s, s.family, s.district, sub))
                else:
                    donor = f.take(np.array([int(injector.rng.integers(f.n))]))
                    donor.district[:] = -1
                    resub.append((s, s.family, -1, donor))
            if t == T - 1:
                for fam, d in corrections:
                    f = frames[fam]
                    resub.append((None, fam, d, f.take(f.rows_of(d))))

            for s in (x for x in slots if x.t == t and x.placement == "statewide"):
                f = frames[s.family]
                rows_d = f.rows_of(s.district) if s.district >= 0 else np.arange(min(f.n, 50))
                found, _ = injector.apply(s, f, rows_d, f"{s.family}_{sy}.csv", sy)
                manifest.defects.extend(found)

            for k, fam in enumerate(YEARLY_FAMILIES):
                name = f"{fam}_{sy}.csv"
                header = "upper_padded" if (fam == "staffing" and t == 0) else "plain"
                p = Pending(
                    name,
                    fam,
                    frames[fam],
                    header=header,
                    bom=(fam == "connectivity"),
                    shuffle=(fam == "enrollment" and t == T - 1),
                )
                if per_district_files:
                    for part, n in write_per_district(
                        con, out_dir, p, fam, sy, w.code, np.random.default_rng([int(seed) & 0xFFFFFFFF, t, k])
                    ):
                        rows[fam] += n
                        os.utime(out_dir / part, (mt + k + 1, mt + k + 1))
                        written.append((mt + k + 1, part))
                    continue
                rows[fam] += write_file(con, out_dir / name, p, np.random.default_rng([int(seed) & 0xFFFFFFFF, t, k]))
                os.utime(out_dir / name, (mt + k + 1, mt + k + 1))
                written.append((mt + k + 1, name))
            year_frames = frames if heavy is not None else None
            del frames
            year_corrections: list[tuple[str, int, Frame, str]] = []

            for s, fam, d, sub in resub:
                code = w.code[d] if d >= 0 else (s.fake_code if s else "")
                name = f"{fam}_{sy}_{code}.csv"
                quirk = int(quirk_rng.integers(6))
                p = Pending(
                    name,
                    fam,
                    sub,
                    header="upper_padded" if quirk == 1 else ("title" if quirk == 5 else "plain"),
                    shuffle=quirk == 2,
                    bom=quirk == 3,
                )
                if s is not None:
                    found, opts = injector.apply(s, sub, np.arange(sub.n), name, sy)
                    manifest.defects.extend(found)
                    if opts.get("encoding"):
                        p.encoding, p.bom = opts["encoding"], False
                    if opts.get("empty"):
                        p.empty = True
                else:
                    lines = correct(fam, sub, w, t, d, cat, corr_rng)
                    manifest.corrections.append(
                        {
                            "file_name": name,
                            "family": fam,
                            "school_year": sy,
                            "district_code": code,
                            "lines": sorted(lines),
                        }
                    )
                    year_corrections.append((fam, d, sub, name))
                pending_resub.append(p)
            if heavy is not None:
                heavy.tally(t, year_frames, year_corrections, per_district_files)
                year_frames = None

        # resubmissions arrive after every statewide extract, a few seconds apart
        resub_base = base_mtime + 10
        for j, p in enumerate(sorted(pending_resub, key=lambda x: x.name)):
            n = write_file(con, out_dir / p.name, p, np.random.default_rng([int(seed) & 0xFFFFFFFF, j]))
            rows[p.family] += n
            mt = resub_base + 5 * (j + 1)
            os.utime(out_dir / p.name, (mt, mt))
            written.append((mt, p.name))
    finally:
        con.close()

    if heavy is not None:
        manifest.defects.extend(heavy.found)
        manifest.notes.append(
            f"heavy warnings: staffing counts a tenth of the real ones for {int(heavy.cut.sum())} district-years, "
            f"student counts +70 % for {int(heavy.student_swing.sum())}, device inventories +80 % for "
            f"{int(heavy.device_swing.sum())}"
        )
    manifest.files = [name for _, name in sorted(written)]
    manifest.rows = rows
    manifest.defects.sort(key=lambda d: (d.file_name, d.line or 0, d.rule))
    return manifest
