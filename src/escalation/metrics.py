"""Metrics computed from validated tables: what was known at a moment, and how claims combine.

The rules, stated once here and quoted in chart captions:
- As of a moment, only events first reported, claims published and displacement figures
  published at or before it are used (a bare date counts from the end of that local day).
- A claimant's *current* claim about an event is its latest one published by then; earlier
  figures from the same claimant are superseded, not averaged.
- For one event, party and measure: low = the confirmed figure (see `escalation.grading`: whose
  word each claim is decides what is confirmed), high = the largest current figure (an open-ended
  "at least N" contributes N), best = the median of the current claimants' figures; with an even
  number of claimants, the more recently published of the two middle figures, so that best is
  always a figure someone claimed and prefers newer information (raised to low where it is below).
- Running totals ("N killed this month") are compared with incident sums, never added to them.
- "Neutralised" (an official term for killed, wounded or captured) is never added to deaths.

Who the focal party is, which claimants speak for whom and what is compared with what come from
the case (`tables.case`, read from case.yaml); local times are in the case's time zone.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from datetime import tzinfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from escalation import grading
from escalation.arrays import one_array
from escalation.case import Comparison
from escalation.data import Tables, rows_where
from escalation.moments import end_of_day, utc_offset

BEST_RULE = (
    "Per incident, each claimant's latest figure counts: low = the confirmed figure (the own side's concession, or "
    "a figure two independent third parties both reach; nothing for single-source or contested incidents), "
    "high = the largest claim ('at least N' counts as N), best = the median claimant (of two middle figures, the "
    "more recently published), never below low. Running totals are not added to incident figures; 'neutralised' "
    "is never counted as killed."
)


@dataclass(frozen=True)
class Window:
    """The period a report covers and the moment it describes."""

    start: pd.Timestamp
    end: pd.Timestamp
    as_of: pd.Timestamp
    zone: tzinfo  # the case's time zone: local times, and the end of a day
    week_start: str = "monday"

    @classmethod
    def from_params(cls, start: str, end: str, as_of: str | None = None, week_start: str = "monday", *,
                    zone: tzinfo) -> Window:
        """The window of a report's parameters; without `as_of`, 23:59 of `end` in `zone`."""
        start_day = pd.Timestamp(start).date()
        end_day = pd.Timestamp(end).date()
        if end_day < start_day:
            raise ValueError(f"end {end} is before start {start}")
        moment = pd.Timestamp(as_of) if as_of else pd.Timestamp(end_of_day(end_day, zone))
        if moment.tzinfo is None:
            raise ValueError(f"as_of {as_of!r} needs a UTC offset, e.g. 2020-02-28T03:00:00+03:00")
        if week_start not in ("monday", "saturday"):
            raise ValueError(f"week_start {week_start!r}: 'monday' (ISO weeks) or 'saturday' (ACLED's weeks)")
        return cls(pd.Timestamp(start_day), pd.Timestamp(end_day), moment.tz_convert("UTC"), zone, week_start)

    def local(self, moment: pd.Timestamp) -> pd.Timestamp:
        return moment.tz_convert(self.zone)

    def known(self, moments: pd.Series) -> pd.Series:
        """Where a moment of publication or first report is at or before `as_of`: what a report describing
        `as_of` may know (the one rule for events, claims and displacement figures)."""
        return moments <= self.as_of

    @property
    def last_day(self) -> pd.Timestamp:
        """The last day the window can say anything about: `end`, or the local day of `as_of` if earlier."""
        return min(self.end, pd.Timestamp(self.local(self.as_of).date()))

    def zone_label(self) -> str:
        """The UTC offset of local time at `as_of`, as printed beside local times (e.g. 'UTC+3')."""
        return utc_offset(self.local(self.as_of))

    def label(self) -> str:
        local = self.local(self.as_of)
        return (f"{self.start:%d %b %Y} – {self.end:%d %b %Y}, as known at {local:%d %b %Y %H:%M} "
                f"({self.zone_label()})")


#: Text as Arrow keeps it: a million texts without a Python string each...
ARROW_TEXT = pd.ArrowDtype(pa.string())
#: ...and pandas' own text type kept by Arrow, for tables that analysts split and match with `.str` as text.
TEXT = pd.StringDtype("pyarrow")


def as_days(dates: pd.Series) -> pd.Series:
    """Arrow dates as pandas day timestamps, for ranges, grouping and plotting (cast by Arrow, not one Python
    date at a time)."""
    if isinstance(dates.dtype, pd.ArrowDtype) and pa.types.is_date(dates.dtype.pyarrow_dtype):
        days = pc.cast(pa.array(dates), pa.timestamp("ns")).to_numpy(zero_copy_only=False)
        return pd.Series(days, index=dates.index, name=dates.name)
    return pd.to_datetime(dates.astype("object"))


def _event_days(frame: pd.DataFrame) -> pd.Series:
    return as_days(frame["event_date"])


#: Results of the metrics a report asks for in many charts, kept per function (the most recently used).
KEPT_RESULTS = 8


class _SameTables:
    """The tables a metric reads, compared by identity: equal only for the very same frames and case. Kept in the
    cache's key, it keeps them alive, so an identity is never reused by other tables while its result is kept."""

    __slots__ = ("tables", "inputs")

    def __init__(self, tables: Tables):
        self.tables = tables
        self.inputs = (tables.events, tables.claims, tables.sources, tables.displacement, tables.case)

    def __hash__(self) -> int:
        return hash(tuple(map(id, self.inputs)))

    def __eq__(self, other) -> bool:
        return isinstance(other, _SameTables) and all(a is b for a, b in zip(self.inputs, other.inputs))


def _kept(function):
    """Keep the last few results of `function(tables, window, ...)` (functools.lru_cache), for the very same table
    objects and window only: a report asks for the same known events and ranges in many charts, and a chart's
    builder and the report filing its table ask for the same table; at a million rows each costs seconds. Callers
    get a copy (Arrow columns are shared, not copied: they are immutable)."""
    signature = inspect.signature(function)

    @functools.lru_cache(maxsize=KEPT_RESULTS)
    def computed(same: _SameTables, window: Window, arguments: tuple) -> pd.DataFrame:
        return function(same.tables, window, *arguments)

    @functools.wraps(function)
    def kept(tables: Tables, window: Window, *args, **kwargs) -> pd.DataFrame:
        bound = signature.bind(tables, window, *args, **kwargs)
        bound.apply_defaults()
        return computed(_SameTables(tables), window, tuple(bound.arguments.values())[2:]).copy()
    kept.cache_clear, kept.cache_info = computed.cache_clear, computed.cache_info
    return kept


@_kept
def known_events(tables: Tables, window: Window) -> pd.DataFrame:
    """Events inside the period that had been reported by `as_of`."""
    events = tables.events
    days = _event_days(events)
    mask = days.between(window.start, window.end) & window.known(events["first_reported_at"])
    return rows_where(events, mask)


@_kept
def known_claims(tables: Tables, window: Window) -> pd.DataFrame:
    """Claims published by `as_of`, with the event's date and place joined on."""
    claims = tables.claims
    published = window.known(claims["published_at"])
    return _looked_up(rows_where(claims, published), tables.events, "event_id",
                      ["event_date", "location", "event_type", "sub_event_type"])


def _looked_up(frame: pd.DataFrame, table: pd.DataFrame, key: str, columns: list[str]) -> pd.DataFrame:
    """`frame` (numbered from 0) with `columns` of the row of `table` whose `key` (unique there) each row names,
    empty where none: `frame.merge(table, on=key, how="left")`, with the rows found by Arrow's hash table (pandas'
    merge factorised a million text keys each time)."""
    position = _positions(frame[key], table[key])
    found = pa.table({column: one_array(table[column]).take(position) for column in columns})
    return pd.concat([frame.reset_index(drop=True), found.to_pandas(types_mapper=pd.ArrowDtype)], axis=1)


def _positions(keys: pd.Series, among: pd.Series) -> pa.Array:
    """The position in `among` of each of `keys` (null where absent). An empty column of objects has no text
    type in Arrow (it is null-typed): such a side takes the other's type."""
    values, value_set = one_array(keys), one_array(among)
    if pa.types.is_null(values.type):
        values = values.cast(value_set.type)
    elif value_set.type != values.type:
        value_set = value_set.cast(values.type)
    return pc.index_in(values, value_set=value_set)


#: The columns of a current claim that the figures read: only these are copied for the latest claims (a million
#: rows of every claim column cost seconds and half a GB).
CURRENT_CLAIM_COLUMNS = ["event_id", "event_date", "location", "party", "measure", "claimant", "stance", "value_low",
                         "value_high", "value_text", "published_at", "source_id"]
#: ...of which these come from the claim's event.
EVENT_COLUMNS = ("event_date", "location")


def current_event_claims(tables: Tables, window: Window) -> pd.DataFrame:
    """Each claimant's latest claim per event, party and measure, for events in the period, in order of
    publication (then claim id): its CURRENT_CLAIM_COLUMNS.

    The claims known at `as_of` (`known_claims`) are found by position, and only the latest ones are copied with
    their event's date and place: copying every known claim first cost seconds at a million claims."""
    claims, events = tables.claims, tables.events
    event_row = _positions(claims["event_id"], events["event_id"])

    def of_events(column: str, rows: pa.Array) -> pd.api.extensions.ExtensionArray:
        return pd.array(one_array(events[column]).take(rows), dtype=events[column].dtype)

    event_days = as_days(pd.Series(of_events("event_date", event_row)))
    known = window.known(claims["published_at"]) & (claims["scope"] == "event")
    rows = np.flatnonzero(known.to_numpy(dtype=bool, na_value=False)
                          & event_days.between(window.start, window.end).to_numpy())
    # grouped by event, party, measure and claimant; the event by its row (its id would be hashed again)
    keys = ["party", "measure", "claimant"]
    known = claims[[*keys, "published_at", "claim_id"]].iloc[rows].assign(
        event_row=event_row.take(pa.array(rows, pa.int64())).to_numpy())
    group = _group_numbers(known, ["event_row", *keys], ordered=False)
    # in order of publication (then claim id; Arrow sorts the text, as Python compares it), the last claim of
    # each group; rows with a missing key have none
    ordered = pc.sort_indices(pa.table({"published": _seconds(known["published_at"]),
                                        "claim": one_array(known["claim_id"].astype(ARROW_TEXT))}),
                              sort_keys=[("published", "ascending", "at_start"),
                                         ("claim", "ascending", "at_start")]).to_numpy()
    latest = rows[ordered[~pd.Series(group[ordered]).duplicated(keep="last").to_numpy() & (group[ordered] >= 0)]]
    current = claims[[c for c in CURRENT_CLAIM_COLUMNS if c not in EVENT_COLUMNS]].iloc[latest]
    current = current.set_axis(pd.RangeIndex(len(current)))
    latest_events = event_row.take(pa.array(latest, pa.int64()))
    return current.assign(**{column: of_events(column, latest_events) for column in EVENT_COLUMNS})[
        CURRENT_CLAIM_COLUMNS]


def graded_claims(tables: Tables, window: Window, measure: str = "killed") -> pd.DataFrame:
    """Each claimant's current incident claim on `measure`, with its stance and whether its page is
    independent (an originator of an affiliation the case counts as independent)."""
    current = current_event_claims(tables, window)
    return _with_pages(tables, rows_where(current, current["measure"] == measure))


def _with_pages(tables: Tables, current: pd.DataFrame) -> pd.DataFrame:
    """Claims with their page's originator and whether it counts as independent (for grading)."""
    current = _looked_up(current, tables.sources, "source_id", ["originator", "affiliation"])
    independent = tables.case.independent_affiliations
    marked = current["affiliation"].isin(independent) if independent else pd.Series(True, index=current.index)
    return current.assign(independent=marked.fillna(False).astype(bool),
                          originator=current["originator"].fillna(current["claimant"]))


RANGE_COLUMNS = ["event_id", "event_date", "location", "party", "low", "best", "high", "grade", "lowest_claim",
                 "claimants", "source_ids", "n_claims"]


@_kept
def event_ranges(tables: Tables, window: Window, measure: str = "killed") -> pd.DataFrame:
    """Low, best and high figure per event and party, its grade, and the claimants and sources behind them.

    low = the confirmed figure (grading.GRADE_RULE); high = the largest current claim ('at least N' as N);
    best = the median claimant (of two middle figures, the more recently published), never below low."""
    current = graded_claims(tables, window, measure)
    return (pd.DataFrame(columns=RANGE_COLUMNS) if current.empty
            else _ranges(current, ["event_id", "party"], detail=True)[RANGE_COLUMNS])


def _ranges(current: pd.DataFrame, keys: list[str], detail: bool = False) -> pd.DataFrame:
    """Low, best, high and grade per group of `keys` of graded current claims (one row per claimant), in the
    order of the keys; with `detail`, also the place, date, claimants and sources behind each.

    The groups are numbered once (`_group_numbers`) and everything else runs on those numbers in numpy and Arrow:
    grouping and sorting a million rows by text keys again and again took minutes."""
    shared = ["event_date", "location"] if detail else ["event_date"]
    group = _group_numbers(current, keys)
    # the rows by group, the frame's order within each: positions only, the columns are taken where needed
    order = np.flatnonzero(group >= 0)
    order = order[np.argsort(group[order], kind="stable")]
    numbers = group[order]
    starts = np.flatnonzero(np.r_[True, numbers[1:] != numbers[:-1]]) if len(numbers) else np.array([], int)
    # every claim of a group is about the same event: its first row gives date and place
    ranges = current[[*keys, *shared]].iloc[order[starts]].set_axis(pd.Index(numbers[starts], name="_group"))
    values = current["value_low"].astype("int64").to_numpy()[order]
    tops = current["value_high"].fillna(current["value_low"]).astype("int64").to_numpy()[order]
    sizes = np.diff(np.r_[starts, len(order)])
    ranges = ranges.assign(lowest_claim=np.minimum.reduceat(values, starts) if len(starts) else values,
                           high=np.maximum.reduceat(tops, starts) if len(starts) else tops, n_claims=sizes)
    if detail:
        ranges = ranges.assign(claimants=_joined(_said(current).iloc[order], starts, "; "),
                               source_ids=_page_lists(group, current["source_id"]))
    # best: the median claim; of two middle claims, the more recently published (then the larger)
    published = _seconds(current["published_at"])[order]
    ordered = np.lexsort((published, values, numbers))  # by group, value, publication (stable)
    upper = ordered[starts + sizes // 2]
    lower = ordered[starts + np.maximum(sizes // 2 - 1, 0)]
    newer_lower = (sizes % 2 == 0) & (published[lower] > published[upper])
    best = np.where(newer_lower, values[lower], values[upper])
    graded = current[["stance", "independent", "originator", "value_low", "value_high"]]
    grouped = group >= 0
    grades, confirmed = grading.grade_groups(group[grouped], graded if grouped.all() else graded.loc[grouped])
    # all per group number, as the ranges are
    ranges = ranges.assign(best=np.maximum(best, confirmed), grade=grades, confirmed=confirmed, low=confirmed)
    return ranges.set_axis(pd.RangeIndex(len(ranges)))


def _said(current: pd.DataFrame) -> pd.Series:
    """What each claimant said: 'claimant (stance): figure as written' (a helper, so that its million texts are
    freed before grading)."""
    texts = [one_array(current[column].astype(ARROW_TEXT)) for column in ("claimant", "stance", "value_text")]
    said = pc.binary_join_element_wise(texts[0], " (", pc.replace_substring(texts[1], "_", " "), "): ", texts[2], "")
    return pd.Series(pd.array(said, dtype=ARROW_TEXT), index=current.index)


def _page_lists(group: np.ndarray, source_ids: pd.Series) -> pd.api.extensions.ExtensionArray:
    """The distinct source ids of each group (numbered 0, 1...; -1 for none), sorted and joined with ';' (null for a
    group with a missing id). The pairs of group and id are numbered and sorted as integers, not as text."""
    codes, names = pd.factorize(source_ids, sort=True)
    codes = np.where(codes < 0, len(names), codes)  # a missing id after every id
    width = len(names) + 1
    pairs = np.sort(group[group >= 0] * width + codes[group >= 0])
    pairs = pairs[np.diff(pairs, prepend=-1) != 0]  # distinct: numpy 2's np.unique hashes, 40 times slower
    page_groups, pages = np.divmod(pairs, width)
    ids = pa.concat_arrays([one_array(pd.Series(names).astype(ARROW_TEXT)), pa.nulls(1, pa.string())])
    return _joined(pd.Series(pd.array(ids.take(pages), dtype=ARROW_TEXT)),
                   np.flatnonzero(np.r_[True, page_groups[1:] != page_groups[:-1]]), ";")


def _group_numbers(frame: pd.DataFrame, keys: list[str], ordered: bool = True) -> np.ndarray:
    """Each row's group of `keys`, numbered 0, 1... in the sorted order of the keys' values (the order of
    groupby's groups); -1 where a key is missing (groupby leaves such rows out). Without `ordered`, in an
    order of no meaning, for callers that only tell the groups apart: sorting a million ids takes a second.

    The keys' codes are combined into one number per row (mixed radix) and numbered by one sort; the
    numbers are renumbered first only when the next key would overflow them."""
    numbers = np.zeros(len(frame), dtype=np.int64)
    missing = np.zeros(len(frame), dtype=bool)
    span = 1  # numbers lie in 0..span-1
    for key in keys:
        codes, uniques = pd.factorize(frame[key], sort=ordered)
        missing |= codes < 0
        width = max(len(uniques), 1)
        if span * width >= 2**62:
            _, numbers = np.unique(numbers, return_inverse=True)
            span = int(numbers.max(initial=0)) + 1
        numbers = numbers * width + np.maximum(codes, 0)
        span *= width
    _, numbers = np.unique(numbers, return_inverse=True)
    numbers = numbers.reshape(-1)
    if missing.any():
        _, numbers[~missing] = np.unique(numbers[~missing], return_inverse=True)
        numbers[missing] = -1
    return numbers


def _seconds(moments: pd.Series) -> np.ndarray:
    """Moments as integer seconds (nanoseconds for numpy moments), for sorting and comparing in numpy."""
    if isinstance(moments.dtype, pd.ArrowDtype):
        return pc.cast(pa.array(moments), pa.int64()).to_numpy(zero_copy_only=False)
    return moments.to_numpy().astype("datetime64[ns]").astype(np.int64)


def _joined(texts: pd.Series, starts: np.ndarray, separator: str) -> pd.api.extensions.ExtensionArray:
    """The texts of each group (consecutive rows from each of `starts`) joined, by Arrow in one pass; kept as
    Arrow text (a million Python strings would cost a few hundred MB)."""
    values = one_array(texts.astype(ARROW_TEXT))
    lists = pa.ListArray.from_arrays(pa.array(np.r_[starts, len(values)], pa.int32()), values)
    return pd.array(pc.binary_join(lists, separator), dtype=ARROW_TEXT)


def focal_event(tables: Tables) -> str | None:
    """The case's focal incident: the one case.yaml names, else the event with the most claims about the
    focal party and measure (ties: the earliest event id)."""
    focal = tables.case.focal
    if focal.event_id:
        return focal.event_id
    claims = tables.claims
    about = claims.loc[(claims["party"] == focal.party) & (claims["measure"] == focal.measure)
                       & claims["event_id"].notna()]
    counts = about.groupby("event_id").size()
    return str(counts.sort_index().idxmax()) if len(counts) else None


@_kept
def claim_history(tables: Tables, window: Window, event_id: str | None = None) -> pd.DataFrame:
    """Every claim about one event (default: the focal incident) on the focal party and measure, in order of
    publication, as known at `as_of`."""
    focal = tables.case.focal
    event_id = event_id or focal_event(tables)
    claims = tables.claims  # the event's claims known at as_of, picked before anything is copied
    mask = ((claims["event_id"] == event_id) & (claims["party"] == focal.party) & (claims["measure"] == focal.measure)
            & window.known(claims["published_at"]))
    history = rows_where(claims, mask).sort_values(["published_at", "claim_id"]).reset_index(drop=True)
    history["published_local"] = history["published_at"].astype("datetime64[s, UTC]").dt.tz_convert(window.zone)
    return history[["claim_id", "claimant", "published_at", "published_local", "published_at_precision",
                    "value_low", "value_high", "value_text", "source_id"]]


@_kept
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


def cited_ids(source_ids: pd.Series) -> list[str]:
    """The distinct ids in cells of ';'-separated source ids, sorted (split and counted by Arrow: a million cells
    joined into one Python string took seconds)."""
    cells = pa.array(source_ids.astype(ARROW_TEXT))
    ids = pc.unique(pc.list_flatten(pc.split_pattern(cells.fill_null(""), ";")))
    return sorted(set(ids.to_pylist()) - {""})


KEY_FIGURE_COLUMNS = ["figure", "value_low", "value_high", "grade", "high_single_source", "high_contested", "as_of",
                      "source_ids"]


def key_figures(tables: Tables, window: Window) -> pd.DataFrame:
    """The headline numbers of the period, each a range with its sources, and how much of each death range
    rests on single-source and contested incidents (their high figures, which the low edge leaves out).

    Its text columns are pandas' text kept by Arrow (`TEXT`): a large case has a figure per incident, and a
    million Python strings cost seconds and hundreds of MB."""
    label = window.local(window.as_of).isoformat()
    focal_party = tables.case.focal.party
    events = known_events(tables, window)
    rows = [{"figure": "events", "value_low": len(events), "value_high": len(events), "as_of": label,
             "source_ids": ";".join(cited_ids(events["source_ids"]))}]
    ranges = event_ranges(tables, window, "killed")
    parties = ranges["party"]
    high = ranges["high"].astype("int64")
    single_source = high.where(ranges["grade"] == "single-source", 0)
    contested = high.where(ranges["grade"] == "contested", 0)
    for party in sorted(parties.dropna().unique()):
        of_party = (parties == party).to_numpy(dtype=bool, na_value=False)
        rows.append({"figure": f"killed.{party}", "value_low": int(ranges["low"].to_numpy()[of_party].sum()),
                     "value_high": int(high.to_numpy()[of_party].sum()),
                     "high_single_source": int(single_source.to_numpy()[of_party].sum()),
                     "high_contested": int(contested.to_numpy()[of_party].sum()), "as_of": label,
                     "source_ids": ";".join(cited_ids(rows_where(ranges["source_ids"], of_party)))})
    focal = (parties == focal_party).to_numpy(dtype=bool, na_value=False)
    incidents = rows_where(ranges[["event_id", "low", "grade", "source_ids"]], focal)
    event_ids = one_array(incidents["event_id"].astype(ARROW_TEXT))
    per_incident = pd.DataFrame({
        "figure": pd.array(pc.binary_join_element_wise(f"killed.{focal_party}.", event_ids, ""), dtype=TEXT),
        "value_low": incidents["low"].astype("int64"), "value_high": high.to_numpy()[focal],
        "grade": incidents["grade"].astype(TEXT), "high_single_source": single_source.to_numpy()[focal],
        "high_contested": contested.to_numpy()[focal],
        "as_of": pd.array(pa.nulls(len(incidents), pa.string()).fill_null(label), dtype=TEXT),
        "source_ids": incidents["source_ids"].astype(TEXT)})
    displaced = latest_displacement(tables, window)
    tail = []
    if not displaced.empty:
        tail.append({"figure": "displaced", "value_low": int(displaced["value_low"].min()),
                     "value_high": int(displaced["value_high"].fillna(displaced["value_low"]).max()),
                     "as_of": label, "source_ids": ";".join(sorted(set(displaced["source_id"])))})
    text = {column: TEXT for column in ("figure", "grade", "as_of", "source_ids")}
    parts = [pd.DataFrame(rows, columns=KEY_FIGURE_COLUMNS).astype(text), per_incident,
             pd.DataFrame(tail, columns=KEY_FIGURE_COLUMNS).astype(text)]
    figures = pd.concat([part for part in parts if len(part)], ignore_index=True)[KEY_FIGURE_COLUMNS]
    for column in ("high_single_source", "high_contested"):
        figures[column] = figures[column].astype("Int64")
    return figures


def latest_displacement(tables: Tables, window: Window) -> pd.DataFrame:
    """The most recent figure of the case's displacement measure dated within the period, one row per claimant."""
    series = displacement_series(tables, window)
    if series.empty:
        return series
    return series.loc[series["date"] == series["date"].max()].reset_index(drop=True)


@_kept
def cumulative_deaths(tables: Tables, window: Window) -> pd.DataFrame:
    """Per day and party up to the window's last day (never past `as_of`), deaths from incident claims summed
    from the start of the period (low/best/high)."""
    ranges = event_ranges(tables, window, "killed")
    days = pd.date_range(window.start, window.last_day, freq="D")
    columns = ["day", "party", "daily_low", "daily_high", "low", "best", "high"]
    if ranges.empty or days.empty:
        return pd.DataFrame(columns=columns)
    daily = (ranges.assign(day=as_days(ranges["event_date"]))
             .groupby(["party", "day"])[["low", "best", "high"]].sum()
             .reindex(pd.MultiIndex.from_product([sorted(ranges["party"].unique()), days], names=["party", "day"]),
                      fill_value=0).astype("int64"))
    cumulative = daily.groupby(level="party").cumsum()
    table = cumulative.assign(daily_low=daily["low"], daily_high=daily["high"]).reset_index()
    return table[columns]


@_kept
def incident_claims(tables: Tables, window: Window) -> pd.DataFrame:
    """Each claimant's current figure per incident about the focal party, beside the incident's low/best/high."""
    party, measure = tables.case.focal.party, tables.case.focal.measure
    current = current_event_claims(tables, window)
    current = current.loc[(current["party"] == party) & (current["measure"] == measure)]
    ranges = event_ranges(tables, window, measure)
    ranges = ranges.loc[ranges["party"] == party, ["event_id", "low", "best", "high", "grade"]]
    merged = current.merge(ranges, on="event_id")
    columns = ["event_id", "event_date", "location", "claimant", "stance", "value_low", "value_high", "value_text",
               "published_at", "source_id", "low", "best", "high", "grade"]
    return merged[columns].sort_values(["event_date", "event_id", "claimant"]).reset_index(drop=True)


def incident_sum_at(tables: Tables, moment: pd.Timestamp, period_start, period_end, party: str) -> dict[str, int]:
    """Low/best/high sum of incident deaths in a period, as known at `moment`."""
    window = Window(pd.Timestamp(period_start), pd.Timestamp(period_end), moment, tables.case.timezone)
    ranges = event_ranges(tables, window, "killed")
    ranges = ranges.loc[ranges["party"] == party]
    return {"low": int(ranges["low"].sum()), "best": int(ranges["best"].sum()),
            "high": int(ranges["high"].sum()), "incidents": len(ranges)}


def _focal_death_claims(tables: Tables, window: Window, scope: str) -> pd.DataFrame:
    """The focal party's `killed` claims of one scope published by `as_of`."""
    claims = tables.claims
    mask = ((claims["scope"] == scope) & (claims["party"] == tables.case.focal.party)
            & (claims["measure"] == "killed") & window.known(claims["published_at"]))
    return claims.loc[mask]


def _incident_changes(tables: Tables, window: Window) -> pd.DataFrame:
    """How each incident of the focal party's deaths stood after each claim about it was published: one row per
    incident and publication moment, with the change of its low/best/high (and of the count of incidents) from
    the moment before. Summing the changes up to a moment gives what incident_sum_at computes at it."""
    claims = _focal_death_claims(tables, window, "event")
    claims = claims.merge(tables.events[["event_id", "event_date", "location"]], on="event_id", how="left")
    columns = ["moment", "event_id", "event_date", "low", "best", "high", "incidents"]
    if claims.empty:
        return pd.DataFrame(columns=columns)
    incident = ["event_id", "party"]
    moments = claims[[*incident, "published_at"]].drop_duplicates().rename(columns={"published_at": "moment"})
    # every claim paired with each later moment of its incident: what was known about it then
    known = claims.merge(moments, on=incident)
    known = known.loc[known["published_at"] <= known["moment"]].sort_values(["published_at", "claim_id"])
    current = known.groupby(["moment", *incident, "measure", "claimant"], sort=False).tail(1)
    states = _ranges(_with_pages(tables, current), ["event_id", "party", "moment"])
    states = states.sort_values(["event_id", "party", "moment"], kind="stable")
    figures = ["low", "best", "high"]
    before = states.groupby(incident)[figures].shift(1)
    changes = states[figures].astype("int64") - before.fillna(0).astype("int64")
    changes["incidents"] = before["low"].isna().astype("int64")
    return pd.concat([states[["moment", "event_id", "event_date"]], changes], axis=1)[columns]


def _sums_at(changes: pd.DataFrame, first_day, last_day, moments: pd.Series) -> pd.DataFrame:
    """Low/best/high sums and count of the incidents dated first_day..last_day, as known at each of `moments`."""
    days = as_days(changes["event_date"])
    inside = changes.loc[days.between(pd.Timestamp(first_day), pd.Timestamp(last_day))]
    figures = ["low", "best", "high", "incidents"]
    running = inside.groupby("moment")[figures].sum().sort_index().cumsum()
    # the last change at or before each moment (none yet: zeros)
    position = running.index.searchsorted(pd.Series(moments, dtype=running.index.dtype).to_numpy(), side="right")
    padded = pd.concat([pd.DataFrame([[0] * len(figures)], columns=figures), running.reset_index(drop=True)])
    return padded.iloc[position].reset_index(drop=True).astype("int64")


@_kept
def reconciliation(tables: Tables, window: Window) -> pd.DataFrame:
    """Each running total of the focal party's deaths as reported, beside the sum of incident claims known at
    that moment."""
    totals = _focal_death_claims(tables, window, "running_total")
    period_start = as_days(totals["period_start"])
    totals = totals.loc[period_start.between(window.start, window.end)]
    totals = totals.sort_values(["published_at", "claim_id"]).reset_index(drop=True)
    changes = _incident_changes(tables, window)
    known = pd.DataFrame(0, index=totals.index, columns=["low", "best", "high", "incidents"], dtype="int64")
    for (first_day, last_day), group in totals.groupby(["period_start", "period_end"], sort=False):  # few periods
        known.loc[group.index] = _sums_at(changes, first_day, last_day, group["published_at"]).to_numpy()
    reported = totals["value_low"].astype("int64")
    table = pd.DataFrame({
        "claim_id": totals["claim_id"], "claimant": totals["claimant"], "published_at": totals["published_at"],
        "published_local": totals["published_at"].astype("datetime64[s, UTC]").dt.tz_convert(window.zone),
        "period_start": totals["period_start"], "period_end": totals["period_end"], "reported": reported,
        "value_text": totals["value_text"], "source_id": totals["source_id"], "incident_low": known["low"],
        "incident_best": known["best"], "incident_high": known["high"], "incidents": known["incidents"],
        "gap_to_best": reported - known["best"]})
    return table


def incident_sum_over_time(tables: Tables, window: Window) -> pd.DataFrame:
    """The focal party's incident sum since `start`, re-evaluated at every moment a relevant claim was
    published."""
    moments = pd.Series(sorted(set(_focal_death_claims(tables, window, "event")["published_at"])))
    sums = _sums_at(_incident_changes(tables, window), window.start, window.end, moments)
    table = sums.assign(moment=moments, moment_local=moments.astype("datetime64[s, UTC]").dt.tz_convert(window.zone))
    return table[["moment", "moment_local", "low", "best", "high", "incidents"]]


@_kept
def event_deaths(tables: Tables, window: Window) -> pd.DataFrame:
    """Known events with the best, low and high deaths over all parties (0 where no claim)."""
    events = known_events(tables, window)
    ranges = event_ranges(tables, window, "killed")
    group = _group_numbers(ranges, ["event_id"], ordered=False)
    figures = ["low", "best", "high"]
    sums = ranges[figures].astype("int64").groupby(group).sum()  # per event_id, in the order of their numbers
    ids = ranges["event_id"].iloc[np.unique(group, return_index=True)[1]]
    position = _positions(events["event_id"], ids).to_numpy(zero_copy_only=False)
    found = ~np.isnan(position)
    deaths = {column: np.zeros(len(events), dtype=int) for column in figures}
    for column in figures:
        deaths[column][found] = sums[column].to_numpy()[position[found].astype(np.int64)]
    return events.assign(**deaths)


@_kept
def map_points(tables: Tables, window: Window) -> pd.DataFrame:
    """Events with coordinates, their deaths (best, all parties) and the day they happened."""
    events = event_deaths(tables, window)
    columns = ["event_id", "event_date", "event_type", "sub_event_type", "location", "latitude", "longitude",
               "geo_precision", "best", "low", "high", "actor1", "actor2", "source_ids"]
    return rows_where(events[columns], events["latitude"].notna())


TERRITORY_SUB_TYPES = ("Government regains territory", "Non-state actor overtakes territory")


@_kept
def territorial_changes(tables: Tables, window: Window) -> pd.DataFrame:
    """Every reported change of control: where, when, to whom and from whom."""
    events = known_events(tables, window)
    columns = ["event_id", "event_date", "location", "sub_event_type", "actor1", "actor2", "notes", "source_ids"]
    changes = events.loc[events["sub_event_type"].isin(TERRITORY_SUB_TYPES), columns]
    changes = changes.assign(taken_by=changes["sub_event_type"].map(tables.case.control_changes))
    columns = ["event_id", "event_date", "location", "taken_by", "actor1", "actor2", "notes", "source_ids"]
    return changes[columns].sort_values(["event_date", "location"]).reset_index(drop=True)


@_kept
def displacement_series(tables: Tables, window: Window) -> pd.DataFrame:
    """Figures of the case's displacement measure published by `as_of`, dated within the period or before it
    (none when the case charts no displacement)."""
    measure = tables.case.displacement_measure
    frame = tables.displacement
    days = as_days(frame["date"])
    keep = (frame["measure"] == measure) & window.known(frame["published_at"]) & (days <= window.end)
    series = frame.loc[keep].copy()
    series["open_ended"] = series["value_high"].isna()
    columns = ["date", "value_low", "value_high", "open_ended", "value_text", "claimant", "published_at",
               "source_id"]
    return series[columns].sort_values(["date", "published_at"]).reset_index(drop=True)


@_kept
def actor_pairs(tables: Tables, window: Window) -> pd.DataFrame:
    """Event counts by actor1 × actor2 (events with no second actor counted under '(none)')."""
    events = known_events(tables, window)
    pairs = events.assign(actor2=events["actor2"].fillna("(none)"))
    return (pairs.groupby(["actor1", "actor2"]).size().rename("events").reset_index()
            .sort_values(["events", "actor1"], ascending=[False, True]).reset_index(drop=True))


def comparison(tables: Tables) -> Comparison | None:
    """The case's first comparison of a claimed measure against a claimant's deaths, if it has one."""
    return tables.case.comparisons[0] if tables.case.comparisons else None


@_kept
def claimed_versus_killed(tables: Tables, window: Window) -> pd.DataFrame:
    """Per day: the case comparison's claimed measure (e.g. 'neutralised') by the claimants of one party, against
    one claimant's deaths, about the same parties. Empty when the case defines no comparison."""
    compared = comparison(tables)
    if compared is None:
        return pd.DataFrame(columns=["day"])
    current = current_event_claims(tables, window)
    on_parties = current["party"].isin(compared.about)
    claimed = current.loc[on_parties & (current["measure"] == compared.measure)
                          & current["claimant"].isin(tables.case.claimants_of(compared.claimed_by))]
    against = current.loc[on_parties & (current["measure"] == "killed")
                          & (current["claimant"] == compared.against_claimant)]
    days = pd.date_range(window.start, window.end, freq="D")

    def per_day(frame):
        return (frame.assign(day=as_days(frame["event_date"]))
                .groupby("day")["value_low"].sum().reindex(days, fill_value=0).astype(int))

    table = pd.DataFrame({"day": days, compared.claimed_column: per_day(claimed).values,
                          compared.against_column: per_day(against).values})
    table[f"{compared.claimed_column}_cumulative"] = table[compared.claimed_column].cumsum()
    table[f"{compared.against_column}_cumulative"] = table[compared.against_column].cumsum()
    return table


#: Thresholds of the escalation rules, quoted in the chart caption.
ACLED_SURGE_RATIO, ACLED_SURGE_FLOOR, ACLED_BASELINE_WEEKS = 2.0, 1.0, 4
HDX_WINDOW_DAYS, HDX_FLOOR = 30, 100
CHANGE_POINT_MIN_SIZE = 3


@_kept
def daily_intensity(tables: Tables, window: Window) -> pd.DataFrame:
    """Events and deaths (best claim, all parties, incident claims only) per day of the period."""
    events = event_deaths(tables, window)
    days = pd.date_range(window.start, window.end, freq="D")
    grouped = events.assign(day=as_days(events["event_date"])).groupby("day")
    table = pd.DataFrame({
        "day": days,
        "events": grouped.size().reindex(days, fill_value=0).astype(int).values,
        "deaths_best": grouped["best"].sum().reindex(days, fill_value=0).astype(int).values,
        "deaths_low": grouped["low"].sum().reindex(days, fill_value=0).astype(int).values,
    })
    table["deaths_rolling_30d"] = table["deaths_best"].rolling(HDX_WINDOW_DAYS, min_periods=1).sum().astype(int)
    return table


def change_points(intensity: pd.DataFrame) -> list[pd.Timestamp]:
    """First days of new phases found by ruptures' PELT (l2 cost) on standardised events and deaths.

    The penalty is 2·d·ln(n) (BIC-like for d standardised series of n days); segments last at least
    CHANGE_POINT_MIN_SIZE days.
    """
    import numpy as np
    import ruptures

    signal = intensity[["events", "deaths_best"]].to_numpy(dtype=float)
    spread = signal.std(axis=0)
    spread[spread == 0] = 1.0
    standardised = (signal - signal.mean(axis=0)) / spread
    n, d = standardised.shape
    if n < 2 * CHANGE_POINT_MIN_SIZE:
        return []
    # KernelCPD with the linear kernel is the l2 cost under PELT, in ruptures' C code: the same change points
    # as Pelt(model="l2", jump=1), in a tenth of a second for ten years of days instead of minutes
    ends = ruptures.KernelCPD(kernel="linear", min_size=CHANGE_POINT_MIN_SIZE).fit(standardised).predict(
        pen=2 * d * float(np.log(n)))
    return [intensity["day"].iloc[int(end)] for end in ends[:-1]]


@_kept
def intensity_phases(tables: Tables, window: Window) -> pd.DataFrame:
    """Daily intensity with the HDX-style signal and the first day of each phase (`change_points`)."""
    intensity = hdx_signals(daily_intensity(tables, window))
    starts = set(change_points(intensity))
    return intensity.assign(phase_starts=intensity["day"].isin(starts))


def weekly_surge(tables: Tables, window: Window) -> pd.DataFrame:
    """ACLED's surge rule on weekly events: a week ≥ 100% above the mean of the 4 weeks before it,
    when that mean is at least 1. Weeks start on `window.week_start`."""
    intensity = daily_intensity(tables, window)
    anchor = "W-FRI" if window.week_start == "saturday" else "W-SUN"
    weekly = intensity.set_index("day")["events"].resample(anchor, label="left", closed="right").sum()
    weekly.index = weekly.index + pd.Timedelta(days=1)
    table = weekly.rename("events").reset_index().rename(columns={"day": "week_start"})
    week_end = (table["week_start"] + pd.Timedelta(days=6)).clip(upper=window.end)
    table["days_in_period"] = ((week_end - table["week_start"].clip(lower=window.start)).dt.days + 1).astype("int64")
    baseline = table["events"].shift(1).rolling(ACLED_BASELINE_WEEKS, min_periods=ACLED_BASELINE_WEEKS).mean()
    table["baseline_4w_mean"] = baseline.round(2)
    table["threshold"] = (baseline * ACLED_SURGE_RATIO).round(2)
    table["surge"] = (baseline >= ACLED_SURGE_FLOOR) & (table["events"] >= table["threshold"])
    return table


def hdx_signals(intensity: pd.DataFrame) -> pd.DataFrame:
    """HDX-style signal: rolling 30-day deaths at a level not seen earlier in the series, and ≥ 100."""
    rolling = intensity["deaths_rolling_30d"]
    previous_max = rolling.cummax().shift(1).fillna(-1)
    signal = (rolling > previous_max) & (rolling >= HDX_FLOOR)
    return intensity.assign(hdx_signal=signal)


def changes_since(tables: Tables, window: Window,
                  since: pd.Timestamp | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What became known between `since` (default: 24 hours before `as_of`) and `as_of`: new events, and
    new claims with the figure each revises (the same claimant's previous claim about the same event,
    party and measure)."""
    since = window.as_of - pd.Timedelta(days=1) if since is None else since
    events = tables.events
    new_events = events.loc[(events["first_reported_at"] > since) & window.known(events["first_reported_at"])]
    claims = tables.claims.sort_values(["published_at", "claim_id"])
    keys = ["event_id", "party", "measure", "claimant", "scope"]
    claims = claims.assign(revises=claims.groupby(keys, dropna=False)["value_text"].shift(1))
    fresh = claims.loc[(claims["published_at"] > since) & window.known(claims["published_at"])]
    new_claims = fresh.merge(events[["event_id", "location"]], on="event_id", how="left")
    new_claims = new_claims.assign(
        published_local=new_claims["published_at"].astype("datetime64[s, UTC]").dt.tz_convert(window.zone),
        change=new_claims["revises"].isna().map({True: "first figure", False: "revision"}))
    event_columns = ["event_id", "event_date", "event_type", "sub_event_type", "location", "notes", "source_ids"]
    claim_columns = ["claim_id", "change", "location", "party", "measure", "value_text", "revises", "claimant",
                     "published_local", "published_at_precision", "source_id"]
    return new_events[event_columns].reset_index(drop=True), new_claims[claim_columns].reset_index(drop=True)


def find_events(tables: Tables, text: str) -> pd.DataFrame:
    """Events whose id, place, actors or notes contain `text` (any case), with their number of claims:
    the way to an event_id from a name, e.g. `find_events(tables, "airstrike")`."""
    events = tables.events
    searched = ["event_id", "location", "actor1", "actor2", "notes"]
    haystack = events[searched].astype("string").fillna("").agg(" ".join, axis=1)
    found = events.loc[haystack.str.contains(text, case=False, regex=False)]
    claims = tables.claims.groupby("event_id").size().rename("n_claims")
    found = found.merge(claims, left_on="event_id", right_index=True, how="left").fillna({"n_claims": 0})
    columns = ["event_id", "event_date", "location", "event_type", "sub_event_type", "n_claims"]
    return found[columns].astype({"n_claims": int}).sort_values(["event_date", "event_id"]).reset_index(drop=True)


__all__ = ["actor_pairs", "as_days", "BEST_RULE", "change_points", "comparison", "changes_since", "claim_history",
           "cited_ids", "cumulative_deaths", "current_event_claims", "daily_event_counts", "daily_intensity",
           "displacement_series", "event_deaths", "event_ranges", "find_events", "hdx_signals", "incident_claims",
           "incident_sum_at", "incident_sum_over_time", "intensity_phases", "key_figures", "known_claims",
           "known_events", "latest_displacement", "map_points", "claimed_versus_killed", "graded_claims",
           "focal_event", "reconciliation", "territorial_changes", "weekly_surge", "Window"]


def __dir__() -> list[str]:
    """Tab completion offers what the module is for, not its imports."""
    return sorted(__all__)
