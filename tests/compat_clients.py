"""The DuckDB 1.x clients analysts use (Python package and command line), each in its own
virtual environment from a hash-pinned lock in tests/compat/ (`make test-compat-clients`,
part of `make test`). A test that needs one and finds it missing builds it the same way."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VERSIONS = ("1.4", "1.5")


def client_dir(version: str) -> Path:
    """The virtual environment of DuckDB `version` (bin/python, bin/duckdb)."""
    venv = REPO / ".venv-compat" / f"duckdb-{version}"
    if not (venv / ".installed").is_file():
        result = subprocess.run(
            ["make", "-s", "test-compat-clients"], cwd=REPO, capture_output=True, text=True, timeout=900
        )
        assert result.returncode == 0, f"could not install the DuckDB {version} clients:\n{result.stderr[-3000:]}"
    assert (venv / "bin" / "duckdb").is_file() and (venv / "bin" / "python").is_file()
    return venv
