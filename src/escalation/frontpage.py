"""What the front page says about the situation, read from the published reports' tables.

The latest key figures come from the newest daily report (else from a main report); how the main
figures moved comes from every daily report's `tables/key_figures.csv`, drawn as small inline SVGs
(no script, nothing loaded); each day gets one line from its `new_events.csv`, `new_claims.csv` and
the change of its key figures, with a trend mark by `TREND_RULE`. Figures are labelled from the
key_figures rows themselves (a `label` column when there is one, else the figure's id).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from escalation.incremental import file_identity

#: A day's new events or new deaths above this multiple of the mean of the previous days is "worse"...
WORSE_RATIO = 1.5
#: ...below this multiple is "better"...
BETTER_RATIO = 0.5
#: ...provided the difference from that mean is at least this many.
MIN_DIFFERENCE = 3
#: Figures of single incidents listed at most (the rest are in the report's key_figures.csv).
FRONT_INCIDENTS = 20
#: The columns of a report's key_figures.csv the front page reads (`label` is optional).
SHOWN = ("figure", "label", "value_low", "value_high")
#: Days of the baseline, and the fewest previous days needed to rate a day at all.
BASELINE_DAYS, MIN_BASELINE_DAYS = 7, 3

TREND_RULE = (
    f"Each day's new events (the change in the count of events known) and new deaths (the change in the sum "
    f"of the lowest claimed deaths of every party) are compared with their mean over the previous "
    f"{BASELINE_DAYS} daily reports (at least {MIN_BASELINE_DAYS} needed, else the day is not rated). "
    f"Worse: either is above {WORSE_RATIO} × its mean and at least {MIN_DIFFERENCE} higher. Better: either is "
    f"below {BETTER_RATIO} × its mean and at least {MIN_DIFFERENCE} lower, and neither is worse. "
    "Unchanged: anything else."
)


def labels(figures: pd.DataFrame) -> pd.Series:
    """Each key figure's name: its `label` when the table has one, else its id made readable
    ('killed.side_a' → 'Killed: side a')."""
    ids = figures["figure"].astype(str)
    kind, _, rest = ids.str.partition(".").T.to_numpy()
    kind, rest = pd.Series(kind, index=ids.index), pd.Series(rest, index=ids.index)
    name = kind.str.replace("_", " ").str.capitalize()
    derived = name.where(rest == "", name + ": " + rest.str.replace("_", " ").str.replace(".", ", ", regex=False))
    if "label" not in figures:
        return derived
    given = figures["label"]
    return given.where(given.map(type).eq(str) & given.astype(str).ne(""), derived)


def is_main(figure: str) -> bool:
    """A figure of the whole period (events, deaths per party, displaced), not of one incident."""
    return bool(main_rows(pd.Series([figure])).iloc[0])


def main_rows(figure_ids: pd.Series) -> pd.Series:
    """`is_main` of every figure id, counted by Arrow (a million incident figures one Python call at a time cost
    seconds)."""
    text = figure_ids if isinstance(figure_ids.dtype, pd.StringDtype) else figure_ids.astype(str)
    dots = pc.count_substring(pa.array(text, pa.string()), ".").fill_null(0)
    return pd.Series(pc.less_equal(dots, 1).to_numpy(zero_copy_only=False), index=figure_ids.index)


#: Results of `_once`, by function and files; emptied when full (a backfill of a few years holds a few thousand).
_results: dict[tuple, object] = {}
MAX_RESULTS = 4096


def _once(compute: Callable, *paths: Path):
    """`compute(*paths)`, once per process for the same files: a backfill renders the index after every day it
    publishes, and the earlier days' tables are the same files each time, hard links into the new version: the
    same file (`incremental.file_identity` but for its path, which names the version) at the same place in the
    report (its last folders, which name the day). What it returns is shared between calls: callers must not
    change it."""
    key = (compute, *((*path.parts[-3:], *file_identity(path)[1:]) for path in paths))
    if key not in _results:
        if len(_results) >= MAX_RESULTS:
            _results.clear()
        _results[key] = compute(*paths)
    return _results[key]


def _read(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.is_file() else None


def _head(path: Path) -> tuple[list[str], list[str]]:
    """A CSV file's header and first row."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = csv.reader(handle)
        return next(rows, []), next(rows, [])


def _key_figures(path: Path) -> pd.DataFrame | None:
    """A report's key figures (its `tables/key_figures.csv`): the columns the front page reads (`SHOWN`), read by
    Arrow's CSV reader, and a `main` column (`is_main`); labelled where shown (`labels`). A large case has a million
    incident figures, and the front page names a few: their moments, grades and sources are never parsed."""
    if not path.is_file():
        return None
    header, _ = _head(path)
    table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(
        include_columns=[column for column in SHOWN if column in header], null_values=[""], strings_can_be_null=True,
        column_types={column: pa.string() for column in ("figure", "label") if column in header}))
    figures = table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)
    return figures.assign(main=main_rows(figures["figure"]))


def _as_of(path: Path) -> str:
    """The moment a report's key figures are known at: the `as_of` of its first row (every row has the same)."""
    header, first = _head(path)
    return dict(zip(header, first)).get("as_of", "")


def _main_figures_of_day(path: Path) -> pd.DataFrame | None:
    """The main key figures of the daily report whose `tables/key_figures.csv` is `path`, with its day."""
    figures = _once(_key_figures, path)
    if figures is None or figures.empty:
        return None
    figures = figures.loc[figures["main"]]
    figures = figures.assign(label=labels(figures), day=pd.Timestamp(path.parent.parent.name))
    return figures[["day", "figure", "label", "value_low", "value_high"]]


def daily_figures(out_dir: Path, daily: list[dict]) -> pd.DataFrame:
    """One row per day and main key figure (of the whole period: few per day whatever the size of the case):
    day, figure, label, value_low, value_high."""
    frames = [_once(_main_figures_of_day, out_dir / manifest["report"] / "tables" / "key_figures.csv")
              for manifest in daily]
    frames = [frame for frame in frames if frame is not None]
    if not frames:
        return pd.DataFrame(columns=["day", "figure", "label", "value_low", "value_high"])
    return pd.concat(frames, ignore_index=True).sort_values(["day", "figure"], ignore_index=True)


def trend(today: dict[str, float], previous: list[dict[str, float]]) -> str:
    """'worse', 'better', 'unchanged' by TREND_RULE, or '' when too few previous days."""
    if len(previous) < MIN_BASELINE_DAYS:
        return ""
    moves = []
    for measure in ("events", "deaths"):
        mean = sum(day[measure] for day in previous[-BASELINE_DAYS:]) / len(previous[-BASELINE_DAYS:])
        value = today[measure]
        if value > WORSE_RATIO * mean and value - mean >= MIN_DIFFERENCE:
            moves.append("worse")
        elif value < BETTER_RATIO * mean and mean - value >= MIN_DIFFERENCE:
            moves.append("better")
    return "worse" if "worse" in moves else "better" if "better" in moves else "unchanged"


def day_lines(out_dir: Path, daily: list[dict]) -> list[dict]:
    """One line per daily report, in order of days: what became known, the biggest change, the trend."""
    lines, history, before = [], [], None
    for manifest in sorted(daily, key=lambda m: m["report"]):
        day = pd.Timestamp(manifest["report"].split("/")[-1])
        tables = out_dir / manifest["report"] / "tables"
        facts = _once(_day_facts, tables / "key_figures.csv", tables / "new_events.csv", tables / "new_claims.csv")
        events, deaths = facts["events"], facts["deaths"]
        moved = {"events": events - (before["events"] if before else 0),
                 "deaths": deaths - (before["deaths"] if before else 0)}
        lines.append({
            "day": day, "name": manifest["report"], "href": manifest["href"],
            "events_reported": facts["events_reported"],
            "new_claims": facts["new_claims"], "revised_claims": facts["revised_claims"],
            "biggest_change": (_once(_change_between, tables / "key_figures.csv", before["figures"]) if before
                               else ""),
            "trend": trend(moved, history) if before else "",
            # the first report's figures are stocks, not a day's change
            "new_events": int(moved["events"]) if before else None,
            "new_deaths": int(moved["deaths"]) if before else None,
        })
        if before:
            history.append(moved)
        before = {"events": events, "deaths": deaths, "figures": tables / "key_figures.csv"}
    return lines


def _figures_by_id(path: Path) -> pd.DataFrame:
    """Every key figure of a report (incidents too: the biggest change may be one), indexed by figure id."""
    figures = _once(_key_figures, path)
    return (pd.DataFrame(columns=["figure", "main", "value_low", "value_high"]) if figures is None
            else figures).set_index("figure").sort_index()


def _day_facts(key_figures: Path, new_events: Path, new_claims: Path) -> dict:
    """What a daily report's tables say about its day: events and deaths known, events and claims new."""
    today = _once(_figures_by_id, key_figures)
    events_table, claims = _read(new_events), _read(new_claims)
    changes = claims["change"].value_counts() if claims is not None else pd.Series(dtype=int)
    figure_ids = today.index.astype(str)
    return {"events": today["value_low"].get("events", 0),
            "deaths": today.loc[figure_ids.str.startswith("killed.") & today["main"].to_numpy(dtype=bool),
                                "value_low"].sum(),
            "events_reported": None if events_table is None else len(events_table),
            "new_claims": int(changes.get("first figure", 0)), "revised_claims": int(changes.get("revision", 0))}


def _change_between(today: Path, yesterday: Path) -> str:
    return _biggest_change(_once(_figures_by_id, today), _once(_figures_by_id, yesterday))


def _biggest_change(today: pd.DataFrame, yesterday: pd.DataFrame | None) -> str:
    """The key figure whose high end moved most since the day before, 'label: a → b'."""
    if yesterday is None or today.empty:
        return ""
    old_high = yesterday["value_high"].reindex(today.index).fillna(0)
    delta = (today["value_high"] - old_high).abs()
    delta = delta.loc[today.index != "events"] if (delta.loc[today.index != "events"] > 0).any() else delta
    if delta.empty or delta.max() == 0:
        return ""
    figure = delta.idxmax()
    before = yesterday.loc[figure] if figure in yesterday.index else None
    was = _span(before.value_low, before.value_high) if before is not None else "none"
    now = today.loc[figure]
    label = labels(today.loc[[figure]].reset_index()).iloc[0]
    return f"{label}: {was} → {_span(now['value_low'], now['value_high'])}"


def _span(low, high) -> str:
    return f"{int(low):,}" if low == high else f"{int(low):,}–{int(high):,}"


def sparkline(series: pd.DataFrame, name: str, width: int = 220, height: int = 44) -> str:
    """A small inline SVG of a figure's low–high band over the days, its high end as a line."""
    if series.empty:
        return ""
    days = list(series["day"])
    top = max(float(series["value_high"].max()), 1.0)
    span = max(len(days) - 1, 1)

    def point(index: int, value: float) -> str:
        return f"{2 + index * (width - 4) / span:.1f},{height - 2 - value * (height - 4) / top:.1f}"

    highs = [point(i, v) for i, v in enumerate(series["value_high"])]
    lows = [point(i, v) for i, v in enumerate(series["value_low"])]
    first, last = series.iloc[0], series.iloc[-1]
    description = (f"{name}: {_span(first.value_low, first.value_high)} on {days[0]:%d %b}, "
                   f"{_span(last.value_low, last.value_high)} on {days[-1]:%d %b}")
    return (f'<svg class="spark" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'aria-label="{escape(description)}"><title>{escape(description)}</title>'
            f'<polygon points="{" ".join(highs + lows[::-1])}" fill="#9ecae1"/>'
            f'<polyline points="{" ".join(highs)}" fill="none" stroke="#08519c" stroke-width="1.5"/></svg>')


def latest_figures(out_dir: Path, reports: list[dict], daily: list[dict], figures: pd.DataFrame) -> dict:
    """The newest key figures (newest daily report, else the first main report that has them), each with
    its day-by-day sparkline when the daily reports carry it."""
    source, table = None, None
    for manifest in sorted(daily, key=lambda m: m["report"], reverse=True) + reports:
        table = _once(_key_figures, out_dir / manifest["report"] / "tables" / "key_figures.csv")
        if table is not None and not table.empty:
            source = manifest
            break
    if source is None:
        return {"rows": [], "source": None, "as_of": ""}
    main = table["main"].to_numpy()
    shown = table.iloc[np.concatenate([np.flatnonzero(main), np.flatnonzero(~main)[:FRONT_INCIDENTS]])]
    shown = shown.assign(label=labels(shown))
    by_figure = dict(tuple(figures.sort_values("day").groupby("figure")))
    rows = [{"label": name, "range": _span(row.value_low, row.value_high), "main": is_main(row.figure),
             "spark": sparkline(by_figure.get(row.figure, figures.iloc[:0]), name) if is_main(row.figure) else ""}
            for row, name in zip(shown.itertuples(), shown["label"])]
    as_of = _once(_as_of, out_dir / source["report"] / "tables" / "key_figures.csv")
    return {"rows": rows, "source": source, "as_of": as_of, "more": len(table) - len(shown),
            "table": f"{source['href'].rsplit('/', 1)[0]}/tables/key_figures.csv"}


def situation(out_dir: Path, reports: list[dict], daily: list[dict]) -> dict:
    """Everything the front page shows about the situation."""
    figures = daily_figures(out_dir, daily)
    return {"latest": latest_figures(out_dir, reports, daily, figures), "days": day_lines(out_dir, daily),
            "trend_rule": TREND_RULE}
