"""One real build of every report notebook on the shipped data, checked as a reader would open it."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest
from accessibility import launch, violations
from browser import render

from escalation import jobs
from escalation.assets import plotly_asset_name

pytestmark = pytest.mark.slow

PLOTLY_BANNER = re.compile(r"\* plotly\.js v\d")
BLOCKING = ("serious", "critical")


@pytest.fixture(scope="session")
def reports(site) -> Path:
    """The reports of the shared build (conftest's `site`)."""
    return site


def manifests(reports: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(reports.glob("*/manifest.json"))]


def test_every_notebook_becomes_a_report_listed_in_the_index(reports):
    names = [n.stem for n in jobs.discover()]
    index = (reports / "index.html").read_text()
    for name in names:
        assert (reports / name / f"{name}.html").is_file()
        assert (reports / name / "tables" / "key_figures.csv").is_file()
        assert f'href="{name}/{name}.html"' in index
    assert [m["report"] for m in manifests(reports)] == names


def test_each_chart_is_written_as_png_and_svg(reports):
    figures = reports.parent / "figures"
    for manifest in manifests(reports):
        assert manifest["figures"], manifest["report"]
        for slug in manifest["figures"]:
            assert (figures / f"{slug}.png").stat().st_size > 5_000
            assert (figures / f"{slug}.svg").read_text().lstrip().startswith("<svg")
            assert (reports / manifest["report"] / "tables" / f"{slug}.csv").is_file()


def test_reports_share_one_plotly_js_and_reference_no_network_address(reports):
    shared = set()
    for manifest in manifests(reports):
        html = (reports / manifest["report"] / manifest["html"]).read_text()
        assert not PLOTLY_BANNER.search(html), f"{manifest['report']} inlines plotly.js as well"
        scripts = re.findall(r"<script[^>]+src=\"([^\"]+)\"", html)
        assert scripts == [manifest["plotly_js"]], manifest["report"]
        shared.add((reports / manifest["report"] / scripts[0]).resolve())
        assert not re.search(r"<link[^>]+href=", html), "a stylesheet is loaded from outside the page"
        assert not re.findall(r"\bsrc=[\"'](?:https?:)?//", html), "a resource is fetched from the network"
        assert not re.findall(r"url\([\"']?(?:https?:)?//", html), "a stylesheet fetches from the network"
        for cdn in ("cdn.jsdelivr", "cdnjs.cloudflare", "unpkg.com", "cdn.plot.ly", "require.js", "mathjax"):
            assert cdn not in html.lower(), f"{manifest['report']} mentions {cdn}"
    assert len(shared) == 1, shared
    assert PLOTLY_BANNER.search(shared.pop().read_text()[:200])
    assert [f"_assets/{p.name}" for p in (reports / "_assets").iterdir()] == [plotly_asset_name()]


def test_every_chart_renders_offline_in_headless_chromium(reports):
    for manifest in manifests(reports):
        page = reports / manifest["report"] / manifest["html"]
        dom, requested = render(page)
        assert requested == [], f"{page.name} asked the network for {requested}"
        plot_divs = re.findall(r'<div[^>]*\bid="chart-([a-z0-9-]+)"[^>]*>', dom)
        assert sorted(plot_divs) == sorted(manifest["figures"]), page.name
        for slug in plot_divs:
            opening = re.search(rf'<div[^>]*\bid="chart-{slug}"[^>]*>', dom)
            assert "js-plotly-plot" in opening.group(0), f"plotly.js did not draw {slug}"
            body = dom[opening.end():].split('id="chart-')[0]
            assert 'class="main-svg"' in body, f"{slug} has no rendered SVG"
        assert 'id="provenance"' in dom
        # a link the browser left open wraps the rest of the page in hidden copies of itself
        wrapped = [text[:80] for text in re.findall(r'<a class="anchor-link"[^>]*>(.*?)</a>', dom, re.S) if text]
        assert not wrapped, f"{page.name}: heading links hold page content: {wrapped[:3]}"


def test_table_of_contents_links_resolve(reports):
    for manifest in manifests(reports):
        html = (reports / manifest["report"] / manifest["html"]).read_text()
        nav = re.search(r'<nav[^>]*class="report-toc".*?</nav>', html, re.S).group(0)
        targets = re.findall(r'href="#([^"]+)"', nav)
        ids = {unescape(found) for found in re.findall(r'\bid="([^"]+)"', html)}  # as a browser reads them
        assert len(targets) >= 2
        for target in targets:
            assert unescape(target) in ids, target


def test_all_eleven_charts_appear_in_the_reports(reports):
    from escalation.charts import ALL_CHARTS

    shown = {slug for manifest in manifests(reports) for slug in manifest["figures"]}
    assert shown == {chart.slug for chart in ALL_CHARTS}
    assert len(shown) == 11


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
