"""What the generator wrote and which defects it put in: the rule ids it injects (those of
docs/ARCHITECTURE.md, and so of the nightly run's validation), and `GenerationManifest`,
the record tests and benchmarks compare the run's quarantine and warnings against.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

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
RULE_FAMILIES: dict[str, tuple[str, ...]] = {
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
STATEWIDE_OK: dict[str, tuple[str, ...]] = {
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
RULE_WEIGHTS: dict[str, float] = {
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
