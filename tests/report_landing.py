"""A small landing folder for the annual review and export tests, written by hand to
DATA_SPEC (three school years, 18 districts in three ISDs), then run through the real
nightly flow (tests/conftest.py, `report_warehouse`), so a change of the marts'
contract breaks the tests that read it.

It is deliberately awkward:

* BIRCH (20030): 8 students, 2 teachers, 1 leader, no tech staff: every figure built on
  them is under the threshold; it is the only district with fewer than 10 students, so
  the state's student count minus the published districts would give it back;
* NORTHERN (20900): 140 students but 8 teachers, and no student computing device in the
  last year (students per device is null);
* districts with no tech staff (0 is a count under 10; the PL rate is 0 / 0);
* MISSING_PL (33020): no published PL file in the last year, and a quarantined one;
* NO_CONNECTIVITY (20040) in the last year, NO_DEVICES (33030) in the middle year;
* NO_FILES (50020): no file at all in the first year;
* a quarantined devices resubmission (20010, count_exceeds_device_count) whose earlier
  statewide rows stay published; a statewide file refused as a whole
  (Windows-1252: encoding_not_utf8); an extra column (a warning, not quarantine);
* names that begin with '=' and '@' (CSV formula injection) and a code with a leading
  zero (01010); a district whose bandwidth per student slips every year (20020).
"""

from __future__ import annotations

import random

from landing_files import CONNECTIVITY, DEVICES, DIRECTORY_HEADER, ENROLLMENT, PL, STAFFING

YEARS = ("2022-23", "2023-24", "2024-25")
LATEST = YEARS[-1]
BIRCH = "20030"
NORTHERN = "20900"
MISSING_PL = "33020"
NO_CONNECTIVITY = "20040"
NO_DEVICES = "33030"
NO_FILES = "50020"
QUARANTINED_DEVICES = "20010"
SLIPPING = "20020"
FORMULA_NAME = '=HYPERLINK("http://example.invalid","Click") Academy'

# code, name, type, isd, county, locale, students in the first year
DISTRICTS: tuple[tuple[str, str, str, str, str, str, int], ...] = (
    ("50000", "Lakeshore Regional ISD", "ISD", "50000", "Macomb", "suburb", 320),
    ("33000", "Capital Area ISD", "ISD", "33000", "Ingham", "city", 460),
    ("20000", "North Woods ISD", "ISD", "20000", "Crawford", "rural", 140),
    ("50010", "Riverside Public Schools", "LEA", "50000", "Macomb", "suburb", 2400),
    ("50020", "Harbor Point Community Schools", "LEA", "50000", "Macomb", "suburb", 1100),
    ("50030", "Clinton Valley Schools", "LEA", "50000", "Macomb", "city", 3000),
    ("33010", "Capital City School District", "LEA", "33000", "Ingham", "city", 3800),
    ("33020", "Meadowbrook Schools", "LEA", "33000", "Ingham", "town", 900),
    ("33030", "Cedar Ridge Schools", "LEA", "33000", "Eaton", "town", 800),
    ("20010", "Pine Lake Area Schools", "LEA", "20000", "Crawford", "rural", 950),
    ("20020", "Au Sable Valley Schools", "LEA", "20000", "Oscoda", "rural", 420),
    ("20030", "Birch Hollow Township School District", "LEA", "20000", "Crawford", "rural", 8),
    ("20040", "Twin Rivers Schools", "LEA", "20000", "Roscommon", "rural", 1300),
    ("01010", "Alcona Shores Schools", "LEA", "20000", "Alcona", "rural", 700),
    ("50900", "@Home Virtual Academy", "PSA", "50000", "Macomb", "suburb", 600),
    ("33900", FORMULA_NAME, "PSA", "33000", "Ingham", "city", 240),
    ("33910", "Lansing STEM Academy", "PSA", "33000", "Ingham", "city", 350),
    ("20900", "Northern Lights Charter Academy", "PSA", "20000", "Crawford", "town", 140),
)
NAMES = {c: name for c, name, *_ in DISTRICTS}

# (district_code, school_year) -> families with no published rows
MISSING: dict[tuple[str, str], tuple[str, ...]] = {
    (NO_FILES, YEARS[0]): ("enrollment", "staffing", "devices", "connectivity", "pl_participation"),
    (MISSING_PL, LATEST): ("pl_participation",),
    (NO_CONNECTIVITY, LATEST): ("connectivity",),
    (NO_DEVICES, YEARS[1]): ("devices",),
}


def _csv_field(text: str) -> str:
    if any(ch in text for ch in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _figures(code: str, yi: int, base: int, rng: random.Random) -> dict:
    students = base - (yi % 2) if base < 10 else int(round(base * (1 + 0.015 * yi + rng.uniform(-0.01, 0.01))))
    if code == BIRCH:
        teachers, building_leaders, district_leaders, tech = 2, 1, 0, 0
    elif code == NORTHERN:
        teachers, building_leaders, district_leaders, tech = 8, 1, 1, 0
    else:
        teachers = max(int(round(students / 17)), 1)
        building_leaders = max(int(round(students / 300)), 1)
        district_leaders = 2 if students >= 400 else 1
        tech = int(round(students / 550))
    kbps = rng.uniform(350, 1500) * (1 + 0.22 * yi)
    if code == SLIPPING:
        kbps = 1400 - 450 * yi
    swhi = int(round(students * rng.uniform(0.03, 0.2)))
    return dict(
        students=students,
        teachers=teachers,
        building_leaders=building_leaders,
        district_leaders=district_leaders,
        tech=tech,
        spd=max(rng.uniform(0.9, 1.6) - 0.12 * yi, 0.8),
        bandwidth=max(round(students * kbps / 1000.0, 1), 1.0),
        cost_per_mbps=rng.uniform(0.7, 5.5),
        wifi=round(min(rng.uniform(82, 101), 100.0), 1),
        swhi=swhi,
        hotspots=int(round(swhi * rng.uniform(0.3, 1.0))),
        teacher_share=rng.uniform(0.3, 0.9),
        leader_share=min(rng.uniform(0.35, 0.8) + 0.07 * yi, 1.0),
        tech_share=rng.uniform(0.4, 1.0),
    )


def write_report_landing(landing, seed: int = 20240701) -> None:
    """Write the landing files into ``landing`` (a landing_files.Landing)."""
    rng = random.Random(seed)
    landing.csv(
        "districts.csv",
        DIRECTORY_HEADER,
        [
            ",".join([c, _csv_field(name), t, isd, county, locale, f"data.{c}@example.invalid"])
            for c, name, t, isd, county, locale, _ in DISTRICTS
        ],
    )
    figures = {
        (c, sy): _figures(c, yi, base, rng) for yi, sy in enumerate(YEARS) for c, _, _, _, _, _, base in DISTRICTS
    }

    def published(code: str, sy: str, family: str) -> bool:
        return family not in MISSING.get((code, sy), ())

    for sy in YEARS:
        start = int(sy[:4])
        enrollment, staffing, devices, connectivity, pl = [], [], [], [], []
        for code, _, _, _, _, _, _ in DISTRICTS:
            f = figures[(code, sy)]
            buildings = (
                [f["students"]] if f["students"] < 500 else [f["students"] // 2, f["students"] - f["students"] // 2]
            )
            bcodes = [code[2:] + f"{b + 1:02d}" for b in range(len(buildings))]
            if published(code, sy, "enrollment"):
                for bc, s in zip(bcodes, buildings, strict=True):
                    enrollment.append(f"{sy},{code},{bc},Building {bc},{s}")
            if published(code, sy, "staffing"):
                staffing.append(
                    f"{sy},{code},{f['teachers']},{f['building_leaders']},{f['district_leaders']},{f['tech']}"
                )
            if published(code, sy, "devices"):
                for i, (bc, s) in enumerate(zip(bcodes, buildings, strict=True)):
                    sdev = int(round(s / f["spd"]))
                    if code == NORTHERN and sy == LATEST:
                        devices.append(f"{sy},{code},{bc},interactive_display,shared,3,0,0")
                    else:
                        devices.append(f"{sy},{code},{bc},chromebook,student,{sdev},{sdev // 5},{sdev // 2}")
                    if i == 0:
                        tdev = int(round(f["teachers"] * 0.95))
                        devices.append(f"{sy},{code},{bc},laptop,teacher,{tdev},{tdev // 4},0")
            if published(code, sy, "connectivity"):
                cost = round(f["bandwidth"] * f["cost_per_mbps"], 2)
                connectivity.append(
                    f"{sy},{code},{f['bandwidth']},,{f['wifi']},{cost},{'' if code.endswith('0') else 60},"
                    f"{f['swhi']},{f['hotspots']}"
                )
            if published(code, sy, "pl_participation"):
                pl.extend(_pl_rows(code, sy, start, f, rng))
        landing.csv(f"enrollment_{sy}.csv", ENROLLMENT, enrollment)
        landing.csv(f"staffing_{sy}.csv", STAFFING, staffing)
        landing.csv(f"devices_{sy}.csv", DEVICES, devices)
        landing.csv(f"connectivity_{sy}.csv", CONNECTIVITY, connectivity)
        landing.csv(f"pl_participation_{sy}.csv", PL, pl)

    # the last year's later submissions
    f = figures[(QUARANTINED_DEVICES, LATEST)]
    landing.csv(
        f"devices_{LATEST}_{QUARANTINED_DEVICES}.csv",
        DEVICES,
        [
            f"{LATEST},{QUARANTINED_DEVICES},01001,chromebook,student,400,412,10",
        ],
    )
    landing.csv(
        f"pl_participation_{LATEST}_{MISSING_PL}.csv",
        PL,
        [
            f"{LATEST},{MISSING_PL},T1,teacher,A1,TPACK basics,course,REMC,online,TPACK,two,{LATEST[:4]}-10-01",
        ],
    )
    landing.write(
        f"connectivity_{LATEST}_batch.csv",
        (CONNECTIVITY + f"\n{LATEST},50010,900.5,,95,1200,,40,12\n").replace("900.5", "900.5\u00e9").encode("cp1252"),
    )
    f = figures[("50010", LATEST)]
    enrollment = [
        f"{LATEST},50010,01001,Building 01001,{f['students'] // 2},resubmitted",
        f"{LATEST},50010,01002,Building 01002,{f['students'] - f['students'] // 2},resubmitted",
    ]
    landing.csv(f"enrollment_{LATEST}_50010.csv", ENROLLMENT + ",notes", enrollment)


def _pl_rows(code: str, sy: str, start: int, f: dict, rng: random.Random) -> list[str]:
    rows = []
    frameworks = ("TPACK", "SAMR", "OER", "CBE", "none", "ISTE_Standards")

    def row(eid, role, act, title, kind, provider, fmt, framework, hours, month):
        year = start if month >= 7 else start + 1
        rows.append(
            f"{sy},{code},{eid},{role},{act},{title},{kind},{provider},{fmt},{framework},{hours},{year}-{month:02d}-15"
        )

    for i in range(int(round(f["teachers"] * f["teacher_share"]))):
        fw = frameworks[rng.randrange(len(frameworks))]
        kind = "skill_assessment" if rng.random() < 0.25 else "course"
        fmt = ("online", "face_to_face", "blended")[rng.randrange(3)]
        row(
            f"T{code}{i:04d}",
            "teacher",
            f"A{fw[:3]}",
            "Classroom technology",
            kind,
            "REMC",
            fmt,
            fw,
            rng.choice((1, 2, 3, 4.5)),
            rng.choice((9, 10, 11, 1, 2, 3)),
        )
    leaders = f["building_leaders"] + f["district_leaders"]
    for i in range(int(round(leaders * f["leader_share"]))):
        role = "building_leader" if i < f["building_leaders"] else "district_leader"
        row(
            f"L{code}{i:04d}",
            role,
            "APLN",
            "Regional leaders network",
            "pln_meeting",
            "ISD",
            "face_to_face",
            "none",
            2,
            10,
        )
        if i % 2 == 0:
            row(
                f"L{code}{i:04d}", role, "AISTE", "ISTE for leaders", "course", "ISTE", "online", "ISTE_Standards", 3, 2
            )
    for i in range(int(round(f["tech"] * f["tech_share"]))):
        row(
            f"X{code}{i:04d}",
            "tech_staff",
            "ASKILL",
            "Skills check",
            "skill_assessment",
            "EduPaths",
            "blended",
            "none",
            1.5,
            3,
        )
    return rows
