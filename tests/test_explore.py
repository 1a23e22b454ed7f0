"""The replay controls of 00_explore: moving `as_of` shows what a report at that moment would show."""

from __future__ import annotations

import re

import pandas as pd

from escalation import charts, explore, metrics
from escalation.metrics import Window


def figure_values(html: str) -> dict[str, str]:
    return dict(re.findall(r'<tr data-figure="([^"]+)"><td[^>]*>[^<]*</td><td class="value"[^>]*>([^<]+)</td>', html))


def test_moving_as_of_back_a_day_shows_the_key_figures_known_then(tables):
    window = Window.from_params("2020-02-01", "2020-03-06", "2020-02-28T12:00:00+03:00", zone=tables.case.timezone)
    box = explore.replay(tables, window, charts.events_per_day)
    moment, buttons, period, followed, figures, plot = box.children
    assert moment.value == window.as_of
    now = figure_values(figures.value)
    assert now["events"] == f"{len(metrics.known_events(tables, window)):,}"
    buttons.children[0].click()
    assert moment.value == window.as_of - pd.Timedelta(days=1)
    earlier = Window(window.start, window.end, moment.value, window.zone)
    then = figure_values(figures.value)
    assert then["events"] == f"{len(metrics.known_events(tables, earlier)):,}"
    assert then != now
    assert len(plot.outputs) == 1 and "application/vnd.plotly.v1+json" in plot.outputs[0]["data"]


def test_the_parties_control_limits_the_figures_to_the_parties_followed(tables):
    window = Window.from_params("2020-02-01", "2020-03-06", zone=tables.case.timezone)
    box = explore.replay(tables, window)
    followed, figures = box.children[3], box.children[4]
    first = followed.options[0]
    followed.value = (first,)
    shown = figure_values(figures.value)
    assert any(name.startswith(f"killed.{first}") for name in shown)
    assert all(name.split(".")[1] == first for name in shown if name.startswith("killed."))
    assert "events" in shown


def test_moments_cover_the_period_hour_by_hour_in_local_time(tables):
    window = Window.from_params("2020-02-01", "2020-02-02", zone=tables.case.timezone)
    stamps = explore.moments(window)
    assert len(stamps) == 2 * 25
    assert stamps[0][0] == "Sat 01 Feb 2020 00:00" and stamps[-1][0] == "Sun 02 Feb 2020 23:59"
    assert "Sat 01 Feb 2020 23:59" in [label for label, _ in stamps]
    assert stamps[-1][1] == window.as_of
