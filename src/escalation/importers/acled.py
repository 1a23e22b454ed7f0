"""ACLED exports, as people have them: today's 31 columns and the older layouts.

Older exports differ in header case (UPPER-CASE), extra columns (`data_id`, `event_id_no_cnty`, `iso3`,
`gwno`), `ally_actor_1` for `assoc_actor_1`, no `sub_event_type` or `timestamp`, a leading index column
written by pandas, and event types from before ACLED's 2019 revision. Each event becomes an event row;
its `fatalities` becomes one claim by ACLED about the whole event, because ACLED does not split deaths
by side (the claim's party says so; no split is invented). ACLED's `source` and `source_scale` are
kept in the event's notes. ACLED gives no time of first report (`timestamp` is the last change), so
an event counts as known a stated number of days after its date (`reporting_lag_days`).
"""

from __future__ import annotations

import pandas as pd

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

#: ACLED's event types and their sub-event types (codebook 2019–), plus "Unspecified" where an
#: export gives none (exports from before 2019 have no sub_event_type column).
UNSPECIFIED = "Unspecified"
EVENT_TYPES = {
    "Battles": ("Armed clash", "Government regains territory", "Non-state actor overtakes territory"),
    "Explosions/Remote violence": ("Chemical weapon", "Air/drone strike", "Suicide bomb",
                                   "Shelling/artillery/missile attack", "Remote explosive/landmine/IED", "Grenade"),
    "Violence against civilians": ("Sexual violence", "Attack", "Abduction/forced disappearance"),
    "Protests": ("Peaceful protest", "Protest with intervention", "Excessive force against protesters"),
    "Riots": ("Violent demonstration", "Mob violence"),
    "Strategic developments": ("Agreement", "Arrests", "Change to group/activity", "Disrupted weapons use",
                               "Headquarters or base established", "Looting/property destruction",
                               "Non-violent transfer of territory", "Other"),
}

#: Event types of exports before ACLED's 2019 revision → (today's event type, sub-event type).
#: None as sub-event type: the export's own sub_event_type if it has one, else "Unspecified".
#: "Riots/Protests" has no single successor: Riots when either actor is coded as rioters (inter 5),
#: Protests when either is coded as protesters (inter 6), quarantined otherwise.
PRE_2019_EVENT_TYPES = {
    "Battle-No change of territory": ("Battles", "Armed clash"),
    "Battle-Government regains territory": ("Battles", "Government regains territory"),
    "Battle-Non-state actor overtakes territory": ("Battles", "Non-state actor overtakes territory"),
    "Remote violence": ("Explosions/Remote violence", None),
    "Riots/Protests": (None, None),
    "Violence against civilians": ("Violence against civilians", None),
    "Strategic development": ("Strategic developments", None),
    "Non-violent transfer of territory": ("Strategic developments", "Non-violent transfer of territory"),
    "Headquarters or base established": ("Strategic developments", "Headquarters or base established"),
}
RIOTERS, PROTESTERS = 5, 6

#: ACLED's actor type codes (`inter1`, `inter2`): numeric 1–8 in older exports, words in newer ones
#: (singular or plural; "ethnic"/"communal" militia were earlier names of identity militias).
#: Each becomes a party of the case; 0 or blank means no second actor.
INTER_CODES = {
    1: ("state_forces", "State forces", ("state forces", "state force")),
    2: ("rebel_groups", "Rebel groups", ("rebel group", "rebel groups")),
    3: ("political_militias", "Political militias", ("political militia", "political militias")),
    4: ("identity_militias", "Identity militias",
        ("identity militia", "identity militias", "ethnic militia", "ethnic militias",
         "communal militia", "communal militias", "communal/identity militia", "communal/identity militias")),
    5: ("rioters", "Rioters", ("rioters", "rioter")),
    6: ("protesters", "Protesters", ("protesters", "protester")),
    7: ("civilians", "Civilians", ("civilians", "civilian")),
    8: ("external_other_forces", "External/Other forces",
        ("external/other forces", "external/other force", "other forces", "external forces")),
}
#: The party that holds ACLED's fatality figures: one number per event for all sides together.
UNSPLIT_PARTY = {"id": "all_sides_unsplit",
                 "label": "All sides together (ACLED does not split fatalities by side)"}

#: Date forms found in ACLED exports; two-digit years follow Python's rule (00–68 → 2000s, 69–99 →
#: 1900s; ACLED starts in 1997). Numeric day/month forms (02/03/2020) are refused as ambiguous.
DATE_FORMATS = ("%Y-%m-%d", "%d %B %Y", "%d %b %Y", "%d-%B-%Y", "%d-%b-%Y", "%d-%b-%y", "%d %b %y")
DATE_FORMS_TEXT = "2020-02-27, 27 February 2020, 27-February-2020 or 27-Feb-20"

HEADER_ALIASES = {"ally_actor_1": "assoc_actor_1", "ally_actor_2": "assoc_actor_2"}
REQUIRED = ["event_id_cnty", "event_date", "time_precision", "event_type", "actor1", "inter1", "country",
            "location", "latitude", "longitude", "geo_precision", "fatalities"]
OPTIONAL = ["sub_event_type", "assoc_actor_1", "actor2", "assoc_actor_2", "inter2", "admin1", "admin2", "admin3",
            "source", "source_scale", "notes"]
DEFAULT_REPORTING_LAG_DAYS = 7


class AcledImporter(Importer):
    name = "acled"
    publisher = "ACLED"
    publisher_url = "https://acleddata.com/"
    claimant = "ACLED"
    claim_prefix = "AC"
    reporting_lag_days = DEFAULT_REPORTING_LAG_DAYS

    def __init__(self, timezone: str = "UTC", imported_at=None, reporting_lag_days: int = DEFAULT_REPORTING_LAG_DAYS):
        super().__init__(timezone, imported_at)
        if reporting_lag_days < 0:
            raise ValueError("reporting_lag_days must be 0 or more")
        self.reporting_lag_days = reporting_lag_days

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.rename(columns=lambda c: c if c == "_line" else HEADER_ALIASES.get(c.lower(), c.lower()))
        frame = frame.drop(columns=[c for c in frame.columns if c == "" or c.startswith("unnamed:")])
        hint = ""
        if {"side_a", "date_start", "best"} <= set(frame.columns):
            hint = " (it looks like a UCDP GED file: use `escalation import ucdp`)"
        require_columns(self.file_label, frame.columns, REQUIRED, "ACLED", hint)
        for column in OPTIONAL:
            if column not in frame:
                frame[column] = ""
        return frame

    def map(self, frame: pd.DataFrame) -> Mapped:
        f = frame[["_line", *REQUIRED, *OPTIONAL]].apply(
            lambda column: stripped(column) if column.name != "_line" else column)
        days = self._event_dates(f)
        ids = f["event_id_cnty"].str.lower().str.replace(r"[^a-z0-9]+", "-", regex=True).str.strip("-")
        self.reject(f, f["event_id_cnty"] == "", "event_id_cnty", "event_id_cnty missing")
        self.reject(f, (f["event_id_cnty"] != "") & (ids == ""), "event_id_cnty",
                    "event_id_cnty has no letter or digit to build an event id from")
        event_id = "EV-" + iso_days(days, "%Y%m%d") + "-" + ids
        duplicates(f, "event_id_cnty", self, key=ids)
        inter1, inter2 = self._inter(f, "inter1", required=True), self._inter(f, "inter2", required=False)
        event_type, sub_event_type = self._types(f, inter1, inter2)
        precision = {}
        for column in ("time_precision", "geo_precision"):
            precision[column] = integers(f[column])
            self.reject(f, ~precision[column].isin([1, 2, 3]), column, f"{column} must be 1, 2 or 3")
        fatalities = integers(f["fatalities"])
        self.reject(f, fatalities.isna() | (fatalities < 0), "fatalities", "fatalities is not a whole number ≥ 0")
        coordinates(f, self)
        for column in ("actor1", "country", "location"):
            self.reject(f, f[column] == "", column, f"{column} missing")

        first_reported = iso_days(days + pd.Timedelta(days=self.reporting_lag_days))
        events = pd.DataFrame({
            "_line": f["_line"], "event_id": event_id, "event_date": iso_days(days),
            "time_precision": precision["time_precision"], "event_type": event_type,
            "sub_event_type": sub_event_type, "actor1": f["actor1"], "actor2": f["actor2"], "country": f["country"],
            "admin1": f["admin1"], "admin2": f["admin2"], "admin3": f["admin3"], "location": f["location"],
            "latitude": f["latitude"], "longitude": f["longitude"], "geo_precision": precision["geo_precision"],
            "notes": _notes(f), "source_ids": self.source_id, "first_reported_at": first_reported,
            "_inter1": inter1, "_inter2": inter2,
        })
        claims = pd.DataFrame({
            "_line": f["_line"], "claim_id": numbered(f"CL-{self.claim_prefix}-", len(f)).to_numpy(),
            "event_id": event_id, "scope": "event", "party": UNSPLIT_PARTY["id"], "measure": "killed",
            "value_low": fatalities, "value_high": fatalities, "value_text": fatalities.astype(str),
            "claimant": self.claimant, "published_at": first_reported, "source_id": self.source_id,
        })
        known_at = (
            "ACLED gives no time of first report (its `timestamp` column is the time of the last change). "
            f"Here an event and ACLED's fatality figure count as known {self.reporting_lag_days} day(s) after the "
            f"event date, from 23:59 {self.timezone} (reporting_lag_days, set at import: an assumption about "
            "ACLED's weekly release, not a publication time)."
        )
        return Mapped(events, claims, _parties, known_at, "deaths, all sides together (ACLED)",
                      {"reporting_lag_days": self.reporting_lag_days})

    def _event_dates(self, f: pd.DataFrame) -> pd.Series:
        """Each accepted date form, tried on the distinct values only; ambiguous numeric forms refused."""
        def parse(distinct: pd.Series) -> pd.Series:
            parsed = pd.Series(pd.NaT, index=distinct.index, dtype="datetime64[ns]")
            for form in DATE_FORMATS:
                todo = parsed.isna()
                if not todo.any():
                    break
                parsed[todo] = pd.to_datetime(distinct[todo].astype(str), format=form, errors="coerce")
            return parsed

        days = per_distinct(f["event_date"], parse)
        numeric = f["event_date"].str.fullmatch(r"\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}")
        reason = pd.Series(f"not a date in an accepted form ({DATE_FORMS_TEXT})", index=f.index)
        reason[numeric] = ("ambiguous date: day and month are both numbers, so their order is unknown; "
                           f"re-export with {DATE_FORMS_TEXT}")
        reason[f["event_date"] == ""] = "event_date missing"
        self.reject(f, days.isna(), "event_date", reason)
        return days

    def _inter(self, f: pd.DataFrame, column: str, required: bool) -> pd.Series:
        """Actor type codes 1–8 from numbers or words; unknown words are quarantined."""
        text = f[column].str.lower()
        by_word = {alias: code for code, (_, _, aliases) in INTER_CODES.items() for alias in aliases}
        codes = integers(text).where(lambda c: c.between(1, 8)).fillna(text.map(by_word)).astype("Int64")
        absent = text.isin(["", "0"])
        self.reject(f, ~absent & codes.isna(), column, f"{column} is not an ACLED actor type (1–8 or its name)")
        if required:
            self.reject(f, absent, column, f"{column} missing")
        return codes

    def _types(self, f: pd.DataFrame, inter1: pd.Series, inter2: pd.Series) -> tuple[pd.Series, pd.Series]:
        """Today's event and sub-event types, translating pre-2019 event types by PRE_2019_EVENT_TYPES."""
        table = {name.lower(): (name, None) for name in EVENT_TYPES}
        table.update({old.lower(): new for old, new in PRE_2019_EVENT_TYPES.items()})
        key = f["event_type"].str.lower()
        event_type = key.map({k: v[0] for k, v in table.items()})
        implied = key.map({k: v[1] for k, v in table.items()})
        riots_or_protests = key == "riots/protests"
        codes = pd.concat([inter1, inter2], axis=1)
        event_type[riots_or_protests & codes.eq(PROTESTERS).any(axis=1)] = "Protests"
        event_type[riots_or_protests & codes.eq(RIOTERS).any(axis=1)] = "Riots"
        self.reject(f, event_type.isna() & riots_or_protests, "event_type",
                    "Riots/Protests with neither actor coded as rioters (5) or protesters (6)")
        self.reject(f, event_type.isna() & ~riots_or_protests, "event_type", "not an ACLED event type")
        canonical = {sub.lower(): sub for subs in EVENT_TYPES.values() for sub in subs}
        given = f["sub_event_type"].str.lower().map(canonical)
        self.reject(f, (f["sub_event_type"] != "") & given.isna(), "sub_event_type", "not an ACLED sub-event type")
        sub_event_type = given.fillna(implied).fillna(UNSPECIFIED)
        pairs = {f"{t}|{s}" for t, subs in EVENT_TYPES.items() for s in (*subs, UNSPECIFIED)}
        mismatch = ~(event_type.astype(str) + "|" + sub_event_type.astype(str)).isin(pairs)
        self.reject(f, mismatch & event_type.notna() & given.notna(), "sub_event_type",
                    "sub_event_type does not belong to the event_type")
        return event_type, sub_event_type


def _notes(f: pd.DataFrame) -> pd.Series:
    """ACLED's notes, then its sources, source scale and associated actors in brackets."""
    parts = [("; source scale: " + f["source_scale"]).where(f["source_scale"] != "", "")]
    parts += [(f"; {column}: " + f[column]).where(f[column] != "", "") for column in ("assoc_actor_1", "assoc_actor_2")]
    extra = "ACLED source: " + f["source"].where(f["source"] != "", "not given") + parts[0] + parts[1] + parts[2]
    return (f["notes"] + " [" + extra + "]").where(f["notes"] != "", "[" + extra + "]")


def _parties(events: pd.DataFrame, claims: pd.DataFrame) -> list[dict]:
    """One party per ACLED actor type seen, each listing its actors (an actor coded with several
    types goes to its most frequent one), then the party holding ACLED's unsplit fatalities."""
    actors = pd.concat([
        pd.DataFrame({"actor": events["actor1"], "code": events["_inter1"]}),
        pd.DataFrame({"actor": events["actor2"], "code": events["_inter2"]}),
    ]).dropna()
    actors = actors.loc[actors["actor"] != ""]
    counts = actors.groupby(["actor", "code"]).size().reset_index(name="n")
    main_code = counts.sort_values(["n", "code"], ascending=[False, True]).drop_duplicates("actor")
    parties = []
    seen = set(actors["code"].unique().tolist())
    for code, (party_id, label, _) in INTER_CODES.items():
        members = sorted(main_code.loc[main_code["code"] == code, "actor"])
        if code in seen:
            parties.append({"id": party_id, "label": label, "actors": members, "acled_inter": [code],
                            "ucdp_sides": [], "claimants": []})
    parties.append({**UNSPLIT_PARTY, "actors": [], "acled_inter": [], "ucdp_sides": [],
                    "claimants": [], "x-total": True})
    return parties

