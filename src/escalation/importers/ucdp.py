"""UCDP Georeferenced Event Dataset (GED) and GED Candidate CSVs.

Each GED event becomes an event row; its deaths become claims by UCDP: one per side with deaths
(`deaths_a` → side A's party, `deaths_b` → side B's, `deaths_civilians` → civilians, `deaths_unknown`
→ side unknown), each a best estimate as UCDP gives it, and one for all sides together holding
UCDP's own low/best/high. `source_date` lists the dates of the sources UCDP cites (several, separated
by ';'): the earliest is when the event was first reported, the latest when the figures could first
be known, so as-of reports work. Precision codes map onto ACLED's by the tables below.
"""

from __future__ import annotations

import pandas as pd

from escalation.importers.acled import UNSPECIFIED
from escalation.importers.base import (
    Importer,
    Mapped,
    coordinates,
    duplicates,
    integers,
    iso_days,
    numbered,
    per_distinct,
    require_columns,
    stripped,
)

#: type_of_violence → (event type, what UCDP calls it). UCDP does not say by what means (clash, air
#: strike, shelling), so every sub-event type is "Unspecified".
TYPE_OF_VIOLENCE = {
    1: ("Battles", "state-based armed conflict"),
    2: ("Battles", "non-state conflict"),
    3: ("Violence against civilians", "one-sided violence"),
}
#: date_prec (UCDP) → time_precision (ours: 1 exact day, 2 known week, 3 month only), with UCDP's meaning.
DATE_PRECISION = {
    1: (1, "the exact day"),
    2: (2, "a period of 2–6 days"),
    3: (2, "the week"),
    4: (3, "a period of 8–30 days, or the month"),
    5: (3, "a period longer than a month (up to the year); our coarsest code, UCDP's dates are in the notes"),
}
#: where_prec (UCDP) → geo_precision (ours: 1 town, 2 near a place or part of a region, 3 region only).
WHERE_PRECISION = {
    1: (1, "the exact place"),
    2: (2, "within about 25 km of a known place"),
    3: (2, "a second-order administrative division (district)"),
    4: (3, "a first-order administrative division (province)"),
    5: (3, "a linear feature or an area between places"),
    6: (3, "the country only"),
    7: (3, "international waters or airspace"),
}
#: Parties every UCDP case may have besides the named sides.
CIVILIANS = {"id": "civilians", "label": "Civilians"}
UNKNOWN_SIDE = {"id": "unknown_side", "label": "Side unknown (UCDP deaths_unknown)"}
ALL_SIDES = {"id": "all_sides", "label": "All sides together (UCDP low/best/high)"}
CIVILIAN_SIDE = "Civilians"
DEATH_COLUMNS = ("deaths_a", "deaths_b", "deaths_civilians", "deaths_unknown")

REQUIRED = ["id", "type_of_violence", "side_a", "side_b", "date_start", "date_end", "date_prec", "where_prec",
            "latitude", "longitude", "country", *DEATH_COLUMNS, "best", "low", "high", "source_date"]
OPTIONAL = ["relid", "conflict_name", "dyad_name", "source_article", "source_office", "source_headline",
            "source_original", "where_coordinates", "where_description", "adm_1", "adm_2", "event_clarity"]
ISO_DAY = r"\d{4}-\d{2}-\d{2}"
#: The published GED layout (49 columns; GED Candidate files have the same).
GED_COLUMNS = (
    "id", "relid", "year", "active_year", "code_status", "type_of_violence", "conflict_dset_id",
    "conflict_new_id", "conflict_name", "dyad_dset_id", "dyad_new_id", "dyad_name", "side_a_dset_id",
    "side_a_new_id", "side_a", "side_b_dset_id", "side_b_new_id", "side_b", "number_of_sources", "source_article",
    "source_office", "source_date", "source_headline", "source_original", "where_prec", "where_coordinates",
    "where_description", "adm_1", "adm_2", "latitude", "longitude", "geom_wkt", "priogrid_gid", "country",
    "country_id", "region", "event_clarity", "date_prec", "date_start", "date_end", "deaths_a", "deaths_b",
    "deaths_civilians", "deaths_unknown", "best", "high", "low", "gwnoa", "gwnob",
)


class UcdpImporter(Importer):
    name = "ucdp"
    publisher = "UCDP"
    publisher_url = "https://ucdp.uu.se/downloads/"
    claimant = "UCDP"
    claim_prefix = "UC"
    admin1_column = "adm_1"

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        hint = ""
        if "event_id_cnty" in frame.columns:
            hint = " (it looks like an ACLED export: use `escalation import acled`)"
        elif len(frame.columns) == len(GED_COLUMNS) + 1 and str(frame.columns[1]).isdigit():
            hint = (f" (the first line looks like data: some GED Candidate releases have no header line; "
                    f"add this one: {','.join(GED_COLUMNS)})")
        frame = frame.rename(columns=lambda c: c if c == "_line" else c.lower())
        frame = frame.drop(columns=[c for c in frame.columns if c == "" or c.startswith("unnamed:")])
        require_columns(self.file_label, frame.columns, REQUIRED, "UCDP GED", hint)
        for column in OPTIONAL:
            if column not in frame:
                frame[column] = ""
        return frame

    def map(self, frame: pd.DataFrame) -> Mapped:
        f = frame[["_line", *REQUIRED, *OPTIONAL]].apply(
            lambda column: stripped(column) if column.name != "_line" else column)
        self.reject(f, f["id"] == "", "id", "id missing")
        duplicates(f, "id", self)
        codes = {}
        for column, table in (("type_of_violence", TYPE_OF_VIOLENCE), ("date_prec", DATE_PRECISION),
                              ("where_prec", WHERE_PRECISION)):
            codes[column] = integers(f[column])
            self.reject(f, ~codes[column].isin(list(table)), column,
                        f"{column} must be one of {', '.join(map(str, table))}")
        start, end = self._day(f, "date_start"), self._day(f, "date_end")
        self.reject(f, end < start, "date_end", "date_end is before date_start")
        deaths = {}
        for column in (*DEATH_COLUMNS, "low", "best", "high"):
            deaths[column] = integers(f[column])
            self.reject(f, deaths[column].isna() | (deaths[column] < 0), column, f"{column} is not a whole number ≥ 0")
        self.reject(f, (deaths["low"] > deaths["best"]) | (deaths["best"] > deaths["high"]), "best",
                    "low, best and high are not in order")
        first_source, last_source = self._source_dates(f)
        self.reject(f, first_source < start, "source_date",
                    "a source is dated before the event's earliest possible day (date_start)")
        coordinates(f, self)
        for column in ("side_a", "side_b", "country"):
            self.reject(f, f[column] == "", column, f"{column} missing")

        ids = f["id"].str.lower().str.replace(r"[^a-z0-9]+", "-", regex=True).str.strip("-")
        event_id = "EV-" + iso_days(start, "%Y%m%d") + "-ucdp-" + ids
        location = f["where_coordinates"]
        for fallback in ("adm_2", "adm_1", "country"):
            location = location.where(location != "", f[fallback])
        events = pd.DataFrame({
            "_line": f["_line"], "event_id": event_id, "event_date": iso_days(start),
            "time_precision": codes["date_prec"].map({k: v[0] for k, v in DATE_PRECISION.items()}),
            "event_type": codes["type_of_violence"].map({k: v[0] for k, v in TYPE_OF_VIOLENCE.items()}),
            "sub_event_type": UNSPECIFIED, "actor1": f["side_a"], "actor2": f["side_b"], "country": f["country"],
            "admin1": f["adm_1"], "admin2": f["adm_2"], "admin3": "", "location": location,
            "latitude": f["latitude"], "longitude": f["longitude"],
            "geo_precision": codes["where_prec"].map({k: v[0] for k, v in WHERE_PRECISION.items()}),
            "notes": _notes(f, codes), "source_ids": self.source_id,
            "first_reported_at": iso_days(first_source),
        })
        side_party = _side_parties(pd.concat([f["side_a"], f["side_b"]]))
        claims = self._claims(f, event_id, deaths, side_party, iso_days(last_source))
        known_at = (
            "An event counts as known from the earliest date in UCDP's source_date (its first cited source), "
            "UCDP's death figures from the latest (the last source they rest on); each bare date counts from "
            f"23:59 {self.timezone}. UCDP itself published the figures later, with its dataset release."
        )
        return Mapped(events, claims, lambda e, c: _parties(e, c, side_party), known_at,
                      "deaths, all sides together (UCDP)")

    def _day(self, f: pd.DataFrame, column: str) -> pd.Series:
        """A UCDP date, written as 2020-02-27 or with a midnight time (2020-02-27 00:00:00.000)."""
        def parse(distinct: pd.Series) -> pd.Series:
            shaped = distinct.str.fullmatch(ISO_DAY + r"( \d{2}:\d{2}(:\d{2}(\.\d+)?)?)?")
            return pd.to_datetime(distinct.str.slice(0, 10).where(shaped), format="%Y-%m-%d", errors="coerce")

        day = per_distinct(f[column], parse)
        self.reject(f, day.isna(), column, f"{column} is not a date (2020-02-27)")
        return day

    def _source_dates(self, f: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        """Earliest and latest of the ';'-separated dates in source_date."""
        found = f["source_date"].str.extractall(f"({ISO_DAY})")[0]
        days = pd.to_datetime(found, format="%Y-%m-%d", errors="coerce")
        by_row = days.groupby(level=0)
        first = by_row.min().reindex(f.index)
        last = by_row.max().reindex(f.index)
        impossible = by_row.apply(lambda d: d.isna().any()).reindex(f.index, fill_value=False)
        self.reject(f, impossible, "source_date", "source_date holds a date that does not exist")
        self.reject(f, ~impossible & first.isna(), "source_date",
                    "source_date has no date (2020-02-27): when the event became known cannot be told")
        return first, last

    def _claims(self, f, event_id, deaths, side_party, published_at) -> pd.DataFrame:
        """One claim per party with deaths (best estimates as UCDP gives them) and one for all sides."""
        parties = {"deaths_a": f["side_a"].map(side_party), "deaths_b": f["side_b"].map(side_party),
                   "deaths_civilians": pd.Series(CIVILIANS["id"], index=f.index),
                   "deaths_unknown": pd.Series(UNKNOWN_SIDE["id"], index=f.index)}
        per_side = pd.concat([
            pd.DataFrame({"_line": f["_line"], "_row": f.index, "party": parties[column],
                          "value": deaths[column], "column": column})
            for column in DEATH_COLUMNS])
        per_side = per_side.loc[per_side["value"].fillna(0) > 0]
        per_side = (per_side.groupby(["_line", "_row", "party"], sort=False)
                    .agg(value=("value", "sum"), columns=("column", " + ".join)).reset_index())
        per_side = pd.DataFrame({
            "_line": per_side["_line"], "_row": per_side["_row"], "party": per_side["party"],
            "value_low": per_side["value"], "value_best": per_side["value"], "value_high": per_side["value"],
            "value_text": per_side["value"].astype(str) + " (UCDP best estimate, " + per_side["columns"] + ")"})
        total = pd.DataFrame({
            "_line": f["_line"], "_row": f.index, "party": ALL_SIDES["id"],
            "value_low": deaths["low"], "value_best": deaths["best"], "value_high": deaths["high"],
            "value_text": ("low " + deaths["low"].astype(str) + ", best " + deaths["best"].astype(str)
                           + ", high " + deaths["high"].astype(str))})
        claims = pd.concat([total, per_side]).sort_values(["_line"], kind="stable").reset_index(drop=True)
        claims["event_id"] = event_id.loc[claims["_row"]].to_numpy()
        claims["published_at"] = published_at.loc[claims["_row"]].to_numpy()
        claims["claim_id"] = numbered(f"CL-{self.claim_prefix}-", len(claims)).to_numpy()
        return claims.assign(scope="event", measure="killed", claimant=self.claimant,
                             source_id=self.source_id).drop(columns="_row")


def _notes(f: pd.DataFrame, codes: dict) -> pd.Series:
    """What UCDP says about the event that has no column of its own: dyad, dates, precision, sources."""
    violence = codes["type_of_violence"].map({k: v[1] for k, v in TYPE_OF_VIOLENCE.items()}).fillna("")
    return ("UCDP GED event " + f["id"] + " (" + violence + "; dyad: " + f["dyad_name"]
            + "; conflict: " + f["conflict_name"] + "). Between " + f["date_start"].str.slice(0, 10)
            + " and " + f["date_end"].str.slice(0, 10) + " (date_prec " + f["date_prec"] + "); where_prec "
            + f["where_prec"] + ": " + f["where_description"] + "; event_clarity " + f["event_clarity"]
            + ". Sources: " + f["source_article"] + " | originally from: " + f["source_original"]
            + " | headline: " + f["source_headline"])


def _side_parties(sides: pd.Series) -> dict[str, str]:
    """A party id for each side name (its slug; 'Civilians' is the civilians party), unique."""
    reserved = {CIVILIANS["id"], UNKNOWN_SIDE["id"], ALL_SIDES["id"]}
    taken, ids = set(reserved), {}
    for side in sorted(set(sides) - {""}):
        if side == CIVILIAN_SIDE:
            ids[side] = CIVILIANS["id"]
            continue
        base = pd.Series([side]).str.casefold().str.replace(r"[^a-z0-9]+", "_", regex=True).str.strip("_")[0][:60]
        candidate, n = base or "side", 1
        while candidate in taken:
            n += 1
            candidate = f"{base or 'side'}_{n}"
        taken.add(candidate)
        ids[side] = candidate
    return ids


def _parties(events: pd.DataFrame, claims: pd.DataFrame, side_party: dict[str, str]) -> list[dict]:
    """The sides seen, most events first, then civilians and side unknown where UCDP counts deaths,
    then all sides together (UCDP's low/best/high)."""
    sides = pd.concat([events["actor1"], events["actor2"]]).value_counts()
    ordered = sorted(sides.index, key=lambda side: (-sides[side], side))
    empty = {"actors": [], "acled_inter": [], "ucdp_sides": [], "claimants": []}
    parties = [{"id": side_party[side], "label": side, **empty, "actors": [side], "ucdp_sides": [side]}
               for side in ordered if side_party[side] != CIVILIANS["id"]]
    claimed = set(claims["party"])
    if CIVILIANS["id"] in claimed or CIVILIAN_SIDE in sides.index:
        sides_named = [CIVILIAN_SIDE] if CIVILIAN_SIDE in sides.index else []
        parties.append({**CIVILIANS, **empty, "actors": sides_named, "ucdp_sides": sides_named})
    if UNKNOWN_SIDE["id"] in claimed:
        parties.append({**UNKNOWN_SIDE, **empty})
    parties.append({**ALL_SIDES, **empty, "x-total": True})
    return parties
