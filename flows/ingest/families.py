"""The file families of DATA_SPEC section 1: one place that says which columns each
landing file has, their types and domains, and the keys that make a row unique.

The generator, the CSV reader, the Great Expectations suites and the loader all read
these definitions, so a column is named and typed in exactly one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..school_years import is_school_year

# Strictly ASCII: Python's \d (and str.isdigit) accept any Unicode digit (full-width,
# Arabic-Indic, ...), which SQL casts do not; every pattern here spells out [0-9].
CODE_PATTERN = r"^[0-9]{5}$"
# An address a mail relay takes in a header: printable ASCII, no space or line break
# (the HTML5 definition of a valid e-mail address).
EMAIL_PATTERN = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
SIGNED_INTEGER_PATTERN = r"^-?[0-9]+$"
SIGNED_NUMBER_PATTERN = r"^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$"
ISO_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"

# Upper bounds (DATA_SPEC section 1): far above any real value, and low enough that no
# sum the warehouse takes (a count over every row of every file) leaves BIGINT or the
# decimals the sums are taken in.
MAX_COUNT = 10_000_000
MAX_BANDWIDTH_MBPS = 10_000_000
MAX_MONTHLY_COST_USD = 1_000_000_000

DISTRICT_TYPES = ("LEA", "PSA", "ISD")
LOCALES = ("city", "suburb", "town", "rural")
DEVICE_TYPES = ("chromebook", "laptop", "tablet", "desktop", "hotspot", "interactive_display")
USER_GROUPS = ("student", "teacher", "staff", "shared")
PL_ROLES = ("teacher", "building_leader", "district_leader", "tech_staff", "support_staff")
ACTIVITY_KINDS = ("course", "workshop", "pln_meeting", "coaching", "skill_assessment")
PROVIDERS = ("REMC", "TRIG", "EduPaths", "ISTE", "MACUL", "ISD", "district", "other")
FORMATS = ("face_to_face", "online", "blended")
FRAMEWORKS = ("TPACK", "SAMR", "ISTE_Standards", "OER", "CBE", "none")


# raw's SQL type of each kind of column (the others are VARCHAR: codes keep their
# leading zeros, school years and text as written)
_SQL_TYPES = {"integer": "BIGINT", "number": "DOUBLE", "date": "DATE"}

# personal data: the landing column -> the column of its keyed hash (flows/ingest/pseudonymize.py)
PSEUDONYMIZED = {"educator_id": "educator_key"}


@dataclass(frozen=True)
class Column:
    """One column of a landing file.

    kind: code (five digits, kept as text), text, integer, number, date, email,
    school_year, or enum (with `values`).
    """

    name: str
    kind: str
    required: bool = True  # an empty value is a blocking error
    values: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    min_exclusive: bool = False
    description: str = ""

    @property
    def sql_type(self) -> str:
        """The column's type in raw.<family> (and so in staging)."""
        return _SQL_TYPES.get(self.kind, "VARCHAR")

    @property
    def raw_name(self) -> str:
        """The column's name from pseudonymisation on (the batch table after it, raw):
        educator_id is replaced by its keyed hash, educator_key (DATA_SPEC section 4)."""
        return PSEUDONYMIZED.get(self.name, self.name)

    def raw_value_sql(self, text_sql: str) -> str:
        """SQL turning the column's landing text (validated: it casts) into its raw value
        of type `sql_type`."""
        if self.kind == "number":
            return f"cast({text_sql} as double) + 0.0"  # + 0.0: no negative zero ("-0" is 0)
        if self.sql_type != "VARCHAR":
            return f"cast({text_sql} as {self.sql_type.lower()})"
        return text_sql


@dataclass(frozen=True)
class Family:
    name: str
    yearly: bool  # file name carries a school year
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # a row's identity within one file
    description: str = ""
    # PL only: rows sharing this key are one record (count once, warn)
    record_key: tuple[str, ...] = field(default=())

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name or c.raw_name == name:
                return c
        raise KeyError(name)

    @property
    def raw_table(self) -> str:
        return f"raw.{self.name}"


_YEAR = Column("school_year", "school_year", description="School year, written YYYY-YY")
_DISTRICT = Column("district_code", "code", description="Five-digit district code")


def _count(name: str, description: str = "") -> Column:
    return Column(name, "integer", min_value=0, max_value=MAX_COUNT, description=description)


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "districts",
            yearly=False,
            description="The state directory of districts (reference data)",
            key=("district_code",),
            columns=(
                _DISTRICT,
                Column("district_name", "text"),
                Column("district_type", "enum", values=DISTRICT_TYPES),
                Column("isd_code", "code"),
                Column("county", "text", required=False),
                Column("locale", "enum", values=LOCALES),
                Column("data_contact_email", "email", required=False),
            ),
        ),
        Family(
            "enrollment",
            yearly=True,
            description="One row per building",
            key=("school_year", "district_code", "building_code"),
            columns=(
                _YEAR,
                _DISTRICT,
                Column("building_code", "code"),
                Column("building_name", "text", required=False),
                _count("student_count"),
            ),
        ),
        Family(
            "staffing",
            yearly=True,
            description="One row per district",
            key=("school_year", "district_code"),
            columns=(
                _YEAR,
                _DISTRICT,
                _count("teacher_count"),
                _count("building_leader_count"),
                _count("district_leader_count"),
                _count("tech_staff_count"),
            ),
        ),
        Family(
            "devices",
            yearly=True,
            description="One row per building x device_type x user_group",
            key=("school_year", "district_code", "building_code", "device_type", "user_group"),
            columns=(
                _YEAR,
                _DISTRICT,
                Column("building_code", "code"),
                Column("device_type", "enum", values=DEVICE_TYPES),
                Column("user_group", "enum", values=USER_GROUPS),
                _count("device_count"),
                _count("devices_over_5_years"),
                _count("take_home_count"),
            ),
        ),
        Family(
            "connectivity",
            yearly=True,
            description="One row per district",
            key=("school_year", "district_code"),
            columns=(
                _YEAR,
                _DISTRICT,
                Column(
                    "internet_bandwidth_mbps", "number", min_value=0, min_exclusive=True, max_value=MAX_BANDWIDTH_MBPS
                ),
                Column("wan_bandwidth_mbps", "number", required=False, min_value=0, max_value=MAX_BANDWIDTH_MBPS),
                Column("wifi_classrooms_covered_pct", "number", min_value=0, max_value=100),
                Column("monthly_internet_cost_usd", "number", min_value=0, max_value=MAX_MONTHLY_COST_USD),
                Column("erate_discount_pct", "number", required=False, min_value=20, max_value=90),
                _count("students_without_home_internet"),
                _count("hotspots_loaned"),
            ),
        ),
        Family(
            "pl_participation",
            yearly=True,
            description="One row per educator x completed activity",
            key=("school_year", "district_code", "educator_id", "activity_id", "completed_on"),
            record_key=("school_year", "district_code", "educator_id", "activity_id", "completed_on"),
            columns=(
                _YEAR,
                _DISTRICT,
                Column("educator_id", "text", description="personal data: replaced by a keyed hash"),
                Column("role", "enum", values=PL_ROLES),
                Column("activity_id", "text"),
                Column("activity_title", "text", required=False),
                Column("activity_kind", "enum", values=ACTIVITY_KINDS),
                Column("provider", "enum", values=PROVIDERS),
                Column("format", "enum", values=FORMATS),
                Column("framework", "enum", values=FRAMEWORKS),
                Column("hours", "number", min_value=0, max_value=40, min_exclusive=True),
                Column("completed_on", "date"),
            ),
        ),
    )
}

YEARLY_FAMILIES = tuple(name for name, f in FAMILIES.items() if f.yearly)

# Families are validated and loaded in this order within a run, so that the directory and
# the enrollment a later file is checked against are already loaded.
PROCESSING_ORDER = ("districts", "enrollment", "staffing", "connectivity", "devices", "pl_participation")


@dataclass(frozen=True)
class LandingName:
    family: str
    school_year: str | None  # None for the directory without a year in its name
    suffix: str


_NAME_RE = re.compile(
    r"^(?P<family>districts|enrollment|staffing|devices|connectivity|pl_participation)"
    r"(?:_(?P<rest>.*))?\.csv",
    re.IGNORECASE | re.ASCII | re.DOTALL,  # ASCII: no Unicode case folding ("ſ" is not "s")
)


def parse_landing_name(file_name: str) -> LandingName | None:
    """Classify a landing file by its name (DATA_SPEC section 1).

    Returns None when the name matches no family or a yearly family's name does not
    carry a valid school year. A directory file may carry a school year right after
    `districts_` (districts_2024-25.csv): that version of the directory is effective
    from that school year; without one it is effective from the year it is received.
    """
    m = _NAME_RE.fullmatch(file_name)
    if not m:
        return None
    family = m.group("family").lower()
    rest = m.group("rest") or ""
    year_part, _, suffix = rest.partition("_")
    year = year_part if is_school_year(year_part) else None
    if FAMILIES[family].yearly:
        if year is None:
            return None
        return LandingName(family, year, suffix)
    if year is None:
        if any(c.isdigit() for c in year_part):
            return None  # a year written otherwise (2025_26, full-width digits): not a name to guess at
        return LandingName(family, None, rest)
    return LandingName(family, year, suffix)
