"""Whose word a claim is, and how far an incident's figure can be trusted.

A claim's *stance* says how its claimant stands to the party it counts:
- ``own``: the claimant speaks for that party's side (its government, military, officials);
- ``adversary``: the claimant speaks for a side opposed to it;
- ``third_party``: a monitor, a UN agency, a news agency's own count, anyone who speaks for no side.
The case says which claimants speak for which party and which parties form a side; a claim's own
``stance`` cell, when filled, overrides that.

An incident (one event, party and measure) is graded from its current claims:
- ``contested``: the own side denies it (its figure is 0 while someone claims more), or only the
  adversary claims it;
- ``confirmed``: the own side concedes a figure, or two independent third parties agree (distinct
  claimants whose pages come from distinct originators of an independent affiliation);
- ``single-source``: anything else (one third party, or third parties that are not independent).

The low edge counts only what is confirmed: the larger of the own side's concession (its largest
current figure) and the figure two independent third parties both reach (the second largest of
their figures). Single-source and contested incidents add nothing to the low edge; their figures
only widen the high edge.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

STANCES = ("own", "adversary", "third_party")
GRADES = ("confirmed", "single-source", "contested")

GRADE_RULE = (
    "Whose word: a claim is the counted party's own side, its adversary, or a third party. An incident is "
    "confirmed when the own side concedes it or two independent third parties agree, contested when only the "
    "adversary claims it or the own side denies it, single-source otherwise. The low edge counts only confirmed "
    "figures (the own side's concession, or the figure two independent third parties both reach); single-source "
    "and contested figures only raise the high edge."
)


def claim_stances(claims: pd.DataFrame, claimant_party: Mapping[str, str], party_side: Mapping[str, str]) -> pd.Series:
    """The stance of every claim: its own `stance` cell when filled, else derived from the case.

    `claimant_party` maps a claimant to the party it speaks for; `party_side` maps a party to its side
    (a party missing from it is a side of its own)."""
    speaker = claims["claimant"].map(claimant_party)
    def side(parties: pd.Series) -> pd.Series:  # a party missing from party_side is a side of its own
        sides = parties.map(party_side)
        return sides.where(sides.notna(), parties)

    speaker_side, counted_side = side(speaker), side(claims["party"].astype(object))
    derived = pd.Series("third_party", index=claims.index, dtype=object)
    has_speaker = speaker_side.notna()
    derived[has_speaker & (speaker_side == counted_side)] = "own"
    derived[has_speaker & (speaker_side != counted_side)] = "adversary"
    if "stance" in claims:
        override = claims["stance"].astype(object)
        derived = override.where(override.notna() & (override != ""), derived)
    return derived.astype(str)


def grade_incidents(current: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Grade and confirmed figure per incident from each claimant's current claim.

    `current` holds one row per claimant and incident with `stance`, `independent` (bool: a third party
    of an independent affiliation), `originator`, `value_low` and `value_high`."""
    frame = current.assign(top=current["value_high"].fillna(current["value_low"]).astype("float64"),
                           figure=current["value_low"].astype("float64"))
    own = frame.loc[frame["stance"] == "own"].groupby(keys)["figure"].max().rename("own_figure")
    others_top = frame.loc[frame["stance"] != "own"].groupby(keys)["top"].max().rename("others_top")
    not_adversary = (frame["stance"] != "adversary").groupby([frame[k] for k in keys]).sum().rename("not_adversary")
    independent = frame.loc[(frame["stance"] == "third_party") & frame["independent"].astype(bool)]
    # each originator's largest figure; the second largest of those is a figure two originators both reach
    per_originator = (independent.groupby([*keys, "originator"])["figure"].max().reset_index()
                      .sort_values([*keys, "figure"], ascending=[True] * len(keys) + [False]))
    second = per_originator.loc[per_originator.groupby(keys).cumcount() == 1]
    agreed = second.set_index(keys)["figure"].rename("agreed_figure")
    graded = pd.concat([not_adversary, own, others_top, agreed], axis=1).reset_index()
    denied = graded["own_figure"].eq(0) & graded["others_top"].gt(0)
    contested = denied | graded["not_adversary"].eq(0)
    confirmed_figure = graded[["own_figure", "agreed_figure"]].max(axis=1)
    graded["grade"] = np.select([contested, confirmed_figure.notna()], ["contested", "confirmed"], "single-source")
    graded["confirmed"] = confirmed_figure.where(graded["grade"] == "confirmed", 0).astype("int64")
    return graded[[*keys, "grade", "confirmed"]]
