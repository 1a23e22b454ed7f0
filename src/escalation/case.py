"""The case description: one `case.yaml` beside the tables says everything the reports say about a case.

The package holds no case facts. Names, parties and who speaks for them, the time zone in which days
end, the region the coordinates must fall in, the focal incident, the events annotated on timelines
and every case-specific heading come from here (documented key by key in data/README.md). A faulty
file stops with a message naming the file and the key, never a traceback.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

CASE_FILE = "case.yaml"
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")


class CaseError(Exception):
    """case.yaml is missing or malformed; `problems` holds one (key, message) per fault."""

    def __init__(self, path: Path, problems: list[tuple[str, str]]):
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}, key {key}: {message}" if key else f"{path}: {message}"
                                   for key, message in problems))


@dataclass(frozen=True)
class Party:
    """A side whose casualties are claimed, and the rules that map names onto it."""

    id: str
    label: str
    colour: str | None = None  # None: the chart palette's colour for the party's position
    actors: tuple[str, ...] = ()  # actor names (exact) in events.csv that belong to this party
    acled_inter: tuple[int, ...] = ()  # ACLED inter codes mapped to this party by the importer
    ucdp_sides: tuple[str, ...] = ()  # UCDP side names mapped to this party by the importer
    claimants: tuple[str, ...] = ()  # claimants that speak for this party (its own side)
    side: str = ""  # parties of one side speak for each other; empty: a side of its own


@dataclass(frozen=True)
class Focal:
    """The incident whose claim timeline is drawn, and the party whose deaths are followed."""

    party: str
    measure: str
    name: str  # short name of the incident, used in titles
    deaths_label: str  # how the focal party's dead are named on axes and in titles
    event_id: str | None = None  # None: the event with the most claims about the party and measure


@dataclass(frozen=True)
class Comparison:
    """A claimed measure (e.g. 'neutralised') by one party's claimants against one claimant's 'killed'."""

    measure: str
    claimed_by: str
    claimed_label: str
    about: tuple[str, ...]
    against_claimant: str
    claimed_column: str
    against_column: str
    note: str = ""


@dataclass(frozen=True)
class Region:
    """Where the case happens: the coordinate check's boxes and the map's least extent and labels."""

    boxes: dict[str, tuple[float, float, float, float]]  # name → (south, north, west, east)
    countries: tuple[str, ...] = ()
    map_extent: tuple[float, float, float, float] | None = None  # west, east, south, north
    map_labels: dict[str, tuple[float, float]] = field(default_factory=dict)  # label → (lon, lat)


@dataclass(frozen=True)
class Case:
    """A validated case description."""

    path: Path
    name: str
    title: str
    description: str
    timezone: ZoneInfo
    known_at: str
    region: Region
    parties: tuple[Party, ...]
    focal: Focal
    key_events: dict[str, str]
    displacement_measure: str | None
    displacement_label: str
    comparisons: tuple[Comparison, ...]
    control_changes: dict[str, str]
    text: dict[str, str]
    independent_affiliations: tuple[str, ...] = ()  # sources.affiliation values of independent pages

    def claimant_party(self) -> dict[str, str]:
        """Claimant → the party it speaks for."""
        return {claimant: party.id for party in self.parties for claimant in party.claimants}

    def party_side(self) -> dict[str, str]:
        """Party → its side (its own id when the case names none)."""
        return {party.id: party.side or party.id for party in self.parties}

    @property
    def party_ids(self) -> list[str]:
        return [p.id for p in self.parties]

    def party_label(self, party_id: str) -> str:
        """The party's label, or its id when the case does not describe it."""
        return next((p.label for p in self.parties if p.id == party_id), party_id)

    def claimants_of(self, party_id: str) -> tuple[str, ...]:
        return next((p.claimants for p in self.parties if p.id == party_id), ())


#: Top-level keys: required ones, then optional ones.
REQUIRED = ("name", "title", "timezone", "region", "parties", "focal")
OPTIONAL = ("description", "known_at", "key_events", "displacement", "comparisons", "control_changes", "text",
            "grading")
PARTY_KEYS = ("id", "label", "colour", "actors", "acled_inter", "ucdp_sides", "claimants", "side")
GRADING_KEYS = ("independent_affiliations",)
FOCAL_KEYS = ("event_id", "party", "measure", "name", "deaths_label")
REGION_KEYS = ("countries", "boxes", "map_extent", "map_labels")
COMPARISON_KEYS = ("measure", "claimed_by", "claimed_label", "about", "against_claimant", "columns", "note")

#: Who took a place, by ACLED sub-event type, when the case does not name the sides.
DEFAULT_CONTROL_CHANGES = {"Government regains territory": "Government and allies",
                           "Non-state actor overtakes territory": "Non-state actors"}

DEFAULT_KNOWN_AT = ("Events count from their first report, claims and displacement figures from their "
                    "publication; a bare date counts from 23:59 of that day.")


def load_case(data_dir: Path | str) -> Case:
    """The case described by `<data_dir>/case.yaml`; raises CaseError naming the file and every faulty key."""
    path = Path(data_dir) / CASE_FILE
    if not path.is_file():
        raise CaseError(path, [("", "file not found: every case folder needs a case.yaml (see data/README.md)")])
    try:
        text = path.read_text(encoding="utf-8")
        try:  # libyaml's parser: an imported case lists thousands of actors, which pure-Python YAML reads in seconds
            content = yaml.load(text, Loader=yaml.CSafeLoader)
        except yaml.YAMLError:  # worded as the pure-Python parser words it
            content = yaml.safe_load(text)
    except UnicodeDecodeError as error:
        raise CaseError(path, [("", f"not UTF-8 text ({error.reason} at byte {error.start})")]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise CaseError(path, [("", f"not valid YAML{where}: {problem}")]) from None
    return _parse(path, content)


class _Checker:
    """Collects every fault before raising, so one run lists them all."""

    def __init__(self, path: Path):
        self.path = path
        self.problems: list[tuple[str, str]] = []

    def fail(self, key: str, message: str) -> None:
        self.problems.append((key, message))

    def mapping(self, value, key: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
        if not isinstance(value, dict):
            self.fail(key, f"must be a mapping of keys to values, not {_kind(value)}")
            return {}
        for name in value:
            if name not in allowed:
                close = difflib.get_close_matches(str(name), allowed, n=1)
                hint = f" (did you mean {close[0]}?)" if close else f" (allowed: {', '.join(allowed)})"
                self.fail(_join(key, name), f"unknown key{hint}")
        for name in required:
            if value.get(name) in (None, ""):
                self.fail(_join(key, name), "missing (required)")
        return value

    def text(self, value, key: str, default: str = "") -> str:
        if value is None:
            return default
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            self.fail(key, f"must be text, not {_kind(value)}")
            return default
        return str(value)

    def strings(self, value, key: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, "must be a list of texts")
            return ()
        return tuple(value)

    def numbers(self, value, key: str, count: int) -> tuple[float, ...] | None:
        if (not isinstance(value, list) or len(value) != count
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
            self.fail(key, f"must be a list of {count} numbers, not {value!r}")
            return None
        return tuple(float(v) for v in value)


def _parse(path: Path, content) -> Case:
    check = _Checker(path)
    top = check.mapping(content, "", REQUIRED + OPTIONAL, REQUIRED)
    name = check.text(top.get("name"), "name")
    if name and not SLUG.match(name):
        check.fail("name", f"{name!r} must be a slug: lower-case letters, digits, '-' and '_'")
    zone = _zone(check, top.get("timezone"))
    region = _region(check, top.get("region"))
    parties = _parties(check, top.get("parties"))
    ids = [p.id for p in parties]
    focal = _focal(check, top.get("focal"), ids)
    key_events = _text_mapping(check, top.get("key_events"), "key_events")
    displacement = check.mapping(top.get("displacement") or {}, "displacement", ("measure", "label"))
    comparisons = _comparisons(check, top.get("comparisons"), parties)
    control_changes = _text_mapping(check, top.get("control_changes"), "control_changes")
    for sub_event_type in set(control_changes) - set(DEFAULT_CONTROL_CHANGES):
        check.fail(f"control_changes.{sub_event_type}",
                   f"not a change-of-control sub-event type ({', '.join(DEFAULT_CONTROL_CHANGES)})")
    control_changes = {**DEFAULT_CONTROL_CHANGES, **control_changes}
    text = _text_mapping(check, top.get("text"), "text")
    grading = check.mapping(top.get("grading") or {}, "grading", GRADING_KEYS)
    independent = check.strings(grading.get("independent_affiliations"), "grading.independent_affiliations")
    if check.problems:
        raise CaseError(path, check.problems)
    measure = check.text(displacement.get("measure"), "displacement.measure") or None
    return Case(
        path=path, name=name, title=check.text(top.get("title"), "title"),
        description=check.text(top.get("description"), "description"), timezone=zone,
        known_at=check.text(top.get("known_at"), "known_at", DEFAULT_KNOWN_AT), region=region,
        parties=tuple(parties), focal=focal, key_events=key_events, displacement_measure=measure,
        displacement_label=check.text(displacement.get("label"), "displacement.label", measure or ""),
        comparisons=tuple(comparisons), control_changes=control_changes, text=text,
        independent_affiliations=independent)


def _zone(check: _Checker, value) -> ZoneInfo:
    utc = ZoneInfo("UTC")
    if value in (None, ""):
        return utc  # reported as missing by the top-level check
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as 'America', a too long name
        check.fail("timezone", f"{value!r} is not an IANA time zone name (e.g. Europe/Istanbul, America/Bogota)")
        return utc


def _region(check: _Checker, value) -> Region:
    region = check.mapping(value, "region", REGION_KEYS, ("boxes",)) if value is not None else {}
    boxes = {}
    for box_name, box in _named(check, region.get("boxes"), "region.boxes", "[south, north, west, east]"):
        numbers = check.numbers(box, f"region.boxes.{box_name}", 4)
        if numbers:
            south, north, west, east = numbers
            if south > north or west > east:
                check.fail(f"region.boxes.{box_name}", "must be [south, north, west, east] with south ≤ north "
                           "and west ≤ east")
            boxes[box_name] = numbers
    extent = check.numbers(region["map_extent"], "region.map_extent", 4) if region.get("map_extent") else None
    labels = {}
    for label, point in _named(check, region.get("map_labels"), "region.map_labels", "[lon, lat]"):
        numbers = check.numbers(point, f"region.map_labels.{label}", 2)
        if numbers:
            labels[label] = numbers
    return Region(boxes, check.strings(region.get("countries"), "region.countries"), extent, labels)


def _named(check: _Checker, value, key: str, shape: str) -> list[tuple[str, object]]:
    """The (name, value) pairs of an optional mapping."""
    if value is None:
        return []
    if not isinstance(value, dict):
        check.fail(key, f"must map a name to {shape}, not {_kind(value)}")
        return []
    return [(str(name), item) for name, item in value.items()]


def _parties(check: _Checker, value) -> list[Party]:
    if value is None:
        return []
    if not isinstance(value, list) or not value:
        check.fail("parties", "must be a non-empty list of parties (each with id and label)")
        return []
    parties, seen = [], set()
    for index, entry in enumerate(value):
        key = f"parties[{index}]"
        item = check.mapping(entry, key, PARTY_KEYS, ("id", "label"))
        party_id = check.text(item.get("id"), f"{key}.id")
        if not item:
            continue
        if party_id and not SLUG.match(party_id):
            check.fail(f"{key}.id", f"{party_id!r} must be a slug: lower-case letters, digits, '-' and '_'")
        if party_id in seen:
            check.fail(f"{key}.id", f"{party_id!r} appears twice")
        seen.add(party_id)
        colour = check.text(item.get("colour"), f"{key}.colour") or None
        if colour and not COLOUR.match(colour):
            check.fail(f"{key}.colour", f"{colour!r} must be a colour like '#0072B2'")
        inter = item.get("acled_inter") or []
        if not isinstance(inter, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in inter):
            check.fail(f"{key}.acled_inter", "must be a list of ACLED inter codes (whole numbers)")
            inter = []
        parties.append(Party(
            id=party_id, label=check.text(item.get("label"), f"{key}.label"), colour=colour,
            actors=check.strings(item.get("actors"), f"{key}.actors"), acled_inter=tuple(inter),
            ucdp_sides=check.strings(item.get("ucdp_sides"), f"{key}.ucdp_sides"),
            claimants=check.strings(item.get("claimants"), f"{key}.claimants"),
            side=check.text(item.get("side"), f"{key}.side")))
    speakers: dict[str, str] = {}
    for party in parties:
        for claimant in party.claimants:
            if claimant in speakers:
                check.fail("parties", f"claimant {claimant!r} speaks for both {speakers[claimant]} and {party.id}")
            speakers[claimant] = party.id
    return parties


def _known_party(check: _Checker, value, key: str, ids: list[str]) -> str:
    party = check.text(value, key)
    if party and ids and party not in ids:
        close = difflib.get_close_matches(party, ids, n=1)
        hint = f"did you mean {close[0]}?" if close else f"the parties are {', '.join(ids)}"
        check.fail(key, f"{party!r} is not the id of a party in this file ({hint})")
    return party


def _focal(check: _Checker, value, ids: list[str]) -> Focal:
    focal = check.mapping(value, "focal", FOCAL_KEYS, ("party", "measure", "name")) if value is not None else {}
    party = _known_party(check, focal.get("party"), "focal.party", ids)
    name = check.text(focal.get("name"), "focal.name")
    return Focal(party=party, measure=check.text(focal.get("measure"), "focal.measure"), name=name,
                 deaths_label=check.text(focal.get("deaths_label"), "focal.deaths_label", ""),
                 event_id=check.text(focal.get("event_id"), "focal.event_id") or None)


def _comparisons(check: _Checker, value, parties: list[Party]) -> list[Comparison]:
    if value is None:
        return []
    if not isinstance(value, list):
        check.fail("comparisons", f"must be a list, not {_kind(value)}")
        return []
    ids = [p.id for p in parties]
    labels = {p.id: p.label for p in parties}
    result = []
    for index, entry in enumerate(value):
        key = f"comparisons[{index}]"
        item = check.mapping(entry, key, COMPARISON_KEYS, ("measure", "claimed_by", "about", "against_claimant"))
        if not item:
            continue
        measure = check.text(item.get("measure"), f"{key}.measure")
        claimed_by = _known_party(check, item.get("claimed_by"), f"{key}.claimed_by", ids)
        about = check.strings(item.get("about"), f"{key}.about")
        for position, party in enumerate(about):
            _known_party(check, party, f"{key}.about[{position}]", ids)
        against = check.text(item.get("against_claimant"), f"{key}.against_claimant")
        columns = check.mapping(item.get("columns") or {}, f"{key}.columns", ("claimed", "against"))
        result.append(Comparison(
            measure=measure, claimed_by=claimed_by,
            claimed_label=check.text(item.get("claimed_label"), f"{key}.claimed_label",
                                     f"{labels.get(claimed_by, claimed_by)} claimants"),
            about=about, against_claimant=against,
            claimed_column=check.text(columns.get("claimed"), f"{key}.columns.claimed", f"claimed_{measure}"),
            against_column=check.text(columns.get("against"), f"{key}.columns.against",
                                      f"{_slug(against)}_killed"),
            note=check.text(item.get("note"), f"{key}.note")))
    return result


def _text_mapping(check: _Checker, value, key: str) -> dict[str, str]:
    return {name: check.text(item, f"{key}.{name}") for name, item in _named(check, value, key, "a text")}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _join(key: str, name) -> str:
    return f"{key}.{name}" if key else str(name)


def _kind(value) -> str:
    return {dict: "a mapping", list: "a list", str: "a text", type(None): "nothing"}.get(type(value),
                                                                                        type(value).__name__)
