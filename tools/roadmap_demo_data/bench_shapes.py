"""The two benchmark shapes of night (clean data only): heavy warnings (many districts with
warnings and no blocking error) and per-district files (every district uploads its own
`<family>_<SY>_<code>.csv` instead of the statewide extracts).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np

from flows.ingest.families import YEARLY_FAMILIES

from .frame import Frame, int_col
from .manifest import InjectedDefect
from .state import World
from .writers import Pending, write_file

# Warnings the heavy-warnings option causes: rates over 100 once the metrics are built (the
# warn tests of marts.district_year_metrics), more leaders in PL than on staff, and
# year-over-year swings (flows/ingest/cross_checks.py).
HEAVY_WARNING_RULES: tuple[str, ...] = (
    "rate_over_100",
    "pl_leaders_exceed_staffing",
    "yoy_student_count_swing",
    "yoy_device_total_swing",
)
_HEAVY_STAFF_COLUMNS = ("teacher_count", "building_leader_count", "district_leader_count", "tech_staff_count")
_HEAVY_STUDENT_FACTOR = 1.7  # an enrollment swing: +70 % (the next year's return, -41 %, is no swing)
_HEAVY_DEVICE_FACTOR = 1.8  # a device swing: +80 % of the devices of students, staff and shared use
# The rates of district_year_metrics that can pass 100 (its rate_over_100 warn tests):
# metric, the family its issue is reported under, numerator, denominator (HeavyWarnings.sums)
_HEAVY_RATES: tuple[tuple[str, str, str, str], ...] = (
    ("teacher_device_coverage_pct", "devices", "teacher_devices", "teacher_count"),
    ("home_internet_gap_pct", "connectivity", "without_home", "student_count"),
    ("hotspot_coverage_pct", "connectivity", "hotspots", "without_home"),
    ("leader_pl_rate_pct", "pl_participation", "leaders_in_pl", "leader_count"),
    ("teacher_pl_rate_pct", "pl_participation", "teachers_in_pl", "teacher_count"),
    ("tech_staff_pl_rate_pct", "pl_participation", "tech_staff_in_pl", "tech_staff_count"),
)
# which family each district sum comes from
_HEAVY_SUM_FAMILY = {
    "student_count": "enrollment",
    "device_total": "devices",
    "teacher_devices": "devices",
    "teacher_count": "staffing",
    "leader_count": "staffing",
    "tech_staff_count": "staffing",
    "without_home": "connectivity",
    "hotspots": "connectivity",
    "leaders_in_pl": "pl_participation",
    "teachers_in_pl": "pl_participation",
    "tech_staff_in_pl": "pl_participation",
}
_COMPUTING_TYPES = ("chromebook", "laptop", "tablet", "desktop")
_LEADER_ROLES = ("building_leader", "district_leader")


def _frame_ints(frame: Frame, col: str) -> np.ndarray:
    """The column as integers (the counts of clean data are never empty)."""
    codes, values = frame.cols[col]
    lookup = np.array([int(v) for v in values] or [0], dtype=np.int64)
    return lookup[np.maximum(codes, 0)]


def _frame_in(frame: Frame, col: str, allowed: tuple[str, ...]) -> np.ndarray:
    """Per row: is the column's text one of `allowed`."""
    codes, values = frame.cols[col]
    lookup = np.array([v in allowed for v in values] or [False])
    return lookup[np.maximum(codes, 0)] & (codes >= 0)


def _set_ints(frame: Frame, col: str, values: np.ndarray) -> None:
    frame.cols[col] = list(int_col(values))


def _scaled(values: np.ndarray, factor: float) -> np.ndarray:
    return np.floor(values * factor + 0.5).astype(np.int64)


class HeavyWarnings:
    """Many warnings and no blocking error, the way a careless but valid submission makes
    them: for a share `rate` of the districts each school year, a staffing file whose
    counts are a tenth of the real ones (so device coverage and PL rates go over 100, and
    more leaders have PL records than are on staff); for a third of that share each year
    after the first, student counts 70 % up (a year-over-year swing), and as many device
    inventories 80 % up.

    The warnings are then worked out exactly from the data each district publishes (its
    latest submission) and recorded in the manifest as the pipeline must raise them."""

    def __init__(self, w: World, rate: float, rng: np.random.Generator):
        self.w = w
        N, T = w.n, len(w.years)
        self.cut = np.zeros((N, T), dtype=bool)
        self.student_swing = np.zeros((N, T), dtype=bool)
        self.device_swing = np.zeros((N, T), dtype=bool)
        for t in range(T):
            self.cut[:, t] = w.active[:, t] & (rng.random(N) < rate)
            if t >= 1:
                both = w.active[:, t] & w.active[:, t - 1]
                self.student_swing[:, t] = both & ~self.student_swing[:, t - 1] & (rng.random(N) < rate / 3)
                self.device_swing[:, t] = both & ~self.device_swing[:, t - 1] & (rng.random(N) < rate / 3)
        self.totals: list[dict[str, tuple[np.ndarray, np.ndarray]]] = []  # [t] name -> (sums, present)
        self.found: list[InjectedDefect] = []

    # -- changing the data ------------------------------------------------------------

    def apply(self, frames: dict[str, Frame], t: int) -> None:
        staffing = frames["staffing"]
        cut = self.cut[staffing.district, t]
        for col in _HEAVY_STAFF_COLUMNS:
            v = _frame_ints(staffing, col)
            _set_ints(staffing, col, np.where(cut, np.maximum(1, v // 10), v))
        enrollment = frames["enrollment"]
        up = self.student_swing[enrollment.district, t]
        v = _frame_ints(enrollment, "student_count")
        _set_ints(enrollment, "student_count", np.where(up, _scaled(v, _HEAVY_STUDENT_FACTOR), v))
        devices = frames["devices"]
        up = self.device_swing[devices.district, t] & ~_frame_in(devices, "user_group", ("teacher",))
        for col in ("device_count", "devices_over_5_years", "take_home_count"):  # sub-counts stay <= device_count
            v = _frame_ints(devices, col)
            _set_ints(devices, col, np.where(up, _scaled(v, _HEAVY_DEVICE_FACTOR), v))

    # -- what the pipeline will find ---------------------------------------------------

    def _sums(self, fam: str, frame: Frame) -> dict[str, np.ndarray]:
        N = self.w.n
        d = frame.district

        def total(weights) -> np.ndarray:
            return np.bincount(d, weights=weights, minlength=N).astype(np.int64)

        if fam == "enrollment":
            return {"student_count": total(_frame_ints(frame, "student_count"))}
        if fam == "devices":
            count = _frame_ints(frame, "device_count")
            teacher = _frame_in(frame, "user_group", ("teacher",)) & _frame_in(frame, "device_type", _COMPUTING_TYPES)
            return {"device_total": total(count), "teacher_devices": total(np.where(teacher, count, 0))}
        if fam == "staffing":
            return {
                "teacher_count": total(_frame_ints(frame, "teacher_count")),
                "leader_count": total(
                    _frame_ints(frame, "building_leader_count") + _frame_ints(frame, "district_leader_count")
                ),
                "tech_staff_count": total(_frame_ints(frame, "tech_staff_count")),
            }
        if fam == "connectivity":
            return {
                "without_home": total(_frame_ints(frame, "students_without_home_internet")),
                "hotspots": total(_frame_ints(frame, "hotspots_loaned")),
            }
        if fam == "pl_participation":
            codes, values = frame.cols["educator_id"]
            # equal text, equal code (a frame's dictionary may hold a value twice)
            _, canonical = np.unique(np.array(values, dtype=object), return_inverse=True)
            educator = canonical.reshape(-1)[codes].astype(np.int64)
            key = d * (len(values) + 1) + educator
            out = {}
            for name, roles in (
                ("leaders_in_pl", _LEADER_ROLES),
                ("teachers_in_pl", ("teacher",)),
                ("tech_staff_in_pl", ("tech_staff",)),
            ):
                distinct = np.unique(key[_frame_in(frame, "role", roles)])
                out[name] = np.bincount(distinct // (len(values) + 1), minlength=N).astype(np.int64)
            return out
        return {}

    def tally(
        self,
        t: int,
        frames: dict[str, Frame],
        corrections: list[tuple[str, int, Frame, str]],
        per_district_files: bool,
    ) -> None:
        """Work out year t's warnings from what each district publishes: the statewide
        (or per-district) rows, replaced by its correction where it sent one."""
        w = self.w
        sy = w.years[t]
        corrected = {(fam, d): name for fam, d, _, name in corrections}

        def file_of(fam: str, d: int) -> str:
            if (fam, d) in corrected:
                return corrected[(fam, d)]
            return f"{fam}_{sy}_{w.code[d]}.csv" if per_district_files else f"{fam}_{sy}.csv"

        year: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for fam in YEARLY_FAMILIES:
            present = np.bincount(frames[fam].district, minlength=w.n) > 0
            for name, sums in self._sums(fam, frames[fam]).items():
                year[name] = (sums, present)
        for fam, d, sub, _ in corrections:
            for name, sums in self._sums(fam, sub).items():
                year[name][0][d] = sums[d]
        self.totals.append(year)

        def record(
            rule: str, family: str, d: int, column: str, value: str, note: str, file_family: str | None = None
        ) -> None:
            self.found.append(
                InjectedDefect(
                    rule=rule,
                    severity="warning",
                    family=family,
                    school_year=sy,
                    file_name=file_of(file_family or family, d),
                    district_code=w.code[d],
                    line=None,
                    column=column,
                    value=value,
                    note=note,
                )
            )

        for metric, family, num, den in _HEAVY_RATES:
            (a, a_ok), (b, b_ok) = year[num], year[den]
            for d in np.flatnonzero(a_ok & b_ok & (b > 0) & (a > b)):
                d = int(d)
                cause = "staffing" if self.cut[d, t] and _HEAVY_SUM_FAMILY[den] == "staffing" else None
                record(
                    "rate_over_100",
                    family,
                    d,
                    metric,
                    f"{100.0 * a[d] / b[d]:.1f}",
                    f"{num} {a[d]} over {den} {b[d]}"
                    + (" (staffing counts a tenth of the real ones)" if cause else ""),
                    file_family=cause,
                )
        (n, n_ok), (staff, s_ok) = year["leaders_in_pl"], year["leader_count"]
        for d in np.flatnonzero(n_ok & s_ok & (n > staff)):
            d = int(d)
            record(
                "pl_leaders_exceed_staffing",
                "pl_participation",
                d,
                "role",
                f"{n[d]} > {staff[d]}",
                f"{n[d]} distinct leaders in PL, staffing reports {staff[d]}",
            )
        if t >= 1:
            before = self.totals[t - 1]
            for rule, family, name, column in (
                ("yoy_student_count_swing", "enrollment", "student_count", "student_count"),
                ("yoy_device_total_swing", "devices", "device_total", "device_count"),
            ):
                (cur, c_ok), (prev, p_ok) = year[name], before[name]
                for d in np.flatnonzero(c_ok & p_ok & (prev > 0) & (2 * np.abs(cur - prev) > prev)):
                    d = int(d)
                    record(rule, family, d, column, str(cur[d]), f"{prev[d]} in {w.years[t - 1]} -> {cur[d]}")


def write_per_district(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    p: Pending,
    fam: str,
    sy: str,
    codes: list[str],
    rng_order: np.random.Generator,
) -> list[tuple[str, int]]:
    """One statewide extract as one file per district, `<family>_<SY>_<code>.csv`, each
    with the extract's header (and byte-order mark, if any) and that district's rows in
    their order. Returns (file name, data rows) per file."""
    frame = p.frame
    assert frame is not None and not p.empty and p.encoding == "utf-8"
    partial = out_dir / f".{p.name}.partial"  # a hidden name: never taken for a landing file
    n = write_file(con, partial, p, rng_order)
    data = partial.read_bytes()
    partial.unlink()
    bom = data.startswith(b"\xef\xbb\xbf")
    lines = (data[3:] if bom else data).split(b"\n")
    if len(lines) != n + 2 or lines[-1] != b"":  # generated values never hold a line break
        raise RuntimeError(f"{p.name}: expected {n} one-line rows")
    header, rows = lines[0], lines[1:-1]
    order = np.argsort(frame.district, kind="stable")
    districts = frame.district[order]
    starts = np.flatnonzero(np.r_[True, districts[1:] != districts[:-1]])
    out: list[tuple[str, int]] = []
    for lo, hi in zip(starts.tolist(), np.r_[starts[1:], len(order)].tolist(), strict=True):
        name = f"{fam}_{sy}_{codes[int(districts[lo])]}.csv"
        body = b"\n".join(rows[i] for i in order[lo:hi].tolist())
        (out_dir / name).write_bytes((b"\xef\xbb\xbf" if bom else b"") + header + b"\n" + body + b"\n")
        out.append((name, hi - lo))
    return out
