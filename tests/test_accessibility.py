"""Every page of the annual review (the review, the district and ISD indexes, each
district's and each ISD's page) passes axe-core's WCAG 2.0 and 2.1 A and AA rules in
headless Chromium, with nothing found: tests/a11y/axe_check.js (playwright-core driving
Debian's chromium; `make test` installs both)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
A11Y = REPO / "tests" / "a11y"
CONFIG = REPO / "config"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def axe(pages: list[Path]) -> dict[str, list[dict]]:
    """page -> its violations, from one browser for all pages."""
    if not (A11Y / "node_modules" / "axe-core").is_dir() or shutil.which("node") is None:
        pytest.fail("playwright-core and axe-core are not installed: `make test-a11y-deps` (npm ci in tests/a11y)")
    done = subprocess.run(
        ["node", str(A11Y / "axe_check.js"), *map(str, pages)], capture_output=True, text=True, timeout=800, cwd=A11Y
    )
    assert done.returncode == 0, f"the accessibility check could not run:\n{done.stderr[-3000:]}"
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(pages), done.stdout[-2000:] + done.stderr[-2000:]
    return {r["page"]: r["violations"] for r in results}


def test_every_page_of_the_review_has_no_wcag_a_or_aa_violation(report_warehouse, tmp_path):
    from flows.report import build_report

    build_report(report_warehouse.warehouse, tmp_path / "review", config_dir=CONFIG)
    pages = sorted((tmp_path / "review").rglob("*.html"))
    kinds = {p.relative_to(tmp_path / "review").parts[0] for p in pages}
    assert {"districts", "isds"} <= kinds and any(p.name.startswith("annual_review_") for p in pages), kinds
    found = axe(pages)
    report = [
        f"{Path(page).relative_to(tmp_path)}: {v['id']} ({v['impact']}, {v['nodes']} element(s)): {v['help']}; "
        f"e.g. {', '.join(v['targets'][:3])}"
        for page, violations in found.items()
        for v in violations
    ]
    assert report == [], "\n".join(report)


def test_the_check_finds_what_it_should(tmp_path):
    """The check is not blind: a page with low-contrast text, an image without text and
    a form field without a label has exactly those violations."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!doctype html><html lang="en"><head><title>bad</title></head><body><main>'
        '<p style="color:#bbb;background:#fff">faint text</p><img src="x.png">'
        '<input type="text"></main></body></html>',
        encoding="utf-8",
    )
    (found,) = axe([page]).values()
    assert {v["id"] for v in found} == {"color-contrast", "image-alt", "label"}
