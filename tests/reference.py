"""An independent, plain-Python reading of the CSV tables, to check the package's numbers against.

It shares no code with `escalation`: it parses the files with the csv module and re-implements the
documented rules (a bare date counts from the end of that day in UTC+3; each claimant's latest claim
counts; low = the confirmed figure by the grade rule of data/README.md, high = max, best = median, of two
middle figures the more recent, never below low).
"""

from __future__ import annotations

import copy
import csv
import functools
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import yaml

from escalation import paths
from escalation.incremental import file_identity

LOCAL = timezone(timedelta(hours=3))


def rows(table: str, data_dir: Path = paths.DATA_DIR) -> list[dict]:
    """The table's rows, each a fresh dict (the file is parsed once per version: the rules below read it per claim)."""
    path = data_dir / f"{table}.csv"
    return [dict(row) for row in _parsed(path, file_identity(path), _read_rows)]


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


def case() -> dict:
    path = paths.DATA_DIR / "case.yaml"
    return copy.deepcopy(_parsed(path, file_identity(path), _read_yaml))


@functools.cache
def _parsed(path: Path, identity: tuple, read):
    """`read(path)`, once per version of the file (`identity`, the package's rule for a changed file)."""
    return read(path)


def _read_rows(path: Path) -> tuple[dict, ...]:
    with path.open(encoding="utf-8", newline="") as handle:
        return tuple(csv.DictReader(handle))


def _read_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def stance(claim: dict) -> str:
    """own / adversary / third_party, from the claim's own cell or case.yaml's claimants and sides."""
    if claim.get("stance"):
        return claim["stance"]
    parties = case()["parties"]
    side = {p["id"]: p.get("side") or p["id"] for p in parties}
    speaks_for = {c: p["id"] for p in parties for c in p.get("claimants", [])}
    if claim["claimant"] not in speaks_for:
        return "third_party"
    return "own" if side[speaks_for[claim["claimant"]]] == side[claim["party"]] else "adversary"


def grade(claims: dict) -> tuple[str, int]:
    """(grade, confirmed figure) of one incident from its claimants' latest claims."""
    independent = set(case().get("grading", {}).get("independent_affiliations", []))
    pages = {s["source_id"]: s for s in rows("sources")}
    own = [int(c["value_low"]) for c in claims.values() if stance(c) == "own"]
    others = [int(c["value_high"] or c["value_low"]) for c in claims.values() if stance(c) != "own"]
    if (own and max(own) == 0 and others and max(others) > 0) or all(
            stance(c) == "adversary" for c in claims.values()):
        return "contested", 0
    by_originator: dict = {}
    for c in claims.values():
        page = pages[c["source_id"]]
        if stance(c) == "third_party" and page["affiliation"] in independent:
            by_originator[page["originator"]] = max(by_originator.get(page["originator"], 0), int(c["value_low"]))
    agreed = sorted(by_originator.values(), reverse=True)[1:2]
    confirmed = own[:] and [max(own)]
    if confirmed or agreed:
        return "confirmed", max(confirmed + agreed)
    return "single-source", 0


def incident_range(claims: dict) -> tuple[int, int, int]:
    """(low, best, high) for one incident from its claimants' latest claims."""
    lows = sorted((int(c["value_low"]), moment(c["published_at"])) for c in claims.values())
    highs = [int(c["value_high"] or c["value_low"]) for c in claims.values()]
    n = len(lows)
    middle = [lows[n // 2]] if n % 2 else [lows[n // 2 - 1], lows[n // 2]]
    best = max(middle, key=lambda pair: (pair[1], pair[0]))[0]
    low = grade(claims)[1]
    return low, max(best, low), max(highs)


def party_totals(as_of: datetime, start: date, end: date, party: str) -> tuple[int, int, int]:
    totals = [0, 0, 0]
    for (_, claim_party), claims in current_claims(as_of, start, end).items():
        if claim_party == party:
            for i, value in enumerate(incident_range(claims)):
                totals[i] += value
    return tuple(totals)
