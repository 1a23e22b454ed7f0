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
import pyarrow as pa

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
    """Grade and confirmed figure per incident from each claimant's current claim, in the order of the keys.

    `current` holds one row per claimant and incident with `stance`, `independent` (bool: a third party
    of an independent affiliation), `originator`, `value_low` and `value_high`."""
    group = current.groupby(keys, sort=True).ngroup().to_numpy()
    kept = group >= 0  # rows with a missing key belong to no incident
    firsts = np.unique(group[kept], return_index=True)[1]
    grades, confirmed = grade_groups(group[kept], current.loc[kept])
    return current.loc[kept, keys].iloc[firsts].reset_index(drop=True).assign(grade=grades, confirmed=confirmed)


def grade_groups(group: np.ndarray, current: pd.DataFrame) -> tuple[pd.api.extensions.ExtensionArray, np.ndarray]:
    """`grade_incidents` for claims already numbered by incident (`group`: 0, 1... for each row of `current`):
    the grade and the confirmed figure of each incident, in numpy over the numbers (pandas' grouping by text
    keys took seconds at a million claims)."""
    groups = int(group.max(initial=-1)) + 1

    def stance_is(stance: str) -> np.ndarray:
        return (current["stance"] == stance).to_numpy(dtype=bool, na_value=False)

    figure = current["value_low"].to_numpy(dtype="float64", na_value=np.nan)
    top = current["value_high"].to_numpy(dtype="float64", na_value=np.nan)
    top = np.where(np.isnan(top), figure, top)
    own, adversary = stance_is("own"), stance_is("adversary")
    own_figure = _largest(group[own], figure[own], groups)
    others_top = _largest(group[~own], top[~own], groups)
    not_adversary = np.bincount(group[~adversary], minlength=groups)
    # each originator's largest figure; the second largest of those is a figure two originators both reach
    independent = stance_is("third_party") & current["independent"].astype(bool).to_numpy()
    originator = pd.factorize(current["originator"].loc[independent])[0]  # -1: no originator, no source
    known = originator >= 0
    incidents, originator, figures = group[independent][known], originator[known], figure[independent][known]
    order = np.lexsort((-figures, originator, incidents))  # by incident and originator, largest figure first
    incidents, originator, figures = incidents[order], originator[order], figures[order]
    largest = np.diff(incidents, prepend=-1) != 0
    largest[1:] |= originator[1:] != originator[:-1]
    incidents, figures = incidents[largest], figures[largest]
    order = np.lexsort((-figures, incidents))  # by incident, largest figure first
    incidents, figures = incidents[order], figures[order]
    rank = np.arange(len(incidents)) - np.searchsorted(incidents, incidents)
    agreed = np.full(groups, np.nan)
    agreed[incidents[rank == 1]] = figures[rank == 1]
    with np.errstate(invalid="ignore"):
        denied = (own_figure == 0) & (others_top > 0)
    contested = denied | (not_adversary == 0)
    confirmed_figure = np.fmax(own_figure, agreed)
    grade = np.select([contested, ~np.isnan(confirmed_figure)], [GRADES.index("contested"), GRADES.index("confirmed")],
                      GRADES.index("single-source"))
    confirmed = np.where(grade == GRADES.index("confirmed"), np.nan_to_num(confirmed_figure), 0).astype("int64")
    # as Arrow text: a million grades without a Python string each
    return pd.array(pa.array(GRADES).take(grade), dtype=pd.ArrowDtype(pa.string())), confirmed


def _largest(group: np.ndarray, values: np.ndarray, groups: int) -> np.ndarray:
    """The largest of `values` per group (NaN for a group without one; NaN values are skipped)."""
    largest = np.full(groups, np.nan)
    np.fmax.at(largest, group, values)
    return largest
