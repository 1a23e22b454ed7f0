"""Every chart's numbers against values computed independently from the CSV files (tests/reference.py)."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest
import reference

from escalation import charts, metrics
from escalation.metrics import Window

START, END = date(2020, 2, 1), date(2020, 3, 6)
AS_OF = datetime.fromisoformat("2020-03-06T23:59:00+03:00")


@pytest.fixture(scope="module")
def window(tables):
    return Window.from_params("2020-02-01", "2020-03-06", zone=tables.case.timezone)


def trace(fig, name):
    return next(t for t in fig.data if t.name == name)


@pytest.mark.parametrize("chart", charts.ALL_CHARTS, ids=lambda c: c.slug)
def test_every_chart_states_its_finding_axes_source_alt_text_and_caption(tables, window, chart):
    fig = chart(tables, window)
    assert fig.layout.title.text and len(fig.layout.title.text) > 20
    local = AS_OF.strftime("%d %b %Y %H:%M")
    pages = f"{len(reference.rows('sources'))} public pages"
    source_line = next(a.text for a in fig.layout.annotations if pages in a.text)
    assert f"as known at {local}" in source_line
    assert fig.layout.meta["alt"] and any(ch.isdigit() for ch in fig.layout.meta["alt"])
    assert fig.layout.meta["caption"]
    assert fig.layout.xaxis.title.text or chart.slug == "escalation-phases"
    assert len(chart.table(tables, window)) > 0


def test_events_per_day_matches_the_event_table(tables, window):
    fig = charts.events_per_day(tables, window)
    expected = reference.events_per_day(AS_OF, START, END)
    stacked = pd.DataFrame({t.name: list(t.y) for t in fig.data if t.type == "bar"})
    days = [pd.Timestamp(x).date() for x in fig.data[0].x]
    assert len(days) == (END - START).days + 1
    assert {d: int(v) for d, v in zip(days, stacked.sum(axis=1)) if v} == dict(expected)
    assert fig.layout.title.text.startswith(f"Events peaked at {max(expected.values())} on ")


@pytest.mark.parametrize("party", ["turkish_military", "civilians", "syrian_government_forces"])
def test_cumulative_band_edges_match_an_independent_sum(tables, window, party):
    fig = charts.cumulative_deaths(tables, window)
    label = tables.case.party_label(party)
    best = trace(fig, label)
    low = next(t for t in fig.data if t.name == f"{label}: low–high")
    high = fig.data[list(fig.data).index(low) - 1]
    expected_low, expected_best, expected_high = reference.party_totals(AS_OF, START, END, party)
    assert (low.y[-1], best.y[-1], high.y[-1]) == (expected_low, expected_best, expected_high)
    assert expected_low < expected_high


def test_balyun_claim_timeline_steps(tables, window):
    fig = charts.claim_timeline(tables, window)
    governor = trace(fig, "Governor of Hatay")
    assert list(governor.y) == [9, 22, 29, 33, 33], "the last point extends the current figure to as_of"
    assert list(trace(fig, "SOHR").y)[-1] == 34
    assert list(trace(fig, "Turkish Presidency").y)[0] == 34
    assert "9 → 22 → 29 → 33" in fig.layout.title.text


def test_reconciliation_gap_on_28_february(tables, window):
    fig = charts.reconciliation(tables, window)
    checked = 0
    for claim in reference.rows("claims"):
        published = reference.moment(claim["published_at"])
        if (claim["scope"] != "running_total" or claim["party"] != "turkish_military"
                or claim["measure"] != "killed" or published.astimezone(reference.LOCAL).date() != date(2020, 2, 28)):
            continue
        period = date.fromisoformat(claim["period_start"]), date.fromisoformat(claim["period_end"])
        _, best, _ = reference.party_totals(published, *period, "turkish_military")
        shown = trace(fig, f"{claim['claimant']} running total")
        index = [c[0] for c in shown.customdata].index(claim["value_text"])
        assert shown.y[index] == int(claim["value_low"])
        assert shown.customdata[index][1] == best
        assert shown.customdata[index][2] == int(claim["value_low"]) - best
        checked += 1
    assert checked >= 3, "the agencies' 28 February totals (53, 54) should be in the data"


def test_change_points_find_a_known_step():
    # 12 quiet days (1 event, no deaths) then 12 violent ones (9 events, 40 deaths): one new phase, on day 13
    days = pd.date_range("2021-01-01", periods=24, freq="D")
    quiet, violent = [1] * 12, [9] * 12
    intensity = pd.DataFrame({"day": days, "events": quiet + violent, "deaths_best": [0] * 12 + [40] * 12})
    assert metrics.change_points(intensity) == [pd.Timestamp("2021-01-13")]


def test_no_change_point_in_a_flat_series():
    days = pd.date_range("2021-01-01", periods=24, freq="D")
    intensity = pd.DataFrame({"day": days, "events": [3] * 24, "deaths_best": [5] * 24})
    assert metrics.change_points(intensity) == []


def test_the_phase_chart_names_the_change_points_it_draws(tables, window):
    fig = charts.escalation_phases(tables, window)
    table = charts.escalation_phases.table(tables, window)
    found = list(table.loc[table["phase_starts"], "day"])
    assert found, "no change point detected on the default data"
    assert all(day.strftime("%d %b") in fig.layout.title.text for day in found)
    drawn = [a.text for a in fig.layout.annotations if a.text.startswith("new phase")]
    assert drawn == [f"new phase {day:%d %b}" for day in found]


def test_turkish_deaths_by_incident_bars_are_the_best_figures(tables, window):
    fig = charts.focal_deaths_by_incident(tables, window)
    bars = {grade: list(t.y) for t in fig.data if t.type == "bar" for grade in [t.name.split(", ")[-1]]}
    expected: dict = {}
    for (_, party), claims in reference.current_claims(AS_OF, START, END).items():
        if party == "turkish_military":
            expected.setdefault(reference.grade(claims)[0], []).append(reference.incident_range(claims)[1])
    assert {grade: sorted(v) for grade, v in bars.items()} == {grade: sorted(v) for grade, v in expected.items()}


def test_map_draws_only_located_events_and_offline_borders(tables, window):
    fig = charts.event_map(tables, window)
    located = [e for e in reference.rows("events") if e["latitude"]]
    drawn = sum(len(t.x) for t in fig.data if t.type == "scatter" and t.mode == "markers" and t.x[0] is not None)
    assert drawn == len(located)
    assert any(t.name == "Syria" for t in fig.data) and any(t.name == "Turkey" for t in fig.data)
    assert len(fig.layout.sliders[0].steps) == len({e["event_date"] for e in located})


def test_territorial_changes_show_saraqib_three_times(tables, window):
    fig = charts.territorial_changes(tables, window)
    saraqib = [y for t in fig.data if t.mode == "markers" for y in t.y if y == "Saraqib"]
    assert len(saraqib) == 3
    assert "Saraqib changed hands 3 times" in fig.layout.title.text


def test_displacement_shows_open_ended_figures_as_such(tables, window):
    fig = charts.displacement(tables, window)
    expected = [r for r in reference.rows("displacement") if r["measure"] == "displaced_since_2019_12_01"
                and date.fromisoformat(r["date"]) <= END and reference.moment(r["published_at"]) <= AS_OF]
    points = [(t.name, y) for t in fig.data if t.mode == "markers" for y in t.y]
    assert sorted(v for _, v in points) == sorted(int(r["value_low"]) for r in expected)
    open_ended = [r for r in expected if not r["value_high"]]
    symbols = [s for t in fig.data if t.mode == "markers" for s in t.marker.symbol]
    assert len(open_ended) > 0
    assert symbols.count("triangle-up") == len(open_ended), "an up-triangle means an open-ended figure, nothing else"


def test_actor_heatmap_counts(tables, window):
    fig = charts.who_fought_whom(tables, window)
    heat = fig.data[0]
    total = sum(sum(row) for row in heat.z)
    assert total == len(reference.rows("events"))


def test_neutralised_is_compared_not_added(tables, window):
    fig = charts.neutralised_vs_killed(tables, window)
    officials = {c for p in reference.case()["parties"] if p["id"] == "turkish_military" for c in p["claimants"]}
    claimed = [c for (_, party), claims in reference.current_claims(AS_OF, START, END, "neutralised").items()
               if party in ("syrian_government_forces", "allied_militias")
               for c in claims.values() if c["claimant"] in officials]
    killed = [c for (_, party), claims in reference.current_claims(AS_OF, START, END, "killed").items()
              if party in ("syrian_government_forces", "allied_militias")
              for c in claims.values() if c["claimant"] == "SOHR"]
    cumulative = trace(fig, "Turkish officials: 'neutralised' cumulative")
    sohr = trace(fig, "SOHR: killed cumulative")
    assert claimed and killed
    assert cumulative.y[-1] == sum(int(c["value_low"]) for c in claimed)
    assert sohr.y[-1] == sum(int(c["value_low"]) for c in killed)
    assert fig.layout.yaxis.type == "log"
