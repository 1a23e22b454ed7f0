"""The event map as a reader sees it: rendered to SVG by kaleido in Debian's Chromium, then measured."""

from __future__ import annotations

import os
import re
import shutil

import plotly.io as pio
import pytest

from escalation import charts
from escalation.metrics import Window

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def map_svg(tables) -> str:
    os.environ.setdefault("BROWSER_PATH", shutil.which("chromium") or "/usr/bin/chromium")
    window = Window.from_params("2020-02-01", "2020-03-06", zone=tables.case.timezone)
    fig = charts.event_map(tables, window)
    return pio.to_image(fig, format="svg", width=1000, height=fig.layout.height).decode("utf-8")


def plot_area(svg: str) -> tuple[float, float, float, float]:
    """x, y, width, height of the area inside the axes (the clip rectangle of the xy subplot)."""
    rect = re.search(r'class="axesclip" id="clip\w+xy"><rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" '
                     r'height="([\d.]+)"', svg)
    return tuple(float(v) for v in rect.groups())


def test_the_map_uses_most_of_the_width_beside_its_legend(map_svg):
    x, _, width, _ = plot_area(map_svg)
    legend = float(re.search(r'<g class="legend"[^>]*transform="translate\(([\d.]+)', map_svg).group(1))
    assert width >= 0.85 * (legend - x), f"plot area {width:.0f}px of {legend - x:.0f}px before the legend"


def test_country_labels_lie_inside_the_axes(tables, map_svg):
    x, y, width, height = plot_area(map_svg)
    for name in tables.case.region.map_labels:
        found = re.search(r'<g class="annotation-text-g" transform="rotate\(0,([\d.]+),([\d.]+)\)"'
                          rf'(?:(?!<g class="annotation").)*?>{re.escape(name)}<', map_svg)
        assert found, f"label {name} not drawn"
        assert x <= float(found.group(1)) <= x + width and y <= float(found.group(2)) <= y + height, name


def test_the_slider_says_which_day_is_shown(map_svg):
    current = re.search(r'<text class="slider-label"[^>]*style="([^"]*)"[^>]*>Events up to \d\d \w{3}<', map_svg)
    assert current, "no current-value label on the day slider"
    assert "rgba(0, 0, 0, 0)" not in current.group(1) and "fill-opacity: 0;" not in current.group(1)
