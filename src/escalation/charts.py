"""One function per chart: validated tables and a report window in, a Plotly Figure out.

Each chart is registered with the function that computes the table behind it, so a report can
write that table as CSV beside the chart and the tests can check the figure against it. Every
figure carries, in `layout.meta`, an alt text generated from its data and a caption that states
its rules and thresholds. Everything a chart says about the case (party labels and colours, the
focal incident, key events, map extent and labels) comes from `tables.case` (case.yaml).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pyarrow as pa
import pyarrow.compute as pc
from plotly.subplots import make_subplots

from escalation import grading, metrics
from escalation.data import Tables
from escalation.metrics import Window

#: Every chart's look. A figure starts with Plotly's default template; a kernel that makes this the default
#: (`kernel_state.warm_up`) spares each figure a validated copy of a second template (~25 ms a figure).
TEMPLATE = "plotly_white"
#: Okabe–Ito colours: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
#: No triangles: an up-triangle means an open-ended "at least N" figure (see the displacement chart).
MARKERS = ["circle", "square", "diamond", "x", "star", "cross", "hexagon", "pentagon"]

EVENT_TYPE_STYLE = {  # colour, bar pattern, marker symbol: two encodings besides the legend text
    "Battles": (PALETTE[3], "", "square"),
    "Explosions/Remote violence": (PALETTE[0], "/", "circle"),
    "Violence against civilians": (PALETTE[4], ".", "diamond"),
    "Strategic developments": (PALETTE[2], "x", "hexagram"),
    "Protests": (PALETTE[1], "-", "star"),
    "Riots": (PALETTE[5], "+", "cross"),
}


def party_style(tables: Tables, party: str) -> tuple[str, str, str]:
    """Colour, dash and marker of a party, stable across charts: by its position in case.yaml, with the
    colour case.yaml gives it (default: the palette's colour for that position)."""
    order = tables.case.party_ids
    index = order.index(party) if party in order else len(order)
    colour = next((p.colour for p in tables.case.parties if p.id == party and p.colour), None)
    return colour or PALETTE[index % len(PALETTE)], DASHES[index % len(DASHES)], MARKERS[index % len(MARKERS)]


@dataclass(frozen=True)
class Chart:
    """A chart builder with the slug it is filed under and the table it is drawn from."""

    slug: str
    build: Callable[..., go.Figure]
    table: Callable[[Tables, Window], pd.DataFrame]

    def __post_init__(self):
        """Carry the builder's name, docstring and signature, for help() and Shift+Tab."""
        for name in ("__module__", "__name__", "__qualname__", "__doc__"):
            object.__setattr__(self, name, getattr(self.build, name))
        object.__setattr__(self, "__wrapped__", self.build)

    def __call__(self, tables: Tables, window: Window, *args, **kwargs) -> go.Figure:
        return self.build(tables, window, *args, **kwargs)

    def __repr__(self) -> str:
        return f"{self.__name__}{inspect.signature(self.build)}  [chart {self.slug!r}]"


def chart(slug: str, table: Callable[[Tables, Window], pd.DataFrame]):
    """Register a builder with its slug and table function."""

    def wrap(build: Callable[[Tables, Window], go.Figure]) -> Chart:
        return Chart(slug, build, table)

    return wrap


def _finish(fig: go.Figure, tables: Tables, window: Window, *, title: str, x_title: str, y_title: str,
            alt: str, caption: str, height: int = 540, bottom: int = 160,
            legend_right: bool = False) -> go.Figure:
    """Shared layout: finding as title, labelled axes, source line, alt text and caption in meta."""
    source = (f"Source: claim-level tables of this project ({len(tables.sources)} public pages); "
              f"{window.label()}.")
    if pio.templates.default != TEMPLATE:
        fig.update_layout(template=TEMPLATE)
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 16}},
        font={"family": "Helvetica, Arial, sans-serif", "size": 13},
        margin={"l": 80, "r": 290 if legend_right else 40, "t": 80, "b": bottom},
        legend=({"orientation": "v", "yanchor": "top", "y": 1, "x": 1.02, "xanchor": "left", "font": {"size": 11}}
                if legend_right else {"orientation": "h", "yref": "container", "yanchor": "bottom",
                                      "y": 28 / height, "x": 0, "font": {"size": 12}}),
        hoverlabel={"namelength": -1, "align": "left"},
        height=height,
        meta={"alt": alt, "caption": f"{caption} Known at: {tables.case.known_at}".strip()},
    )
    if x_title:
        fig.update_xaxes(title_text=x_title)
    if y_title:
        fig.update_yaxes(title_text=y_title)
    fig.add_annotation(text=source, xref="paper", yref="paper", x=0, y=0, yshift=-(bottom - 8), showarrow=False,
                       xanchor="left", yanchor="bottom", font={"size": 11, "color": "#555"})
    return fig


def _annotate_key_events(fig: go.Figure, tables: Tables, window: Window) -> None:
    """Dotted lines and staggered labels for the key events known at `as_of` within the period."""
    known = metrics.known_events(tables, window).set_index("event_id")
    shown = [(event_id, label) for event_id, label in tables.case.key_events.items() if event_id in known.index]
    lines, labels = [], []
    for index, (event_id, label) in enumerate(shown):
        day = pd.Timestamp(known.loc[event_id, "event_date"])
        lines.append({"type": "line", "x0": day, "x1": day, "xref": "x", "y0": 0, "y1": 1, "yref": "y domain",
                      "line": {"color": "#999", "width": 1, "dash": "dot"}})  # what add_vline draws
        labels.append({"x": day, "y": 1.0 - 0.075 * (index % 4), "yref": "paper", "text": label, "showarrow": False,
                       "xanchor": "left", "yanchor": "top", "font": {"size": 10, "color": "#333"},
                       "bgcolor": "rgba(255,255,255,0.85)"})
    _add_to_layout(fig, shapes=lines, annotations=labels)


def _add_to_layout(fig: go.Figure, **items: list[dict]) -> None:
    """Append shapes or annotations in one layout update: each `add_vline` or `add_annotation` call validates
    the layout again (about 4 ms each, 17 of them on a chart of key events)."""
    fig.update_layout({name: [*fig.layout[name], *added] for name, added in items.items() if added})


def place(location: str, width: int = 34) -> str:
    """A place name without its parenthesised detail, short enough for an axis label."""
    return _places(pd.Series([str(location)]), width).iloc[0]


def _places(locations: pd.Series, width: int = 34) -> pd.Series:
    """`place` of each location, cut by Arrow in one pass over the column."""
    text = pa.array(locations.astype(pd.ArrowDtype(pa.string())))
    short = pc.utf8_slice_codeunits(pc.list_element(pc.split_pattern(text, " (", max_splits=1), 0), 0, width)
    return pd.Series(short.to_numpy(zero_copy_only=False), index=locations.index, dtype=object)


def _short_place(location: str) -> str:
    """Axis-sized place: 'place n/k' where the pages give only the region (data/README: 'place not given')."""
    return "place n/k" if "place not given" in str(location) else place(location, 13)


#: Bar patterns of incident grades: plain when confirmed, hatched when single-source, cross-hatched when contested.
GRADE_PATTERNS = {"confirmed": "", "single-source": "/", "contested": "x"}


def _claimant_style(index: int) -> tuple[str, str]:
    """Colour and marker for the index-th claimant: 64 distinct pairs before any repeats."""
    return PALETTE[index % len(PALETTE)], MARKERS[(index + index // len(PALETTE)) % len(MARKERS)]


def _fmt(value: int | float) -> str:
    return f"{int(value):,}"


# 1 ------------------------------------------------------------------------------------------------
def _events_with_weeks(tables: Tables, window: Window) -> pd.DataFrame:
    counts = metrics.daily_event_counts(tables, window)
    offset = 5 if window.week_start == "saturday" else 0
    counts["week_starting"] = counts["day"] - pd.to_timedelta((counts["day"].dt.weekday - offset) % 7, unit="D")
    return counts


DAY_MS = 86_400_000
#: Bars drawn over time at most: a longer period is drawn per week, or per month (a reader sees no more, and
#: ten years of daily bars by type took Chromium half a minute to draw); daily lines longer than this have no
#: marker per day.
MAX_BARS = 400


def _bins(counts: pd.DataFrame) -> tuple[str, pd.Series]:
    """The unit of the bars and the first day of each day's bar: days while the period has at most MAX_BARS,
    else the table's weeks while they are few enough, else calendar months."""
    if len(counts) <= MAX_BARS:
        return "day", counts["day"]
    if counts["week_starting"].nunique() <= MAX_BARS:
        return "week", counts["week_starting"]
    return "month", counts["day"].dt.to_period("M").dt.start_time


@chart("events-per-day", _events_with_weeks)
def events_per_day(tables: Tables, window: Window) -> go.Figure:
    """Stacked daily events by ACLED event type, with the 7-day rolling mean of the total; over a long period,
    the mean events per day of each week or month."""
    counts = _events_with_weeks(tables, window)
    unit, starts = _bins(counts)
    types = [event_type for event_type in EVENT_TYPE_STYLE if event_type in counts.columns]
    fig = go.Figure()
    if unit == "day":
        for event_type in types:
            colour, pattern, _ = EVENT_TYPE_STYLE[event_type]
            fig.add_bar(x=counts["day"], y=counts[event_type], name=event_type,
                        marker={"color": colour, "pattern": {"shape": pattern}},
                        hovertemplate="%{x|%a %d %b}: %{y} × " + event_type + "<extra></extra>")
    else:
        per_bin = counts.groupby(starts)
        means = per_bin[types].sum().div(per_bin.size(), axis=0)  # over the bin's days inside the period
        period = {"xperiod": "M1"} if unit == "month" else {"xperiod": 7 * DAY_MS, "xperiod0": means.index[0]}
        for event_type in types:
            colour, pattern, _ = EVENT_TYPE_STYLE[event_type]
            fig.add_bar(x=means.index, y=means[event_type].round(2), name=event_type, xperiodalignment="middle",
                        marker={"color": colour, "pattern": {"shape": pattern}}, **period,
                        customdata=means.index.strftime("%d %b %Y"),
                        hovertemplate=(f"{unit} from %{{customdata}}: %{{y}} events per day × {event_type}"
                                       "<extra></extra>"))
    fig.add_scatter(x=counts["day"], y=counts["rolling_7d_mean"], name="7-day rolling mean, all types",
                    mode="lines", line={"color": "#000", "width": 2.5, "dash": "dash"},
                    hovertemplate="%{x|%d %b}: %{y:.1f} events/day (mean of 7 days to this day)<extra></extra>")
    fig.update_layout(barmode="stack")
    total = int(counts["total"].sum())
    if total:
        busiest = counts.loc[counts["total"].idxmax()]
        title = (f"Events peaked at {int(busiest['total'])} on {busiest['day']:%d %b}: "
                 f"{total} events in {len(counts)} days")
    else:
        title = "No events reported in this period yet"
    weekly = counts.groupby("week_starting")["total"].sum()
    week_rule = ("ACLED weeks (Saturday to Friday)" if window.week_start == "saturday"
                 else "ISO weeks (Monday to Sunday)")
    busiest_week = (f" The busiest week began {weekly.idxmax():%d %b} ({int(weekly.max())} events)."
                    if total else "")
    binned = ("" if unit == "day" else
              f" The period has {len(counts):,} days, more bars than can be told apart: each bar is the mean number "
              f"of events per day of its {unit} (of its days inside the period), by type; the table lists every day.")
    _finish(fig, tables, window, title=title, x_title="Day of the event (local time)",
            y_title="Events per day",
            alt=(f"Stacked bar chart of events per day by type{'' if unit == 'day' else f', averaged per {unit}'}. "
                 f"{title}.{busiest_week}"),
            caption=(f"One event is one day at one place (ACLED's unit). Weeks in the table are {week_rule}. "
                     f"The dashed line is the mean of the 7 days ending on each day.{binned}"))
    _annotate_key_events(fig, tables, window)
    return fig


# 2 ------------------------------------------------------------------------------------------------
@chart("cumulative-deaths", metrics.cumulative_deaths)
def cumulative_deaths(tables: Tables, window: Window) -> go.Figure:
    """Cumulative deaths by party as a band from the lowest to the highest current claims."""
    table = metrics.cumulative_deaths(tables, window)
    fig = go.Figure()
    finals = []
    for party, group in table.groupby("party", sort=False):
        colour, dash, marker = party_style(tables, party)
        label = tables.case.party_label(party)
        fig.add_scatter(x=group["day"], y=group["high"], mode="lines", line={"width": 0, "color": colour},
                        showlegend=False, hoverinfo="skip", legendgroup=party)
        fig.add_scatter(x=group["day"], y=group["low"], mode="lines", fill="tonexty", line={"width": 0},
                        fillcolor=_rgba(colour, 0.18), name=f"{label}: low–high", legendgroup=party,
                        showlegend=False, hoverinfo="skip")
        fig.add_scatter(x=group["day"], y=group["best"], name=label,
                        mode="lines+markers" if len(group) <= MAX_BARS else "lines",  # dashes still tell apart
                        legendgroup=party, line={"color": colour, "dash": dash, "width": 2},
                        marker={"symbol": marker, "size": 5},
                        customdata=group[["low", "high"]],
                        hovertemplate=(f"<b>{label}</b> by %{{x|%d %b}}<br>best %{{y}}, "
                                       "range %{customdata[0]}–%{customdata[1]}<extra></extra>"))
        last = group.iloc[-1]
        finals.append((label, int(last["low"]), int(last["best"]), int(last["high"])))
    finals.sort(key=lambda f: -f[2])
    if finals:
        title = f"Killed by {window.last_day:%d %b}, confirmed to highest claims: " + "; ".join(
            f"{label} {_fmt(low)}–{_fmt(high)}" for label, low, _, high in finals[:2])
    else:
        title = "No death claims published yet for this period"
    summary = "; ".join(f"{label} {low}–{high} (best {best})" for label, low, best, high in finals)
    _finish(fig, tables, window, title=title, x_title="Day of the incident (local time)",
            y_title="Deaths since the start of the period",
            alt=f"Cumulative deaths by party as bands. {summary}.",
            caption=(metrics.BEST_RULE + " " + grading.GRADE_RULE + " A band's low edge adds up the confirmed "
                     "figure of every incident, its high edge the highest current claim (an 'at least N' counts as "
                     "N). Agencies' running totals are compared in the reconciliation chart, not added here. "
                     "Shaded: low–high; line: best. Lines end at the moment described."), height=600, bottom=190)
    _annotate_key_events(fig, tables, window)
    return fig


def _rgba(hex_colour: str, alpha: float) -> str:
    red, green, blue = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


# 3 ------------------------------------------------------------------------------------------------
#: Incidents drawn as bars at most (the deadliest).
FOCAL_INCIDENTS = 60


@chart("focal-deaths-by-incident", metrics.incident_claims)
def focal_deaths_by_incident(tables: Tables, window: Window) -> go.Figure:
    """The focal party's deaths: one bar per incident at the best figure; each claimant's current figure as a
    marker."""
    all_claims = metrics.incident_claims(tables, window)
    all_incidents = all_claims.drop_duplicates("event_id")
    claims, incidents, cut = all_claims, all_incidents, ""
    if len(all_incidents) > FOCAL_INCIDENTS:  # the deadliest by the best figure (ties: the earlier)
        top = set(all_incidents.sort_values(["best", "event_date", "event_id"], ascending=[False, True, True])
                  ["event_id"].head(FOCAL_INCIDENTS))
        claims, incidents = all_claims.loc[all_claims["event_id"].isin(top)], all_incidents.loc[
            all_incidents["event_id"].isin(top)]
        cut = (f" Only the {FOCAL_INCIDENTS} incidents with the highest best figures are drawn (of "
               f"{len(all_incidents):,}); the title counts them all and the table lists every claim.")
    labels = {row.event_id: f"{pd.Timestamp(row.event_date):%d %b}<br>{_short_place(row.location)}"
              for row in incidents.itertuples()}
    fig = go.Figure()
    for grade, pattern in GRADE_PATTERNS.items():
        graded = incidents.loc[incidents["grade"] == grade]
        if graded.empty:
            continue
        fig.add_bar(x=[labels[e] for e in graded["event_id"]], y=graded["best"], name=f"best figure, {grade}",
                    marker={"color": "#bbbbbb", "pattern": {"shape": pattern, "fgcolor": "#555"}},
                    customdata=graded[["low", "high", "grade"]],
                    hovertemplate=("%{x}<br>best %{y}, range %{customdata[0]}–%{customdata[1]}"
                                   "<br>incident %{customdata[2]}<extra></extra>"))
    for index, (claimant, group) in enumerate(claims.groupby("claimant", sort=True)):
        colour, symbol = _claimant_style(index)
        adversary = group["stance"] == "adversary"
        fig.add_scatter(
            x=[labels[e] for e in group["event_id"]], y=group["value_low"], mode="markers", name=claimant,
            marker={"symbol": [f"{symbol}-open" if a else symbol for a in adversary], "size": 11, "color": colour,
                    "line": {"width": [2.5 if a else 1 for a in adversary],
                             "color": [colour if a else "#222" for a in adversary]}},
            customdata=group[["value_text", "source_id", "stance"]].assign(
                stance=group["stance"].str.replace("_", " ")),
            hovertemplate=(f"<b>{claimant}</b> (%{{customdata[2]}}): %{{customdata[0]}}<br>source "
                           "%{customdata[1]}<extra></extra>"))
    focal = tables.case.focal
    party = tables.case.party_label(focal.party)
    if len(all_incidents):
        worst = all_incidents.loc[all_incidents["best"].idxmax()]
        spread = all_claims.loc[all_claims["event_id"] == worst["event_id"], "value_low"]
        title = (f"{int(all_incidents['best'].sum())} {deaths_label(tables)} in {len(all_incidents)} incidents by "
                 f"the best figures; claims for {pd.Timestamp(worst['event_date']):%d %b} range "
                 f"{int(spread.min())}–{int(worst['high'])}")
        contested = int((all_incidents["grade"] == "contested").sum())
        title += f"; {contested} contested" if contested else ""
    else:
        title = f"No {party} deaths claimed yet"
    _finish(fig, tables, window, title=title, x_title="Incident (date and place)",
            y_title=f"{deaths_label(tables)} (claimed)",
            alt=f"Bar chart of {party} deaths per incident with each claimant as a marker. {title}.",
            caption=("Bars: the best figure (median of each claimant's latest claim), plain for confirmed "
                     "incidents, hatched for single-source ones, cross-hatched for contested ones. Markers: each "
                     "claimant's latest figure, hollow where the claimant is the party's adversary; an 'at least N' "
                     "is drawn at N. " + metrics.BEST_RULE + " " + grading.GRADE_RULE + cut), height=600,
            bottom=130, legend_right=True)
    fig.update_layout(barmode="overlay", xaxis={"tickangle": -35, "tickfont": {"size": 10}, "categoryorder": "array",
                                                "categoryarray": [labels[e] for e in incidents["event_id"]]})
    return fig


def deaths_label(tables: Tables) -> str:
    """How the focal party's dead are named: case.yaml's focal.deaths_label, else '<party label> killed'."""
    focal = tables.case.focal
    return focal.deaths_label or f"{tables.case.party_label(focal.party)} killed"


# 4 ------------------------------------------------------------------------------------------------
@chart("focal-claim-timeline", metrics.claim_history)
def claim_timeline(tables: Tables, window: Window, event_id: str | None = None) -> go.Figure:
    """Each claimant's figure for one incident (default: the case's focal incident) as a step line over the time
    of publication."""
    history = metrics.claim_history(tables, window, event_id)
    fig = go.Figure()
    end = window.local(window.as_of)
    for index, (claimant, group) in enumerate(history.groupby("claimant", sort=False)):
        times = list(group["published_local"]) + [end]
        values = list(group["value_low"].astype(int)) + [int(group["value_low"].iloc[-1])]
        texts = list(group["value_text"]) + ["(still current)"]
        fig.add_scatter(
            x=times, y=values, mode="lines+markers", line_shape="hv", name=claimant,
            line={"color": PALETTE[index % len(PALETTE)], "dash": DASHES[index % len(DASHES)], "width": 2},
            marker={"symbol": MARKERS[index % len(MARKERS)], "size": [10] * len(group) + [0]},
            customdata=list(zip(texts, list(group["source_id"]) + [""],
                                list(group["published_at_precision"]) + [""])),
            hovertemplate=(f"<b>{claimant}</b><br>%{{x|%d %b %H:%M}}: %{{customdata[0]}}"
                           "<br>source %{customdata[1]}, time known to the %{customdata[2]}<extra></extra>"))
    if history.empty:
        title = "No claims about this event had been published yet"
        alt = title
    else:
        reviser, revisions = _most_revised(history)
        steps = " → ".join(str(int(v)) for v in revisions)
        last = history.iloc[-1]
        shown = event_id or metrics.focal_event(tables)
        name = tables.case.focal.name if shown == metrics.focal_event(tables) else _event_place(tables, shown)
        title = (f"The {name} toll as revised: {reviser} {steps}; latest {last['value_text']} "
                 f"({last['claimant']})" if len(revisions) > 1
                 else f"Latest figure: {last['value_text']} ({last['claimant']})")
        alt = (f"Step chart of {len(history)} claims by {history['claimant'].nunique()} claimants over time. "
               + "; ".join(f"{c}: {', '.join(g['value_text'])}" for c, g in history.groupby("claimant", sort=False)))
    _finish(fig, tables, window, title=title, x_title=f"Time of publication ({window.zone_label()})",
            y_title=f"{deaths_label(tables)} (claimed)", alt=alt,
            caption=("Each line is one claimant; a step is a revised figure placed at its publication time. "
                     "Claims whose page gives only a date are placed at the end of that day. 'At least N' is "
                     "drawn at N. The axis shows the first 72 hours; later restatements are in the table."),
            height=560, bottom=130, legend_right=True)
    if not history.empty:
        first = history["published_local"].iloc[0]
        fig.update_xaxes(range=[first - pd.Timedelta(hours=6), min(end, first + pd.Timedelta(hours=72))])
    return fig


def _event_place(tables: Tables, event_id: str) -> str:
    """An event's place and day, for a title."""
    event = tables.events.loc[tables.events["event_id"] == event_id].iloc[0]
    return f"{place(event['location'])} ({pd.Timestamp(event['event_date']):%d %b})"


def _most_revised(history: pd.DataFrame) -> tuple[str, list[int]]:
    """The claimant who changed their figure most often (ties: the first to publish), and their successive
    figures (a repeated figure once)."""
    figures = {claimant: [int(v) for v in group["value_low"]]
               for claimant, group in history.groupby("claimant", sort=False)}
    steps = {claimant: [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]
             for claimant, values in figures.items()}
    reviser = max(steps, key=lambda claimant: len(steps[claimant]))
    return reviser, steps[reviser]


# 5 ------------------------------------------------------------------------------------------------
@chart("reconciliation", metrics.reconciliation)
def reconciliation(tables: Tables, window: Window) -> go.Figure:
    """Agencies' running totals against the sum of incident claims known at each moment."""
    totals = metrics.reconciliation(tables, window)
    over_time = metrics.incident_sum_over_time(tables, window)
    fig = go.Figure()
    if not over_time.empty:
        fig.add_scatter(x=over_time["moment_local"], y=over_time["high"], mode="lines", line_shape="hv",
                        line={"width": 0, "color": PALETTE[0]}, showlegend=False, hoverinfo="skip")
        fig.add_scatter(x=over_time["moment_local"], y=over_time["low"], mode="lines", line_shape="hv",
                        fill="tonexty", fillcolor=_rgba(PALETTE[0], 0.15), line={"width": 0},
                        name="incident claims: low–high", hoverinfo="skip")
        fig.add_scatter(x=over_time["moment_local"], y=over_time["best"], mode="lines", line_shape="hv",
                        name="sum of incident claims (best)", line={"color": PALETTE[0], "width": 2.5},
                        customdata=over_time[["low", "high", "incidents"]],
                        hovertemplate=("%{x|%d %b %H:%M}: incidents sum to %{y} "
                                       "(%{customdata[0]}–%{customdata[1]}, %{customdata[2]} incidents)"
                                       "<extra></extra>"))
    for index, (claimant, group) in enumerate(totals.groupby("claimant", sort=True)):
        colour, symbol = _claimant_style(index + 1)
        fig.add_scatter(
            x=group["published_local"], y=group["reported"], mode="markers", name=f"{claimant} running total",
            marker={"symbol": symbol, "size": 11, "color": colour,
                    "line": {"width": 1, "color": "#222"}},
            customdata=group[["value_text", "incident_best", "gap_to_best", "source_id"]],
            hovertemplate=(f"<b>{claimant}</b>, %{{x|%d %b %H:%M}}: %{{customdata[0]}}<br>"
                           "incident claims known then sum to %{customdata[1]}: gap %{customdata[2]:+d}"
                           "<br>source %{customdata[3]}<extra></extra>"))
    party = tables.case.party_label(tables.case.focal.party)
    if len(totals):
        busiest = _busiest_day(totals)
        row = totals.loc[totals["published_local"].dt.date == busiest].iloc[-1]
        title = (f"On {busiest:%d %b} {row['claimant']} reported {row['reported']} {party} deaths since "
                 f"{_day(row['period_start'])}; incident claims then summed to {row['incident_best']} "
                 f"(gap {row['gap_to_best']:+d})")
    else:
        title = "No running totals published yet"
    _finish(fig, tables, window, title=title, x_title=f"Time of publication ({window.zone_label()})",
            y_title=f"{party} deaths since {_day(window.start)}",
            alt=(f"Running totals of {party} deaths ({len(totals)} reports) against the sum of incident "
                 f"claims over time. {title}."),
            caption=("Markers: totals as agencies and officials reported them. Line and band: the incident-level "
                     f"claims about {party} deaths in the period that had been published by each moment, "
                     "combined per incident by the best rule. A positive gap means the total counts deaths no "
                     "incident claim in this data carries (or uses a later figure); a negative one, the reverse. "
                     "Some totals include civilian personnel; see each claim's notes."), height=580, bottom=130,
            legend_right=True)
    return fig


def _day(value) -> str:
    """'1 Feb': a day as titles print it."""
    day = pd.Timestamp(value)
    return f"{day.day} {day:%b}"


def _busiest_day(totals: pd.DataFrame):
    """The local day on which the most running totals were published (ties: the earlier day, when the
    picture was first widely reported)."""
    days = totals["published_local"].dt.date.value_counts()
    return min(days.index, key=lambda day: (-days[day], day))


# 6 ------------------------------------------------------------------------------------------------
def _borders() -> dict:
    return json.loads((files("escalation") / "geodata" / "borders.geojson").read_text(encoding="utf-8"))


#: Above this many located events the map draws grid cells (count and deaths per cell) instead of events...
MAP_EVENT_LIMIT = 2_000
#: ...a day slider is offered when the events fall on at most this many days...
MAP_SLIDER_DAYS = 120
#: ...and places are named on the map when there are at most this many of them (else in the hover text only).
MAP_PLACE_LABELS = 80
#: The grid has about this many cells along the map's longer side, of a round size in degrees.
MAP_GRID_CELLS, MAP_CELL_SIZES = 60, (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


@chart("event-map", metrics.map_points)
def event_map(tables: Tables, window: Window) -> go.Figure:
    """Events on an offline map: size by deaths, colour and symbol by type, a slider over days; above
    MAP_EVENT_LIMIT located events, grid cells sized by their events and coloured by their deaths."""
    points = metrics.map_points(tables, window)
    known = metrics.known_events(tables, window)
    lons, lats = points["longitude"], points["latitude"]
    extent = tables.case.region.map_extent
    labels = tables.case.region.map_labels
    x_range = y_range = None
    if extent or len(points):
        west, east, south, north = extent or (lons.min(), lons.max(), lats.min(), lats.max())
        label_lons, label_lats = [lon for lon, _ in labels.values()], [lat for _, lat in labels.values()]
        # the case's place labels are inside the map, never drawn over the axes
        drawn_lons = [lons.min(), lons.max()] if len(points) else []
        drawn_lats = [lats.min(), lats.max()] if len(points) else []
        x_range = [min([west, *drawn_lons, *label_lons]) - 0.3, max([east, *drawn_lons, *label_lons]) + 0.3]
        y_range = [min([south, *drawn_lats, *label_lats]) - 0.2, max([north, *drawn_lats, *label_lats]) + 0.2]
    fig = go.Figure()
    for feature in _borders()["features"]:
        xs, ys = [], []
        for line in feature["geometry"]["coordinates"]:
            xs += [p[0] for p in line] + [None]
            ys += [p[1] for p in line] + [None]
        shown_x, shown_y = [x for x in xs if x is not None], [y for y in ys if y is not None]
        if x_range and (min(shown_x) <= x_range[1] and max(shown_x) >= x_range[0]
                        and min(shown_y) <= y_range[1] and max(shown_y) >= y_range[0]):  # outlines the map shows
            fig.add_scatter(x=xs, y=ys, mode="lines", line={"color": "#9a9a9a", "width": 1}, hoverinfo="skip",
                            showlegend=False, name=feature["properties"]["name"])
    _add_to_layout(fig, annotations=[{"x": lon, "y": lat, "text": name, "showarrow": False,
                                      "font": {"size": 13, "color": "#999"}} for name, (lon, lat) in labels.items()])
    if len(points) > MAP_EVENT_LIMIT:
        how_drawn = _draw_cells(fig, points, x_range, y_range)
    else:
        how_drawn = _draw_events(fig, points)
    if x_range:
        fig.update_xaxes(range=x_range)
        fig.update_yaxes(range=y_range)
    # constrain="range": keeping the scale widens the ranges to fill the plot area instead of narrowing it
    fig.update_yaxes(scaleanchor="x", scaleratio=1.23, showgrid=False, zeroline=False, constrain="range")
    fig.update_xaxes(showgrid=False, zeroline=False, constrain="range")
    located_share = f"{len(points)} of {len(known)} events"
    deadliest = points.loc[points["best"].idxmax()] if len(points) else None
    title = (f"{located_share} have coordinates; the deadliest located event: {place(deadliest['location'])}, "
             f"{pd.Timestamp(deadliest['event_date']):%d %b} ({deadliest['best']} killed, best)"
             if deadliest is not None else
             f"None of the {len(known)} events of this period has coordinates on a cited page; see the event list")
    _finish(fig, tables, window, title=title, x_title="Longitude (°E)", y_title="Latitude (°N)",
            alt=(f"Map of {len(points)} located events sized by deaths. {title}. "
                 f"{len(known) - len(points)} events have no coordinates on any cited page and are not drawn."
                 + (f" {how_drawn}" if how_drawn else "")),
            caption=("Points are drawn only where a cited gazetteer page gives coordinates; events elsewhere or "
                     "without coordinates are listed in the table. Marker area grows with the best death figure. "
                     + (f"{how_drawn} " if how_drawn else "")
                     + "Borders: Natural Earth 1:50m, shipped with this project (no map tiles, no network)."),
            height=700, legend_right=True)
    fig.update_layout(margin={"b": 190})
    return fig


def _draw_events(fig: go.Figure, points: pd.DataFrame) -> str:
    """One marker per event, a trace per day and event type, and a slider that replays the days (when they
    are few enough); returns what the caption must add about how the events are drawn."""
    places = points.groupby(["latitude", "longitude"], sort=True)
    if places.ngroups <= MAP_PLACE_LABELS:
        _add_to_layout(fig, annotations=[
            {"x": lon, "y": lat, "text": min((place(loc).split(" and ")[0] for loc in group["location"]), key=len),
             "showarrow": False, "yshift": 16 if index % 2 else -18, "font": {"size": 11, "color": "#111"},
             "bgcolor": "rgba(255,255,255,0.75)"}
            for index, ((lat, lon), group) in enumerate(places)])
    event_days = metrics.as_days(points["event_date"])
    days = sorted(event_days.unique())
    with_slider = len(days) <= MAP_SLIDER_DAYS
    border_traces = len(fig.data)
    groups = points.assign(day=event_days if with_slider else pd.NaT, when=event_days.dt.strftime("%d %b %Y")
                           ).groupby(["day", "event_type"], dropna=False)
    for (day, event_type), group in groups:
        colour, _, symbol = EVENT_TYPE_STYLE[event_type]
        when = f", {pd.Timestamp(day):%d %b}" if with_slider else ", %{customdata[6]}"
        fig.add_scatter(
            x=group["longitude"], y=group["latitude"], mode="markers", name=event_type,
            legendgroup=event_type, showlegend=False,
            marker={"size": 9 + 3 * group["best"].clip(upper=60) ** 0.5, "color": colour, "symbol": symbol,
                    "opacity": 0.8, "line": {"width": 1, "color": "#222"}},
            customdata=group[["location", "sub_event_type", "best", "low", "high", "source_ids"]
                             + ([] if with_slider else ["when"])],
            hovertemplate=(f"<b>%{{customdata[0]}}</b>{when}<br>%{{customdata[1]}}"
                           "<br>deaths best %{customdata[2]} (%{customdata[3]}–%{customdata[4]})"
                           "<br>sources %{customdata[5]}<extra></extra>"))
        if with_slider:
            fig.data[-1].meta = {"day": f"{pd.Timestamp(day):%Y-%m-%d}"}
    for event_type, (colour, _, symbol) in EVENT_TYPE_STYLE.items():
        if event_type in set(points["event_type"]):
            fig.add_scatter(x=[None], y=[None], mode="markers", name=event_type, legendgroup=event_type,
                            marker={"size": 10, "color": colour, "symbol": symbol})
    if not with_slider:
        return (f"The events fall on {len(days):,} days, more than a day slider can show ({MAP_SLIDER_DAYS}): "
                "all are drawn at once.")
    event_traces = range(border_traces, len(fig.data))
    steps = []
    for day in days:
        visible = [True] * len(fig.data)
        for index in event_traces:
            trace_day = (fig.data[index].meta or {}).get("day")
            if trace_day and pd.Timestamp(trace_day) > day:
                visible[index] = False
        steps.append({"method": "update", "label": f"{pd.Timestamp(day):%d %b}", "args": [{"visible": visible}]})
    if steps:
        fig.update_layout(sliders=[{"active": len(steps) - 1, "steps": steps, "y": -0.12, "len": 1.0,
                                    "currentvalue": {"prefix": "Events up to ",
                                                     "font": {"size": 13, "color": "#222"}},
                                    "font": {"color": "rgba(0,0,0,0)"}, "pad": {"t": 30}}])
    return ""


def _draw_cells(fig: go.Figure, points: pd.DataFrame, x_range: list[float], y_range: list[float]) -> str:
    """Events counted per square grid cell: one marker per cell, its area by events, its colour by deaths
    (best); returns the caption's sentence on how they were aggregated."""
    span = max(x_range[1] - x_range[0], y_range[1] - y_range[0])
    size = next((s for s in MAP_CELL_SIZES if s * MAP_GRID_CELLS >= span), MAP_CELL_SIZES[-1])
    # places by their rank among the distinct place names: grouped as numbers, ties broken by name
    codes, distinct = pd.factorize(points["location"], use_na_sentinel=False)
    names = np.asarray(pd.Series(distinct).astype(str), dtype=object)
    order = np.argsort(names, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    located = pd.DataFrame({"cell_x": (points["longitude"].astype(float) // size).astype("int64").to_numpy(),
                            "cell_y": (points["latitude"].astype(float) // size).astype("int64").to_numpy(),
                            "place": rank[codes], "best": points["best"].to_numpy()})
    cells = located.groupby(["cell_x", "cell_y"]).agg(events=("place", "size"), deaths=("best", "sum"))
    busiest = (located.groupby(["cell_x", "cell_y", "place"]).size().rename("n").reset_index()
               .sort_values(["cell_x", "cell_y", "n", "place"], ascending=[True, True, False, True])
               .drop_duplicates(["cell_x", "cell_y"]).set_index(["cell_x", "cell_y"]))
    busiest["place"] = names[order][busiest["place"].to_numpy()]
    cells = cells.join(busiest).reset_index()
    cells["lon"] = (cells["cell_x"] + 0.5) * size
    cells["lat"] = (cells["cell_y"] + 0.5) * size
    most = max(int(cells["events"].max()), 1)
    fig.add_scatter(
        x=cells["lon"], y=cells["lat"], mode="markers", name="events per grid cell",
        marker={"symbol": "square", "size": 5 + 25 * (cells["events"] / most) ** 0.5, "color": cells["deaths"],
                "colorscale": "YlOrRd", "showscale": True, "line": {"width": 0.5, "color": "#222"},
                "colorbar": {"title": {"text": "deaths (best)"}, "x": 1.02, "y": 0.45, "len": 0.6}},
        customdata=cells[["events", "deaths", "place", "n"]],
        hovertemplate=("%{customdata[0]:,} events, %{customdata[1]:,} deaths (best)<br>cell centred at "
                       "%{y:.2f}°N %{x:.2f}°E<br>most events at %{customdata[2]} (%{customdata[3]:,})"
                       "<extra></extra>"))
    return (f"The {len(points):,} located events are more than the {MAP_EVENT_LIMIT:,} drawn one by one: they are "
            f"counted in {len(cells):,} grid cells of {size:g}° × {size:g}°, each drawn as a square at the cell's "
            "centre, its area by its number of events and its colour by their deaths (best); the table lists "
            "every event. No day slider.")


# 7 ------------------------------------------------------------------------------------------------
#: Places drawn on the timeline of territorial changes at most (those that changed hands most often).
TERRITORY_PLACES = 40
#: Items an alt text lists at most.
ALT_ITEMS = 60


@chart("territorial-changes", metrics.territorial_changes)
def territorial_changes(tables: Tables, window: Window) -> go.Figure:
    """Which places changed hands on which day, and to whom."""
    changes = metrics.territorial_changes(tables, window)
    changes["place"] = _places(changes["location"])
    counts = changes["place"].value_counts()
    most = counts.index[0] if len(counts) else None
    title = (f"{len(changes)} reported changes of control; {most} changed hands {counts.iloc[0]} times"
             if most else "No change of control reported yet")
    all_changes, places = len(changes), len(counts)
    if places > TERRITORY_PLACES:  # the places that changed hands most often (ties: the first to change)
        first_change = metrics.as_days(changes["event_date"]).groupby(changes["place"]).min()
        ranked = pd.DataFrame({"n": counts, "first": first_change.reindex(counts.index)}).reset_index()
        kept = ranked.sort_values(["n", "first", "place"], ascending=[False, True, True])["place"].head(
            TERRITORY_PLACES)
        changes = changes.loc[changes["place"].isin(set(kept))]
    order = list(dict.fromkeys(changes.sort_values("event_date")["place"]))
    fig = go.Figure()
    sides = tables.case.control_changes
    styles = {sides["Government regains territory"]: (PALETTE[3], "triangle-right"),
              sides["Non-state actor overtakes territory"]: (PALETTE[0], "triangle-left")}
    for taken_by, group in changes.groupby("taken_by", sort=True):
        colour, symbol = styles[taken_by]
        fig.add_scatter(
            x=metrics.as_days(group["event_date"]), y=group["place"], mode="markers",
            name=f"taken by {taken_by.lower()}", marker={"symbol": symbol, "size": 14, "color": colour,
                                                         "line": {"width": 1, "color": "#222"}},
            customdata=group[["actor1", "actor2", "notes", "source_ids"]],
            hovertemplate=("<b>%{y}</b>, %{x|%d %b}<br>%{customdata[0]} took it from %{customdata[1]}"
                           "<br>%{customdata[2]}<br>sources %{customdata[3]}<extra></extra>"))
    by_place = dict(tuple(changes.groupby("place", sort=False)))
    for name in order:
        rows = by_place[name]
        if len(rows) > 1:
            fig.add_scatter(x=metrics.as_days(rows["event_date"]), y=rows["place"], mode="lines",
                            line={"color": "#bbb", "width": 1}, showlegend=False, hoverinfo="skip")
    listed = [f"{r.place} {pd.Timestamp(r.event_date):%d %b} to {r.taken_by.lower()}"
              for r in changes.head(ALT_ITEMS).itertuples()]
    more = f"; and {len(changes) - ALT_ITEMS} more" if len(changes) > ALT_ITEMS else ""
    cut = (f" Only the {TERRITORY_PLACES} places that changed hands most often are drawn ({len(changes):,} of "
           f"{all_changes:,} changes, {places:,} places); the table lists every change." if places > len(order) else "")
    _finish(fig, tables, window, title=title, x_title="Day of the change (local time)", y_title="",
            alt=f"Timeline of {all_changes} territorial changes. {title}. " + "; ".join(listed) + more + cut,
            caption=("One marker per reported change of control (ACLED's 'Government regains territory' and "
                     "'Non-state actor overtakes territory'); where sources give different dates, the notes "
                     "in the table and the hover text list them." + cut), height=max(480, 260 + 30 * len(order)),
            bottom=150)
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=list(reversed(order)), automargin=True,
                     tickmode="linear", dtick=1)
    fig.update_xaxes(range=[window.start - pd.Timedelta(days=1), window.end + pd.Timedelta(days=1)])
    return fig


# 8 ------------------------------------------------------------------------------------------------
@chart("displacement", metrics.displacement_series)
def displacement(tables: Tables, window: Window) -> go.Figure:
    """The case's displacement measure, as each claimant published it."""
    series = metrics.displacement_series(tables, window)
    measure = tables.case.displacement_label or "Displaced"
    dates = metrics.as_days(series["date"])
    fig = go.Figure()
    for index, (claimant, group) in enumerate(series.groupby("claimant", sort=True)):
        group_dates = metrics.as_days(group["date"])
        open_ended = group["open_ended"]
        colour, symbol = _claimant_style(index)
        fig.add_scatter(
            x=group_dates, y=group["value_low"], mode="markers", name=claimant,
            marker={"symbol": [("triangle-up" if o else symbol) for o in open_ended],
                    "size": 11, "color": colour, "line": {"width": 1, "color": "#222"}},
            customdata=group[["value_text", "source_id"]],
            hovertemplate=(f"<b>{claimant}</b><br>%{{x|%d %b}}: %{{customdata[0]}}<br>source %{{customdata[1]}}"
                           "<extra></extra>"))
    if len(series):
        envelope = series.assign(day=dates).groupby("day")["value_low"].max()
        fig.add_scatter(x=envelope.index, y=envelope.values, mode="lines", name="highest figure per day",
                        line={"color": "#444", "width": 1.5, "dash": "dot"}, hoverinfo="skip")
        first, last = series.iloc[0], series.iloc[-1]
        title = (f"{measure}: {first['value_text']} on {pd.Timestamp(first['date']):%d %b} → "
                 f"{last['value_text']} on {pd.Timestamp(last['date']):%d %b}")
    else:
        title = "No displacement figure published yet"
    _finish(fig, tables, window, title=title, x_title="Day the figure describes",
            y_title=measure,
            alt=f"Displacement figures by claimant over time ({len(series)} figures). {title}.",
            caption=("Upward triangles mark open-ended figures ('more than N'), drawn at N: the true value is "
                     "higher. 'Nearly' or 'almost' figures are drawn at the number given. Figures are shown at "
                     "the date they describe, once they had been published."), height=540, bottom=130,
            legend_right=True)
    fig.update_yaxes(rangemode="tozero", tickformat=",")
    return fig


# 9 ------------------------------------------------------------------------------------------------
@chart("escalation-phases", metrics.intensity_phases)
def escalation_phases(tables: Tables, window: Window) -> go.Figure:
    """Daily intensity with ruptures change points, ACLED's weekly surge rule and HDX's 30-day rule."""
    table = metrics.intensity_phases(tables, window)
    weekly = metrics.weekly_surge(tables, window)
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                        subplot_titles=("Daily events and deaths, with change points (ruptures)",
                                        "Weekly events against ACLED's surge threshold",
                                        "Deaths over the last 30 days against HDX's rule"),
                        specs=[[{"secondary_y": True}], [{}], [{}]])
    many_days = len(table) > MAX_BARS
    if many_days:  # a bar a day would be a pixel wide: one filled step line, not thousands of shapes
        fig.add_scatter(x=table["day"], y=table["events"], name="events per day", mode="lines", fill="tozeroy",
                        line={"color": PALETTE[5], "width": 1, "shape": "hv"}, row=1, col=1)
    else:
        fig.add_bar(x=table["day"], y=table["events"], name="events per day", marker={"color": PALETTE[5]},
                    row=1, col=1)
    fig.add_scatter(x=table["day"], y=table["deaths_best"], name="deaths per day (best)",
                    mode="lines" if many_days else "lines+markers",  # a marker a day: too many to see
                    line={"color": PALETTE[3], "width": 2}, marker={"symbol": "diamond", "size": 5},
                    row=1, col=1, secondary_y=True)
    starts = table.loc[table["phase_starts"], "day"]
    for day in starts:
        fig.add_vline(x=day, line={"color": "#000", "width": 2, "dash": "dash"}, row=1, col=1)
        fig.add_annotation(x=day, y=1.0, yref="y domain", text=f"new phase {day:%d %b}", showarrow=False,
                           xanchor="left", font={"size": 10}, row=1, col=1)
    week_hover = {"customdata": weekly[["week_start", "days_in_period", "threshold"]],
                  "hovertemplate": ("week from %{customdata[0]|%d %b %Y} (%{customdata[1]} days in period): %{y} "
                                    "events<br>surge threshold %{customdata[2]}<extra></extra>")}
    threshold_name = "ACLED surge threshold (2 × mean of previous 4 weeks)"
    many_weeks = len(weekly) > MAX_BARS
    if many_weeks:  # as the days: filled step lines, each week's value from its first day, surges marked ×
        fig.add_scatter(x=weekly["week_start"], y=weekly["events"], name="events per week", mode="lines",
                        fill="tozeroy", line={"color": PALETTE[0], "width": 1, "shape": "hv"}, **week_hover,
                        row=2, col=1)
        surges_drawn = weekly.loc[weekly["surge"]]
        fig.add_scatter(x=surges_drawn["week_start"], y=surges_drawn["events"], mode="markers", name="surge week",
                        marker={"symbol": "x-thin-open", "size": 9, "color": "#000", "line": {"width": 2}},
                        hoverinfo="skip", row=2, col=1)
        fig.add_scatter(x=weekly["week_start"], y=weekly["threshold"], mode="lines", name=threshold_name,
                        line={"color": "#000", "dash": "dot", "width": 1, "shape": "hv"}, row=2, col=1)
    else:
        fig.add_bar(x=weekly["week_start"] + pd.Timedelta(days=3), y=weekly["events"], name="events per week",
                    marker={"color": PALETTE[0], "pattern": {"shape": ["x" if s else "" for s in weekly["surge"]]}},
                    width=6 * DAY_MS, **week_hover, row=2, col=1)
        fig.add_scatter(x=weekly["week_start"] + pd.Timedelta(days=3), y=weekly["threshold"], mode="markers+lines",
                        name=threshold_name, line={"color": "#000", "dash": "dot"},
                        marker={"symbol": "line-ew-open", "size": 16}, row=2, col=1)
    fig.add_scatter(x=table["day"], y=table["deaths_rolling_30d"], name="deaths over the last 30 days",
                    mode="lines", line={"color": PALETTE[3], "width": 2}, row=3, col=1)
    fig.add_hline(y=metrics.HDX_FLOOR, line={"color": "#000", "dash": "dot"}, row=3, col=1)
    signals = table.loc[table["hdx_signal"]]
    fig.add_scatter(x=signals["day"], y=signals["deaths_rolling_30d"], mode="markers", name="HDX-style signal",
                    marker={"symbol": "star", "size": 11, "color": PALETTE[1], "line": {"width": 1}},
                    row=3, col=1)
    fig.update_yaxes(title_text="events", row=1, col=1, secondary_y=False)
    fig.update_yaxes(title_text="deaths", row=1, col=1, secondary_y=True, showgrid=False)
    fig.update_yaxes(title_text="events / week", row=2, col=1)
    fig.update_yaxes(title_text="deaths, 30 days", row=3, col=1)
    evaluable = weekly["baseline_4w_mean"].notna().sum()
    surges = int(weekly["surge"].sum())
    phase_text = ", ".join(f"{d:%d %b}" for d in starts) or "none"
    title = f"New phases begin {phase_text}" if len(starts) else "No change point in this period"
    week_rule = "Saturday-start (ACLED)" if window.week_start == "saturday" else "ISO (Monday-start)"
    _finish(fig, tables, window, title=title, x_title="", y_title="",
            alt=(f"Three panels of daily intensity. Change points: {phase_text}. ACLED surge rule evaluable for "
                 f"{evaluable} week(s), surges: {surges}. HDX-style signals on {len(signals)} day(s)."),
            caption=(f"Change points: ruptures PELT, l2 cost on standardised daily events and deaths, penalty "
                     f"2·d·ln(n), minimum segment {metrics.CHANGE_POINT_MIN_SIZE} days. ACLED surge: a week's "
                     f"events ≥ {metrics.ACLED_SURGE_RATIO:g} × the mean of the {metrics.ACLED_BASELINE_WEEKS} "
                     f"weeks before, with that mean ≥ {metrics.ACLED_SURGE_FLOOR:g}; weeks are {week_rule}, "
                     f"counted over their days inside the period (the first and last may be partial); a week "
                     f"needs 4 earlier weeks in the period, so only {evaluable} can be judged here; "
                     f"{'surge weeks are marked ×' if many_weeks else 'hatched bars are surges'}. "
                     f"HDX-style: deaths over {metrics.HDX_WINDOW_DAYS} days at a level not seen "
                     f"earlier in the period (HDX looks back 1–3 years) and ≥ {metrics.HDX_FLOOR}. Deaths: best "
                     "incident claims, all parties, running totals and 'neutralised' excluded."), height=900)
    fig.update_xaxes(title_text="Day (local time)", row=3, col=1)
    return fig


# 10 -----------------------------------------------------------------------------------------------
@chart("who-fought-whom", metrics.actor_pairs)
def who_fought_whom(tables: Tables, window: Window) -> go.Figure:
    """Event counts by actor1 × actor2 as a heatmap."""
    pairs = metrics.actor_pairs(tables, window)
    shown, cut = _top_actors(pairs)
    matrix = shown.pivot_table(index="actor1", columns="actor2", values="events", fill_value=0,
                               aggfunc="sum").astype(int)
    matrix = matrix.loc[matrix.sum(axis=1).sort_values().index, matrix.sum(axis=0).sort_values(ascending=False).index]
    fig = go.Figure(go.Heatmap(
        z=matrix.values, x=list(matrix.columns), y=list(matrix.index),
        colorscale=[[0, "#ffffff"], [0.001, "#deebf7"], [0.5, "#4292c6"], [1, "#08306b"]],
        text=[[str(v) if v else "" for v in row] for row in matrix.values], texttemplate="%{text}",
        hovertemplate="%{y} — %{x}: %{z} events<extra></extra>", colorbar={"title": {"text": "events"}}))
    top = pairs.iloc[0] if len(pairs) else None
    title = (f"Most events pit {top['actor1']} against {top['actor2']} ({top['events']})" if top is not None
             else "No events yet")
    _finish(fig, tables, window, title=title, x_title="actor2", y_title="actor1",
            alt=f"Heatmap of event counts by actor pair. {title}. {len(pairs)} actor pairs.",
            caption=("ACLED's actor1/actor2 carry no direction: actor1 is the main actor of the event (for a "
                     "change of control, the side that took it). '(none)' counts events with one actor." + cut),
            height=max(520, 200 + 34 * len(matrix.index)))
    fig.update_xaxes(tickangle=-35, automargin=True)
    fig.update_yaxes(automargin=True)
    fig.update_layout(margin={"b": 220})
    return fig


#: Actors on each axis of the heatmap at most; the others are summed in one row or column.
HEATMAP_ACTORS = 25
OTHER_ACTORS = "(other actors)"


def _top_actors(pairs: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The pairs with actors beyond the HEATMAP_ACTORS busiest on each axis renamed OTHER_ACTORS, and the
    caption's sentence saying so (empty when nothing was folded)."""
    sentences = []
    for axis in ("actor1", "actor2"):
        totals = pairs.groupby(axis)["events"].sum()
        if len(totals) > HEATMAP_ACTORS:
            busiest = totals.reset_index().sort_values(["events", axis], ascending=[False, True])[axis]
            kept = set(busiest.head(HEATMAP_ACTORS))
            pairs = pairs.assign(**{axis: pairs[axis].where(pairs[axis].isin(kept), OTHER_ACTORS)})
            sentences.append(f"{len(totals) - HEATMAP_ACTORS:,} of the {len(totals):,} {axis} values (those with "
                             f"fewest events) are summed under '{OTHER_ACTORS}'")
    return pairs, (" " + "; ".join(sentences) + "; the table lists every pair." if sentences else "")


# 11 -----------------------------------------------------------------------------------------------
@chart("neutralised-vs-killed", metrics.claimed_versus_killed)
def neutralised_vs_killed(tables: Tables, window: Window) -> go.Figure:
    """The case's comparison: one party's claimants' 'neutralised' (or other measure) against one claimant's
    death counts, on a log scale."""
    table = metrics.claimed_versus_killed(tables, window)
    compared = metrics.comparison(tables)
    fig = go.Figure()
    if compared is None:
        title = "No comparison of claimed measures is defined for this case (comparisons in case.yaml)"
        _finish(fig, tables, window, title=title, x_title="Day of the incident (local time)", y_title="",
                alt=f"{title}; 0 series drawn.", caption="See data/README.md for the comparisons key.", height=400)
        return fig
    claimed, against = compared.claimed_column, compared.against_column
    series = [(claimed, f"{compared.claimed_label}: '{compared.measure}' per day", PALETTE[3], "square", "solid"),
              (against, f"{compared.against_claimant}: killed per day", PALETTE[0], "circle", "dash")]
    for column, name, colour, symbol, dash in series:
        days = table.loc[table[column] > 0]
        fig.add_scatter(x=days["day"], y=days[column], mode="markers", name=name,
                        marker={"symbol": symbol, "size": 10, "color": colour, "line": {"width": 1, "color": "#222"}},
                        hovertemplate="%{x|%d %b}: %{y:,}<extra>" + name + "</extra>")
        cumulative = f"{column}_cumulative"
        fig.add_scatter(x=table["day"], y=table[cumulative].where(table[cumulative] > 0), mode="lines",
                        name=name.replace("per day", "cumulative"), line={"color": colour, "dash": dash, "width": 2},
                        hovertemplate="by %{x|%d %b}: %{y:,}<extra></extra>")
    claimed_total = int(table[f"{claimed}_cumulative"].iloc[-1]) if len(table) else 0
    against_total = int(table[f"{against}_cumulative"].iloc[-1]) if len(table) else 0
    ratio = f"{claimed_total / against_total:.0f}×" if against_total else "—"
    title = (f"{compared.claimed_label} claimed {claimed_total:,} '{compared.measure}' in incident statements; "
             f"{compared.against_claimant} counted {against_total:,} killed ({ratio})")
    about = " and ".join(tables.case.party_label(p) for p in compared.about[:1])
    _finish(fig, tables, window, title=title, x_title="Day of the incident (local time)",
            y_title=f"{about} (log scale)",
            alt=(f"Log-scale comparison of {compared.claimed_label}' '{compared.measure}' claims and "
                 f"{compared.against_claimant} death counts. {title}."),
            caption=(f"{compared.note} " if compared.note else "") + (
                "Both sides' incident-level claims about "
                + " and ".join(tables.case.party_label(p) for p in compared.about)
                + " are summed by incident day (each claimant's latest figure). Cumulative running totals of both "
                "sides are in the claims table, not added here."),
            height=560)
    fig.update_yaxes(type="log", dtick=1)
    return fig


#: Every chart, in the order of the brief.
ALL_CHARTS = [events_per_day, cumulative_deaths, focal_deaths_by_incident, claim_timeline, reconciliation,
              event_map, territorial_changes, displacement, escalation_phases, who_fought_whom, neutralised_vs_killed]

__all__ = ["ALL_CHARTS", "Chart", "PALETTE", "claim_timeline", "cumulative_deaths", "deaths_label", "displacement",
           "escalation_phases", "event_map", "events_per_day", "neutralised_vs_killed", "party_style", "place",
           "reconciliation", "territorial_changes", "focal_deaths_by_incident", "who_fought_whom"]


def __dir__() -> list[str]:
    """Tab completion offers what the module is for, not its imports."""
    return sorted(__all__)
