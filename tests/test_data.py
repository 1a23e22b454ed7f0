"""The shipped tables: valid, sourced, and able to reproduce the seed article's key figures."""

from __future__ import annotations

import pandas as pd
from conftest import BALYUN

from escalation import paths
from escalation.data import validate_tables


def test_shipped_data_validates_with_no_problem():
    tables = validate_tables(paths.DATA_DIR)
    assert [str(p) for p in tables.problems] == []
    counts = tables.counts()
    assert (counts["read"] == counts["accepted"]).all()
    assert tables.quarantine.empty


def test_coverage_meets_the_brief(tables):
    assert len(tables.events) > 80
    assert len(tables.claims) > 150
    days = pd.to_datetime(tables.events["event_date"].astype("object"))
    assert days.min() <= pd.Timestamp("2020-02-03") and days.max() >= pd.Timestamp("2020-03-05")
    assert set(tables.claims["scope"]) == {"event", "running_total"}
    assert "neutralised" in set(tables.claims["measure"])


def test_every_row_resolves_to_a_source_with_a_url(tables):
    urls = dict(zip(tables.sources["source_id"], tables.sources["url"]))
    assert all(str(u).startswith(("http://", "https://")) for u in urls.values())
    cited = (
        [s for ids in tables.events["source_ids"] for s in ids.split(";")]
        + list(tables.claims["source_id"])
        + list(tables.displacement["source_id"])
    )
    assert cited and all(source in urls for source in cited)


def claims_about(tables, event_id: str, claimant: str, measure: str = "killed") -> pd.DataFrame:
    claims = tables.claims
    mask = (claims["event_id"] == event_id) & (claims["claimant"] == claimant) & (claims["measure"] == measure)
    return claims.loc[mask].sort_values(["published_at", "claim_id"])


def test_the_governors_balyun_toll_in_time_order(tables):
    governor = claims_about(tables, BALYUN, "Governor of Hatay")
    assert list(governor["value_low"]) == [9, 22, 29, 33]
    assert list(governor["value_high"]) == [9, 22, 29, 33]
    at_29 = governor.loc[governor["value_low"] == 29, "published_at"].iloc[0]
    assert at_29 == pd.Timestamp("2020-02-28T02:00:00+03:00")


def test_sohr_said_at_least_34(tables):
    sohr = claims_about(tables, BALYUN, "SOHR")
    latest = sohr.iloc[-1]
    assert latest["value_low"] == 34 and pd.isna(latest["value_high"])
    assert "at least" in latest["value_text"]


def test_the_final_official_balyun_toll_is_34(tables):
    presidency = claims_about(tables, BALYUN, "Turkish Presidency")
    assert list(presidency["value_low"]) == [34]
    president = claims_about(tables, BALYUN, "President of Turkey")
    assert 36 in set(president["value_low"]), "Erdogan's 36, later corrected, is kept as a claim"


def first_event_on(tables, day: str, location_word: str) -> str:
    events = tables.events
    mask = (events["event_date"].astype(str) == day) & events["location"].str.contains(location_word)
    return events.loc[mask, "event_id"].iloc[0]


def test_3_february_toll_settled_at_7_soldiers_and_1_contractor(tables):
    event = first_event_on(tables, "2020-02-03", "Saraqib")
    claims = tables.claims.loc[(tables.claims["event_id"] == event) & (tables.claims["measure"] == "killed")]
    by_source = claims.groupby("source_id")
    settled = [
        source for source, group in by_source
        if {("turkish_military", 7), ("turkish_civilian_personnel", 1)}
        <= set(zip(group["party"], group["value_low"]))
    ]
    assert settled, "no page states 7 soldiers and 1 civilian contractor for 3 February"
    first = claims.sort_values(["published_at", "claim_id"]).iloc[0]
    assert first["value_low"] == 4, "the first figure of 3 February was 4"


def test_five_soldiers_killed_at_taftanaz(tables):
    event = first_event_on(tables, "2020-02-10", "Taftanaz")
    ministry = claims_about(tables, event, "Turkish Ministry of National Defence")
    assert list(ministry["value_low"]) == [5]
    wounded = claims_about(tables, event, "Turkish Ministry of National Defence", "injured")
    assert list(wounded["value_low"]) == [5]


def test_readme_data_dictionary_is_generated_from_the_schema():
    from escalation.data import data_dictionary

    readme = (paths.DATA_DIR / "README.md").read_text(encoding="utf-8")
    assert data_dictionary() in readme, "regenerate with: escalation data-dictionary"
