"""The annual review of MI Roadmap Goal Four progress, built from the published marts,
and the suppressed exports of the marts.

    build_report(warehouse, out_dir, school_year=None, *, config_dir=Path("config"))
    build_nightly_report(warehouse, reports_dir, *, config_dir=Path("config"))
    export_marts(warehouse, out_dir, *, config_dir=Path("config"))
"""

from .build import ReportResult, build_nightly_report, build_report
from .exports import export_marts

__all__ = ["ReportResult", "build_nightly_report", "build_report", "export_marts"]
