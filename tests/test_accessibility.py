"""axe-core finds no serious or critical accessibility violation on any kind of page we publish."""

from __future__ import annotations

import json

import pytest
from accessibility import launch, violations

pytestmark = pytest.mark.slow

BLOCKING = ("serious", "critical")


def page_kinds(site) -> dict[str, str]:
    """A main report, a daily report and the front page of the shared build."""
    main = json.loads(next(site.glob("0[0-9]_*/manifest.json")).read_text())
    daily = json.loads(sorted(site.glob("daily/*/manifest.json"))[-1].read_text())
    return {"report": (site / main["report"] / main["html"]).as_uri(),
            "daily report": (site / daily["report"] / daily["html"]).as_uri(),
            "front page": (site / "index.html").as_uri()}


def test_no_serious_or_critical_violation_on_any_page_kind(site):
    from playwright.sync_api import sync_playwright

    found = {}
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        for kind, url in page_kinds(site).items():
            found[kind] = [v for v in violations(page, url) if v["impact"] in BLOCKING]
        browser.close()
    assert found == {kind: [] for kind in found}, json.dumps(found, indent=1)


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
