"""Metrics, the map and the tables at scale: the Idlib case copied COPIES times (SYNTHETIC: each copy's event
and claim ids get a suffix, nothing else changes), so every sum over the copies is COPIES times the figure the
independent plain-Python reading (tests/reference.py) computes from the CSV files."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
import reference
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from escalation import charts, csvsafe, metrics, report
from escalation.metrics import Window
from escalation.report import Report

COPIES = 1_800  # 111 events × 1,800 ≈ 200,000 events, ≈ 385,000 claims (SYNTHETIC copies)
START, END = date(2020, 2, 1), date(2020, 3, 6)
AS_OF = datetime.fromisoformat("2020-03-06T23:59:00+03:00")
PARTY = "turkish_military"


def _suffixed(column: pd.Series, copy: np.ndarray) -> pd.Series:
    return column + pd.Series("~" + copy.astype(str), index=column.index, dtype=column.dtype)


def replicated(tables, copies: int):
    """The tables with every event and claim repeated `copies` times under distinct ids."""
    frames = dict(tables.frames)
    for name, ids in (("events", ["event_id"]), ("claims", ["claim_id", "event_id"])):
        frame = tables.frames[name]
        big = frame.loc[frame.index.repeat(copies)].reset_index(drop=True)
        copy = np.tile(np.arange(copies), len(frame))
        frames[name] = big.assign(**{column: _suffixed(big[column], copy) for column in ids})
    return dataclasses.replace(tables, frames=frames)


@pytest.fixture(scope="module")
def scaled(tables):
    return replicated(tables, COPIES)


@pytest.fixture(scope="module")
def window(tables):
    return Window.from_params("2020-02-01", "2020-03-06", zone=tables.case.timezone)


def test_the_scaled_case_is_as_large_as_claimed(scaled, tables):
    assert len(scaled.events) == COPIES * len(tables.events) >= 199_000
    assert scaled.events["event_id"].is_unique and scaled.claims["claim_id"].is_unique


def test_incident_sums_over_time_are_the_copies_times_an_independent_sum(scaled, window):
    over_time = metrics.incident_sum_over_time(scaled, window)
    claims = reference.rows("claims")
    moments = sorted({reference.moment(c["published_at"]) for c in claims
                      if c["scope"] == "event" and c["party"] == PARTY and c["measure"] == "killed"})
    assert len(over_time) == len(moments)
    for index in (0, len(moments) // 3, len(moments) // 2, len(moments) - 1):
        row = over_time.iloc[index]
        assert row["moment"] == pd.Timestamp(moments[index])
        low, best, high = reference.party_totals(moments[index], START, END, PARTY)
        assert (row["low"], row["best"], row["high"]) == (COPIES * low, COPIES * best, COPIES * high)


def test_each_running_total_is_set_beside_the_incident_sum_known_when_it_was_published(scaled, window):
    table = metrics.reconciliation(scaled, window)
    totals = [c for c in reference.rows("claims")
              if c["scope"] == "running_total" and c["party"] == PARTY and c["measure"] == "killed"]
    assert len(table) == COPIES * len(totals)
    for claim in totals[:: max(1, len(totals) // 5)]:
        period = date.fromisoformat(claim["period_start"]), date.fromisoformat(claim["period_end"])
        _, best, _ = reference.party_totals(reference.moment(claim["published_at"]), *period, PARTY)
        rows = table.loc[table["claim_id"].str.startswith(claim["claim_id"] + "~")]
        assert len(rows) == COPIES
        assert set(rows["incident_best"]) == {COPIES * best}
        assert set(rows["gap_to_best"]) == {int(claim["value_low"]) - COPIES * best}


def test_key_figures_at_scale(scaled, window):
    figures = metrics.key_figures(scaled, window).set_index("figure")
    events = sum(reference.events_per_day(AS_OF, START, END).values())
    assert figures.loc["events", "value_low"] == COPIES * events
    low, _, high = reference.party_totals(AS_OF, START, END, PARTY)
    assert (figures.loc[f"killed.{PARTY}", "value_low"], figures.loc[f"killed.{PARTY}", "value_high"]) == (
        COPIES * low, COPIES * high)
    incidents = figures.loc[figures.index.str.startswith(f"killed.{PARTY}.")]
    expected = {event_id: reference.incident_range(claims)
                for (event_id, party), claims in reference.current_claims(AS_OF, START, END).items() if party == PARTY}
    assert len(incidents) == COPIES * len(expected)
    for event_id, (low, _, high) in list(expected.items())[:5]:
        copy = incidents.loc[f"killed.{PARTY}.{event_id}~7"]
        assert (copy["value_low"], copy["value_high"]) == (low, high)


def test_a_large_map_is_drawn_as_grid_cells_and_says_so(scaled, window):
    fig = charts.event_map(scaled, window)
    located = len(metrics.map_points(scaled, window))
    assert located > charts.MAP_EVENT_LIMIT
    caption = fig.layout.meta["caption"]
    assert f"The {located:,} located events are more than the {charts.MAP_EVENT_LIMIT:,}" in caption
    assert "grid cells" in caption and "No day slider" in caption
    (cells,) = [t for t in fig.data if t.name == "events per grid cell"]
    assert sum(cells.customdata[:, 0]) == located, "every located event is counted in one cell"
    assert sum(cells.customdata[:, 1]) == metrics.map_points(scaled, window)["best"].sum()
    assert not fig.layout.sliders
    assert len(fig.to_json()) < 200_000


def test_a_small_map_keeps_its_events_and_day_slider(tables, window):
    fig = charts.event_map(tables, window)
    assert "grid cells" not in fig.layout.meta["caption"] and fig.layout.sliders


@pytest.fixture(scope="module")
def shell():
    return InteractiveShell.instance()


def test_long_tables_show_their_first_rows_and_link_the_full_csv(shell, tmp_path, tables):
    rows = report.SHOWN_ROWS * 3 + 7
    table = pd.DataFrame({"event_id": [f"SYN-{n}" for n in range(rows)], "value": range(rows)})
    with capture_output() as captured:
        Report(tmp_path, tables.case).table(table, "synthetic-events", "Synthetic events")
    (html,) = [output.data["text/html"] for output in captured.outputs]
    assert html.count("</tr>") == report.SHOWN_ROWS + 1  # the header row and the rows shown
    assert f"Showing {report.SHOWN_ROWS:,} of {rows:,} rows" in html
    assert '<a href="tables/synthetic-events.csv">' in html
    assert len(pd.read_csv(tmp_path / "tables" / "synthetic-events.csv")) == rows


def test_a_short_table_is_shown_whole(shell, tmp_path, tables):
    table = pd.DataFrame({"value": range(report.SHOWN_ROWS)})
    with capture_output() as captured:
        Report(tmp_path, tables.case).table(table, "short")
    (html,) = [output.data["text/html"] for output in captured.outputs]
    assert html.count("</tr>") == report.SHOWN_ROWS + 1 and "Showing" not in html


def test_the_heatmap_folds_the_actors_that_do_not_fit(scaled, window):
    pairs = metrics.actor_pairs(scaled, window)
    many = pd.concat([pairs.assign(actor1=pairs["actor1"] + f" (synthetic {n})") for n in range(4)])
    folded, sentence = charts._top_actors(many)
    assert folded["actor1"].nunique() == charts.HEATMAP_ACTORS + 1
    assert folded["events"].sum() == many["events"].sum()
    assert f"of the {many['actor1'].nunique():,} actor1 values" in sentence


def test_the_territorial_timeline_draws_the_places_that_changed_hands_most(tables, window):
    copies = 5
    many = replicated(tables, copies)
    copy = np.tile(np.arange(copies), len(tables.events))
    # copies 1.. move to places of their own (SYNTHETIC names); copy 0 keeps the real places
    renamed = many.events["location"].where(copy == 0, _suffixed(many.events["location"], copy))
    many = dataclasses.replace(many, frames={**many.frames, "events": many.events.assign(location=renamed)})
    changes = metrics.territorial_changes(many, window)["location"].map(charts.place)
    places = changes.nunique()
    assert places > charts.TERRITORY_PLACES
    fig = charts.territorial_changes(many, window)
    drawn = {y for t in fig.data if t.mode == "markers" for y in t.y}
    assert len(drawn) == charts.TERRITORY_PLACES
    busiest = changes.value_counts()
    assert busiest.index[0] in drawn and busiest.iloc[0] > 1
    assert f"Only the {charts.TERRITORY_PLACES} places that changed hands most often are drawn" in (
        fig.layout.meta["caption"])
    assert f"{places:,} places" in fig.layout.meta["caption"]


def test_ten_years_of_days_and_weeks_are_step_lines_written_as_a_first_day_and_a_step(shell, tables):
    long = Window.from_params("2012-01-01", "2021-12-31", zone=tables.case.timezone)
    with capture_output() as captured:
        Report(None, tables.case).chart(charts.escalation_phases, tables, long)
    figure = captured.outputs[0].data["application/vnd.plotly.v1+json"]
    daily = [t for t in figure["data"] if t["name"] == "events per day"]
    assert len(daily) == 1 and daily[0]["type"] == "scatter" and daily[0]["line"]["shape"] == "hv"
    assert daily[0]["x0"] == "2012-01-01" and daily[0]["dx"] == report.DAY_MS and "x" not in daily[0]
    weeks = metrics.weekly_surge(tables, long)
    assert len(weeks) > charts.MAX_BARS
    weekly = next(t for t in figure["data"] if t["name"] == "events per week")
    assert weekly["type"] == "scatter" and weekly["line"]["shape"] == "hv" and len(weekly["x"]) == len(weeks)
    marked = next(t for t in figure["data"] if t["name"] == "surge week")
    assert len(marked["x"]) == int(weeks["surge"].sum()) > 0
    assert "surge weeks are marked ×" in figure["layout"]["meta"]["caption"]
    assert len(captured.outputs[0].data["text/html"]) < 600_000
    deaths = next(t for t in figure["data"] if t["name"] == "deaths per day (best)")
    assert deaths["mode"] == "lines"  # 3,653 markers nobody can tell apart
    parties = [t for t in charts.cumulative_deaths(tables, long).data if t.showlegend is not False]
    assert parties and all(t.mode == "lines" for t in parties)
    short = Window.from_params("2020-02-01", "2020-03-06", zone=tables.case.timezone)
    short_fig = charts.escalation_phases(tables, short)
    assert short_fig.data[1].mode == "lines+markers"
    assert [t.type for t in short_fig.data if t.name in ("events per day", "events per week")] == ["bar", "bar"]
    assert "hatched bars are surges" in short_fig.layout.meta["caption"]


@pytest.mark.parametrize(("start", "unit", "bars"), [("2012-01-01", "month", 120), ("2019-01-01", "week", 157)])
def test_a_long_period_draws_the_mean_events_per_day_of_each_week_or_month(tables, start, unit, bars):
    window = Window.from_params(start, "2021-12-31", zone=tables.case.timezone)
    fig = charts.events_per_day(tables, window)
    daily = metrics.daily_event_counts(tables, window).set_index("day")
    drawn = [t for t in fig.data if t.type == "bar"]
    assert drawn and all(len(t.x) == bars for t in drawn)
    for trace in drawn:
        starts = pd.to_datetime(list(trace.x))
        ends = list(starts[1:]) + [pd.Timestamp("2022-01-01")]
        expected = [round(float(daily.loc[first:last - pd.Timedelta(days=1), trace.name].mean()), 2)
                    for first, last in zip(starts.where(starts >= window.start, window.start), ends)]
        assert list(trace.y) == expected
    assert any(value > 0 for trace in drawn for value in trace.y)  # February and March 2020
    assert f"each bar is the mean number of events per day of its {unit}" in fig.layout.meta["caption"]
    assert f"averaged per {unit}" in fig.layout.meta["alt"]


@pytest.mark.parametrize("copies", [1, 1_500], ids=["16 rows", "24,000 rows: threads, three slices"])
def test_a_table_file_is_what_pandas_writes_with_formulas_neutralised(tmp_path, monkeypatch, copies):
    """csvsafe formats and quotes by Arrow; the bytes must be pandas' own, text cells starting a formula quoted.
    A long table is formatted in threads and written a slice at a time (`THREADED_FROM`, `LINES_PER_WRITE`)."""
    texts = ["=1+1", "+x", "-3", "@a", "\tq", "\rz", "plain", "a,b", 'say "hi"', "two\nlines", "cr\ronly", "", " s ",
             None, "'q", "é€"]
    frame = pd.DataFrame({
        "object": pd.Series(texts, dtype=object), "arrow": pd.Series(texts, dtype="string[pyarrow]"),
        "category": pd.Series(texts, dtype="category"),
        "mixed": pd.Series([-3, "=x", 1.5, None, True, "ok", np.nan, date(2020, 1, 2)] * 2, dtype=object),
        "int": np.arange(16) - 5, "Int64": pd.array([1, None] * 8, dtype="Int64"),
        "float": [1.0, np.nan, 1e-5, 0.1 + 0.2, 1e16, -2.5, 35.93, 123456789.123] * 2,
        "bool": [True, False] * 8, "date": pd.Series([date(2020, 2, 1), None] * 8, dtype="date32[pyarrow]"),
        "moment": pd.Series([pd.Timestamp("2020-02-27 09:00", tz="UTC"), None] * 8, dtype="timestamp[s, UTC][pyarrow]"),
        "local": pd.to_datetime(["2020-02-01 03:00", None] * 8).tz_localize("UTC").tz_convert("Asia/Damascus"),
        "=name": 1})
    frame = pd.concat([frame] * copies, ignore_index=True)
    monkeypatch.setattr(csvsafe, "LINES_PER_WRITE", 10_000)
    assert copies == 1 or len(frame) > max(csvsafe.THREADED_FROM, 2 * csvsafe.LINES_PER_WRITE)
    expected = frame.astype({c: object for c in ["object", "arrow", "category", "mixed", "date", "moment"]})
    for column in ["object", "arrow", "category", "mixed"]:
        expected[column] = expected[column].map(csvsafe.neutralised)
    expected.columns = [csvsafe.neutralised(c) for c in expected.columns]
    for columns in (list(frame.columns), ["object"]):
        csvsafe.write_csv(frame[columns], tmp_path / "table.csv")
        written = (tmp_path / "table.csv").read_bytes().decode("utf-8")  # a lone \r stays
        assert written == expected[[csvsafe.neutralised(c) for c in columns]].to_csv(index=False)
    assert "'=1+1" in written and '"two\nlines"' in written
