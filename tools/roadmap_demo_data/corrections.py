"""Clean corrections: the district resubmissions of the latest year that change a few
figures and keep every rule satisfied.
"""

from __future__ import annotations

import numpy as np

from flows.ingest.families import ACTIVITY_KINDS, FORMATS, FRAMEWORKS, PL_ROLES, PROVIDERS

from .frame import Frame, fmt_number
from .state import World
from .writers import Catalog, year_dates


def correct(
    family: str, frame: Frame, w: World, t: int, d: int, cat: Catalog | None, rng: np.random.Generator
) -> list[int]:
    """Edits a few rows of one district's frame the way a district correction would;
    keeps every rule satisfied. Returns the changed lines."""
    lines: list[int] = []
    n = frame.n
    if family == "enrollment":
        for i in rng.choice(n, size=min(n, 2), replace=False):
            v = frame.get_int(int(i), "student_count")
            frame.set(int(i), "student_count", str(max(1, v + int(rng.choice([-1, 1])) * max(1, round(v * 0.03)))))
            lines.append(int(i) + 2)
    elif family == "staffing":
        v = frame.get_int(0, "teacher_count")
        frame.set(0, "teacher_count", str(v + int(rng.integers(1, 4))))
        lines.append(2)
    elif family == "devices":
        student_rows = [i for i in range(n) if frame.get(i, "user_group") == "student"] or list(range(n))
        for i in rng.choice(student_rows, size=min(len(student_rows), 3), replace=False):
            i = int(i)
            v = frame.get_int(i, "device_count")
            frame.set(i, "device_count", str(v + max(1, round(v * 0.03))))
            lines.append(i + 2)
    elif family == "connectivity":
        cost = float(frame.get(0, "monthly_internet_cost_usd"))
        frame.set(0, "monthly_internet_cost_usd", f"{cost * float(rng.uniform(0.95, 1.05)):.2f}")
        wifi = float(frame.get(0, "wifi_classrooms_covered_pct"))
        frame.set(0, "wifi_classrooms_covered_pct", fmt_number(min(100.0, wifi + 2), "g"))
        lines.append(2)
    elif family == "pl_participation" and cat is not None:
        taken = {(frame.get(i, "educator_id"), frame.get(i, "activity_id")) for i in range(n)}
        people = sorted({(frame.get(i, "educator_id"), frame.get(i, "role")) for i in range(n)})
        dates = year_dates(w.years[t])
        added = 0
        for _ in range(50):
            if added >= 3 or not people:
                break
            eid, role = people[int(rng.integers(len(people)))]
            a = int(rng.choice(len(cat.ids), p=cat.role_p[PL_ROLES.index(role)]))
            if (eid, cat.ids[a]) in taken:
                continue
            taken.add((eid, cat.ids[a]))
            row = frame.row(0)
            row.update(
                educator_id=eid,
                role=role,
                activity_id=cat.ids[a],
                activity_title=cat.titles[a],
                activity_kind=ACTIVITY_KINDS[cat.kind[a]],
                provider=PROVIDERS[cat.provider[a]],
                format=FORMATS[cat.fmt[a]],
                framework=FRAMEWORKS[cat.framework[a]],
                hours=cat.hours_values[cat.hours_idx[a]],
                completed_on=dates[int(cat.start[a])],
            )
            lines.append(frame.append(row, d) + 2)
            added += 1
    return lines
