"""Replay what was known when, in JupyterLab: controls that move `as_of` through the period.

`replay()` returns an ipywidgets box: a slider over the hours of the period (and buttons a day
back or forward), the period's days and the parties to follow; below them the key figures and a
chart, recomputed as they were known at the chosen moment. Everything shown comes from `metrics`
and `charts`, so the replay says exactly what a report built with that `as_of` would say.
"""

from __future__ import annotations

import json
from html import escape

import ipywidgets as widgets
import pandas as pd

from escalation import charts, metrics
from escalation.charts import Chart
from escalation.data import Tables
from escalation.metrics import Window

__all__ = ["replay", "key_figures_html", "parties", "moments"]


def moments(window: Window, step: str = "h") -> list[tuple[str, pd.Timestamp]]:
    """Every `step` from the first to the last local day of the period, and the end (23:59) of each day, as
    the daily reports describe it; labelled in local time."""
    first = pd.Timestamp(f"{window.start:%Y-%m-%d}T00:00").tz_localize(window.zone)
    last = pd.Timestamp(f"{window.end:%Y-%m-%d}T23:59").tz_localize(window.zone)
    ends_of_days = pd.date_range(first + pd.Timedelta(minutes=23 * 60 + 59), last, freq="D")
    stamps = sorted(set(pd.date_range(first, last, freq=step)) | set(ends_of_days))
    return [(f"{stamp:%a %d %b %Y %H:%M}", stamp.tz_convert("UTC")) for stamp in stamps]


def parties(tables: Tables) -> list[str]:
    """The parties the claims are about, most claimed first."""
    return list(tables.claims["party"].value_counts().index.astype(str))


def key_figures_html(tables: Tables, window: Window, followed: tuple[str, ...] | None = None) -> str:
    """The key figures at the window's moment as a small table; `followed` limits the parties shown."""
    figures = metrics.key_figures(tables, window)
    party = figures["figure"].str.split(".").str[1]
    if followed is not None:
        figures = figures.loc[party.isna() | party.isin(followed)]
    rows = "".join(
        f'<tr data-figure="{escape(r.figure)}"><td style="text-align:left">{escape(r.figure)}</td>'
        f'<td class="value" style="text-align:left">'
        f"{r.value_low:,}{'' if r.value_low == r.value_high else f'–{r.value_high:,}'}</td></tr>"
        for r in figures.itertuples())
    return (f'<div class="escalation-table explore-key-figures"><p><strong>{escape(window.label())}</strong></p>'
            '<table><thead><tr><th style="text-align:left">Figure</th><th style="text-align:left">Range claimed</th>'
            f"</tr></thead><tbody>{rows}</tbody></table>"
            "</div>")


def replay(tables: Tables, window: Window, chart: Chart = charts.events_per_day, **chart_options) -> widgets.VBox:
    """Controls for the moment, the period and the parties, with the key figures and `chart` as known then."""
    options = moments(window)
    nearest = min(options, key=lambda option: abs(option[1] - window.as_of))[1]
    moment = widgets.SelectionSlider(options=options, value=nearest, description="as of",
                                     continuous_update=False, layout=widgets.Layout(width="95%"))
    back = widgets.Button(description="one day back", icon="backward")
    forward = widgets.Button(description="one day forward", icon="forward")
    days = [(f"{day:%d %b}", day) for day in pd.date_range(window.start, window.end, freq="D")]
    period = widgets.SelectionRangeSlider(options=days, index=(0, len(days) - 1), description="period",
                                          continuous_update=False, layout=widgets.Layout(width="95%"))
    followed = widgets.SelectMultiple(options=parties(tables), value=tuple(parties(tables)),
                                      description="parties", rows=min(8, len(parties(tables))))
    figures = widgets.HTML()
    plot = widgets.Output()

    def shift(days_by: int) -> None:
        stamps = [stamp for _, stamp in options]
        target = moment.value + pd.Timedelta(days=days_by)
        moment.value = min(stamps, key=lambda stamp: abs(stamp - target))

    def show(_change=None) -> None:
        first, last = period.value
        shown = Window(first, last, moment.value, window.zone, window.week_start)
        figures.value = key_figures_html(tables, shown, tuple(followed.value))
        fig = chart(tables, shown, **chart_options)
        plot.outputs = ({"output_type": "display_data", "metadata": {},
                         "data": {"application/vnd.plotly.v1+json": json.loads(fig.to_json())}},)

    back.on_click(lambda _button: shift(-1))
    forward.on_click(lambda _button: shift(1))
    for control in (moment, period, followed):
        control.observe(show, names="value")
    show()
    return widgets.VBox([moment, widgets.HBox([back, forward]), period, followed, figures, plot])
