"""Whose word each claim is, and the conservative low edge it gives, on the Idlib case (issue: claims a reader
can weigh). Expectations are computed from the CSVs and case.yaml by tests/reference.py, not by the package."""

from __future__ import annotations

import re
from datetime import date, datetime

import pandas as pd
import pytest
import reference
from conftest import read_rows, write_rows

from escalation import charts, grading, metrics
from escalation.data import validate_tables
from escalation.metrics import Window

START, END = date(2020, 2, 1), date(2020, 3, 6)
NOON_27_FEB = "2020-02-27T12:00:00+03:00"
KANSAFRA = "EV-20200224-kansafra-airstrike-unconfirmed"


@pytest.fixture(scope="module")
def noon(tables):
    return Window.from_params("2020-02-01", "2020-03-06", NOON_27_FEB, zone=tables.case.timezone)


def conceded_by_own_side(as_of: datetime, party: str) -> int:
    """Per incident, the largest figure any claimant speaking for `party`'s side had published; summed."""
    total = 0
    for (_, claim_party), claims in reference.current_claims(as_of, START, END).items():
        own = [int(c["value_low"]) for c in claims.values() if claim_party == party and reference.stance(c) == "own"]
        total += max(own, default=0)
    return total


def test_low_edge_at_noon_27_february_is_what_turkey_had_conceded(tables, noon):
    conceded = conceded_by_own_side(datetime.fromisoformat(NOON_27_FEB), "turkish_military")
    figures = metrics.key_figures(tables, noon).set_index("figure")
    assert figures.loc["killed.turkish_military", "value_low"] == conceded
    fig = charts.cumulative_deaths(tables, noon)
    band_low = next(t for t in fig.data if t.name == "Turkish military: low–high")
    assert band_low.y[-1] == conceded
    lowest_claims = sum(min(int(c["value_low"]) for c in claims.values())
                        for (_, party), claims in
                        reference.current_claims(datetime.fromisoformat(NOON_27_FEB), START, END).items()
                        if party == "turkish_military")
    assert conceded < lowest_claims, "the old rule (lowest claim per incident) counted the adversary's claim"


def test_kansafra_claim_is_contested_in_chart_table_and_key_figures(tables, noon):
    claims = metrics.incident_claims(tables, noon)
    kansafra = claims.loc[claims["event_id"] == KANSAFRA]
    assert list(kansafra["stance"]) == ["adversary"] and list(kansafra["grade"]) == ["contested"]
    fig = charts.focal_deaths_by_incident(tables, noon)
    contested_bar = next(t for t in fig.data if t.type == "bar" and t.name.endswith("contested"))
    assert list(contested_bar.customdata[:, 2]) == ["contested"]
    assert contested_bar.y[0] == int(kansafra["value_low"].iloc[0])
    marker = next(t for t in fig.data if t.name == kansafra["claimant"].iloc[0])
    assert all(symbol.endswith("-open") for symbol in marker.marker.symbol), "an adversary's claim is drawn hollow"
    figures = metrics.key_figures(tables, noon).set_index("figure")
    row = figures.loc[f"killed.turkish_military.{KANSAFRA}"]
    assert (row["grade"], row["value_low"], row["value_high"], row["high_contested"]) == ("contested", 0, 13, 13)
    assert figures.loc["killed.turkish_military", "high_contested"] == 13


def test_every_claim_has_a_stance_matching_an_independent_reading(tables):
    expected = {c["claim_id"]: reference.stance(c) for c in reference.rows("claims")}
    found = dict(zip(tables.claims["claim_id"], tables.claims["stance"]))
    assert found == expected
    assert set(found.values()) <= set(grading.STANCES)


def test_grades_of_every_incident_match_an_independent_reading(tables):
    window = Window.from_params("2020-02-01", "2020-03-06", zone=tables.case.timezone)
    ranges = metrics.event_ranges(tables, window)
    found = {(r.event_id, r.party): (r.grade, r.low) for r in ranges.itertuples()}
    as_of = datetime.fromisoformat("2020-03-06T23:59:00+03:00")
    expected = {key: reference.grade(claims) for key, claims in reference.current_claims(as_of, START, END).items()}
    assert found == expected
    assert {"confirmed", "single-source", "contested"} <= {grade for grade, _ in found.values()}


def test_the_validator_rejects_an_unknown_stance_and_keeps_an_override(data_copy):
    header, rows = read_rows(data_copy / "claims.csv")
    column = header.index("stance")
    rows[0][column], rows[1][column] = "enemy", "third_party"
    write_rows(data_copy / "claims.csv", header, rows)
    checked = validate_tables(data_copy)
    faults = checked.quarantine.loc[checked.quarantine["table"] == "claims"]
    assert list(faults["line"]) == [2] and list(faults["column"]) == ["stance"]
    assert "enemy" in faults["problem"].iloc[0]
    kept = checked.claims.set_index("claim_id")
    assert kept.loc[rows[1][0], "stance"] == "third_party"


def test_the_grade_rules_are_stated_in_the_data_readme_and_the_captions(tables, noon):
    readme = (reference.paths.DATA_DIR / "README.md").read_text(encoding="utf-8")
    for word in ("own", "adversary", "third_party", "confirmed", "single-source", "contested"):
        assert re.search(rf"`{word}`", readme), word
    for chart in (charts.cumulative_deaths, charts.focal_deaths_by_incident):
        assert grading.GRADE_RULE in chart(tables, noon).layout.meta["caption"]


def test_cumulative_chart_stops_at_the_moment_described(tables, noon):
    fig = charts.cumulative_deaths(tables, noon)
    assert fig.layout.title.text.startswith("Killed by 27 Feb")
    last_days = {pd.Timestamp(t.x[-1]).date() for t in fig.data if t.type == "scatter" and len(t.x)}
    assert last_days == {date(2020, 2, 27)}


def test_no_claimant_or_party_marker_is_a_triangle(tables):
    window = Window.from_params("2020-02-01", "2020-03-06", zone=tables.case.timezone)
    for chart in (charts.focal_deaths_by_incident, charts.claim_timeline, charts.reconciliation,
                  charts.cumulative_deaths):
        fig = chart(tables, window)
        symbols = [s for t in fig.data if t.type == "scatter" and t.marker.symbol is not None
                   for s in ([t.marker.symbol] if isinstance(t.marker.symbol, str) else t.marker.symbol)]
        assert symbols and not [s for s in symbols if "triangle" in s], chart.slug
