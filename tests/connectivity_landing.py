"""A small landing folder for the connectivity benchmarks and the ISD view, written by
hand so that every figure the tests check is worked out here, on paper, from these
numbers (tests/test_connectivity_isd.py). Two ISDs, seven districts, two school years.
The nightly flow builds it (tests/conftest.py, `connectivity_warehouse`).

2024-25 (the year the figures below are for; benchmarks 100 / 1,000 kbps per student,
WAN 10,000 kbps per student, $3 per Mbps):

| district | ISD | students | Mbps | kbps/student | WAN Mbps | WAN kbps | $/month | $/Mbps | at $3: Mbps, kbps/student |
|---|---|---|---|---|---|---|---|---|---|
| 10000 ISD   | 10000 | 100  | 200  | 2000  | -     | -     | 200  | 1  | 66.67, 666.7 |
| 10010 LEA   | 10000 | 1000 | 500  | 500   | 10000 | 10000 | 2000 | 4  | 666.67, 666.7 (below 1,000: cannot) |
| 10020 LEA   | 10000 | 400  | 30   | 75    | 1000  | 2500  | 1500 | 50 | 500, 1250 (could meet) |
| 10030 PSA   | 10000 | 8    | 50   | 6250  | -     | -     | 100  | 2  | 33.3, 4166.7 |
| 20000 ISD   | 20000 | 200  | 100  | 500   | 2000  | 10000 | 600  | 6  | 200, 1000 (could meet: exactly) |
| 20010 LEA   | 20000 | 2000 | 3000 | 1500  | 30000 | 15000 | 3000 | 1  | 1000, 500 |
| 20020 LEA   | 20000 | 500  | no connectivity file |

10030 has 8 students: every figure built on its count is withheld in the review.
2023-24: the same districts, bandwidth 100, 90, 30, 50, 100, 1000, 100 Mbps (in the
order above), the same enrolment; 20020 sends connectivity that year.
"""

from __future__ import annotations

from landing_files import CONNECTIVITY, DEVICES, DIRECTORY_HEADER, ENROLLMENT, PL, STAFFING

YEARS = ("2023-24", "2024-25")
LATEST = YEARS[-1]
SMALL = "10030"

# code, name, type, isd, locale, students
DISTRICTS = (
    ("10000", "Lake Huron ISD", "ISD", "10000", "rural", 100),
    ("10010", "Bay Shore Schools", "LEA", "10000", "town", 1000),
    ("10020", "Pine Hill Schools", "LEA", "10000", "rural", 400),
    ("10030", "Tiny Creek Academy", "PSA", "10000", "rural", 8),
    ("20000", "Grand Plains ISD", "ISD", "20000", "suburb", 200),
    ("20010", "Grand City Schools", "LEA", "20000", "city", 2000),
    ("20020", "Oak Valley Schools", "LEA", "20000", "suburb", 500),
)

# (code, year) -> internet Mbps, WAN Mbps ('' = not reported), monthly cost USD; None = no file row
CONNECTIVITY_ROWS = {
    ("10000", "2024-25"): (200, "", 200),
    ("10010", "2024-25"): (500, 10000, 2000),
    ("10020", "2024-25"): (30, 1000, 1500),
    ("10030", "2024-25"): (50, "", 100),
    ("20000", "2024-25"): (100, 2000, 600),
    ("20010", "2024-25"): (3000, 30000, 3000),
    ("10000", "2023-24"): (100, "", 300),
    ("10010", "2023-24"): (90, "", 300),
    ("10020", "2023-24"): (30, "", 300),
    ("10030", "2023-24"): (50, "", 300),
    ("20000", "2023-24"): (100, "", 300),
    ("20010", "2023-24"): (1000, "", 300),
    ("20020", "2023-24"): (100, "", 300),
}


def write_connectivity_landing(landing) -> None:
    landing.csv(
        "districts.csv",
        DIRECTORY_HEADER,
        [f"{c},{name},{t},{isd},County,{locale},data.{c}@example.invalid" for c, name, t, isd, locale, _ in DISTRICTS],
    )
    for sy in YEARS:
        start = int(sy[:4])
        enrollment, staffing, devices, connectivity, pl = [], [], [], [], []
        for code, _, _, _, _, students in DISTRICTS:
            enrollment.append(f"{sy},{code},{code[2:]}01,Building,{students}")
            teachers = max(students // 20, 1)
            staffing.append(f"{sy},{code},{teachers},1,1,1")
            devices.append(f"{sy},{code},{code[2:]}01,chromebook,student,{students},0,0")
            row = CONNECTIVITY_ROWS.get((code, sy))
            if row:
                mbps, wan, cost = row
                connectivity.append(f"{sy},{code},{mbps},{wan},100,{cost},,0,0")
            pl.append(f"{sy},{code},T{code},teacher,A1,Basics,course,REMC,online,none,2,{start}-10-01")
        landing.csv(f"enrollment_{sy}.csv", ENROLLMENT, enrollment)
        landing.csv(f"staffing_{sy}.csv", STAFFING, staffing)
        landing.csv(f"devices_{sy}.csv", DEVICES, devices)
        landing.csv(f"connectivity_{sy}.csv", CONNECTIVITY, connectivity)
        landing.csv(f"pl_participation_{sy}.csv", PL, pl)
