"""Stances and incident grades on small fixtures whose answers are worked out by hand in each comment."""

from __future__ import annotations

import random

import pandas as pd

from escalation.grading import claim_stances, grade_incidents

KEYS = ["event_id", "party"]


def claims(*rows):
    columns = ["event_id", "party", "claimant", "stance", "independent", "originator", "value_low", "value_high"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["value_high"] = frame["value_high"].astype("Int64")
    return frame


def graded(frame):
    return {row.event_id: (row.grade, row.confirmed) for row in grade_incidents(frame, KEYS).itertuples()}


def test_stance_follows_the_side_the_claimant_speaks_for():
    frame = pd.DataFrame({
        "claimant": ["Ministry A", "Ministry A", "Army B", "Monitor", "Ministry A"],
        "party": ["a_army", "b_army", "a_militia", "a_army", "b_army"],
        "stance": [None, None, None, None, "third_party"],
    })
    claimant_party = {"Ministry A": "a_army", "Army B": "b_army"}
    party_side = {"a_army": "A", "a_militia": "A", "b_army": "B"}
    # A's ministry on A's army: own; on B's army: adversary; B's army on A's militia (side A): adversary;
    # the monitor speaks for no one: third party; the last row's own cell overrides the derived 'adversary'.
    assert list(claim_stances(frame, claimant_party, party_side)) == [
        "own", "adversary", "adversary", "third_party", "third_party"]


def test_an_adversary_alone_is_contested_and_adds_nothing_to_the_low_edge():
    frame = claims(("e1", "p", "Enemy MoD", "adversary", False, "Enemy agency", 13, 13))
    assert graded(frame) == {"e1": ("contested", 0)}


def test_own_side_concession_is_confirmed_at_its_largest_figure():
    # the ministry says 6, the president 5: the own side has conceded 6; a third party's 7 only raises the high edge
    frame = claims(("e1", "p", "Ministry", "own", False, "Agency X", 6, 6),
                   ("e1", "p", "President", "own", False, "Agency Y", 5, 5),
                   ("e1", "p", "Newspaper", "third_party", False, "Newspaper", 7, 7))
    assert graded(frame) == {"e1": ("confirmed", 6)}


def test_two_independent_originators_confirm_the_figure_both_reach():
    # 9 and 12 from two independent originators: both say at least 9; the non-independent 20 does not count
    frame = claims(("e1", "p", "Monitor", "third_party", True, "Agency X", 12, 12),
                   ("e1", "p", "Reporter", "third_party", True, "Agency Y", 9, None),
                   ("e1", "p", "Aligned paper", "third_party", False, "Aligned paper", 20, 20))
    assert graded(frame) == {"e1": ("confirmed", 9)}


def test_two_claims_relayed_by_one_originator_are_one_source():
    frame = claims(("e1", "p", "Monitor", "third_party", True, "Agency X", 12, 12),
                   ("e1", "p", "Reporter", "third_party", True, "Agency X", 9, 9))
    assert graded(frame) == {"e1": ("single-source", 0)}


def test_own_side_denial_makes_the_incident_contested():
    frame = claims(("e1", "p", "Ministry", "own", False, "Agency X", 0, 0),
                   ("e1", "p", "Monitor", "third_party", True, "Agency Y", 4, 4),
                   ("e1", "p", "Reporter", "third_party", True, "Agency Z", 4, 4))
    assert graded(frame) == {"e1": ("contested", 0)}


def test_incidents_are_graded_separately():
    frame = claims(("e1", "p", "Enemy MoD", "adversary", False, "Enemy agency", 13, 13),
                   ("e2", "p", "Ministry", "own", False, "Agency X", 2, 2),
                   ("e3", "p", "Monitor", "third_party", True, "Agency X", 3, 3))
    assert graded(frame) == {"e1": ("contested", 0), "e2": ("confirmed", 2), "e3": ("single-source", 0)}


def test_grades_of_many_mixed_incidents_follow_the_rule_claim_by_claim():
    """Grading runs on numbered incidents in numpy; here each incident is graded again by the rule, in plain Python
    over its claims (own side's largest figure; the second largest of the independent originators' largest ones)."""
    rng = random.Random(7)
    rows = []
    for incident in range(300):
        for claim in range(rng.randint(1, 5)):
            stance = rng.choice(["own", "adversary", "third_party", "third_party"])
            low = rng.choice([0, 1, 2, 3, 5, 8])
            rows.append((f"e{incident:03d}", rng.choice(["p", "q"]), f"claimant{claim}", stance,
                         rng.random() < 0.7, rng.choice(["Agency X", "Agency Y", "Agency Z", None]), low,
                         rng.choice([None, low, low + 4])))
    frame = claims(*rows)

    def by_rule(group):
        own = [r.value_low for r in group.itertuples() if r.stance == "own"]
        others_top = [r.value_low if pd.isna(r.value_high) else r.value_high
                      for r in group.itertuples() if r.stance != "own"]
        per_originator = {}
        for r in group.itertuples():
            if r.stance == "third_party" and r.independent and r.originator is not None:
                per_originator[r.originator] = max(per_originator.get(r.originator, r.value_low), r.value_low)
        agreed = sorted(per_originator.values(), reverse=True)[1:2]
        if (own and max(own) == 0 and others_top and max(others_top) > 0) or all(
                r.stance == "adversary" for r in group.itertuples()):
            return "contested", 0
        confirmed = [*([max(own)] if own else []), *agreed]
        return ("confirmed", max(confirmed)) if confirmed else ("single-source", 0)

    expected = {key: by_rule(group) for key, group in frame.groupby(KEYS)}
    graded = {(row.event_id, row.party): (row.grade, row.confirmed)
              for row in grade_incidents(frame, KEYS).itertuples()}
    assert graded == expected
    assert {grade for grade, _ in expected.values()} == {"contested", "confirmed", "single-source"}
