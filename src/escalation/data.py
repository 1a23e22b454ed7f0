"""Load the claim-level tables of `data/` and validate them against `datapackage.json`.

The Frictionless Table Schema in `datapackage.json` is the only description of the columns:
types, enums, patterns, primary and foreign keys are read from it, Frictionless checks each
cell, and the rules a schema cannot express (low <= high, a running total needs a period,
coordinates inside the case's region, parties the case describes, web links only, no control
characters...) are checked here; the case itself is read from `case.yaml` (see `escalation.case`),
and a faulty one is reported like an unreadable file. Every problem is reported at once, naming
file, line and column (the line where the row starts in the file, as an editor counts it). A row
that fails is never dropped silently: it goes to the quarantine table with its reason, so rows read
= rows accepted + rows quarantined. A file that cannot be read at all (missing, a symbolic link, not
UTF-8, not CSV, a wrong header) is a fatal problem of its own; a broken datapackage.json raises
DataError.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pyarrow as pa

from escalation import paths
from escalation.case import Case, CaseError, load_case
from escalation.grading import claim_stances
from escalation.moments import parse_moment
from escalation.schema import TABLE_ORDER, DataError, Problem, descriptor_path, read_datapackage

ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "date": pa.date32(),
}

#: Dates before this, or more than LATEST_DAYS_AHEAD days after the day of the check, are typos (year 9999,
#: 0202 for 2020) that would otherwise break every date computation downstream.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DAYS_AHEAD = 366

#: The only link schemes a reader may click: javascript:, data:, file: and the like could run script or read files.
URL_SCHEMES = ("http", "https")

#: A longer cell is a paste gone wrong, not a note.
MAX_CELL_CHARACTERS = 100_000

#: Characters no cell may hold: C0 and C1 control characters (NUL, tab, escape...) other than a line break
#: inside a quoted cell, and the Unicode bidi embeddings, overrides and isolates that make text display in
#: another order than it is stored (U+202E turns "gpj.exe" into "exe.jpg").
FORBIDDEN_CHARACTERS = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]|\r(?!\n)")

#: Numbers as written in the tables: plain ASCII digits, an optional minus, no plus, exponent or spaces.
INTEGER_TEXT = re.compile(r"-?[0-9]+")
NUMBER_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
INT64_MAX = 2**63 - 1


@dataclass
class Tables:
    """The accepted rows of each table, the rows kept aside, and every problem found."""

    data_dir: Path
    frames: dict[str, pd.DataFrame]
    quarantine: pd.DataFrame
    problems: list[Problem]
    rows_read: dict[str, int]
    fatal: list[Problem] = field(default_factory=list)
    case: Case | None = None  # None only when case.yaml could not be read (then `fatal` says why)

    @property
    def events(self) -> pd.DataFrame:
        return self.frames["events"]

    @property
    def claims(self) -> pd.DataFrame:
        return self.frames["claims"]

    @property
    def displacement(self) -> pd.DataFrame:
        return self.frames["displacement"]

    @property
    def sources(self) -> pd.DataFrame:
        return self.frames["sources"]

    def counts(self) -> pd.DataFrame:
        """Rows read, accepted and quarantined per table (read = accepted + quarantined)."""
        quarantined = self.quarantine.drop_duplicates(["table", "line"]).groupby("table").size()
        rows = []
        for name in TABLE_ORDER:
            accepted = len(self.frames[name]) if name in self.frames else 0
            rows.append(
                {
                    "table": name,
                    "read": self.rows_read.get(name, 0),
                    "accepted": accepted,
                    "quarantined": int(quarantined.get(name, 0)),
                }
            )
        return pd.DataFrame(rows)

    def summary(self) -> str:
        lines = [f"{c.table}: {c.read} read, {c.accepted} accepted, {c.quarantined} quarantined"
                 for c in self.counts().itertuples()]
        lines.append(f"{len(self.problems)} problem(s)")
        lines.extend(f"  {p}" for p in self.problems)
        return "\n".join(lines)


def is_web_url(url: object) -> bool:
    """True for an absolute http(s) address without spaces or control characters: the only links shown."""
    if not isinstance(url, str) or not url or any(c.isspace() for c in url) or FORBIDDEN_CHARACTERS.search(url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in URL_SCHEMES and bool(parts.netloc)


def validate_tables(data_dir: Path | str | None = None) -> Tables:
    """Validate every table and return accepted rows, quarantine and problems.

    Never raises on a table's content; raises DataError when datapackage.json itself is unusable."""
    data_dir = Path(data_dir) if data_dir is not None else paths.DATA_DIR
    package = read_datapackage(data_dir)
    resources = {r["name"]: r for r in package["resources"]}
    try:
        case = load_case(data_dir)
    except CaseError as error:
        fatal = [Problem(str(error.path), None, None, f"key {key}: {message}" if key else message)
                 for key, message in error.problems]
        frames = {name: _empty(resources[name], None) for name in TABLE_ORDER}
        return Tables(data_dir, frames, _quarantine([]), list(fatal), {}, fatal)
    raw: dict[str, pd.DataFrame] = {}
    rows_read: dict[str, int] = {}
    bad: dict[str, dict[int, list[Problem]]] = {}
    fatal: list[Problem] = []
    for name in TABLE_ORDER:
        resource = resources[name]
        file_problems, row_problems, frame = _check_cells(data_dir, resource)
        fatal.extend(file_problems)
        if frame is None:
            continue
        raw[name] = frame
        rows_read[name] = len(frame)
        bad[name] = row_problems

    typed = {name: _typed(frame, resources[name], case) for name, frame in raw.items()}
    fatal.extend(_check_case_events(case, raw.get("events")))
    for name, frame in typed.items():
        for problem in _check_rules(str(data_dir / resources[name]["path"]), name, frame, raw[name],
                                    resources[name], case):
            _add(bad[name], problem)
    _check_references(data_dir, typed, resources, bad)

    problems = list(fatal)
    quarantine_rows = []
    frames = {}
    for name in TABLE_ORDER:
        if name not in typed:
            frames[name] = _empty(resources[name], case)
            continue
        frame = typed[name]
        for line, found in sorted(bad[name].items()):
            record = raw[name].loc[raw[name]["_line"] == line].drop(columns="_line")
            record_json = json.dumps(record.iloc[0].to_dict(), ensure_ascii=False) if len(record) else ""
            for problem in found:
                problems.append(problem)
                quarantine_rows.append(
                    {
                        "table": name,
                        "line": line,
                        "column": problem.column or "",
                        "problem": problem.message,
                        "record": record_json,
                    }
                )
        keep = ~frame["_line"].isin(bad[name].keys())
        frames[name] = frame.loc[keep].drop(columns="_line").reset_index(drop=True)
    claims = frames["claims"]
    stances = claim_stances(claims, case.claimant_party(), case.party_side())
    frames["claims"] = claims.assign(stance=stances.astype(pd.ArrowDtype(pa.string())))
    return Tables(data_dir, frames, _quarantine(quarantine_rows), problems, rows_read, fatal, case)


def _quarantine(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["table", "line", "column", "problem", "record"])


def _check_case_events(case: Case, events: pd.DataFrame | None) -> list[Problem]:
    """The events case.yaml names (focal incident, key events) must be rows of events.csv."""
    if events is None:
        return []
    known = set(events["event_id"])
    named = [("focal.event_id", case.focal.event_id)] if case.focal.event_id else []
    named += [(f"key_events.{event_id}", event_id) for event_id in case.key_events]
    return [Problem(str(case.path), None, None, f"key {key}: {event_id!r} is not an event_id in events.csv")
            for key, event_id in named if event_id not in known]


def load_tables(data_dir: Path | str | None = None) -> Tables:
    """Validated tables for the reports; raises DataError when a file cannot be read at all."""
    tables = validate_tables(data_dir)
    if tables.fatal:
        raise DataError(tables.fatal)
    return tables


def _add(found: dict[int, list[Problem]], problem: Problem) -> None:
    """File a row's problem once per column: the first, most specific message wins."""
    kept = found.setdefault(problem.line, [])
    if not any(p.column == problem.column for p in kept):
        kept.append(problem)


def _check_cells(data_dir: Path, resource: dict):
    """Read one table and check every cell; returns (file problems, row problems, raw frame or None)."""
    from frictionless import FrictionlessException, Resource, Schema

    path = data_dir / resource["path"]
    label = str(path)
    fields = resource["schema"]["fields"]
    names = [f["name"] for f in fields]
    file_problems, records = _read_records(path, names)
    if file_problems:
        return file_problems, {}, None
    header_problems = _header_problems(label, records[0][1], names)
    if header_problems:
        return header_problems, {}, None
    row_problems: dict[int, list[Problem]] = {}
    rows, checked_lines, checked_rows = [], [], []
    for line, cells in records[1:]:
        padded = (cells + [""] * len(names))[: len(names)]
        rows.append([line, *padded])
        if not any(cell.strip() for cell in cells):
            _add(row_problems, Problem(label, line, None, "blank line"))
            continue
        if len(cells) > len(names):
            _add(row_problems, Problem(label, line, None, f"extra cell(s) {_shown(', '.join(cells[len(names):]))} "
                                                          f"beyond the header's {len(names)} columns"))
        elif len(cells) < len(names):
            _add(row_problems, Problem(label, line, names[len(cells)],
                                       f"value missing: the line has {len(cells)} cells, the header {len(names)}"))
        for spec, text in zip(fields, padded):
            message = _cell_fault(spec, text)
            if message:
                _add(row_problems, Problem(label, line, spec["name"], message))
        checked_lines.append(line)
        checked_rows.append(padded)
    try:
        schema = Schema.from_descriptor({k: v for k, v in resource["schema"].items() if k != "foreignKeys"})
    except FrictionlessException as error:
        raise DataError([Problem(str(descriptor_path(data_dir)), None, None,
                                 f"resource {resource['name']}: " + "; ".join(
                                     [r.note for r in error.reasons] or [error.error.note]))]) from error
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = Resource(data=[names, *checked_rows], schema=schema).validate(limit_errors=100_000)
    line_of = dict(enumerate(checked_lines, start=2))  # Frictionless numbers rows from the header = 1
    key = ", ".join(resource["schema"].get("primaryKey", []))
    for error in report.tasks[0].errors if report.tasks else report.errors:
        row_number = getattr(error, "row_number", None)
        column = getattr(error, "field_name", None)
        if row_number not in line_of:
            file_problems.append(Problem(label, None, column, f"{error.title}: {error.note}"))
            continue
        if error.type in ("primary-key", "unique-error") and not column:
            column = key
        spec = next((f for f in fields if f["name"] == column), {})
        message = _describe(error, spec, line_of)
        if error.type == "primary-key":
            value = "/".join(checked_rows[row_number - 2][names.index(k)] for k in resource["schema"]["primaryKey"])
            message = f"duplicate id {_shown(value)}: {message}"
        _add(row_problems, Problem(label, line_of[row_number], column, message))
    if file_problems:
        return file_problems, {}, None
    return [], row_problems, pd.DataFrame(rows, columns=["_line", *names])


def _read_records(path: Path, names: list[str]) -> tuple[list[Problem], list[tuple[int, list[str]]]]:
    """Every CSV record with the line it starts on, header first; or why the file cannot be read."""
    label = str(path)
    if path.is_symlink():
        return [Problem(label, None, None, "is a symbolic link; the data folder must hold the file itself")], []
    if not path.is_file():
        return [Problem(label, None, None, "file not found")], []
    try:
        data = path.read_bytes()
    except OSError as error:
        return [Problem(label, None, None, f"cannot be read: {error.strerror or error}")], []
    data = data.removeprefix(codecs.BOM_UTF8)  # spreadsheets write one; it is not part of the first column's name
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return [_encoding_problem(label, data, error, names)], []
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))  # long cells get a message of their own, not a csv.Error
    reader = csv.reader(io.StringIO(text, newline="\n"), strict=True)  # lines end at LF only, as grep and wc count
    records: list[tuple[int, list[str]]] = []
    try:
        last_line = 0
        for cells in reader:
            records.append((last_line + 1, cells))
            last_line = reader.line_num
    except csv.Error as error:
        reason = ("a line ends in a lone carriage return; save the file with LF or CRLF line ends"
                  if "new-line character" in str(error) else f"{error} (a stray or unclosed quote?)")
        return [Problem(label, max(reader.line_num, 1), None, f"not readable as CSV: {reason}")], []
    finally:
        csv.field_size_limit(limit)
    if not records:
        return [Problem(label, None, None, f"file is empty; its first line must be the header: {', '.join(names)}")], []
    return [], records


def _encoding_problem(label: str, data: bytes, error: UnicodeDecodeError, names: list[str]) -> Problem:
    """Where the first byte that is not UTF-8 sits: line, and column as far as the text before it tells."""
    before = data[: error.start].decode("utf-8")
    line = before.count("\n") + 1
    try:
        cells_before = next(csv.reader([before.rsplit("\n", 1)[-1]]), [""])
    except csv.Error:  # a cell longer than the csv module's limit: the line is still named
        cells_before = []
    column = names[len(cells_before) - 1] if line > 1 and 0 < len(cells_before) <= len(names) else None
    utf16 = data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) or b"\x00" in data[:200]
    return Problem(label, line, column, f"not UTF-8, the encoding the schema requires: byte 0x{data[error.start]:02x} "
                                        f"cannot be decoded{' (the file looks like UTF-16)' if utf16 else ''}; "
                                        "save the file as UTF-8")


def _header_problems(label: str, header: list[str], names: list[str]) -> list[Problem]:
    """What is wrong with the first line, column by column, against the schema's field names."""
    if header == names:
        return []
    expected = f"the columns are, in order: {', '.join(names)}"
    if not any(cell.strip() for cell in header):
        return [Problem(label, 1, None, f"the first line is blank; it must be the header: {', '.join(names)}")]
    problems = []
    for position, name in enumerate(header, start=1):
        if header.index(name) + 1 < position:
            problems.append(Problem(label, 1, name, f"column {name} appears twice in the header (positions "
                                                    f"{header.index(name) + 1} and {position})"))
    unexpected = [(position, name) for position, name in enumerate(header, start=1) if name not in names]
    taken = set()
    for name in names:
        if name in header:
            continue
        position = names.index(name) + 1
        in_place = next((found for p, found in unexpected if p == position), None)
        if in_place is not None:
            taken.add(position)
        problems.append(Problem(label, 1, name, f"column {name} is missing from the header" + (
            f" (found {in_place!r} in its place, position {position})" if in_place is not None else "")))
    for position, name in unexpected:
        shown = f"an unnamed column at position {position}" if not name.strip() else (
            f"unexpected column {name!r} at position {position}")
        if position not in taken or not name.strip():
            problems.append(Problem(label, 1, name or None, f"{shown}; {expected}"))
    if not problems:
        first = next(i for i, (found, wanted) in enumerate(zip(header, names)) if found != wanted)
        problems.append(Problem(label, 1, header[first], f"columns out of order: found {header[first]} at position "
                                                         f"{first + 1}; {expected}"))
    return problems


def _cell_fault(spec: dict, text: str) -> str | None:
    """What Frictionless lets through and the reports cannot take: control characters, over-long cells,
    blank required values, numbers in other than plain digits, dates out of range, links that are not http(s)."""
    if not text:
        return None
    forbidden = FORBIDDEN_CHARACTERS.search(text)
    if forbidden:
        character = forbidden.group()[0]
        name = unicodedata.name(character, "control character").lower()
        return (f"contains a {name} (U+{ord(character):04X}) at character {forbidden.start() + 1}; "
                "remove it (control and bidi-override characters are not allowed)")
    if len(text) > MAX_CELL_CHARACTERS:
        return f"the cell holds {len(text):,} characters; the limit is {MAX_CELL_CHARACTERS:,}"
    if not text.strip():
        return "holds only spaces, but a value is required" if spec.get("constraints", {}).get("required") else (
            "holds only spaces; leave the cell empty when the value is unknown")
    kind = spec.get("type", "string")
    if kind == "integer" and _integer(text) is None:
        return f"{_shown(text)} is not a whole number in plain digits (like 42 or -3: no +, decimal point, " \
               "exponent or spaces; at most 18 digits)"
    if kind == "number" and _number(text) is None:
        return f"{_shown(text)} is not a number in plain digits (like 35.93 or -3.5: no +, exponent or spaces)"
    if kind == "date" and DATE_TEXT.fullmatch(text) and _date(text) is None and _date(text, any_year=True):
        return f"{text} is outside the accepted dates, {_date_range()}"
    if spec.get("x-timestamp"):
        moment = parse_moment(text, UTC)
        if moment and not _in_range(moment[0].date()):
            return f"{text} is outside the accepted dates, {_date_range()}"
    if spec.get("format") == "uri" and not is_web_url(text):
        return f"{_shown(text)} is not a web address: links must start with http:// or https://"
    return None


def _integer(text: str) -> int | None:
    return int(text) if INTEGER_TEXT.fullmatch(text) and len(text.lstrip("-")) <= 18 else None


def _number(text: str) -> float | None:
    if not NUMBER_TEXT.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _date(text: str, any_year: bool = False) -> date | None:
    """A YYYY-MM-DD day inside the accepted range (any year with any_year), else None."""
    if not DATE_TEXT.fullmatch(text):
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if any_year or _in_range(day) else None


def _in_range(day: date) -> bool:
    return EARLIEST_DATE <= day <= date.today() + timedelta(days=LATEST_DAYS_AHEAD)


def _date_range() -> str:
    return f"{EARLIEST_DATE.isoformat()} to {(date.today() + timedelta(days=LATEST_DAYS_AHEAD)).isoformat()}"


def _shown(text: str, width: int = 60) -> str:
    """A cell quoted for a message, cut short when long."""
    return repr(text if len(text) <= width else text[:width] + "…")


def _describe(error, spec: dict, line_of: dict[int, int]) -> str:
    """A plain-words message for a Frictionless error, with the offending value."""
    cell = _shown(str(getattr(error, "cell", "") or ""))
    note = getattr(error, "note", "")
    earlier = re.search(r"row at position (\d+)", note)
    if earlier and int(earlier.group(1)) in line_of:
        note = f"already on line {line_of[int(earlier.group(1))]}"
    if error.type == "type-error":
        kind = {"date": "date (YYYY-MM-DD)"}.get(spec.get("type"), spec.get("format") or spec.get("type", "value"))
        return f"{cell} is not a valid {kind}"
    if error.type == "constraint-error":
        constraints = spec.get("constraints", {})
        constraint = re.search(r'constraint "(\w+)"', note)
        constraint = constraint.group(1) if constraint else ""
        if constraint == "required":
            return "a value is required"
        if constraint == "pattern":
            wanted = spec.get("x-pattern-description") or spec.get("description")
            return f"{cell} is not {wanted}" if wanted else f"{cell} does not match {constraints['pattern']}"
        if constraint == "enum":
            return f"{cell} is not one of the allowed values: {', '.join(str(v) for v in constraints['enum'])}"
        if constraint in ("minimum", "maximum"):
            return f"{cell} is {'below the minimum' if constraint == 'minimum' else 'above the maximum'} " \
                   f"{constraints[constraint]}"
        return f"{cell} breaks the constraint {note}"
    if error.type == "unique-error":
        return f"{cell} must be unique but is {note}"
    if error.type == "primary-key":
        return note
    return f"{error.title}: {note}"


def _typed(raw: pd.DataFrame, resource: dict, case: Case | None) -> pd.DataFrame:
    """Arrow-backed columns; cells that do not convert become null (their rows are quarantined)."""
    frame = pd.DataFrame({"_line": raw["_line"]})
    for spec in resource["schema"]["fields"]:
        name = spec["name"]
        text = raw[name].where(raw[name] != "", None)
        if spec.get("x-timestamp"):
            moments = text.map(lambda value: _parse_moment(value, case))
            frame[name] = pd.Series(
                [m[0] if m else None for m in moments], dtype=pd.ArrowDtype(pa.timestamp("s", tz="UTC"))
            )
            frame[f"{name}_precision"] = pd.Series(
                [m[1] if m else None for m in moments], dtype=pd.ArrowDtype(pa.string())
            )
            continue
        kind = spec.get("type", "string")
        convert = {"integer": _integer, "number": _number, "date": _date}.get(kind)
        values = text if convert is None else [convert(t) if isinstance(t, str) else None for t in text]
        frame[name] = pd.Series(values, index=raw.index, dtype=pd.ArrowDtype(ARROW_TYPES[kind]))
    return frame


def _parse_moment(text: str | None, case: Case | None):
    """`moments.parse_moment` in the case's zone, as a UTC pandas Timestamp and its precision; None out of the
    accepted dates."""
    parsed = parse_moment(text, case.timezone) if case else None
    if not parsed or not _in_range(parsed[0].date()):
        return None
    return pd.Timestamp(parsed[0]).tz_convert("UTC"), parsed[1]


def _empty(resource: dict, case: Case | None) -> pd.DataFrame:
    raw = pd.DataFrame({"_line": pd.Series(dtype=int), **{
        f["name"]: pd.Series(dtype=str) for f in resource["schema"]["fields"]}})
    return _typed(raw, resource, case).drop(columns="_line")


def _check_rules(
    file_label: str, name: str, frame: pd.DataFrame, raw: pd.DataFrame, resource: dict, case: Case
) -> list[Problem]:
    """Row rules a Table Schema cannot express."""
    problems: list[Problem] = []

    def flag(mask, column, message):
        for line in frame.loc[mask.fillna(False).astype(bool), "_line"]:
            problems.append(Problem(file_label, int(line), column, message))

    for spec in resource["schema"]["fields"]:
        if spec.get("x-timestamp"):
            column = spec["name"]
            flag(frame[column].isna() & (raw[column] != ""), column,
                 "not a real date, or a date-time without a UTC offset")
    if "value_low" in frame and "value_high" in frame:
        flag(frame["value_high"].notna() & (frame["value_low"] > frame["value_high"]), "value_high",
             "value_low is greater than value_high")
    if "value_best" in frame:
        flag(frame["value_best"].notna() & ((frame["value_best"] < frame["value_low"])
                                           | (frame["value_best"] > frame["value_high"].fillna(frame["value_best"]))),
             "value_best", "value_best is not between value_low and value_high")
    if name == "claims":
        running = frame["scope"] == "running_total"
        flag(running & (frame["period_start"].isna() | frame["period_end"].isna()), "period_start",
             "a running total needs period_start and period_end")
        flag(running & frame["event_id"].notna(), "event_id", "a running total must not name an event")
        flag((frame["scope"] == "event") & frame["event_id"].isna(), "event_id",
             "an event claim needs an event_id")
        flag(frame["period_end"] < frame["period_start"], "period_end", "period_end is before period_start")
        flag(frame["party"].notna() & ~frame["party"].isin(case.party_ids), "party",
             f"not one of the parties in {case.path.name} ({', '.join(case.party_ids)})")
    if name == "events":
        flag(frame["latitude"].isna() != frame["longitude"].isna(), "longitude",
             "latitude and longitude must both be given or both be blank")
        inside = pd.Series(False, index=frame.index)
        for south, north, west, east in case.region.boxes.values():
            inside |= frame["latitude"].between(south, north) & frame["longitude"].between(west, east)
        flag(frame["latitude"].notna() & ~inside.fillna(False).astype(bool), "latitude",
             f"coordinates fall outside {' and '.join(case.region.boxes)} (region.boxes in {case.path.name})")
        reported = frame["first_reported_at"].astype("datetime64[s, UTC]").dt.tz_convert(case.timezone)
        event_day = pd.to_datetime(frame["event_date"].astype("object")).dt.tz_localize(case.timezone)
        flag(reported < event_day, "first_reported_at",
             "first reported before the event took place")
    return problems


def _check_references(data_dir: Path, typed: dict[str, pd.DataFrame], resources: dict, bad: dict) -> None:
    """Foreign keys from the schema, re-checked until quarantining one row orphans no other."""
    changed = True
    while changed:
        changed = False
        for name, frame in typed.items():
            for key in resources[name]["schema"].get("foreignKeys", []):
                target = key["reference"]["resource"]
                if target not in typed:
                    continue
                column = key["fields"][0]
                target_column = key["reference"]["fields"][0]
                target_frame = typed[target]
                alive = set(
                    target_frame.loc[~target_frame["_line"].isin(bad[target].keys()), target_column].dropna()
                )
                separator = key.get("x-list-separator")
                for line, value in zip(frame["_line"], frame[column]):
                    if value is None or pd.isna(value) or line in bad[name]:
                        continue
                    values = value.split(separator) if separator else [value]
                    missing = [v for v in values if v not in alive]
                    if missing:
                        bad[name].setdefault(line, []).append(Problem(
                            str(data_dir / resources[name]["path"]), int(line), column,
                            f"refers to {', '.join(missing)}, not found among the accepted rows of "
                            f"{target}.{target_column}",
                        ))
                        changed = True


def data_dictionary(data_dir: Path | str | None = None) -> str:
    """Markdown tables of every column, generated from datapackage.json for data/README.md."""
    package = read_datapackage(Path(data_dir) if data_dir else paths.DATA_DIR)
    parts = []
    for resource in package["resources"]:
        schema = resource["schema"]
        parts.append(f"### `{resource['path']}`\n\n{resource.get('description', '')}\n")
        parts.append(f"Primary key: `{', '.join(schema.get('primaryKey', []))}`.")
        for key in schema.get("foreignKeys", []):
            reference = key["reference"]
            parts.append(f"`{key['fields'][0]}` → `{reference['resource']}.{reference['fields'][0]}`"
                         + (f" (list separated by `{key['x-list-separator']}`)" if "x-list-separator" in key else "")
                         + ".")
        parts.append("\n| column | type | required | allowed values / rule | meaning |\n|---|---|---|---|---|")
        for spec in schema["fields"]:
            constraints = spec.get("constraints", {})
            rule = ", ".join(str(v) for v in constraints["enum"]) if "enum" in constraints else ""
            if "pattern" in constraints:
                rule = f"pattern `{constraints['pattern']}`"
            if "minimum" in constraints:
                rule = (rule + "; " if rule else "") + f"≥ {constraints['minimum']}"
            kind = spec.get("type", "string") + (f" ({spec['format']})" if "format" in spec else "")
            parts.append(f"| `{spec['name']}` | {kind} | {'yes' if constraints.get('required') else ''} | "
                         f"{rule} | {spec.get('description', '')} |")
        parts.append("")
    return "\n".join(parts).strip() + "\n"


__all__ = ["data_dictionary", "DataError", "is_web_url", "load_tables", "Problem", "Tables", "validate_tables"]


def __dir__() -> list[str]:
    """Tab completion offers what the module is for, not its imports."""
    return sorted(__all__)
