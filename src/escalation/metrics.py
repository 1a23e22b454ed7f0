"""Metrics computed from validated tables: what was known at a moment, and how claims combine.

The rules, stated once here and quoted in chart captions:
- As of a moment, only events first reported, claims published and displacement figures
  published at or before it are used (a bare date counts from the end of that local day).
- A claimant's *current* claim about an event is its latest one published by then; earlier
  figures from the same claimant are superseded, not averaged.
- For one event, party and measure: low = the smallest current figure, high = the largest
  (an open-ended "at least N" contributes N), best = the median of the current claimants'
  figures, taken as the lower middle value so that it is always a figure someone claimed.
- Running totals ("N killed this month") are compared with incident sums, never added to them.
- "Neutralised" (Turkish official term: killed, wounded or captured) is never added to deaths.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from escalation.data import LOCAL_TZ, Tables

BEST_RULE = (
    "Per event: each claimant's latest figure counts; low = smallest, high = largest, "
    "best = median claimant (lower middle). Running totals are not added; "
    "'neutralised' is never counted as killed."
)


@dataclass(frozen=True)
class Window:
    """The period a report covers and the moment it describes."""

    start: pd.Timestamp
    end: pd.Timestamp
    as_of: pd.Timestamp

    @classmethod
    def from_params(cls, start: str, end: str, as_of: str | None = None) -> Window:
        start_day = pd.Timestamp(start).date()
        end_day = pd.Timestamp(end).date()
        if end_day < start_day:
            raise ValueError(f"end {end} is before start {start}")
        moment = pd.Timestamp(as_of) if as_of else pd.Timestamp(f"{end_day}T23:59:59").tz_localize(LOCAL_TZ)
        if moment.tzinfo is None:
            raise ValueError(f"as_of {as_of!r} needs a UTC offset, e.g. 2020-02-28T03:00:00+03:00")
        return cls(pd.Timestamp(start_day), pd.Timestamp(end_day), moment.tz_convert("UTC"))

    def label(self) -> str:
        local = self.as_of.tz_convert(LOCAL_TZ)
        return f"{self.start:%d %b %Y} – {self.end:%d %b %Y}, as known at {local:%d %b %Y %H:%M} (UTC+3)"


def _event_days(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["event_date"].astype("object"))


def known_events(tables: Tables, window: Window) -> pd.DataFrame:
    """Events inside the period that had been reported by `as_of`."""
    events = tables.events
    days = _event_days(events)
    mask = days.between(window.start, window.end) & (events["first_reported_at"] <= window.as_of)
    return events.loc[mask].reset_index(drop=True)


def known_claims(tables: Tables, window: Window) -> pd.DataFrame:
    """Claims published by `as_of`, with the event's date and place joined on."""
    claims = tables.claims.loc[tables.claims["published_at"] <= window.as_of]
    events = tables.events[["event_id", "event_date", "location", "event_type", "sub_event_type"]]
    return claims.merge(events, on="event_id", how="left")


def current_event_claims(tables: Tables, window: Window) -> pd.DataFrame:
    """Each claimant's latest claim per event, party and measure, for events in the period."""
    claims = known_claims(tables, window)
    claims = claims.loc[claims["scope"] == "event"]
    days = _event_days(claims)
    claims = claims.loc[days.between(window.start, window.end)]
    claims = claims.sort_values(["published_at", "claim_id"])
    keys = ["event_id", "party", "measure", "claimant"]
    return claims.groupby(keys, sort=False).tail(1).reset_index(drop=True)


def lower_median(values: list[int]) -> int:
    """The lower middle of the sorted values: always one of the values claimed."""
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def event_ranges(tables: Tables, window: Window, measure: str = "killed") -> pd.DataFrame:
    """Low, best and high figure per event and party, with the claimants and sources behind them."""
    current = current_event_claims(tables, window)
    current = current.loc[current["measure"] == measure].copy()
    columns = ["event_id", "event_date", "location", "party", "low", "best", "high",
               "claimants", "source_ids", "n_claims"]
    if current.empty:
        return pd.DataFrame(columns=columns)
    current["top"] = current["value_high"].fillna(current["value_low"]).astype(int)
    rows = []
    for (event_id, party), group in current.groupby(["event_id", "party"], sort=True):
        lows = [int(v) for v in group["value_low"]]
        rows.append({
            "event_id": event_id,
            "event_date": group["event_date"].iloc[0],
            "location": group["location"].iloc[0],
            "party": party,
            "low": min(lows),
            "best": lower_median(lows),
            "high": int(group["top"].max()),
            "claimants": "; ".join(f"{c}: {t}" for c, t in zip(group["claimant"], group["value_text"])),
            "source_ids": ";".join(sorted(set(group["source_id"]))),
            "n_claims": len(group),
        })
    return pd.DataFrame(rows, columns=columns)


def claim_history(tables: Tables, window: Window, event_id: str, party: str = "turkish_military",
                  measure: str = "killed") -> pd.DataFrame:
    """Every claim about one event, in order of publication, as known at `as_of`."""
    claims = known_claims(tables, window)
    mask = (claims["event_id"] == event_id) & (claims["party"] == party) & (claims["measure"] == measure)
    history = claims.loc[mask].sort_values(["published_at", "claim_id"]).reset_index(drop=True)
    history["published_local"] = history["published_at"].astype("datetime64[s, UTC]").dt.tz_convert(LOCAL_TZ)
    return history[["claim_id", "claimant", "published_at", "published_local", "published_at_precision",
                    "value_low", "value_high", "value_text", "source_id"]]


def daily_event_counts(tables: Tables, window: Window) -> pd.DataFrame:
    """Events per day and event type over the whole period, zero-filled, with a 7-day rolling mean."""
    events = known_events(tables, window)
    days = pd.date_range(window.start, window.end, freq="D")
    counts = (
        events.assign(day=_event_days(events))
        .groupby(["day", "event_type"]).size()
        .unstack("event_type", fill_value=0)
        .reindex(days, fill_value=0)
    )
    counts.index.name = "day"
    counts["total"] = counts.sum(axis=1)
    counts["rolling_7d_mean"] = counts["total"].rolling(7, min_periods=1).mean().round(2)
    return counts.reset_index()


def key_figures(tables: Tables, window: Window) -> pd.DataFrame:
    """The headline numbers of the period, each a range with its sources."""
    label = window.as_of.tz_convert(LOCAL_TZ).isoformat()
    events = known_events(tables, window)
    rows = [{"figure": "events", "value_low": len(events), "value_high": len(events), "as_of": label,
             "source_ids": ";".join(sorted(set(";".join(events["source_ids"]).split(";")) - {""}))}]
    ranges = event_ranges(tables, window, "killed")
    for party, group in ranges.groupby("party", sort=True):
        rows.append({"figure": f"killed.{party}", "value_low": int(group["low"].sum()),
                     "value_high": int(group["high"].sum()), "as_of": label,
                     "source_ids": ";".join(sorted(set(";".join(group["source_ids"]).split(";"))))})
    displaced = latest_displacement(tables, window)
    if not displaced.empty:
        rows.append({"figure": "displaced", "value_low": int(displaced["value_low"].min()),
                     "value_high": int(displaced["value_high"].fillna(displaced["value_low"]).max()),
                     "as_of": label, "source_ids": ";".join(sorted(set(displaced["source_id"])))})
    return pd.DataFrame(rows, columns=["figure", "value_low", "value_high", "as_of", "source_ids"])


def latest_displacement(tables: Tables, window: Window,
                        measure: str = "displaced_since_2019_12_01") -> pd.DataFrame:
    """The most recent figure of the measure dated within the period, one row per claimant."""
    frame = tables.displacement
    days = pd.to_datetime(frame["date"].astype("object"))
    frame = frame.loc[(frame["measure"] == measure) & (frame["published_at"] <= window.as_of)
                      & (days <= window.end)]
    if frame.empty:
        return frame
    latest_day = frame["date"].max()
    return frame.loc[frame["date"] == latest_day].reset_index(drop=True)
