"""Defect planning and injection: which districts get which blocking error or warning each
year, and the edits that put it into a file; every one is recorded in the manifest with
its rule, file, district as written, line and column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flows.ingest.families import ACTIVITY_KINDS, FAMILIES, FORMATS, FRAMEWORKS, PROVIDERS
from flows.school_years import school_year_bounds, school_year_of

from .facts import R_BLEADER
from .frame import Frame, fmt_number
from .manifest import (
    BLOCKING_RULES,
    INJECTED_RULES,
    RULE_FAMILIES,
    RULE_WEIGHTS,
    STATEWIDE_OK,
    WARNING_RULES,
    WHOLE_FILE_RULES,
    YOY_RULES,
    InjectedDefect,
)
from .state import World
from .writers import Catalog, norm, year_dates


@dataclass
class Slot:
    rule: str
    t: int
    family: str
    placement: str  # statewide | resubmission
    district: int = -1  # -1: a district code in no directory
    fake_code: str | None = None


def plan(w: World, rate: float, rng: np.random.Generator, reserved_last: set[int]) -> tuple[list[Slot], list[str]]:
    T = len(w.starts)
    notes: list[str] = []
    if rate <= 0:
        return [], notes
    rules = list(INJECTED_RULES)
    if T < 2:
        rules = [r for r in rules if r not in YOY_RULES]
        notes.append("years < 2: year-over-year swings cannot be injected")
    # guaranteed: every rule once, spread over the years
    year_of: dict[str, int] = {}
    cycle = rng.permutation(T) if T > 1 else np.array([0])
    i = 0
    for r in rules:
        if r in YOY_RULES:
            year_of[r] = T - 1
        else:
            year_of[r] = int(cycle[i % len(cycle)])
            i += 1
    guaranteed: list[tuple[int, str]] = [(year_of[r], r) for r in rules]
    extra: list[tuple[int, str]] = []
    extra_rules = [r for r in rules if RULE_WEIGHTS[r] > 0]
    for t in range(T):
        n_t = round(rate * int(w.active[:, t].sum())) - sum(1 for y, _ in guaranteed if y == t)
        pool = [r for r in extra_rules if r not in YOY_RULES or t == T - 1]
        p = norm([RULE_WEIGHTS[r] for r in pool])
        for _ in range(max(0, n_t)):
            extra.append((t, pool[int(rng.choice(len(pool), p=p))]))

    used: list[set[int]] = [set() for _ in range(T)]
    used[T - 1] |= reserved_last
    slots: list[Slot] = []
    statewide_done = {"error": False, "warning": False}
    special = {w.opening_psa, w.closing_psa} - {-1}
    leading_zero = np.array([c.startswith("0") for c in w.code])
    # A district gets at most one defect per school year, so a warning district has no
    # blocking error in that year; a swing also keeps the district's previous year clean.
    # One of each rule first, so that small states still get every kind; warnings first.
    order = [x for x in guaranteed if x[1] in WARNING_RULES] + [x for x in guaranteed if x[1] in BLOCKING_RULES]
    order += [x for x in extra if x[1] in WARNING_RULES] + [x for x in extra if x[1] in BLOCKING_RULES]
    skipped: dict[str, int] = {}
    for t, r in order:
        fams = RULE_FAMILIES[r]
        family = fams[int(rng.integers(len(fams)))]
        sw_fams = STATEWIDE_OK.get(r, ())
        placement = "resubmission"
        if r in STATEWIDE_OK:
            sev = "warning" if r in WARNING_RULES else "error"
            if not statewide_done[sev] or rng.random() < 0.3:
                placement = "statewide"
                if family not in sw_fams:
                    family = sw_fams[int(rng.integers(len(sw_fams)))]
                statewide_done[sev] = True
        if r == "school_year_mismatch" and T == 1 and family == "devices":
            family = "connectivity"  # a devices row of a year with no enrollment would also fail its building
        if r == "unknown_district":
            slots.append(Slot(r, t, family, placement, -1, _fake_code(w, rng)))
            continue
        cand = w.active[:, t].copy()
        cand[list(used[t])] = False
        if special:
            cand[list(special)] = False
        if r in YOY_RULES:
            cand &= w.active[:, t - 1]
            if used[t - 1]:
                cand[list(used[t - 1])] = False
        if r == "bad_code_format" and (cand & leading_zero).any():
            cand &= leading_zero
        if r == "pl_leaders_exceed_staffing":
            cand &= (w.bleaders[:, t] + w.dleaders[:, t]) < 900
        idx = np.flatnonzero(cand)
        if len(idx) == 0:
            skipped[r] = skipped.get(r, 0) + 1
            continue
        d = int(rng.choice(idx))
        used[t].add(d)
        if r in YOY_RULES:
            used[t - 1].add(d)
        slots.append(Slot(r, t, family, placement, d))
    for r, k in skipped.items():
        notes.append(f"{k} '{r}' defect(s) skipped: no district left to put them in")
    return slots, notes


def _fake_code(w: World, rng: np.random.Generator) -> str:
    while True:
        c = int(rng.integers(1, 84))
        s = int(rng.integers(1, 1000))
        if s % 100 == 0:
            continue
        code = f"{c:02d}{s:03d}"
        if code not in w.used_codes:
            w.used_codes.add(code)
            return code


class Injector:
    def __init__(self, w: World, rng: np.random.Generator, id_base: np.ndarray):
        self.w = w
        self.rng = rng
        self.id_base = id_base
        self.catalog: Catalog | None = None  # the PL catalog of the year being written

    def _pick(self, rows: np.ndarray) -> int:
        return int(rows[int(self.rng.integers(len(rows)))])

    def _bad_type_value(self, col: str, v: str | None) -> str:
        rng = self.rng
        v = v or "1"
        kind = FAMILY_COLUMN_KIND.get(col)
        if kind == "integer":
            n = int(v)
            if n >= 1000 and rng.random() < 0.6:
                return f"{n:,}"
            return [f"{n}a", f"{n} devices" if "device" in col else f"about {n}", "1,000"][int(rng.integers(3))]
        if kind == "number":
            if col == "internet_bandwidth_mbps":
                return f"{v} Mbps"
            if col == "monthly_internet_cost_usd":
                return f"${v}"
            if col.endswith("_pct"):
                return f"{v}%"
            if col == "hours":
                return f"{v} hrs"
            return f"{v}a"
        if kind == "date":
            y, m, d = v.split("-")
            return f"{m}/{d}/{y}"
        return f"{v}?"

    def apply(
        self, s: Slot, frame: Frame, rows: np.ndarray, file_name: str, sy: str
    ) -> tuple[list[InjectedDefect], dict]:
        """Injects slot `s` into `frame` (rows = the district's rows). Returns the defects
        and options for writing the file (empty, encoding, ...)."""
        w, rng = self.w, self.rng
        code = w.code[s.district] if s.district >= 0 else s.fake_code
        out: list[InjectedDefect] = []
        opts: dict = {}
        sev = "warning" if s.rule in WARNING_RULES else "error"

        def rec(
            line_row: int | None, column: str | None, value: str | None, note: str = "", district: str | None = None
        ):
            out.append(
                InjectedDefect(
                    rule=s.rule,
                    severity=sev,
                    family=s.family,
                    school_year=sy,
                    file_name=file_name,
                    district_code=district if district is not None else code,
                    line=None if line_row is None else int(line_row) + 2,
                    column=column,
                    value=value,
                    note=note,
                    whole_file=s.rule in WHOLE_FILE_RULES,
                )
            )

        r, fam = s.rule, s.family
        cols = FAMILIES[fam]
        if r == "bad_type":
            choices = {
                "enrollment": ["student_count"],
                "staffing": ["teacher_count", "tech_staff_count", "building_leader_count"],
                "devices": ["device_count", "take_home_count"],
                "connectivity": ["internet_bandwidth_mbps", "monthly_internet_cost_usd", "wifi_classrooms_covered_pct"],
                "pl_participation": ["hours", "completed_on"],
            }[fam]
            col = choices[int(rng.integers(len(choices)))]
            i = self._pick(rows)
            val = self._bad_type_value(col, frame.get(i, col))
            frame.set(i, col, val)
            rec(i, col, val)
        elif r == "value_not_allowed":
            if fam == "devices":
                col, vals = (
                    ("device_type", ["smartphone", "projector", "ipad", "smartboard"])
                    if rng.random() < 0.7
                    else ("user_group", ["admin", "guest", "parents"])
                )
            else:
                col, vals = [
                    ("role", ["paraprofessional", "substitute", "counselor"]),
                    ("activity_kind", ["webinar", "conference"]),
                    ("provider", ["Coursera", "Google", "Apple"]),
                    ("format", ["hybrid", "in_person"]),
                    ("framework", ["UDL", "PBL"]),
                ][int(rng.integers(5))]
            i = self._pick(rows)
            val = vals[int(rng.integers(len(vals)))]
            frame.set(i, col, val)
            rec(i, col, val)
        elif r == "out_of_range":
            i = self._pick(rows)
            if fam == "connectivity":
                col, val = [
                    ("wifi_classrooms_covered_pct", "120"),
                    ("wifi_classrooms_covered_pct", "104.5"),
                    ("erate_discount_pct", "95"),
                    ("erate_discount_pct", "10"),
                    ("internet_bandwidth_mbps", "0"),
                ][int(rng.integers(5))]
            else:
                col, val = ("hours", ["0", "60", "45.5"][int(rng.integers(3))])
            frame.set(i, col, val)
            rec(i, col, val)
        elif r == "count_exceeds_device_count":
            i = self._pick(rows)
            col = "take_home_count" if rng.random() < 0.5 else "devices_over_5_years"
            n = frame.get_int(i, "device_count")
            val = str(n + int(rng.integers(1, max(2, n // 2 + 2))))
            frame.set(i, col, val)
            rec(i, col, val, f"device_count is {n}")
        elif r == "required_value_missing":
            choices = {
                "enrollment": ["student_count"],
                "staffing": ["teacher_count", "tech_staff_count"],
                "devices": ["device_count", "device_type"],
                "connectivity": [
                    "internet_bandwidth_mbps",
                    "monthly_internet_cost_usd",
                    "students_without_home_internet",
                ],
                "pl_participation": ["activity_id", "hours", "completed_on", "role"],
            }[fam]
            col = choices[int(rng.integers(len(choices)))]
            i = self._pick(rows)
            frame.set(i, col, None)
            rec(i, col, None)
        elif r == "bad_code_format":
            written = code.lstrip("0") if code.startswith("0") else code[:4]
            for i in rows:
                frame.set(int(i), "district_code", written)
                rec(
                    int(i),
                    "district_code",
                    written,
                    f"leading zero lost ({code}); as written it is in no directory either",
                    district=written,
                )
        elif r == "duplicate_key_conflict":
            i = self._pick(rows)
            row = frame.row(i)
            col = {
                "enrollment": "student_count",
                "staffing": "teacher_count",
                "devices": "device_count",
                "connectivity": "internet_bandwidth_mbps",
            }[fam]
            n = int(row[col])
            row[col] = str(n + int(rng.integers(1, 6)) * (10 if col == "internet_bandwidth_mbps" else 1))
            j = frame.append(row, s.district)
            rec(j, col, row[col], f"same key as line {i + 2} with {col}={n}")
        elif r == "unknown_district":
            # statewide: a row appended at the end; resubmission: the file's only row
            if s.placement == "statewide":
                j = frame.append(frame.row(self._pick(rows)), -1)
            else:
                j = int(rows[0])
            frame.set(j, "district_code", code)
            if fam == "enrollment":
                frame.set(j, "building_code", w.spare_building_codes.pop())
                frame.set(j, "building_name", "New Horizons Learning Center")
            rec(j, "district_code", code, "district code in no directory")
        elif r == "building_not_in_enrollment":
            i = self._pick(rows)
            val = w.spare_building_codes.pop()
            frame.set(i, "building_code", val)
            rec(i, "building_code", val, "building not in that year's enrollment")
        elif r == "school_year_mismatch":
            # another year on record when there is one (its enrollment holds the building)
            start = int(sy[:4])
            others = [y for y in w.years if y != sy]
            val = others[int(rng.integers(len(others)))] if others else school_year_of(start - 1)
            i = self._pick(rows)
            frame.set(i, "school_year", val)
            rec(i, "school_year", val, f"file is for {sy}")
        elif r == "date_outside_school_year":
            i = self._pick(rows)
            a, b = school_year_bounds(sy)
            if rng.random() < 0.5:
                val = str(np.datetime64(b) + int(rng.integers(1, 60)))
            else:
                val = str(np.datetime64(a) - int(rng.integers(1, 60)))
            frame.set(i, "completed_on", val)
            rec(i, "completed_on", val, f"school year {sy} runs {a} to {b}")
        elif r == "missing_required_column":
            # never a key column: the rows must still be told apart (and their district known)
            keyish = set(cols.key) | set(cols.record_key)
            options = [c.name for c in cols.columns if c.required and c.name not in keyish]
            col = options[int(rng.integers(len(options)))]
            frame.drop(col)
            rec(None, col, None, "required column missing from the header")
        elif r == "encoding_not_utf8":
            i = self._pick(rows)
            if fam == "enrollment":
                col, val = "building_name", "Escuela Señor Jiménez Elementary School"
            else:
                col, val = "activity_title", "Tecnología en el aula con el Señor Núñez"
            frame.set(i, col, val)
            opts["encoding"] = "cp1252"
            rec(None, None, val, f"file encoded cp1252 ('{val}' on line {i + 2})")
        elif r == "empty_file":
            opts["empty"] = True
            rec(None, None, None, "file of 0 bytes")
        elif r == "extra_column":
            notes = [None] * frame.n
            notes[0] = "verified by business office"
            if frame.n > 2:
                notes[-1] = "revised counts, see email"
            frame.add_column("notes", notes)
            rec(None, "notes", None, "column not in DATA_SPEC")
        elif r == "exact_duplicate_row":
            i = self._pick(rows)
            j = frame.append(frame.row(i), s.district)
            rec(j, None, None, f"repeats line {i + 2}")
        elif r == "duplicate_pl_record":
            i = self._pick(rows)
            row = frame.row(i)
            h = float(row["hours"])
            row["hours"] = fmt_number(h + 0.5 if h + 0.5 <= 40 else h - 0.5, "g")
            j = frame.append(row, s.district)
            rec(j, "hours", row["hours"], f"same educator, activity and completed_on as line {i + 2}")
        elif r == "yoy_student_count_swing":
            t = s.t
            prev = int(w.students[s.district, t - 1])
            before = sum(frame.get_int(int(i), "student_count") for i in rows)
            f = float(rng.uniform(1.6, 1.9))
            for i in rows:
                frame.set(int(i), "student_count", str(int(round(frame.get_int(int(i), "student_count") * f))))
            after = sum(frame.get_int(int(i), "student_count") for i in rows)
            rec(
                None, "student_count", str(after), f"student_count {prev} in {w.years[t - 1]} -> {after} (was {before})"
            )
        elif r == "yoy_device_total_swing":
            f = float(rng.uniform(2.0, 2.4))
            before = sum(frame.get_int(int(i), "device_count") for i in rows)
            for i in rows:
                i = int(i)
                if frame.get(i, "user_group") != "student":
                    continue
                n = frame.get_int(i, "device_count")
                new = int(round(n * f))
                frame.set(i, "device_count", str(new))
                for sub in ("devices_over_5_years", "take_home_count"):
                    m = frame.get_int(i, sub)
                    frame.set(i, sub, str(min(new, int(m * f))))
            after = sum(frame.get_int(int(i), "device_count") for i in rows)
            rec(None, "device_count", str(after), f"device total {before} -> {after} (x{f:.2f})")
        elif r == "pl_leaders_exceed_staffing":
            t = s.t
            d = s.district
            staff = int(w.bleaders[d, t] + w.dleaders[d, t])
            leaders = {
                frame.get(int(i), "educator_id")
                for i in rows
                if frame.get(int(i), "role") in ("building_leader", "district_leader")
            }
            need = staff - len(leaders) + int(rng.integers(1, 4))
            base = int(self.id_base[d, R_BLEADER]) + 900
            template = frame.row(int(rows[0])) if len(rows) else None
            cat = self.catalog
            assert cat is not None
            pln = [a for a in range(len(cat.ids)) if cat.kind[a] == ACTIVITY_KINDS.index("pln_meeting")] or [0]
            dates = year_dates(sy)
            for k in range(need):
                a = pln[int(rng.integers(len(pln)))]
                row = dict(template) if template else {}
                row.update(
                    school_year=sy,
                    district_code=code,
                    educator_id=f"L{base + k:05d}",
                    role="building_leader",
                    activity_id=cat.ids[a],
                    activity_title=cat.titles[a],
                    activity_kind="pln_meeting",
                    provider=PROVIDERS[cat.provider[a]],
                    format=FORMATS[cat.fmt[a]],
                    framework=FRAMEWORKS[cat.framework[a]],
                    hours=cat.hours_values[cat.hours_idx[a]],
                    completed_on=dates[int(cat.start[a])],
                )
                frame.append(row, d)
            rec(
                None,
                "role",
                str(len(leaders) + need),
                f"{len(leaders) + need} distinct leaders in PL, staffing reports {staff} "
                f"(so leader_pl_rate_pct is over 100 too)",
            )
        else:  # pragma: no cover
            raise ValueError(r)
        return out, opts


FAMILY_COLUMN_KIND: dict[str, str] = {c.name: c.kind for f in FAMILIES.values() for c in f.columns}
