"""`roadmap docs`: the dbt documentation site of the warehouse (every model and column
described, with the objective IDs), built from the published warehouse.

dbt reads the catalog through a read-write connection, and analysts may be reading the
published file: so the site is generated from a copy, never from the file itself.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..settings import DBT_PROJECT_DIR
from .transform import DB_PATH_ENV_VAR, _environment, _release_duckdb


class DocsFailed(Exception):
    pass


def build_dbt_docs(warehouse: Path, out_dir: Path) -> Path:
    """Write the site to out_dir (index.html that opens offline, plus manifest and
    catalog JSON); returns the index.html path."""
    from dbt.cli.main import dbtRunner

    if not warehouse.is_file():
        raise FileNotFoundError(f"no warehouse at {warehouse}: run `roadmap nightly` first")
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="roadmap-docs-") as work:
        copy = Path(work) / "warehouse.duckdb"
        shutil.copyfile(warehouse, copy)
        args = [
            "docs",
            "generate",
            "--static",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(out_dir),
            "--log-path",
            str(Path(work) / "logs"),
            "--no-partial-parse",
            "--no-send-anonymous-usage-stats",
            "--no-version-check",
            "--no-use-colors",
        ]
        try:
            with _environment({DB_PATH_ENV_VAR: str(copy), "DO_NOT_TRACK": "1"}):
                outcome = dbtRunner().invoke(args)
        finally:
            _release_duckdb(copy)  # the profile keeps one connection open (keep_open)
    if not outcome.success:
        raise DocsFailed(f"dbt docs generate failed: {outcome.exception or 'see the log above'}")
    static = out_dir / "static_index.html"
    index = out_dir / "index.html"
    if static.exists():
        static.replace(index)
    return index
