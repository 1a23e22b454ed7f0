"""One function per chart: validated tables and a report window in, a Plotly Figure out.

Each chart is registered with the function that computes the table behind it, so a report can
write that table as CSV beside the chart and the tests can check the figure against it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from escalation import metrics
from escalation.data import LOCAL_TZ, Tables
from escalation.metrics import Window

#: Okabe–Ito colours: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
MARKERS = ["circle", "square", "diamond", "triangle-up", "x", "star", "cross", "triangle-down"]

EVENT_TYPE_COLOURS = {
    "Battles": PALETTE[3],
    "Explosions/Remote violence": PALETTE[0],
    "Violence against civilians": PALETTE[4],
    "Strategic developments": PALETTE[2],
    "Protests": PALETTE[1],
    "Riots": PALETTE[5],
}

#: The turning points annotated on time charts: event_id → short label.
KEY_EVENTS = {
    "EV-20200227-balyun-airstrike": "Balyun strike",
}

BALYUN = "EV-20200227-balyun-airstrike"


@dataclass(frozen=True)
class Chart:
    """A chart builder with the slug it is filed under and the table it is drawn from."""

    slug: str
    build: Callable[[Tables, Window], go.Figure]
    table: Callable[[Tables, Window], pd.DataFrame]

    def __call__(self, tables: Tables, window: Window) -> go.Figure:
        return self.build(tables, window)


def chart(slug: str, table: Callable[[Tables, Window], pd.DataFrame]):
    """Register a builder with its slug and table function."""

    def wrap(build: Callable[[Tables, Window], go.Figure]) -> Chart:
        return Chart(slug, build, table)

    return wrap


def _style(fig: go.Figure, title: str, x_title: str, y_title: str, source_line: str) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 17}},
        template="plotly_white",
        font={"family": "Helvetica, Arial, sans-serif", "size": 13},
        margin={"l": 70, "r": 30, "t": 80, "b": 110},
        legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0},
        hoverlabel={"namelength": -1},
        height=520,
    )
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    fig.add_annotation(text=source_line, xref="paper", yref="paper", x=0, y=-0.36, showarrow=False,
                       xanchor="left", yanchor="top", font={"size": 11, "color": "#555"}, align="left")
    return fig


def _annotate_key_events(fig: go.Figure, tables: Tables, window: Window) -> None:
    """Vertical markers for the key events that were known at `as_of` and fall in the period."""
    known = metrics.known_events(tables, window).set_index("event_id")
    for index, (event_id, label) in enumerate(KEY_EVENTS.items()):
        if event_id not in known.index:
            continue
        day = pd.Timestamp(known.loc[event_id, "event_date"])
        fig.add_vline(x=day, line={"color": "#888", "width": 1, "dash": "dot"})
        fig.add_annotation(x=day, y=1.0 - 0.07 * (index % 3), yref="paper", text=label, showarrow=False,
                           xanchor="left", font={"size": 11, "color": "#333"}, bgcolor="rgba(255,255,255,0.8)")


def _source_line(tables: Tables, window: Window, extra: str = "") -> str:
    return (f"Source: claim-level tables of this project ({len(tables.sources)} public sources); "
            f"{window.label()}.{(' ' + extra) if extra else ''}")


@chart("events-per-day", metrics.daily_event_counts)
def events_per_day(tables: Tables, window: Window) -> go.Figure:
    """Stacked daily events by ACLED event type, with the 7-day rolling mean of the total."""
    counts = metrics.daily_event_counts(tables, window)
    types = [t for t in EVENT_TYPE_COLOURS if t in counts.columns]
    fig = go.Figure()
    for index, event_type in enumerate(types):
        fig.add_bar(x=counts["day"], y=counts[event_type], name=event_type,
                    marker={"color": EVENT_TYPE_COLOURS[event_type], "pattern": {"shape": ["", "/", ".", "x",
                                                                                         "-", "+"][index]}},
                    hovertemplate="%{x|%d %b}: %{y} " + event_type + "<extra></extra>")
    fig.add_scatter(x=counts["day"], y=counts["rolling_7d_mean"], name="7-day rolling mean (all types)",
                    mode="lines", line={"color": "#000", "width": 2, "dash": "dash"},
                    hovertemplate="%{x|%d %b}: mean %{y:.1f} events/day<extra></extra>")
    fig.update_layout(barmode="stack")
    busiest = counts.loc[counts["total"].idxmax()] if len(counts) else None
    title = "Events per day" if busiest is None else (
        f"Events peaked at {int(busiest['total'])} on {busiest['day']:%d %b} "
        f"({int(counts['total'].sum())} events in the period)")
    _style(fig, title, "Day (event date, local time)", "Events per day",
           _source_line(tables, window, "One event = one day at one place (ACLED's unit)."))
    _annotate_key_events(fig, tables, window)
    return fig


def _balyun_history(tables: Tables, window: Window) -> pd.DataFrame:
    return metrics.claim_history(tables, window, BALYUN)


@chart("balyun-claim-timeline", _balyun_history)
def claim_timeline(tables: Tables, window: Window, event_id: str = BALYUN) -> go.Figure:
    """Each claimant's figure for one event as a step line over the time of publication."""
    history = metrics.claim_history(tables, window, event_id)
    fig = go.Figure()
    for index, (claimant, group) in enumerate(history.groupby("claimant", sort=False)):
        times = group["published_local"]
        values = group["value_low"].astype(int)
        fig.add_scatter(
            x=list(times) + [window.as_of.tz_convert(LOCAL_TZ)], y=list(values) + [values.iloc[-1]],
            mode="lines+markers", line_shape="hv", name=claimant,
            line={"color": PALETTE[index % len(PALETTE)], "dash": DASHES[index % len(DASHES)]},
            marker={"symbol": MARKERS[index % len(MARKERS)], "size": [9] * len(group) + [0]},
            customdata=list(zip(group["value_text"], group["source_id"], group["published_at_precision"]))
            + [("", "", "")],
            hovertemplate=f"<b>{claimant}</b><br>%{{x|%d %b %H:%M}}: %{{customdata[0]}}"
                          "<br>source %{customdata[1]} (time known to the %{customdata[2]})<extra></extra>",
        )
    if history.empty:
        title = "No claims about this event were published yet"
    else:
        first, last = history.iloc[0], history.iloc[-1]
        title = (f"The toll went from {first['value_text']} ({first['claimant']}) to "
                 f"{last['value_text']} ({last['claimant']}) in "
                 f"{(last['published_at'] - first['published_at']).total_seconds() / 3600:.0f} hours")
    _style(fig, title, "Time of publication (UTC+3)", "Turkish soldiers killed (claimed)",
           _source_line(tables, window, "Each line is one claimant; a step is a revised figure."))
    return fig
