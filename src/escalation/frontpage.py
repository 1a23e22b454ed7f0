"""What the front page says about the situation, read from the published reports' tables.

The latest key figures come from the newest daily report (else from a main report); how the main
figures moved comes from every daily report's `tables/key_figures.csv`, drawn as small inline SVGs
(no script, nothing loaded); each day gets one line from its `new_events.csv`, `new_claims.csv` and
the change of its key figures, with a trend mark by `TREND_RULE`. Figures are labelled from the
key_figures rows themselves (a `label` column when there is one, else the figure's id).
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import pandas as pd

#: A day's new events or new deaths above this multiple of the mean of the previous days is "worse"...
WORSE_RATIO = 1.5
#: ...below this multiple is "better"...
BETTER_RATIO = 0.5
#: ...provided the difference from that mean is at least this many.
MIN_DIFFERENCE = 3
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


def label(row) -> str:
    """A key figure's name: its `label` when the table has one, else its id made readable."""
    given = getattr(row, "label", None)
    if isinstance(given, str) and given:
        return given
    kind, *rest = str(row.figure).split(".")
    name = kind.replace("_", " ").capitalize()
    return f"{name}: {', '.join(part.replace('_', ' ') for part in rest)}" if rest else name


def is_main(figure: str) -> bool:
    """A figure of the whole period (events, deaths per party, displaced), not of one incident."""
    return figure.count(".") <= 1


def _read(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.is_file() else None


def daily_figures(out_dir: Path, daily: list[dict]) -> pd.DataFrame:
    """One row per day and key figure: day, figure, label, value_low, value_high."""
    frames = []
    for manifest in daily:
        figures = _read(out_dir / manifest["report"] / "tables" / "key_figures.csv")
        if figures is None or figures.empty:
            continue
        figures = figures.assign(day=pd.Timestamp(manifest["report"].split("/")[-1]),
                                 label=[label(r) for r in figures.itertuples()])
        frames.append(figures[["day", "figure", "label", "value_low", "value_high"]])
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


def day_lines(out_dir: Path, daily: list[dict], figures: pd.DataFrame) -> list[dict]:
    """One line per daily report, in order of days: what became known, the biggest change, the trend."""
    lines, history, before = [], [], None
    for manifest in sorted(daily, key=lambda m: m["report"]):
        day = pd.Timestamp(manifest["report"].split("/")[-1])
        today = figures.loc[figures["day"] == day].set_index("figure")
        tables = out_dir / manifest["report"] / "tables"
        new_events, new_claims = _read(tables / "new_events.csv"), _read(tables / "new_claims.csv")
        changes = new_claims["change"].value_counts() if new_claims is not None else pd.Series(dtype=int)
        deaths = today.loc[[f for f in today.index if f.startswith("killed.") and is_main(f)], "value_low"].sum()
        events = today["value_low"].get("events", 0)
        moved = {"events": events - (before["events"] if before else 0),
                 "deaths": deaths - (before["deaths"] if before else 0)}
        lines.append({
            "day": day, "name": manifest["report"], "href": manifest["href"],
            "events_reported": None if new_events is None else len(new_events),
            "new_claims": int(changes.get("first figure", 0)), "revised_claims": int(changes.get("revision", 0)),
            "biggest_change": _biggest_change(today, before["figures"] if before else None),
            "trend": trend(moved, history) if before else "",
            # the first report's figures are stocks, not a day's change
            "new_events": int(moved["events"]) if before else None,
            "new_deaths": int(moved["deaths"]) if before else None,
        })
        if before:
            history.append(moved)
        before = {"events": events, "deaths": deaths, "figures": today}
    return lines


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
    return f"{now['label']}: {was} → {_span(now['value_low'], now['value_high'])}"


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
        table = _read(out_dir / manifest["report"] / "tables" / "key_figures.csv")
        if table is not None and not table.empty:
            source = manifest
            break
    if source is None:
        return {"rows": [], "source": None, "as_of": ""}
    rows = []
    for row in table.itertuples():
        series = figures.loc[figures["figure"] == row.figure].sort_values("day")
        rows.append({"label": label(row), "range": _span(row.value_low, row.value_high), "main": is_main(row.figure),
                     "spark": sparkline(series, label(row)) if is_main(row.figure) else ""})
    return {"rows": rows, "source": source, "as_of": str(table["as_of"].iloc[0])}


def situation(out_dir: Path, reports: list[dict], daily: list[dict]) -> dict:
    """Everything the front page shows about the situation."""
    figures = daily_figures(out_dir, daily)
    return {"latest": latest_figures(out_dir, reports, daily, figures), "days": day_lines(out_dir, daily, figures),
            "trend_rule": TREND_RULE}
