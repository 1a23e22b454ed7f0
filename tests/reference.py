"""An independent, plain-Python reading of the CSV tables, to check the package's numbers against.

It shares no code with `escalation`: it parses the files with the csv module and re-implements the
documented rules (a bare date counts from the end of that day in UTC+3; each claimant's latest claim
counts; low = min, high = max, best = median, of two middle figures the more recent).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from escalation import paths

LOCAL = timezone(timedelta(hours=3))


def rows(table: str, data_dir: Path = paths.DATA_DIR) -> list[dict]:
    with (data_dir / f"{table}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def moment(text: str) -> datetime:
    if "T" in text:
        return datetime.fromisoformat(text)
    return datetime.combine(date.fromisoformat(text), time(23, 59), LOCAL)


def events_per_day(as_of: datetime, start: date, end: date) -> dict[date, int]:
    counts = defaultdict(int)
    for event in rows("events"):
        day = date.fromisoformat(event["event_date"])
        if start <= day <= end and moment(event["first_reported_at"]) <= as_of:
            counts[day] += 1
    return counts


def current_claims(as_of: datetime, start: date, end: date, measure: str = "killed") -> dict:
    """(event_id, party) → {claimant: latest claim} for incident claims published by `as_of`."""
    dates = {e["event_id"]: date.fromisoformat(e["event_date"]) for e in rows("events")}
    latest: dict = defaultdict(dict)
    for claim in sorted(rows("claims"), key=lambda c: (moment(c["published_at"]), c["claim_id"])):
        if claim["scope"] != "event" or claim["measure"] != measure or moment(claim["published_at"]) > as_of:
            continue
        if not start <= dates[claim["event_id"]] <= end:
            continue
        latest[(claim["event_id"], claim["party"])][claim["claimant"]] = claim
    return latest


def incident_range(claims: dict) -> tuple[int, int, int]:
    """(low, best, high) for one incident from its claimants' latest claims."""
    lows = sorted((int(c["value_low"]), moment(c["published_at"])) for c in claims.values())
    highs = [int(c["value_high"] or c["value_low"]) for c in claims.values()]
    n = len(lows)
    middle = [lows[n // 2]] if n % 2 else [lows[n // 2 - 1], lows[n // 2]]
    best = max(middle, key=lambda pair: (pair[1], pair[0]))[0]
    return lows[0][0], best, max(highs)


def party_totals(as_of: datetime, start: date, end: date, party: str) -> tuple[int, int, int]:
    totals = [0, 0, 0]
    for (_, claim_party), claims in current_claims(as_of, start, end).items():
        if claim_party == party:
            for i, value in enumerate(incident_range(claims)):
                totals[i] += value
    return tuple(totals)
