"""The accessibility checker itself catches a violation (the published pages are checked in test_reports.py, which
reads the shared build)."""

from __future__ import annotations

import pytest
from accessibility import launch, violations

pytestmark = pytest.mark.slow


def test_the_checker_catches_a_violation(tmp_path):
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "bad.html"
    page_file.write_text('<html lang="en"><head><title>t</title></head><body><main>'
                         '<div role="img" aria-label="chart"><button>zoom</button></div>'
                         '<p style="color:#8fd19e;background:#fff">ok</p></main></body></html>')
    with sync_playwright() as playwright:
        browser = launch(playwright)
        found = {v["id"] for v in violations(browser.new_page(), page_file.as_uri())}
        browser.close()
    assert {"nested-interactive", "color-contrast"} <= found
