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

import argparse
import calendar
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from .ingest.families import (
    ACTIVITY_KINDS,
    DEVICE_TYPES,
    FAMILIES,
    FORMATS,
    FRAMEWORKS,
    LOCALES,
    PL_ROLES,
    PROVIDERS,
    USER_GROUPS,
    YEARLY_FAMILIES,
)
from .school_years import is_school_year, school_year_bounds, school_year_of

__all__ = [
    "BLOCKING_RULES",
    "WARNING_RULES",
    "INJECTED_RULES",
    "WHOLE_FILE_RULES",
    "HEAVY_WARNING_RULES",
    "InjectedDefect",
    "GenerationManifest",
    "generate_landing",
    "add_arguments",
    "run_from_args",
]

# ---------------------------------------------------------------------------------------
# Rules the generator injects (ids of docs/ARCHITECTURE.md)
# ---------------------------------------------------------------------------------------

BLOCKING_RULES: tuple[str, ...] = (
    "bad_type",
    "value_not_allowed",
    "out_of_range",
    "count_exceeds_device_count",
    "required_value_missing",
    "bad_code_format",
    "duplicate_key_conflict",
    "unknown_district",
    "building_not_in_enrollment",
    "school_year_mismatch",
    "date_outside_school_year",
    "missing_required_column",
    "encoding_not_utf8",
    "empty_file",
)
WARNING_RULES: tuple[str, ...] = (
    "extra_column",
    "exact_duplicate_row",
    "duplicate_pl_record",
    "yoy_student_count_swing",
    "yoy_device_total_swing",
    "pl_leaders_exceed_staffing",
)
INJECTED_RULES: tuple[str, ...] = BLOCKING_RULES + WARNING_RULES
# Rules about a whole file (line None): always in a single-district resubmission file
WHOLE_FILE_RULES: tuple[str, ...] = ("empty_file", "encoding_not_utf8", "missing_required_column", "extra_column")
YOY_RULES = ("yoy_student_count_swing", "yoy_device_total_swing")

# Which families each rule is injected into. Blocking errors in enrollment and staffing
# only ever go into single-district resubmission files: the statewide rows of that
# district stay loaded, so the checks that depend on them (buildings of devices, leaders
# of PL) never fail for rows that are themselves clean.
_RULE_FAMILIES: dict[str, tuple[str, ...]] = {
    "bad_type": ("enrollment", "staffing", "devices", "connectivity", "pl_participation"),
    "value_not_allowed": ("devices", "pl_participation"),
    "out_of_range": ("connectivity", "pl_participation"),
    "count_exceeds_device_count": ("devices",),
    "required_value_missing": ("enrollment", "staffing", "devices", "connectivity", "pl_participation"),
    "bad_code_format": ("enrollment", "staffing", "connectivity"),
    "duplicate_key_conflict": ("enrollment", "staffing", "devices", "connectivity"),
    "unknown_district": ("enrollment", "staffing", "connectivity"),
    "building_not_in_enrollment": ("devices",),
    "school_year_mismatch": ("enrollment", "staffing", "devices", "connectivity", "pl_participation"),
    "date_outside_school_year": ("pl_participation",),
    "missing_required_column": ("enrollment", "staffing", "devices", "connectivity", "pl_participation"),
    "encoding_not_utf8": ("enrollment", "pl_participation"),
    "empty_file": ("enrollment", "staffing", "devices", "connectivity", "pl_participation"),
    "extra_column": ("enrollment", "staffing", "devices", "connectivity", "pl_participation"),
    "exact_duplicate_row": ("enrollment", "staffing", "devices", "connectivity"),
    "duplicate_pl_record": ("pl_participation",),
    "yoy_student_count_swing": ("enrollment",),
    "yoy_device_total_swing": ("devices",),
    "pl_leaders_exceed_staffing": ("pl_participation",),
}
# Rules that can be put into a statewide extract (in place, or rows appended at its end),
# and the families where that is safe.
_STATEWIDE_OK: dict[str, tuple[str, ...]] = {
    "bad_type": ("devices", "connectivity", "pl_participation"),
    "value_not_allowed": ("devices", "pl_participation"),
    "out_of_range": ("connectivity", "pl_participation"),
    "count_exceeds_device_count": ("devices",),
    "required_value_missing": ("devices", "connectivity", "pl_participation"),
    "bad_code_format": ("connectivity",),
    "unknown_district": ("enrollment", "staffing", "connectivity"),
    "building_not_in_enrollment": ("devices",),
    "school_year_mismatch": ("devices", "connectivity", "pl_participation"),
    "date_outside_school_year": ("pl_participation",),
    "yoy_student_count_swing": ("enrollment",),
    "yoy_device_total_swing": ("devices",),
}
_RULE_WEIGHTS: dict[str, float] = {
    "bad_type": 3.0,
    "value_not_allowed": 2.0,
    "out_of_range": 2.0,
    "count_exceeds_device_count": 1.5,
    "required_value_missing": 2.0,
    "bad_code_format": 0.5,
    "duplicate_key_conflict": 1.0,
    "unknown_district": 0.7,
    "building_not_in_enrollment": 1.0,
    "school_year_mismatch": 1.0,
    "date_outside_school_year": 1.0,
    "missing_required_column": 0.7,
    "encoding_not_utf8": 0.5,
    "empty_file": 0.0,  # exactly one: two empty files would share one content hash
    "extra_column": 0.7,
    "exact_duplicate_row": 1.0,
    "duplicate_pl_record": 1.0,
    "yoy_student_count_swing": 0.5,
    "yoy_device_total_swing": 0.5,
    "pl_leaders_exceed_staffing": 0.5,
}


@dataclass
class InjectedDefect:
    """One defect the generator put into a landing file on purpose.

    `district_code` is the district as written in the file (for `bad_code_format` the
    mangled code, e.g. "1010"; for `unknown_district` the code that is in no directory;
    for whole-file defects the one district the file holds, taken from its name).
    `line` is the 1-based line in the file (header = line 1), None for whole-file and
    district-level defects; `column` the column concerned (or None); `value` the
    offending value as written (None when the value is missing).

    `whole_file` marks defects about the file itself (WHOLE_FILE_RULES): a pipeline
    rejects such a file without reading a district from its rows, so it may record the
    issue without a district; the district here is the only one the file holds.
    """

    rule: str
    severity: str  # 'error' (blocking) | 'warning'
    family: str
    school_year: str
    file_name: str
    district_code: str | None
    line: int | None
    column: str | None
    value: str | None = None
    note: str = ""
    whole_file: bool = False


@dataclass
class GenerationManifest:
    """What `generate_landing` wrote.

    files: names written (in the landing folder), in received order (mtime, then name).
    rows: data rows written per family, over all its files (headers not counted).
    defects: every injected defect. For blocking ones, (file_name, district_code) is
    exactly what the pipeline must quarantine (see `expected_quarantine`).
    corrections: the clean district resubmissions (file, district, lines changed).
    heavy_warning_rate, per_district_files: the bench options used (see generate_landing).
    """

    files: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    defects: list[InjectedDefect] = field(default_factory=list)
    corrections: list[dict] = field(default_factory=list)
    school_years: list[str] = field(default_factory=list)
    districts: int = 0
    seed: int = 0
    defect_rate: float = 0.0
    notes: list[str] = field(default_factory=list)
    heavy_warning_rate: float = 0.0
    per_district_files: bool = False

    def errors(self) -> list[InjectedDefect]:
        return [d for d in self.defects if d.severity == "error"]

    def warnings(self) -> list[InjectedDefect]:
        return [d for d in self.defects if d.severity == "warning"]

    def expected_quarantine(self) -> set[tuple[str, str | None]]:
        """(file_name, district_code) pairs the pipeline must keep out of the warehouse."""
        return {(d.file_name, d.district_code) for d in self.errors()}

    def defects_by_rule(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.defects:
            out[d.rule] = out.get(d.rule, 0) + 1
        return dict(sorted(out.items()))

    def to_dict(self) -> dict:
        return {
            "seed": self.seed,
            "districts": self.districts,
            "school_years": list(self.school_years),
            "defect_rate": self.defect_rate,
            "files": list(self.files),
            "rows": dict(self.rows),
            "defects": [asdict(d) for d in self.defects],
            "defects_by_rule": self.defects_by_rule(),
            "corrections": list(self.corrections),
            "notes": list(self.notes),
            # only when used, so that the manifest of the other options stays as it was
            **({"heavy_warning_rate": self.heavy_warning_rate} if self.heavy_warning_rate else {}),
            **({"per_district_files": True} if self.per_district_files else {}),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> GenerationManifest:
        data = json.loads(text)
        return cls(
            files=list(data["files"]),
            rows=dict(data["rows"]),
            defects=[InjectedDefect(**d) for d in data["defects"]],
            corrections=list(data.get("corrections", [])),
            school_years=list(data.get("school_years", [])),
            districts=int(data.get("districts", 0)),
            seed=int(data.get("seed", 0)),
            defect_rate=float(data.get("defect_rate", 0.0)),
            notes=list(data.get("notes", [])),
            heavy_warning_rate=float(data.get("heavy_warning_rate", 0.0)),
            per_district_files=bool(data.get("per_district_files", False)),
        )


# ---------------------------------------------------------------------------------------
# Reference lists for names
# ---------------------------------------------------------------------------------------

# Michigan counties in code order (01 Alcona ... 83 Wexford) with rough population (thousands).
_COUNTIES: tuple[tuple[str, int], ...] = (
    ("Alcona", 10),
    ("Alger", 9),
    ("Allegan", 120),
    ("Alpena", 29),
    ("Antrim", 23),
    ("Arenac", 15),
    ("Baraga", 8),
    ("Barry", 62),
    ("Bay", 103),
    ("Benzie", 18),
    ("Berrien", 155),
    ("Branch", 44),
    ("Calhoun", 134),
    ("Cass", 52),
    ("Charlevoix", 26),
    ("Cheboygan", 26),
    ("Chippewa", 36),
    ("Clare", 31),
    ("Clinton", 80),
    ("Crawford", 13),
    ("Delta", 36),
    ("Dickinson", 26),
    ("Eaton", 110),
    ("Emmet", 34),
    ("Genesee", 400),
    ("Gladwin", 25),
    ("Gogebic", 15),
    ("Grand Traverse", 95),
    ("Gratiot", 41),
    ("Hillsdale", 46),
    ("Houghton", 37),
    ("Huron", 31),
    ("Ingham", 285),
    ("Ionia", 66),
    ("Iosco", 25),
    ("Iron", 11),
    ("Isabella", 65),
    ("Jackson", 160),
    ("Kalamazoo", 260),
    ("Kalkaska", 18),
    ("Kent", 660),
    ("Keweenaw", 2),
    ("Lake", 12),
    ("Lapeer", 88),
    ("Leelanau", 22),
    ("Lenawee", 99),
    ("Livingston", 195),
    ("Luce", 6),
    ("Mackinac", 11),
    ("Macomb", 880),
    ("Manistee", 25),
    ("Marquette", 66),
    ("Mason", 29),
    ("Mecosta", 40),
    ("Menominee", 23),
    ("Midland", 84),
    ("Missaukee", 15),
    ("Monroe", 155),
    ("Montcalm", 66),
    ("Montmorency", 9),
    ("Muskegon", 175),
    ("Newaygo", 50),
    ("Oakland", 1270),
    ("Oceana", 27),
    ("Ogemaw", 21),
    ("Ontonagon", 6),
    ("Osceola", 23),
    ("Oscoda", 8),
    ("Otsego", 25),
    ("Ottawa", 300),
    ("Presque Isle", 13),
    ("Roscommon", 23),
    ("Saginaw", 190),
    ("St. Clair", 160),
    ("St. Joseph", 61),
    ("Sanilac", 41),
    ("Schoolcraft", 8),
    ("Shiawassee", 68),
    ("Tuscola", 53),
    ("Van Buren", 76),
    ("Washtenaw", 370),
    ("Wayne", 1750),
    ("Wexford", 33),
)

_PLACES: tuple[str, ...] = (
    "Ann Arbor",
    "Lansing",
    "Grand Rapids",
    "Flint",
    "Warren",
    "Troy",
    "Novi",
    "Holland",
    "Midland",
    "Saginaw",
    "Jackson",
    "Battle Creek",
    "Kalamazoo",
    "Muskegon",
    "Traverse City",
    "Marquette",
    "Escanaba",
    "Alpena",
    "Petoskey",
    "Cadillac",
    "Big Rapids",
    "Mount Pleasant",
    "Owosso",
    "Adrian",
    "Monroe",
    "Port Huron",
    "Bay City",
    "Howell",
    "Brighton",
    "Hartland",
    "Fenton",
    "Clio",
    "Davison",
    "Grand Blanc",
    "Lapeer",
    "Imlay City",
    "Almont",
    "Romeo",
    "Utica",
    "Chippewa Valley",
    "L'Anse Creuse",
    "Lake Shore",
    "Lakeview",
    "South Lyon",
    "Walled Lake",
    "Waterford",
    "Pontiac",
    "Clarkston",
    "Oxford",
    "Lake Orion",
    "Rochester",
    "Avondale",
    "Royal Oak",
    "Ferndale",
    "Hazel Park",
    "Berkley",
    "Birmingham",
    "Bloomfield Hills",
    "Farmington",
    "Livonia",
    "Plymouth-Canton",
    "Northville",
    "Wayne-Westland",
    "Dearborn",
    "Taylor",
    "Romulus",
    "Huron Valley",
    "Woodhaven-Brownstown",
    "Grosse Ile",
    "Trenton",
    "Wyandotte",
    "Allen Park",
    "Lincoln Park",
    "Ecorse",
    "River Rouge",
    "Hamtramck",
    "Grosse Pointe",
    "Harper Woods",
    "Zeeland",
    "Hudsonville",
    "Jenison",
    "Allendale",
    "Coopersville",
    "Sparta",
    "Rockford",
    "Cedar Springs",
    "Kenowa Hills",
    "Forest Hills",
    "East Grand Rapids",
    "Kentwood",
    "Wyoming",
    "Godwin Heights",
    "Byron Center",
    "Caledonia",
    "Hastings",
    "Charlotte",
    "Eaton Rapids",
    "Grand Ledge",
    "Mason",
    "Okemos",
    "Haslett",
    "Williamston",
    "Dansville",
    "Leslie",
    "Stockbridge",
    "Chelsea",
    "Dexter",
    "Saline",
    "Milan",
    "Lincoln",
    "Ypsilanti",
    "Whitmore Lake",
    "Manchester",
    "Tecumseh",
    "Onsted",
    "Hudson",
    "Morenci",
    "Quincy",
    "Coldwater",
    "Bronson",
    "Sturgis",
    "Three Rivers",
    "Niles",
    "Buchanan",
    "Brandywine",
    "Edwardsburg",
    "Cassopolis",
    "Dowagiac",
    "Paw Paw",
    "Lawton",
    "Mattawan",
    "Portage",
    "Vicksburg",
    "Schoolcraft",
    "Gull Lake",
    "Plainwell",
    "Otsego",
    "Allegan",
    "Wayland",
    "Hopkins",
    "Fennville",
    "Saugatuck",
    "South Haven",
    "Bangor",
    "Bloomingdale",
    "Gobles",
    "Hartford",
    "Watervliet",
    "Coloma",
    "Benton Harbor",
    "St. Joseph",
    "Lakeshore",
    "Bridgman",
    "New Buffalo",
    "Ludington",
    "Shelby",
    "Hart",
    "Pentwater",
    "Whitehall",
    "Montague",
    "Fremont",
    "Newaygo",
    "Grant",
    "White Cloud",
    "Reed City",
    "Evart",
    "Baldwin",
    "Manistee",
    "Onekama",
    "Bear Lake",
    "Frankfort",
    "Benzie",
    "Elk Rapids",
    "Kalkaska",
    "Mancelona",
    "Bellaire",
    "Central Lake",
    "Charlevoix",
    "Boyne City",
    "East Jordan",
    "Harbor Springs",
    "Pellston",
    "Cheboygan",
    "Onaway",
    "Rogers City",
    "Posen",
    "Atlanta",
    "Hillman",
    "Oscoda",
    "Tawas",
    "Whittemore-Prescott",
    "West Branch",
    "Houghton Lake",
    "Roscommon",
    "Grayling",
    "Gaylord",
    "Johannesburg-Lewiston",
    "Mio",
    "Fairview",
    "Standish-Sterling",
    "Pinconning",
    "Gladwin",
    "Beaverton",
    "Harrison",
    "Farwell",
    "Clare",
    "Shepherd",
    "Beal City",
    "Alma",
    "St. Louis",
    "Ithaca",
    "Breckenridge",
    "Chesaning",
    "Frankenmuth",
    "Birch Run",
    "Bridgeport",
    "Swan Valley",
    "Hemlock",
    "Merrill",
    "Freeland",
    "Essexville-Hampton",
    "Caro",
    "Cass City",
    "Vassar",
    "Millington",
    "Reese",
    "Unionville-Sebewaing",
    "Bad Axe",
    "Harbor Beach",
    "Ubly",
    "Port Hope",
    "Sandusky",
    "Carsonville",
    "Marlette",
    "Brown City",
    "Yale",
    "Capac",
    "Memphis",
    "Marysville",
    "Algonac",
    "Ishpeming",
    "Negaunee",
    "Gwinn",
    "Munising",
    "Gladstone",
    "Manistique",
    "Menominee",
    "Iron Mountain",
    "Kingsford",
    "Norway",
    "Crystal Falls",
    "Ironwood",
    "Bessemer",
    "Wakefield",
    "Ontonagon",
    "Hancock",
    "Calumet",
    "L'Anse",
    "Baraga",
    "Newberry",
    "Sault Ste. Marie",
    "Brimley",
    "Rudyard",
    "St. Ignace",
    "Mackinac Island",
)
_PLACE_PREFIXES = ("", "North ", "South ", "East ", "West ", "New ", "Lake ", "Port ")
_LEA_SUFFIXES = (
    "Public Schools",
    "Community Schools",
    "Area Schools",
    "School District",
    "Consolidated Schools",
    "Area Public Schools",
    "Community School District",
    "Township Schools",
)
_PSA_STEMS = (
    "Achieve",
    "Bright Horizons",
    "Cesar Chavez",
    "Cornerstone",
    "Covenant",
    "Discovery",
    "Eagle Crest",
    "Frontier",
    "Global Heights",
    "Great Lakes",
    "Harbor",
    "Hope",
    "Keystone",
    "Legacy",
    "Lighthouse",
    "Madison",
    "Marshall",
    "New Paradigm",
    "North Star",
    "Paragon",
    "Pathways",
    "Pinnacle",
    "Quest",
    "Renaissance",
    "Riverside",
    "Summit",
    "Trillium",
    "Unity",
    "Vanguard",
    "Victory",
    "Voyageur",
    "Woodland",
    "Youth Advancement",
    "Dove",
    "Arbor",
    "Walden Green",
    "Noble",
    "Grand River",
    "Mid-Michigan",
    "Northpointe",
    "Timberland",
    "Vista",
    "King's",
    "Children's",
    "St. Clair",
    "D'Youville",
    "O'Connor",
    "Phoenix",
    "Endeavor",
    "Horizon",
    "Liberty",
    "Heritage",
    "Excel",
    "Aspire",
    "Momentum",
)
_PSA_PATTERNS = (
    "{x} Academy",
    "{x} Charter Academy",
    "{x} Preparatory Academy",
    "{x} Public School Academy",
    "{x} Academy of Arts and Sciences",
    "{x} STEM Academy",
    "{x} Leadership Academy",
    "{x} Montessori Academy",
    "{x} Academy, Inc.",
    "{x} International Academy",
)
_ISD_PATTERNS = (
    "{c} ISD",
    "{c} Intermediate School District",
    "{c} RESA",
    "{c} Regional Educational Service Agency",
    "{c} Educational Service District",
)
_BUILDING_BASES = (
    "Lincoln",
    "Washington",
    "Roosevelt",
    "Jefferson",
    "Kennedy",
    "Maple",
    "Oak Ridge",
    "Pine Lake",
    "Riverside",
    "Lakeview",
    "Hillside",
    "Cedar",
    "Birch",
    "Willow",
    "Eastside",
    "Westwood",
    "Northview",
    "Central",
    "Harbor",
    "Forest Hills",
    "Meadowbrook",
    "Sunset",
    "Highland",
    "Parkview",
    "Brookside",
    "Orchard",
    "Cherry Hill",
    "Aspen",
    "Hawthorne",
    "Longfellow",
    "Emerson",
    "Whittier",
    "Edison",
    "Franklin",
    "Garfield",
    "Hoover",
    "Truman",
    "Carver",
    "Douglass",
    "Tubman",
    "Chavez",
    "Martin Luther King, Jr.",
    "O'Brien",
    "O'Neil",
    "D'Arcy",
    "St. Clair",
    "Pioneer",
    "Prairie View",
    "Sandy Hill",
    "Stony Creek",
    "Red Oak",
    "Walnut Ridge",
    "Silver Lake",
    "Clear Lake",
    "Spring Valley",
    "Indian Trail",
    "Orion Oaks",
    "Heritage",
    "Discovery",
    "Frontier",
    "Glen Oaks",
    "Wildwood",
    "Woodland",
    "Fox Hills",
    "Eagle Ridge",
    "Bear Creek",
    "Deer Park",
    "Cranbrook",
    "Roberts",
    "Murphy",
    "Anderson",
    "Baker",
    "Cooper",
    "Davis",
    "Evans",
    "Fisher",
    "Grant",
    "Harris",
    "Irving",
    "Jackson",
    "Keller",
    "Lawrence",
    "Miller",
    "Nelson",
    "Owen",
    "Parker",
    "Quinn",
    "Reed",
    "Stevens",
    "Thomas",
    "Upton",
    "Vernon",
    "Walker",
    "Young",
    "Zimmerman",
    "McKinley",
    "Madison",
    "Monroe",
    "Adams",
    "Hamilton",
    "Wilson",
    "Burns",
    "Clark",
    "Dickinson",
    "Eisenhower",
)
_CENTER_PATTERNS = (
    "{c} Career Center",
    "{b} Center",
    "{c} Early Childhood Center",
    "{b} Learning Center",
    "{c} Technical Center",
    "{b} Special Education Center",
)

# Activities of the PL catalog: (topic, framework, audience) - audience t/l/x/a
# (teachers, leaders, tech staff, all)
_PL_TOPICS: tuple[tuple[str, str, str], ...] = (
    ("Digital Citizenship Fundamentals", "ISTE_Standards", "a"),
    ("SAMR in Practice: Redefining Lessons", "SAMR", "t"),
    ("TPACK Lesson Design", "TPACK", "t"),
    ("Open Educational Resources: Find, Adapt, Share", "OER", "t"),
    ("Competency-Based Education: Designing Mastery Pathways", "CBE", "t"),
    ("Leading Digital Learning", "ISTE_Standards", "l"),
    ("Data, Privacy, and Security for Educators", "none", "x"),
    ("Google Workspace for Education", "none", "a"),
    ("Microsoft 365 in the Classroom", "none", "t"),
    ("Artificial Intelligence in Teaching and Learning", "ISTE_Standards", "a"),
    ("Cybersecurity Essentials for School Staff", "none", "x"),
    ("Universal Design for Learning with Technology", "none", "t"),
    ("Blended Learning Models", "SAMR", "t"),
    ("Assistive Technology Basics", "none", "t"),
    ("Computer Science for All: Getting Started", "ISTE_Standards", "t"),
    ("Instructional Coaching: Technology Integration", "TPACK", "t"),
    ("Media Literacy and Digital Research", "ISTE_Standards", "t"),
    ("Learning Management System Essentials", "none", "x"),
    ("Leading Change: Technology Planning for Administrators", "ISTE_Standards", "l"),
    ("OER Curriculum Adoption", "OER", "l"),
    ("Personalized Learning with Competency-Based Grading", "CBE", "t"),
    ("SAMR and TPACK: Planning Tech-Rich Units", "TPACK", "t"),
    ("Network Management and E-Rate Planning", "none", "x"),
    ("Evaluating Instructional Technology, the SAMR Way", "SAMR", "l"),
)
_PLN_NAMES = ("Digital Leaders", "Technology Directors", "Instructional Technology", "Building Leaders Tech")
_ASSESSMENTS = (
    ("Digital Skills Self-Assessment", "none"),
    ("Educator Technology Proficiency Assessment", "ISTE_Standards"),
    ("ISTE Standards Self-Assessment", "ISTE_Standards"),
)
_PROVIDER_PREFIX = {
    "REMC": "REMC",
    "TRIG": "TRIG",
    "EduPaths": "EDP",
    "ISTE": "ISTE",
    "MACUL": "MACUL",
    "ISD": "ISD",
    "district": "DIST",
    "other": "OTH",
}
_KIND_PROVIDERS = {
    "course": (("EduPaths", 4), ("REMC", 3), ("MACUL", 1), ("ISTE", 1), ("TRIG", 1), ("other", 1)),
    "workshop": (("REMC", 3), ("ISD", 3), ("MACUL", 2), ("district", 2), ("TRIG", 1), ("other", 1)),
    "pln_meeting": (("REMC", 2), ("ISD", 3), ("district", 2), ("MACUL", 1)),
    "coaching": (("district", 4), ("ISD", 3), ("TRIG", 2)),
    "skill_assessment": (("REMC", 2), ("district", 2), ("other", 1), ("ISTE", 1)),
}
_KIND_FORMATS = {
    "course": (("online", 8), ("blended", 2)),
    "workshop": (("face_to_face", 7), ("online", 2), ("blended", 1)),
    "pln_meeting": (("face_to_face", 6), ("online", 4)),
    "coaching": (("face_to_face", 6), ("blended", 3), ("online", 1)),
    "skill_assessment": (("online", 9), ("blended", 1)),
}
_KIND_HOURS = {
    "course": (3, 5, 6, 8, 10, 12, 15, 20, 30),
    "workshop": (2, 3, 3.5, 6, 7),
    "pln_meeting": (1, 1.5, 2),
    "coaching": (1, 1.5, 2, 3),
    "skill_assessment": (0.5, 1),
}
_KIND_WINDOW = {"course": 45, "workshop": 0, "pln_meeting": 0, "coaching": 90, "skill_assessment": 30}
# month weights, July .. June
_MONTH_WEIGHTS = np.array([0.03, 0.15, 0.08, 0.12, 0.10, 0.05, 0.10, 0.10, 0.10, 0.07, 0.06, 0.04])

# Device rows: (device_type, user_group) and the share of buildings holding them, by
# building level (elementary, middle, high, single building, ISD center, PSA academy).
_COMBOS: tuple[tuple[str, str], ...] = (
    ("chromebook", "student"),
    ("laptop", "student"),
    ("tablet", "student"),
    ("desktop", "student"),
    ("hotspot", "student"),
    ("laptop", "teacher"),
    ("tablet", "teacher"),
    ("desktop", "teacher"),
    ("interactive_display", "shared"),
    ("desktop", "staff"),
    ("laptop", "staff"),
    ("desktop", "shared"),
    ("chromebook", "shared"),
    ("tablet", "shared"),
    ("hotspot", "shared"),
)
_COMBO_PRESENCE = np.array(
    [  # elem  mid   high  single center academy
        [0.97, 0.95, 0.75, 0.92, 0.80, 0.92],
        [0.08, 0.30, 0.75, 0.40, 0.30, 0.30],
        [0.60, 0.15, 0.05, 0.30, 0.60, 0.30],
        [0.15, 0.35, 0.50, 0.30, 0.30, 0.20],
        [0.20, 0.30, 0.45, 0.35, 0.10, 0.35],
        [1.00, 1.00, 1.00, 1.00, 1.00, 1.00],
        [0.20, 0.15, 0.10, 0.15, 0.30, 0.15],
        [0.10, 0.10, 0.15, 0.15, 0.10, 0.10],
        [0.85, 0.80, 0.75, 0.70, 0.60, 0.70],
        [1.00, 1.00, 1.00, 1.00, 1.00, 1.00],
        [0.50, 0.50, 0.60, 0.40, 0.60, 0.40],
        [0.40, 0.50, 0.60, 0.40, 0.30, 0.30],
        [0.30, 0.25, 0.15, 0.25, 0.20, 0.20],
        [0.20, 0.10, 0.05, 0.10, 0.20, 0.10],
        [0.05, 0.05, 0.08, 0.05, 0.02, 0.05],
    ]
).T  # -> [level, combo]
# weights of the student computing devices (chromebook, laptop, tablet, desktop) by level
_STUDENT_MIX = np.array(
    [
        [0.70, 0.05, 0.20, 0.05],
        [0.75, 0.10, 0.05, 0.10],
        [0.50, 0.35, 0.02, 0.13],
        [0.65, 0.15, 0.10, 0.10],
        [0.40, 0.20, 0.30, 0.10],
        [0.65, 0.15, 0.10, 0.10],
    ]
)

_BW_TIERS = np.array(
    [
        10,
        20,
        25,
        30,
        40,
        50,
        60,
        75,
        100,
        150,
        200,
        250,
        300,
        400,
        500,
        600,
        750,
        1000,
        1500,
        2000,
        2500,
        3000,
        4000,
        5000,
        6000,
        7500,
        10000,
        15000,
        20000,
        25000,
        30000,
        40000,
        50000,
        60000,
        75000,
        100000,
    ],
    dtype=np.float64,
)
_ERATE_BANDS = np.array([20, 40, 50, 60, 70, 80, 90])

# district types
_LEA, _PSA, _ISD = 0, 1, 2
_TYPE_NAMES = ("LEA", "PSA", "ISD")
# PL role index = position in PL_ROLES
_R_TEACHER, _R_BLEADER, _R_DLEADER, _R_TECH, _R_SUPPORT = range(5)
assert PL_ROLES == ("teacher", "building_leader", "district_leader", "tech_staff", "support_staff")


# ---------------------------------------------------------------------------------------
# A table of dictionary-encoded text columns (cheap to edit, fast to write)
# ---------------------------------------------------------------------------------------


class _Frame:
    """Columns as (codes, values): codes is an int32 array indexing the list `values`
    (-1 = empty field). Editing a cell appends its new text to `values`. `district`
    holds the district index of each row (-1 for a district in no directory)."""

    def __init__(self, cols: dict[str, tuple[np.ndarray, list[str]]], district: np.ndarray):
        self.cols: dict[str, list] = {k: [np.asarray(c, dtype=np.int32), v] for k, (c, v) in cols.items()}
        self.district = np.asarray(district, dtype=np.int64)

    @property
    def n(self) -> int:
        return int(self.district.shape[0])

    @property
    def names(self) -> list[str]:
        return list(self.cols)

    def rows_of(self, d: int) -> np.ndarray:
        return np.flatnonzero(self.district == d)

    def take(self, idx: np.ndarray) -> _Frame:
        """The rows `idx`, with dictionaries cut down to the values they use."""
        cols = {}
        for k, (codes, values) in self.cols.items():
            sub = codes[idx]
            used = np.unique(sub)
            used = used[used >= 0]
            lookup = np.full(len(values) or 1, -1, dtype=np.int32)
            lookup[used] = np.arange(len(used), dtype=np.int32)
            cols[k] = (np.where(sub >= 0, lookup[np.maximum(sub, 0)], -1), [values[i] for i in used.tolist()])
        return _Frame(cols, self.district[idx].copy())

    def get(self, i: int, col: str) -> str | None:
        codes, values = self.cols[col]
        code = int(codes[i])
        return None if code < 0 else values[code]

    def get_int(self, i: int, col: str) -> int:
        return int(self.get(i, col))  # type: ignore[arg-type]

    def set(self, i: int, col: str, value: str | None) -> None:
        codes, values = self.cols[col]
        if value is None:
            codes[i] = -1
        else:
            values.append(value)
            codes[i] = len(values) - 1

    def row(self, i: int) -> dict[str, str | None]:
        return {k: self.get(i, k) for k in self.cols}

    def append(self, row: dict[str, str | None], district: int) -> int:
        """Append a row at the end; returns its index."""
        for k, entry in self.cols.items():
            codes, values = entry
            value = row.get(k)
            if value is None:
                code = -1
            else:
                values.append(value)
                code = len(values) - 1
            entry[0] = np.append(codes, np.int32(code))
        self.district = np.append(self.district, district)
        return self.n - 1

    def drop(self, col: str) -> None:
        del self.cols[col]

    def add_column(self, col: str, values: list[str | None]) -> None:
        uniq = sorted({v for v in values if v is not None})
        index = {v: i for i, v in enumerate(uniq)}
        codes = np.array([-1 if v is None else index[v] for v in values], dtype=np.int32)
        self.cols[col] = [codes, list(uniq)]

    def batches(self, cols: list[str], names: list[str], chunk: int = 262_144) -> pa.RecordBatchReader:
        """The frame as a stream of Arrow record batches (dictionary-encoded strings)."""
        dicts = [pa.array(self.cols[c][1] or [""], type=pa.string()) for c in cols]
        schema = pa.schema([pa.field(n, pa.dictionary(pa.int32(), pa.string())) for n in names])

        def gen():
            for lo in range(0, self.n, chunk):
                arrays = []
                for c, values in zip(cols, dicts, strict=True):
                    codes = self.cols[c][0][lo : lo + chunk]
                    mask = codes < 0
                    idx = pa.array(np.where(mask, 0, codes), type=pa.int32(), mask=mask if mask.any() else None)
                    arrays.append(pa.DictionaryArray.from_arrays(idx, values))
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)

        return pa.RecordBatchReader.from_batches(schema, gen())


def _dict_col(codes: np.ndarray, values: list[str]) -> tuple[np.ndarray, list[str]]:
    return np.asarray(codes, dtype=np.int32), list(values)


def _const_col(value: str, n: int) -> tuple[np.ndarray, list[str]]:
    return np.zeros(n, dtype=np.int32), [value]


def _int_col(values: np.ndarray, empty: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    values = np.asarray(values, dtype=np.int64)
    uniq, inv = np.unique(values, return_inverse=True)
    codes = inv.astype(np.int32)
    if empty is not None:
        codes[empty] = -1
    return codes, [str(v) for v in uniq.tolist()]


def _fmt_col(values: np.ndarray, fmt: str, empty: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """Numbers formatted with `fmt` (values already rounded to what the format shows)."""
    values = np.asarray(values, dtype=np.float64)
    uniq, inv = np.unique(values, return_inverse=True)
    codes = inv.astype(np.int32)
    if empty is not None:
        codes[empty] = -1
    return codes, [_fmt_number(v, fmt) for v in uniq.tolist()]


def _fmt_number(v: float, fmt: str) -> str:
    if fmt == "g":
        text = f"{v:.2f}".rstrip("0").rstrip(".")
        return text or "0"
    return format(v, fmt)


# ---------------------------------------------------------------------------------------
# The synthetic state: districts, buildings, and their yearly figures
# ---------------------------------------------------------------------------------------


@dataclass
class _World:
    years: list[str]
    starts: list[int]
    code: list[str]
    dtype: np.ndarray
    county: np.ndarray  # county number 1..83
    locale: np.ndarray  # index into LOCALES
    names: list[list[str]]  # [t][d]
    isd: list[list[str]]  # [t][d]
    email: list[str | None]
    active: np.ndarray  # [N, T] bool
    b_district: np.ndarray
    b_code: list[str]
    b_name: list[str]
    b_level: np.ndarray
    b_students: np.ndarray  # [B, T]
    students: np.ndarray  # [N, T]
    nbuild: np.ndarray  # [N]
    teachers: np.ndarray  # [N, T]
    bleaders: np.ndarray
    dleaders: np.ndarray
    tech: np.ndarray
    support: np.ndarray
    spare_building_codes: list[str]
    used_codes: set[str]
    changes: list[str]
    opening_psa: int
    closing_psa: int

    @property
    def n(self) -> int:
        return len(self.code)


def _district_counts(districts: int | None) -> tuple[int, int, int]:
    if districts is None:
        return 540, 300, 56
    if districts < 3 or districts > 20000:
        raise ValueError("districts must be between 3 and 20000")
    n_isd = min(830, max(1, round(districts * 56 / 896)))
    n_psa = max(1, round(districts * 300 / 896))
    return districts - n_isd - n_psa, n_psa, n_isd


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _allocate(rng: np.random.Generator, n: int, weights: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """n items over counties by weight, never more than cap per county."""
    out = np.zeros(len(weights), dtype=np.int64)
    remaining = n
    while remaining > 0:
        room = cap - out
        w = np.where(room > 0, weights, 0.0)
        if w.sum() <= 0:
            raise ValueError("not enough district codes")
        draw = rng.multinomial(remaining, w / w.sum())
        take = np.minimum(draw, room)
        out += take
        remaining -= int(take.sum())
    return out


def _build_world(districts: int | None, starts: list[int], rng: np.random.Generator) -> _World:
    n_lea, n_psa, n_isd = _district_counts(districts)
    T = len(starts)
    years = [school_year_of(s) for s in starts]
    pops = np.array([p for _, p in _COUNTIES], dtype=np.float64)
    county_names = [c for c, _ in _COUNTIES]
    n_counties = len(_COUNTIES)

    # --- ISDs: one per county for the most populous counties, more in big ones at scale
    isd_per_county = np.zeros(n_counties, dtype=np.int64)
    if n_isd <= n_counties:
        isd_per_county[np.argsort(-pops, kind="stable")[:n_isd]] = 1
    else:
        isd_per_county[:] = 1
        extra = n_isd - n_counties
        share = pops / pops.sum() * extra
        add = np.minimum(np.floor(share).astype(np.int64), 9)
        order = np.argsort(-(share - np.floor(share)), kind="stable")
        i = 0
        while add.sum() < extra:
            c = order[i % n_counties]
            if add[c] < 9:
                add[c] += 1
            i += 1
        isd_per_county += add
    isd_codes_by_county: list[list[str]] = [
        [f"{c + 1:02d}{j}00" for j in range(isd_per_county[c])] for c in range(n_counties)
    ]
    with_isd = np.flatnonzero(isd_per_county > 0)
    serving: list[list[str]] = []
    for c in range(n_counties):
        if isd_per_county[c]:
            serving.append(isd_codes_by_county[c])
        else:
            nearest = with_isd[np.argmin(np.abs(with_isd - c) * 2 + (with_isd > c))]
            serving.append(isd_codes_by_county[nearest])

    # --- counties of LEAs and PSAs (Detroit 82015 and Alcona 01010 fixed)
    cap = np.full(n_counties, 990, dtype=np.int64)
    fixed = [(81, 15)] + ([(0, 10)] if n_lea >= 2 else [])
    for c, _ in fixed:
        cap[c] -= 1
    n_free_lea = n_lea - len(fixed)
    lea_counts = _allocate(rng, n_free_lea, pops**0.6, cap)
    psa_counts = _allocate(rng, n_psa, pops**1.3, cap - lea_counts)

    lea_pref = [s for s in range(5, 700, 5) if s % 100]
    psa_pref = [s for s in range(701, 1000) if s % 100]
    other = sorted(set(range(1, 1000)) - set(lea_pref) - set(psa_pref) - set(range(0, 1000, 100)))
    codes: list[str] = []
    dtype: list[int] = []
    county: list[int] = []
    used_by_county: list[set[int]] = [set() for _ in range(n_counties)]
    for c, s in fixed:
        used_by_county[c].add(s)
        codes.append(f"{c + 1:02d}{s:03d}")
        dtype.append(_LEA)
        county.append(c + 1)
    for c in range(n_counties):
        pools = {
            _LEA: list(rng.permutation(lea_pref)) + list(rng.permutation(other)) + list(rng.permutation(psa_pref)),
            _PSA: list(rng.permutation(psa_pref)) + list(rng.permutation(other)) + list(rng.permutation(lea_pref)),
        }
        for kind, count in ((_LEA, lea_counts[c]), (_PSA, psa_counts[c])):
            got: list[int] = []
            for s in pools[kind]:
                if len(got) == count:
                    break
                if s not in used_by_county[c]:
                    got.append(int(s))
                    used_by_county[c].add(int(s))
            for s in sorted(got):
                codes.append(f"{c + 1:02d}{s:03d}")
                dtype.append(kind)
                county.append(c + 1)
    for c in range(n_counties):
        for code in isd_codes_by_county[c]:
            codes.append(code)
            dtype.append(_ISD)
            county.append(c + 1)
    dtype_a = np.array(dtype)
    county_a = np.array(county)
    N = len(codes)
    is_lea, is_psa, is_isd = dtype_a == _LEA, dtype_a == _PSA, dtype_a == _ISD

    # --- sizes (students), long tail
    students0 = np.zeros(N)
    n_big = max(1, round(N / 896)) if n_lea >= 1 else 0
    lea_idx = np.flatnonzero(is_lea)
    big = lea_idx[:1]  # Detroit
    if n_big > 1:
        others = lea_idx[1 + (n_lea >= 2) :]
        big = np.concatenate([big, rng.choice(others, size=min(n_big - 1, len(others)), replace=False)])
    # the big city has ~50,000 students; a small sample state gets a smaller one
    students0[big] = rng.uniform(47_000, 52_000, size=len(big)) * min(1.0, N / 896) ** 0.5
    rest = np.setdiff1d(lea_idx, big)
    draw = rng.lognormal(np.log(1300), 1.0, size=len(rest))
    if len(draw):
        draw *= 2282 / draw.mean()
    students0[rest] = np.clip(draw, 60, 30_000)
    students0[is_psa] = np.clip(rng.lognormal(np.log(380), 0.6, size=int(is_psa.sum())), 40, 3_500)
    students0[is_isd] = np.clip(rng.lognormal(np.log(120), 0.7, size=int(is_isd.sum())), 25, 900)

    # --- locale
    locale = np.zeros(N, dtype=np.int64)
    u = rng.random(N)

    def pick(mask: np.ndarray, probs: tuple[float, float, float, float]) -> None:
        cum = np.cumsum(probs)
        locale[mask] = np.searchsorted(cum, u[mask] * cum[-1], side="right")

    pick(is_lea & (students0 > 8000), (0.35, 0.55, 0.10, 0.0))
    pick(is_lea & (students0 > 2500) & (students0 <= 8000), (0.10, 0.45, 0.25, 0.20))
    pick(is_lea & (students0 <= 2500), (0.02, 0.10, 0.28, 0.60))
    pick(is_psa, (0.55, 0.35, 0.07, 0.03))
    pick(is_isd, (0.10, 0.30, 0.35, 0.25))
    locale[big] = 0
    if n_lea >= 2:
        locale[1] = 3  # Alcona: rural
    locale = np.minimum(locale, 3)

    # --- names: each LEA its own place first (prefixed variants only at large scale)
    names = [""] * N
    slugs = [""] * N
    plain = [_PLACES[i] for i in rng.permutation(len(_PLACES))]
    prefixed = [p + q for p in _PLACE_PREFIXES[1:] for q in _PLACES]
    places = plain + [prefixed[i] for i in rng.permutation(len(prefixed))]
    suffix_of = rng.integers(len(_LEA_SUFFIXES), size=N)
    taken = 0
    for d in lea_idx:
        if codes[d] == "82015":
            names[d], slugs[d] = "Detroit Public Schools Community District", "detroitk12"
        elif codes[d] == "01010":
            names[d], slugs[d] = "Alcona Community Schools", "alcona"
        else:
            place = places[taken % len(places)]
            suffix = _LEA_SUFFIXES[suffix_of[d]]
            names[d] = f"{place} {suffix}" + (f" No. {taken // len(places) + 1}" if taken >= len(places) else "")
            slugs[d] = _slug(place) + "".join(word[0] for word in suffix.lower().split())
            taken += 1
    stems = list(_PSA_STEMS) + list(_PLACES)
    psa_combos = [(i, j) for j in range(len(_PSA_PATTERNS)) for i in range(len(stems))]
    order = rng.permutation(len(psa_combos))
    for k, d in enumerate(np.flatnonzero(is_psa)):
        if k == 0:
            names[d], slugs[d] = "St. Mary's Academy, Inc.", "stmarysacademy"
            continue
        i, j = psa_combos[order[k % len(order)]]
        names[d] = _PSA_PATTERNS[j].format(x=stems[i])
        if k >= len(order):
            names[d] += f" - Campus {k // len(order) + 1}"
        slugs[d] = _slug(names[d].replace(", Inc.", ""))[:20]
    for d in np.flatnonzero(is_isd):
        c = county_a[d]
        j = int(codes[d][2])
        pat = _ISD_PATTERNS[(c * 7) % len(_ISD_PATTERNS)]
        names[d] = pat.format(c=county_names[c - 1]) + (f" {j + 1}" if j else "")
        slugs[d] = _slug(county_names[c - 1]) + "isd" + (str(j + 1) if j else "")
    emails: list[str | None] = []
    seen: set[str] = set()
    missing_email = rng.random(N) < 0.07
    for d in range(N):
        slug = slugs[d] if slugs[d] not in seen else slugs[d] + codes[d]
        seen.add(slug)
        emails.append(None if missing_email[d] else f"data@{slug}.k12.mi.us")

    isd_of = np.empty(N, dtype=object)
    for d in range(N):
        if dtype_a[d] == _ISD:
            isd_of[d] = codes[d]
        else:
            options = serving[county_a[d] - 1]
            isd_of[d] = options[int(rng.integers(len(options)))] if len(options) > 1 else options[0]

    # --- sort everything by district code
    perm = np.argsort(np.array([int(c) for c in codes]), kind="stable")
    codes = [codes[i] for i in perm]
    dtype_a, county_a, locale, students0 = dtype_a[perm], county_a[perm], locale[perm], students0[perm]
    names = [names[i] for i in perm]
    emails = [emails[i] for i in perm]
    isd_of = isd_of[perm]
    is_lea, is_psa, is_isd = dtype_a == _LEA, dtype_a == _PSA, dtype_a == _ISD
    big_mask = np.isin(perm, big)

    # --- buildings
    nb = np.ones(N, dtype=np.int64)
    nb[is_lea] = np.maximum(1, np.round(students0[is_lea] / rng.uniform(380, 480, size=int(is_lea.sum()))))
    nb[is_psa] = 1 + (students0[is_psa] >= 700) + (students0[is_psa] >= 1500)
    nb[is_isd] = 1 + (students0[is_isd] >= 200) + (students0[is_isd] >= 500)
    B = int(nb.sum())
    if B > 99_000:
        raise ValueError("too many buildings for five-digit codes")
    b_district = np.repeat(np.arange(N), nb)
    first = np.cumsum(nb) - nb
    rank = np.arange(B) - np.repeat(first, nb)
    frac = rank / np.repeat(nb, nb)
    level = np.where(frac < 0.6, 0, np.where(frac < 0.8, 1, 2))
    level[np.repeat(nb, nb) == 1] = 3
    level[(np.repeat(nb, nb) == 2) & (rank == 1)] = 2
    level[(np.repeat(nb, nb) == 2) & (rank == 0)] = 0
    level[is_isd[b_district]] = 4
    level[is_psa[b_district]] = 5
    weights = rng.gamma(3.0, 1.0, size=B) * np.select([level == 2, level == 1], [1.6, 1.2], 1.0)
    wsum = np.bincount(b_district, weights=weights, minlength=N)
    base_b = np.maximum(5, np.round(students0[b_district] * weights / wsum[b_district]))
    perm_codes = rng.permutation(np.arange(1, 100_000))
    b_code_num = perm_codes[:B]
    spare = [f"{c:05d}" for c in perm_codes[B : B + 5000]]
    # buildings of a district ordered by their code
    border = np.lexsort((b_code_num, b_district))
    b_code_num = b_code_num[border]
    b_district_sorted = b_district[border]
    base_b = base_b[border]
    level = level[border]
    rank = rank[border]
    b_district = b_district_sorted
    b_code = [f"{c:05d}" for c in b_code_num]
    bases = rng.integers(len(_BUILDING_BASES), size=B)
    pattern = rng.integers(len(_CENTER_PATTERNS), size=B)
    b_name: list[str] = []
    for b in range(B):
        d = b_district[b]
        base = _BUILDING_BASES[bases[b]]
        lv = level[b]
        if lv == 0:
            b_name.append(f"{base} Elementary School")
        elif lv == 1:
            b_name.append(f"{base} Middle School")
        elif lv == 2:
            b_name.append(f"{base} High School" if nb[d] > 2 else f"{base} Jr./Sr. High School")
        elif lv == 3:
            b_name.append(f"{base} School")
        elif lv == 4:
            b_name.append(_CENTER_PATTERNS[pattern[b]].format(c=county_names[county_a[d] - 1], b=base))
        else:
            b_name.append(
                names[d] if nb[d] == 1 else f"{names[d]} - {('Elementary', 'Middle', 'High')[min(rank[b], 2)]} Campus"
            )
    # a couple of names that need quoting, always present
    b0 = np.flatnonzero(level == 0)
    if len(b0) >= 2:
        b_name[b0[0]] = "Martin Luther King, Jr. Elementary School"
        b_name[b0[1]] = "O'Brien Elementary School"

    # --- directory changes over the years
    active = np.ones((N, T), dtype=bool)
    names_t = [list(names) for _ in range(T)]
    isd_t = [list(isd_of) for _ in range(T)]
    changes: list[str] = []
    opening = closing = -1
    plain_leas = [d for d in np.flatnonzero(is_lea) if not big_mask[d] and codes[d] != "01010"]
    psas = list(np.flatnonzero(is_psa))[1:]  # keep St. Mary's
    if T >= 2:
        pick_rng = np.random.default_rng(rng.integers(2**32))
        if plain_leas:
            d = int(pick_rng.choice(plain_leas))
            t0 = max(1, T // 2)
            old = names[d]
            suffix = next((s for s in _LEA_SUFFIXES if old.endswith(s)), None)
            new_suffix = "Community Schools" if suffix != "Community Schools" else "Area Schools"
            new = old[: -len(suffix)] + new_suffix if suffix else old + " Community Schools"
            for t in range(t0, T):
                names_t[t][d] = new
            changes.append(f"{codes[d]} renamed '{old}' -> '{new}' from {years[t0]}")
        isd_list = [codes[d] for d in np.flatnonzero(is_isd)]
        if len(isd_list) >= 2 and plain_leas:
            d = int(pick_rng.choice(plain_leas))
            t0 = max(1, T - 2)
            cur = isd_of[d]
            alt = [c for c in isd_list if c != cur]
            new_isd = min(alt, key=lambda c: (abs(int(c[:2]) - county_a[d]), c))
            for t in range(t0, T):
                isd_t[t][d] = new_isd
            changes.append(f"{codes[d]} moved from ISD {cur} to ISD {new_isd} from {years[t0]}")
        if len(psas) >= 3:
            small = [d for d in psas if nb[d] == 1]
            pool = small if len(small) >= 2 else psas
            two = pick_rng.choice(pool, size=2, replace=False)
            opening, closing = int(two[0]), int(two[1])
            active[opening, : T - 1] = False
            t0 = max(1, T // 2)
            active[closing, t0:] = False
            changes.append(f"PSA {codes[opening]} opens in {years[T - 1]}")
            changes.append(f"PSA {codes[closing]} closes after {years[t0 - 1]}")

    # --- students by year: smooth district trend, small building noise
    g = np.clip(rng.normal(-0.004, 0.02, size=(N, T)), -0.05, 0.05)
    g[:, 0] = 0.0
    G = np.exp(np.cumsum(np.log1p(g), axis=1))
    noise = np.clip(rng.normal(0, 0.01, size=(B, T)), -0.03, 0.03)
    b_students = np.maximum(3, np.round(base_b[:, None] * G[b_district] * (1 + noise))).astype(np.int64)
    students = np.zeros((N, T), dtype=np.int64)
    for t in range(T):
        students[:, t] = np.bincount(b_district, weights=b_students[:, t], minlength=N).astype(np.int64)

    # --- staffing
    ratio = np.where(is_isd, rng.uniform(8, 12, size=N), rng.uniform(16, 18, size=N))
    teachers = np.maximum(1, np.round(students / ratio[:, None])).astype(np.int64)
    leaders_b = 1 + (b_students >= 450) + (b_students >= 1000) + (b_students >= 1800)
    leaders_b[level == 4] = 1
    bleaders = np.zeros((N, T), dtype=np.int64)
    for t in range(T):
        bleaders[:, t] = np.bincount(b_district, weights=leaders_b[:, t], minlength=N).astype(np.int64)
    dl_base = np.where(
        is_lea, 1 + np.round(students0 / 2500), np.where(is_psa, 1 + (students0 > 800), 2 + rng.integers(0, 4, size=N))
    )
    dleaders = np.repeat(np.clip(dl_base, 1, 40).astype(np.int64)[:, None], T, axis=1)
    tech_ratio = rng.uniform(800, 1200, size=N)
    tech = np.maximum(1, np.round(students / tech_ratio[:, None])).astype(np.int64)
    support = np.round(teachers * 0.3).astype(np.int64)

    used_codes = set(codes)
    return _World(
        years=years,
        starts=list(starts),
        code=codes,
        dtype=dtype_a,
        county=county_a,
        locale=locale,
        names=names_t,
        isd=isd_t,
        email=emails,
        active=active,
        b_district=b_district,
        b_code=b_code,
        b_name=b_name,
        b_level=level,
        b_students=b_students,
        students=students,
        nbuild=nb,
        teachers=teachers,
        bleaders=bleaders,
        dleaders=dleaders,
        tech=tech,
        support=support,
        spare_building_codes=spare,
        used_codes=used_codes,
        changes=changes,
        opening_psa=opening,
        closing_psa=closing,
    )


# ---------------------------------------------------------------------------------------
# Yearly figures that need the whole history (connectivity) or persistent district traits
# ---------------------------------------------------------------------------------------


@dataclass
class _Traits:
    dev_eff: np.ndarray
    age_eff: np.ndarray
    take_home: np.ndarray
    teacher_cov: np.ndarray
    display: np.ndarray
    presence: np.ndarray  # [B, C]
    bw: np.ndarray  # [N, T] Mbps
    wan: np.ndarray  # [N, T] (nan = empty)
    wifi: np.ndarray
    cost: np.ndarray
    erate: np.ndarray  # [N, T] (0 = empty)
    without_home: np.ndarray
    hotspots: np.ndarray
    pl_rate: np.ndarray  # [N, 5, T]
    id_base: np.ndarray  # [N, 5]


def _build_traits(w: _World, rng: np.random.Generator) -> _Traits:
    N, T, B = w.n, len(w.starts), len(w.b_code)
    rel = np.array(w.starts, dtype=np.float64) - 2021  # 0 for 2021-22
    presence = rng.random((B, len(_COMBOS))) < _COMBO_PRESENCE[w.b_level]
    student_computing = presence[:, :4]
    none = ~student_computing.any(axis=1)
    presence[none, 0] = True
    presence[:, 5] = True  # teacher laptops
    presence[:, 9] = True  # staff desktops

    rural = w.locale == 3
    small = w.students[:, 0] < 1000
    # bandwidth: kbps per student grows ~22 % a year; ~75 % meet 1 Mbps in 2025-26
    z = rng.normal(size=N)
    kbps = np.exp(np.log(1500) + np.log(1.22) * (rel[None, :] - 4) + 0.6 * z[:, None] + rng.normal(0, 0.05, (N, T)))
    raw = kbps * np.maximum(w.students, 1) / 1000
    tier_idx = np.abs(np.log(raw[..., None]) - np.log(_BW_TIERS)).argmin(axis=-1)
    bw = _BW_TIERS[tier_idx]
    bw = np.maximum.accumulate(bw, axis=1)
    cpm = np.exp(np.log(1.9) - 0.12 * rel[None, :] + 0.25 * rng.normal(size=N)[:, None])
    cpm = cpm * np.where(rural & small, 1.5, 1.0)[:, None] * np.where(bw >= 2000, 0.65, np.where(bw < 100, 1.3, 1.0))
    cost = np.round(bw * cpm, 2)
    wan_raw = np.maximum(w.students, 1) * 10 * rng.uniform(0.3, 1.2, size=N)[:, None]
    wan = _BW_TIERS[np.abs(np.log(wan_raw[..., None]) - np.log(_BW_TIERS)).argmin(axis=-1)]
    wan = np.maximum.accumulate(wan, axis=1)
    wan_empty = np.where(w.nbuild == 1, rng.random(N) < 0.7, rng.random(N) < 0.1)
    wan[wan_empty] = np.nan
    wifi_base = rng.uniform(60, 95, size=N)
    wifi = np.minimum(100.0, np.round((wifi_base[:, None] + 3.0 * (np.arange(T))[None, :]) * 2) / 2)
    band_p = np.where(
        (w.locale == 0)[:, None],
        [0.0, 0.02, 0.05, 0.08, 0.15, 0.35, 0.35],
        np.where(
            (w.locale == 1)[:, None], [0.05, 0.2, 0.3, 0.25, 0.1, 0.07, 0.03], [0.0, 0.05, 0.1, 0.25, 0.3, 0.25, 0.05]
        ),
    )
    cum = np.cumsum(band_p, axis=1)
    band = (rng.random(N)[:, None] * cum[:, -1:] > cum).sum(axis=1)
    erate = np.repeat(_ERATE_BANDS[np.minimum(band, 6)][:, None], T, axis=1).astype(np.float64)
    erate[rng.random(N) < 0.08] = 0.0
    gap_base = np.select([w.locale == 0, w.locale == 1, w.locale == 2], [0.12, 0.05, 0.10], 0.15)
    gap = gap_base * rng.uniform(0.6, 1.4, size=N)
    without_home = np.round(w.students * gap[:, None] * (0.88**rel)[None, :]).astype(np.int64)
    hot_cov = rng.uniform(0.3, 0.95, size=N)
    hotspots = np.floor(without_home * hot_cov[:, None]).astype(np.int64)

    pl_base = np.array([0.45, 0.55, 0.55, 0.60, 0.20])
    pl_lo = np.array([0.40, 0.40, 0.40, 0.40, 0.05])
    pl_hi = np.array([0.85, 0.88, 0.88, 0.92, 0.40])
    zr = rng.normal(size=(N, 5))
    rate = pl_base[None, :, None] + 0.07 * rel[None, None, :] + 0.08 * zr[..., None] + rng.normal(0, 0.03, (N, 5, T))
    rate = np.clip(rate, pl_lo[None, :, None], pl_hi[None, :, None])
    id_base = np.stack(
        [
            rng.integers(1000, 8000, size=N),
            rng.integers(1, 400, size=N),
            np.zeros(N, dtype=np.int64),  # district leaders: building-leader base + 500
            np.ones(N, dtype=np.int64),
            rng.integers(1000, 8000, size=N),
        ],
        axis=1,
    )
    id_base[:, _R_DLEADER] = id_base[:, _R_BLEADER] + 500
    return _Traits(
        dev_eff=np.exp(rng.normal(0, 0.08, size=N)),
        age_eff=rng.normal(0, 0.05, size=N),
        take_home=rng.uniform(0.35, 0.90, size=N),
        teacher_cov=rng.uniform(0.85, 0.98, size=N),
        display=rng.uniform(0.4, 1.0, size=N),
        presence=presence,
        bw=bw,
        wan=wan,
        wifi=wifi,
        cost=cost,
        erate=erate,
        without_home=without_home,
        hotspots=hotspots,
        pl_rate=rate,
        id_base=id_base,
    )


# ---------------------------------------------------------------------------------------
# Frames per family and year
# ---------------------------------------------------------------------------------------


def _directory_frame(w: _World, t: int) -> _Frame:
    ds = np.flatnonzero(w.active[:, t])
    n = len(ds)
    county_names = [c for c, _ in _COUNTIES]
    emails = [w.email[d] for d in ds]
    return _Frame(
        {
            "district_code": _dict_col(ds, w.code),
            "district_name": _dict_col(ds, w.names[t]),
            "district_type": _dict_col(w.dtype[ds], list(_TYPE_NAMES)),
            "isd_code": (np.arange(n), [w.isd[t][d] for d in ds]),
            "county": _dict_col(w.county[ds] - 1, county_names),
            "locale": _dict_col(w.locale[ds], list(LOCALES)),
            "data_contact_email": (
                np.array([-1 if e is None else i for i, e in enumerate(emails)]),
                [e or "" for e in emails],
            ),
        },
        ds,
    )


def _enrollment_frame(w: _World, t: int) -> _Frame:
    bs = np.flatnonzero(w.active[w.b_district, t])
    return _Frame(
        {
            "school_year": _const_col(w.years[t], len(bs)),
            "district_code": _dict_col(w.b_district[bs], w.code),
            "building_code": _dict_col(bs, w.b_code),
            "building_name": _dict_col(bs, w.b_name),
            "student_count": _int_col(w.b_students[bs, t]),
        },
        w.b_district[bs],
    )


def _staffing_frame(w: _World, t: int) -> _Frame:
    ds = np.flatnonzero(w.active[:, t])
    return _Frame(
        {
            "school_year": _const_col(w.years[t], len(ds)),
            "district_code": _dict_col(ds, w.code),
            "teacher_count": _int_col(w.teachers[ds, t]),
            "building_leader_count": _int_col(w.bleaders[ds, t]),
            "district_leader_count": _int_col(w.dleaders[ds, t]),
            "tech_staff_count": _int_col(w.tech[ds, t]),
        },
        ds,
    )


def _connectivity_frame(w: _World, tr: _Traits, t: int) -> _Frame:
    ds = np.flatnonzero(w.active[:, t])
    wan = tr.wan[ds, t]
    erate = tr.erate[ds, t]
    return _Frame(
        {
            "school_year": _const_col(w.years[t], len(ds)),
            "district_code": _dict_col(ds, w.code),
            "internet_bandwidth_mbps": _int_col(tr.bw[ds, t]),
            "wan_bandwidth_mbps": _int_col(np.nan_to_num(wan), empty=np.isnan(wan)),
            "wifi_classrooms_covered_pct": _fmt_col(tr.wifi[ds, t], "g"),
            "monthly_internet_cost_usd": _fmt_col(tr.cost[ds, t], ".2f"),
            "erate_discount_pct": _int_col(erate, empty=erate == 0),
            "students_without_home_internet": _int_col(tr.without_home[ds, t]),
            "hotspots_loaned": _int_col(tr.hotspots[ds, t]),
        },
        ds,
    )


def _devices_counts(w: _World, tr: _Traits, t: int, rng: np.random.Generator):
    """Per building x combo counts for year t: (device_count, over5, take_home), [B, C]."""
    B, C = tr.presence.shape
    rel = w.starts[t] - 2021
    bd = w.b_district
    s_b = w.b_students[:, t].astype(np.float64)
    s_d = np.maximum(w.students[:, t], 1).astype(np.float64)
    teach_b = np.floor(w.teachers[bd, t] * s_b / s_d[bd])
    yearly = np.clip(rng.normal(0, 0.015, size=w.n), -0.03, 0.03)
    ratio = np.clip(min(1.02, 0.80 + 0.05 * rel) * tr.dev_eff[bd] * (1 + yearly[bd]), 0.3, 1.4)
    count = np.zeros((B, C), dtype=np.int64)
    S = np.round(s_b * ratio)
    mix = _STUDENT_MIX[w.b_level] * tr.presence[:, :4]
    mix = mix / mix.sum(axis=1, keepdims=True)
    count[:, :4] = np.floor(S[:, None] * mix)
    hot_rate = tr.hotspots[bd, t] / s_d[bd]
    count[:, 4] = np.round(s_b * hot_rate * 0.8)
    tc = np.floor(teach_b * tr.teacher_cov[bd])
    tab = np.where(tr.presence[:, 6], np.floor(tc * 0.10), 0)
    desk = np.where(tr.presence[:, 7], np.floor(tc * 0.08), 0)
    count[:, 5] = tc - tab - desk
    count[:, 6] = tab
    count[:, 7] = desk
    count[:, 8] = np.round(teach_b * tr.display[bd])
    count[:, 9] = np.maximum(1, np.round(teach_b * 0.25))
    count[:, 10] = np.round(teach_b * 0.12)
    count[:, 11] = np.round(s_b * 0.04)
    count[:, 12] = np.round(s_b * 0.05)
    count[:, 13] = np.round(s_b * 0.02)
    count[:, 14] = np.round(s_b * 0.005)
    count = np.where(tr.presence, count, 0)
    age = np.clip(0.30 - 0.035 * rel + tr.age_eff[bd], 0.02, 0.6)
    age_row = np.clip(age[:, None] * rng.uniform(0.6, 1.4, size=(B, C)), 0, 0.95)
    age_row[:, [4, 14]] *= 0.2
    over5 = np.floor(count * age_row).astype(np.int64)
    th = np.clip(tr.take_home[bd] + 0.03 * rel, 0, 0.98)
    share = np.zeros((B, C))
    share[:, 0] = th
    share[:, 1] = th
    share[:, 2] = th * 0.1
    share[:, 4] = 1.0
    share[:, 5] = rng.uniform(0.7, 1.0, size=B)
    share[:, 10] = 0.5
    take = np.floor(count * share).astype(np.int64)
    return count, over5, take


def _devices_frame(w: _World, tr: _Traits, t: int, rng: np.random.Generator) -> _Frame:
    count, over5, take = _devices_counts(w, tr, t, rng)
    ok = (count > 0) & w.active[w.b_district, t][:, None]
    b, c = np.nonzero(ok)  # row-major: by building (district, code order), then combo
    ctype = np.array([DEVICE_TYPES.index(x) for x, _ in _COMBOS])
    cgroup = np.array([USER_GROUPS.index(g) for _, g in _COMBOS])
    return _Frame(
        {
            "school_year": _const_col(w.years[t], len(b)),
            "district_code": _dict_col(w.b_district[b], w.code),
            "building_code": _dict_col(b, w.b_code),
            "device_type": _dict_col(ctype[c], list(DEVICE_TYPES)),
            "user_group": _dict_col(cgroup[c], list(USER_GROUPS)),
            "device_count": _int_col(count[b, c]),
            "devices_over_5_years": _int_col(over5[b, c]),
            "take_home_count": _int_col(take[b, c]),
        },
        w.b_district[b],
    )


@dataclass
class _Catalog:
    ids: list[str]
    titles: list[str]
    kind: np.ndarray
    provider: np.ndarray
    fmt: np.ndarray
    framework: np.ndarray
    hours_idx: np.ndarray
    hours_values: list[str]
    start: np.ndarray
    window: np.ndarray
    role_p: np.ndarray  # [5, M]


def _catalog(w: _World, t: int, rng: np.random.Generator) -> _Catalog:
    scale = w.n / 896
    M = max(150, round(450 * scale**0.5))
    start_year = w.starts[t]
    ndays = _days_in_year(w.years[t])
    yy = f"{start_year % 100:02d}{(start_year + 1) % 100:02d}"
    kinds = rng.choice(5, size=M, p=[0.30, 0.30, 0.15, 0.15, 0.10])
    kinds[:5] = np.arange(5)
    n_topics = len(_PL_TOPICS)
    kinds[5 : 5 + n_topics] = np.arange(n_topics) % 2  # every topic once as a course or workshop
    months = rng.choice(12, size=M, p=_MONTH_WEIGHTS / _MONTH_WEIGHTS.sum())
    month_start = np.cumsum([0, 31, 31, 30, 31, 30, 31, 31, 28 + (ndays == 366), 31, 30, 31])
    month_len = np.diff(np.append(month_start, ndays))
    start = month_start[months] + np.floor(rng.random(M) * month_len[months]).astype(np.int64)
    ids, titles = [], []
    provider = np.zeros(M, dtype=np.int64)
    fmt = np.zeros(M, dtype=np.int64)
    framework = np.zeros(M, dtype=np.int64)
    hours = np.zeros(M)
    window = np.zeros(M, dtype=np.int64)
    audience = []
    month_names = (
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
    )
    topic_order = rng.permutation(len(_PL_TOPICS))
    for a in range(M):
        kind = ACTIVITY_KINDS[kinds[a]]
        if a < 8:
            prov = PROVIDERS[a]
        else:
            opts = _KIND_PROVIDERS[kind]
            prov = opts[int(rng.choice(len(opts), p=_norm([x[1] for x in opts])))][0]
        opts = _KIND_FORMATS[kind]
        form = "online" if prov == "EduPaths" else opts[int(rng.choice(len(opts), p=_norm([x[1] for x in opts])))][0]
        if a < 3:
            form = FORMATS[a]
        ti = topic_order[a - 5] if 5 <= a < 5 + n_topics else int(rng.integers(n_topics))
        topic, fw, aud = _PL_TOPICS[ti]
        if kind == "course":
            title = topic if rng.random() < 0.6 else f"{topic} (Online Course)"
        elif kind == "workshop":
            title = f"{topic} Workshop"
        elif kind == "pln_meeting":
            pln = _PLN_NAMES[int(rng.integers(len(_PLN_NAMES)))]
            title = f"{pln} PLN: {month_names[months[a]]} Meeting"
            fw = "none" if rng.random() < 0.6 else "ISTE_Standards"
            aud = "l" if pln != "Technology Directors" else "x"
        elif kind == "coaching":
            title = f"Coaching Cycle: {topic}"
        else:
            title, fw = _ASSESSMENTS[int(rng.integers(len(_ASSESSMENTS)))]
            aud = "a"
        h = _KIND_HOURS[kind]
        hours[a] = h[int(rng.integers(len(h)))]
        ids.append(f"{_PROVIDER_PREFIX[prov]}-{yy}-{a + 1:04d}")
        titles.append(title)
        provider[a] = PROVIDERS.index(prov)
        fmt[a] = FORMATS.index(form)
        framework[a] = FRAMEWORKS.index(fw)
        window[a] = _KIND_WINDOW[kind]
        audience.append(aud)
    aud = np.array(audience)
    kind_w = np.array(
        [  # course, workshop, pln, coaching, skill
            [1.0, 1.0, 0.05, 0.8, 0.6],
            [0.6, 0.8, 3.0, 0.5, 0.4],
            [0.6, 0.8, 3.0, 0.5, 0.4],
            [1.0, 1.0, 0.8, 0.3, 0.5],
            [1.0, 1.0, 0.02, 0.2, 0.6],
        ]
    )
    aud_w = {
        "t": (1.0, 0.2, 0.2, 0.3, 0.5),
        "l": (0.2, 4.0, 4.0, 0.5, 0.1),
        "x": (0.5, 0.5, 0.5, 4.0, 1.0),
        "a": (1.0, 1.0, 1.0, 1.0, 1.0),
    }
    role_p = np.zeros((5, M))
    for r in range(5):
        role_p[r] = kind_w[r][kinds] * np.array([aud_w[x][r] for x in aud])
        role_p[r] /= role_p[r].sum()
    hv, hidx = np.unique(hours, return_inverse=True)
    return _Catalog(
        ids=ids,
        titles=titles,
        kind=kinds,
        provider=provider,
        fmt=fmt,
        framework=framework,
        hours_idx=hidx,
        hours_values=[_fmt_number(v, "g") for v in hv.tolist()],
        start=start,
        window=window,
        role_p=role_p,
    )


def _norm(x) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    return a / a.sum()


def _days_in_year(sy: str) -> int:
    a, b = school_year_bounds(sy)
    return int((np.datetime64(b) - np.datetime64(a)).astype(int)) + 1


def _year_dates(sy: str) -> list[str]:
    a, b = school_year_bounds(sy)
    return np.arange(np.datetime64(a), np.datetime64(b) + 1).astype(str).tolist()


@dataclass
class _IdSpace:
    """educator_id text of (role, number): T000123 teachers, L00031 leaders, IT0004 tech
    staff, S001234 support staff."""

    offsets: np.ndarray  # dictionary offset per role
    values: list[str]

    @classmethod
    def build(cls, max_t: int, max_l: int, max_it: int, max_s: int) -> _IdSpace:
        t = [f"T{i:06d}" for i in range(max_t)]
        l_ = [f"L{i:05d}" for i in range(max_l)]
        it = [f"IT{i:04d}" for i in range(max_it)]
        s = [f"S{i:06d}" for i in range(max_s)]
        o = np.cumsum([0, len(t), len(l_), len(it)])
        offsets = np.array([o[0], o[1], o[1], o[2], o[3]], dtype=np.int64)
        return cls(offsets, t + l_ + it + s)


def _id_space(w: _World, tr: _Traits) -> _IdSpace:
    return _IdSpace.build(
        int(tr.id_base[:, 0].max() + w.teachers.max() + 1),
        2000,
        int(w.tech.max() + 2),
        int(tr.id_base[:, 4].max() + w.support.max() + 1),
    )


def _pl_frame(w: _World, tr: _Traits, ids: _IdSpace, t: int, rng: np.random.Generator) -> tuple[_Frame, _Catalog]:
    cat = _catalog(w, t, rng)
    M = len(cat.ids)
    ds = np.flatnonzero(w.active[:, t])
    counts = np.stack(
        [w.teachers[ds, t], w.bleaders[ds, t], w.dleaders[ds, t], w.tech[ds, t], w.support[ds, t]], axis=1
    )
    flat = counts.ravel()
    total = int(flat.sum())
    r_d = np.repeat(np.repeat(ds, 5), flat)
    r_role = np.repeat(np.tile(np.arange(5), len(ds)), flat)
    k = np.arange(total) - np.repeat(np.cumsum(flat) - flat, flat)
    number = tr.id_base[r_d, r_role] + k
    p = tr.pl_rate[r_d, r_role, t]
    part = np.flatnonzero(rng.random(total) < p)
    lam = np.array([3.0, 3.0, 3.0, 4.0, 1.0])
    K = 1 + rng.poisson(lam[r_role[part]])
    e = np.repeat(part, K)
    role = r_role[e]
    acts = np.empty(len(e), dtype=np.int64)
    for r in range(5):
        m = np.flatnonzero(role == r)
        acts[m] = rng.choice(M, size=len(m), p=cat.role_p[r])
    # the day an educator completed an activity is a function of (educator, activity), so a
    # repeated draw is an exact duplicate: one sort by (educator, day, activity) orders
    # the rows and puts duplicates next to each other
    ndays = _days_in_year(w.years[t])
    salt = int(rng.integers(1, 2**31))
    mix = e.astype(np.uint64) * np.uint64(2654435761) + acts.astype(np.uint64) * np.uint64(40503) + np.uint64(salt)
    mix = (mix ^ (mix >> np.uint64(13))) * np.uint64(0x5BD1E995) & np.uint64(0xFFFFFFFF)
    offset = (mix % (cat.window[acts] + 1).astype(np.uint64)).astype(np.int64)
    day = np.minimum(cat.start[acts] + offset, ndays - 1)
    key = (e.astype(np.int64) * ndays + day) * M + acts
    key.sort()
    keep = np.ones(len(key), dtype=bool)
    keep[1:] = key[1:] != key[:-1]
    key = key[keep]
    acts = key % M
    day = (key // M) % ndays
    e = key // (M * ndays)
    del key, keep, mix, offset
    role = r_role[e]
    n = len(e)
    frame = _Frame(
        {
            "school_year": _const_col(w.years[t], n),
            "district_code": _dict_col(r_d[e], w.code),
            "educator_id": _dict_col(ids.offsets[role] + number[e], ids.values),
            "role": _dict_col(role, list(PL_ROLES)),
            "activity_id": _dict_col(acts, cat.ids),
            "activity_title": _dict_col(acts, cat.titles),
            "activity_kind": _dict_col(cat.kind[acts], list(ACTIVITY_KINDS)),
            "provider": _dict_col(cat.provider[acts], list(PROVIDERS)),
            "format": _dict_col(cat.fmt[acts], list(FORMATS)),
            "framework": _dict_col(cat.framework[acts], list(FRAMEWORKS)),
            "hours": _dict_col(cat.hours_idx[acts], cat.hours_values),
            "completed_on": _dict_col(day, _year_dates(w.years[t])),
        },
        r_d[e],
    )
    return frame, cat


# ---------------------------------------------------------------------------------------
# Writing files
# ---------------------------------------------------------------------------------------


@dataclass
class _Pending:
    name: str
    family: str
    frame: _Frame | None
    header: str = "plain"  # plain | upper_padded
    shuffle: bool = False
    bom: bool = False
    encoding: str = "utf-8"
    empty: bool = False


def _header_names(names: list[str], style: str) -> list[str]:
    if style == "upper_padded":
        return [f" {n.upper()}" if i % 2 == 0 else f"{n.upper()} " for i, n in enumerate(names)]
    if style == "title":
        return [n.title() for n in names]
    return list(names)


def _write_file(
    con: duckdb.DuckDBPyConnection, path: Path, p: _Pending, rng_order: np.random.Generator | None = None
) -> int:
    """Writes one landing file; returns the number of data rows written."""
    if path.exists():
        path.unlink()
    if p.empty or p.frame is None:
        path.write_bytes(b"")
        return 0
    frame = p.frame
    names = frame.names
    if p.shuffle and rng_order is not None:
        names = [names[i] for i in rng_order.permutation(len(names))]
    header = _header_names(names, p.header)
    con.register("landing_out", frame.batches(names, header))
    target = str(path).replace("'", "''")
    try:
        con.execute(f"COPY landing_out TO '{target}' (FORMAT CSV, HEADER TRUE, DELIMITER ',')")
    finally:
        con.unregister("landing_out")
    if p.bom or p.encoding != "utf-8":
        data = path.read_bytes()
        if p.encoding != "utf-8":
            data = data.decode("utf-8").encode(p.encoding)
        if p.bom:
            data = b"\xef\xbb\xbf" + data
        path.write_bytes(data)
    return frame.n


# ---------------------------------------------------------------------------------------
# Defect planning and injection
# ---------------------------------------------------------------------------------------


@dataclass
class _Slot:
    rule: str
    t: int
    family: str
    placement: str  # statewide | resubmission
    district: int = -1  # -1: a district code in no directory
    fake_code: str | None = None


def _plan(w: _World, rate: float, rng: np.random.Generator, reserved_last: set[int]) -> tuple[list[_Slot], list[str]]:
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
    extra_rules = [r for r in rules if _RULE_WEIGHTS[r] > 0]
    for t in range(T):
        n_t = round(rate * int(w.active[:, t].sum())) - sum(1 for y, _ in guaranteed if y == t)
        pool = [r for r in extra_rules if r not in YOY_RULES or t == T - 1]
        p = _norm([_RULE_WEIGHTS[r] for r in pool])
        for _ in range(max(0, n_t)):
            extra.append((t, pool[int(rng.choice(len(pool), p=p))]))

    used: list[set[int]] = [set() for _ in range(T)]
    used[T - 1] |= reserved_last
    slots: list[_Slot] = []
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
        fams = _RULE_FAMILIES[r]
        family = fams[int(rng.integers(len(fams)))]
        sw_fams = _STATEWIDE_OK.get(r, ())
        placement = "resubmission"
        if r in _STATEWIDE_OK:
            sev = "warning" if r in WARNING_RULES else "error"
            if not statewide_done[sev] or rng.random() < 0.3:
                placement = "statewide"
                if family not in sw_fams:
                    family = sw_fams[int(rng.integers(len(sw_fams)))]
                statewide_done[sev] = True
        if r == "school_year_mismatch" and T == 1 and family == "devices":
            family = "connectivity"  # a devices row of a year with no enrollment would also fail its building
        if r == "unknown_district":
            slots.append(_Slot(r, t, family, placement, -1, _fake_code(w, rng)))
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
        slots.append(_Slot(r, t, family, placement, d))
    for r, k in skipped.items():
        notes.append(f"{k} '{r}' defect(s) skipped: no district left to put them in")
    return slots, notes


def _fake_code(w: _World, rng: np.random.Generator) -> str:
    while True:
        c = int(rng.integers(1, 84))
        s = int(rng.integers(1, 1000))
        if s % 100 == 0:
            continue
        code = f"{c:02d}{s:03d}"
        if code not in w.used_codes:
            w.used_codes.add(code)
            return code


class _Injector:
    def __init__(self, w: _World, rng: np.random.Generator, id_base: np.ndarray):
        self.w = w
        self.rng = rng
        self.id_base = id_base
        self.catalog: _Catalog | None = None  # the PL catalog of the year being written

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
        self, s: _Slot, frame: _Frame, rows: np.ndarray, file_name: str, sy: str
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
            row["hours"] = _fmt_number(h + 0.5 if h + 0.5 <= 40 else h - 0.5, "g")
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
            base = int(self.id_base[d, _R_BLEADER]) + 900
            template = frame.row(int(rows[0])) if len(rows) else None
            cat = self.catalog
            assert cat is not None
            pln = [a for a in range(len(cat.ids)) if cat.kind[a] == ACTIVITY_KINDS.index("pln_meeting")] or [0]
            dates = _year_dates(sy)
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


# ---------------------------------------------------------------------------------------
# Clean corrections (latest year resubmissions)
# ---------------------------------------------------------------------------------------


def _correct(
    family: str, frame: _Frame, w: _World, t: int, d: int, cat: _Catalog | None, rng: np.random.Generator
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
        frame.set(0, "wifi_classrooms_covered_pct", _fmt_number(min(100.0, wifi + 2), "g"))
        lines.append(2)
    elif family == "pl_participation" and cat is not None:
        taken = {(frame.get(i, "educator_id"), frame.get(i, "activity_id")) for i in range(n)}
        people = sorted({(frame.get(i, "educator_id"), frame.get(i, "role")) for i in range(n)})
        dates = _year_dates(w.years[t])
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


# ---------------------------------------------------------------------------------------
# Bench shapes: heavy warnings and per-district files (self-contained; used only when
# generate_landing is asked for them)
# ---------------------------------------------------------------------------------------

# Warnings the heavy-warnings option causes (flows/cross_checks): rates over 100 once the
# metrics are built, more leaders in PL than on staff, and year-over-year swings.
HEAVY_WARNING_RULES: tuple[str, ...] = (
    "rate_over_100",
    "pl_leaders_exceed_staffing",
    "yoy_student_count_swing",
    "yoy_device_total_swing",
)
_HEAVY_STAFF_COLUMNS = ("teacher_count", "building_leader_count", "district_leader_count", "tech_staff_count")
_HEAVY_STUDENT_FACTOR = 1.7  # an enrollment swing: +70 % (the next year's return, -41 %, is no swing)
_HEAVY_DEVICE_FACTOR = 1.8  # a device swing: +80 % of the devices of students, staff and shared use
# The rates of district_year_metrics that can pass 100 (flows/cross_checks.RATES_OVER_100):
# metric, the family its issue is reported under, numerator, denominator (_HeavyWarnings.sums)
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


def _frame_ints(frame: _Frame, col: str) -> np.ndarray:
    """The column as integers (the counts of clean data are never empty)."""
    codes, values = frame.cols[col]
    lookup = np.array([int(v) for v in values] or [0], dtype=np.int64)
    return lookup[np.maximum(codes, 0)]


def _frame_in(frame: _Frame, col: str, allowed: tuple[str, ...]) -> np.ndarray:
    """Per row: is the column's text one of `allowed`."""
    codes, values = frame.cols[col]
    lookup = np.array([v in allowed for v in values] or [False])
    return lookup[np.maximum(codes, 0)] & (codes >= 0)


def _set_ints(frame: _Frame, col: str, values: np.ndarray) -> None:
    frame.cols[col] = list(_int_col(values))


def _scaled(values: np.ndarray, factor: float) -> np.ndarray:
    return np.floor(values * factor + 0.5).astype(np.int64)


class _HeavyWarnings:
    """Many warnings and no blocking error, the way a careless but valid submission makes
    them: for a share `rate` of the districts each school year, a staffing file whose
    counts are a tenth of the real ones (so device coverage and PL rates go over 100, and
    more leaders have PL records than are on staff); for a third of that share each year
    after the first, student counts 70 % up (a year-over-year swing), and as many device
    inventories 80 % up.

    The warnings are then worked out exactly from the data each district publishes (its
    latest submission) and recorded in the manifest as the pipeline must raise them."""

    def __init__(self, w: _World, rate: float, rng: np.random.Generator):
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

    def apply(self, frames: dict[str, _Frame], t: int) -> None:
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

    def _sums(self, fam: str, frame: _Frame) -> dict[str, np.ndarray]:
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
        frames: dict[str, _Frame],
        corrections: list[tuple[str, int, _Frame, str]],
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


def _write_per_district(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    p: _Pending,
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
    n = _write_file(con, partial, p, rng_order)
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


# ---------------------------------------------------------------------------------------
# The public entry point
# ---------------------------------------------------------------------------------------


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
    tenth of the real ones, plus year-over-year swings (see _HeavyWarnings): warnings
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

    w = _build_world(districts, starts, np.random.default_rng(s_world))
    tr = _build_traits(w, np.random.default_rng(s_traits))
    ids = _id_space(w, tr)
    T = len(starts)

    manifest = GenerationManifest(school_years=list(w.years), districts=w.n, seed=seed, defect_rate=float(defects))
    manifest.notes.extend(w.changes)
    manifest.heavy_warning_rate = float(heavy_warnings)
    manifest.per_district_files = bool(per_district_files)
    # its own random stream, so the other options' output stays as it was
    heavy = (
        _HeavyWarnings(w, heavy_warnings, np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x6876]))
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
    slots, notes = _plan(w, defects, np.random.default_rng(s_plan), {d for _, d in corrections})
    manifest.notes.extend(notes)

    injector = _Injector(w, np.random.default_rng(s_inject), tr.id_base)
    quirk_rng = np.random.default_rng(s_quirk)
    rows: dict[str, int] = {name: 0 for name in FAMILIES}
    written: list[tuple[int, str]] = []  # (mtime, name)
    pending_resub: list[_Pending] = []
    base_mtime = calendar.timegm((last_start, 10, 1, 12, 0, 0)) + (int(seed) % 86_400)

    # one thread: rows keep their order cheaply and memory stays low at national scale
    con = duckdb.connect(config={"threads": 1, "memory_limit": "1GB"})
    try:
        for t, sy in enumerate(w.years):
            mt = base_mtime - (T - 1 - t) * 86_400 * 7
            # the directory version effective from this year
            p = _Pending(f"districts_{sy}.csv", "districts", _directory_frame(w, t), bom=(t == 0))
            rows["districts"] += _write_file(con, out_dir / p.name, p)
            os.utime(out_dir / p.name, (mt, mt))
            written.append((mt, p.name))

            year_rng = np.random.default_rng(s_years[t])
            frames: dict[str, _Frame] = {
                "enrollment": _enrollment_frame(w, t),
                "staffing": _staffing_frame(w, t),
                "devices": _devices_frame(w, tr, t, year_rng),
                "connectivity": _connectivity_frame(w, tr, t),
            }
            frames["pl_participation"], cat = _pl_frame(w, tr, ids, t, year_rng)
            injector.catalog = cat
            if heavy is not None:
                heavy.apply(frames, t)

            # single-district files are cut from the clean statewide data first
            resub: list[tuple[_Slot | None, str, int, _Frame]] = []
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
                p = _Pending(
                    name,
                    fam,
                    frames[fam],
                    header=header,
                    bom=(fam == "connectivity"),
                    shuffle=(fam == "enrollment" and t == T - 1),
                )
                if per_district_files:
                    for part, n in _write_per_district(
                        con, out_dir, p, fam, sy, w.code, np.random.default_rng([int(seed) & 0xFFFFFFFF, t, k])
                    ):
                        rows[fam] += n
                        os.utime(out_dir / part, (mt + k + 1, mt + k + 1))
                        written.append((mt + k + 1, part))
                    continue
                rows[fam] += _write_file(con, out_dir / name, p, np.random.default_rng([int(seed) & 0xFFFFFFFF, t, k]))
                os.utime(out_dir / name, (mt + k + 1, mt + k + 1))
                written.append((mt + k + 1, name))
            year_frames = frames if heavy is not None else None
            del frames
            year_corrections: list[tuple[str, int, _Frame, str]] = []

            for s, fam, d, sub in resub:
                code = w.code[d] if d >= 0 else (s.fake_code if s else "")
                name = f"{fam}_{sy}_{code}.csv"
                quirk = int(quirk_rng.integers(6))
                p = _Pending(
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
                    lines = _correct(fam, sub, w, t, d, cat, corr_rng)
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
            n = _write_file(con, out_dir / p.name, p, np.random.default_rng([int(seed) & 0xFFFFFFFF, j]))
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


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


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
    parser = argparse.ArgumentParser(prog="python -m flows.generate", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
