"""The package describes itself: each chart's own help and signature, the names each module offers,
and a way from a place or name to an event."""

from __future__ import annotations

import inspect
import pydoc

import pytest

from escalation import charts, data, metrics, report
from escalation.metrics import Window


@pytest.mark.parametrize("chart", charts.ALL_CHARTS, ids=lambda c: c.slug)
def test_each_chart_shows_its_own_docstring_and_signature(chart):
    assert chart.__doc__ == chart.build.__doc__ and chart.__doc__ != charts.Chart.__doc__
    assert inspect.signature(chart) == inspect.signature(chart.build)
    assert chart.build.__doc__.strip() in pydoc.render_doc(chart)


def test_a_chart_passes_its_own_options_through(tables):
    window = Window.from_params("2020-02-01", "2020-03-06", zone=tables.case.timezone)
    extra = [p for p in inspect.signature(charts.claim_timeline).parameters if p not in ("tables", "window")]
    assert extra == ["event_id"]
    other = metrics.find_events(tables, "airstrike")["event_id"].iloc[0]
    fig = charts.claim_timeline(tables, window, event_id=other)
    assert fig.to_json() == charts.claim_timeline.build(tables, window, other).to_json()


@pytest.mark.parametrize("module", [charts, metrics, data, report], ids=lambda m: m.__name__)
def test_public_modules_list_what_they_offer(module):
    assert all(hasattr(module, name) for name in module.__all__)
    defined_here = {name for name, value in vars(module).items() if not name.startswith("_")
                    and (inspect.isfunction(value) or inspect.isclass(value))
                    and value.__module__ == module.__name__}
    missing = defined_here - set(module.__all__) - {"chart"}
    assert not missing, f"{module.__name__} defines but does not list {sorted(missing)}"
    assert dir(module) == sorted(module.__all__), "tab completion offers imports"


def test_find_events_matches_place_actor_or_notes_in_any_case(tables):
    row = tables.events.iloc[0]
    word = str(row["location"]).split(" (")[0].split(",")[0]
    found = metrics.find_events(tables, word.upper())
    assert row["event_id"] in set(found["event_id"])
    expected = tables.events[["event_id", "location", "actor1", "actor2", "notes"]].astype(str).apply(
        lambda r: word.lower() in " ".join(r).lower(), axis=1).sum()
    assert len(found) == expected
    claims = tables.claims.loc[tables.claims["event_id"] == row["event_id"]]
    assert found.set_index("event_id").loc[row["event_id"], "n_claims"] == len(claims)
    assert metrics.find_events(tables, "no such place anywhere").empty
