"""An issue found in a landing file: a blocking error (the district's rows of that file
are held back) or a warning (the rows load, and the issue is reported)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Issue:
    rule: str
    severity: str  # "error" | "warning"
    message: str
    line: int | None = None
    district_code: str | None = None
    column_name: str | None = None
    value: str | None = None
    # file context, filled in by the stage that knows the file
    file_id: str | None = None
    file_name: str | None = None
    family: str | None = None
    school_year: str | None = None

    @property
    def blocking(self) -> bool:
        return self.severity == "error"
