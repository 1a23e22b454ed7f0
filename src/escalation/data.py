"""Load the claim-level tables of a case folder and validate them against `datapackage.json`.

The Table Schema in `datapackage.json` is the only description of the columns: types, required
cells, enums, patterns, bounds, unique columns, primary and foreign keys are read from it and
checked a whole column at a time (pyarrow compute and pandas; Python runs only per distinct value
of a timestamp or link, and per faulty cell to word its message). The rules a schema cannot
express (low <= high, a running total needs a period, coordinates inside the case's region,
parties the case describes, web links only, no control characters...) are checked here too; the
case itself is read from `case.yaml` (see `escalation.case`), and a faulty one is reported like an
unreadable file.

A table is a CSV file (hand-edited cases; every cell is text and is parsed here) or a Parquet file
(imported cases; typed columns are taken as stored, text columns parsed like CSV cells). Every
problem is reported at once, with no limit, naming file, line and column: in a CSV file the line
where the record starts, as an editor counts it (quoted cells may span lines); in a Parquet file
the row number, and the message says "row". A row that fails is never dropped silently: it goes to
the quarantine table with its reason, so rows read = rows accepted + rows quarantined. A file that
cannot be read at all (missing, a symbolic link, not UTF-8, not CSV or Parquet, a wrong header or
column type) is a fatal problem of its own; a broken datapackage.json raises DataError.

`load_tables` keeps the outcome of a validation (typed tables, quarantine, problems) in the
validated-tables cache (`escalation.validated`) and reads it back while no input has changed.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from escalation import paths
from escalation.case import Case, CaseError, load_case
from escalation.grading import claim_stances
from escalation.moments import parse_moments
from escalation.schema import TABLE_ORDER, DataError, Problem, read_datapackage, table_format

ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "date": pa.date32(),
}
TIMESTAMP_TYPE = pa.timestamp("s", tz="UTC")

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
#: The same set in RE2 syntax (pyarrow compute), which has no look-ahead: a carriage return before anything
#: but a line feed.
FORBIDDEN_CHARACTERS_RE2 = (r"[\x{0}-\x{9}\x{b}\x{c}\x{e}-\x{1f}\x{7f}-\x{9f}\x{202a}-\x{202e}\x{2066}-\x{2069}]"
                            r"|\r([^\n]|$)")
#: What no link may hold: any whitespace (`str.isspace`) or a forbidden character, found by one search per address
#: (a Python step per character took a third of a small folder's validation).
NOT_IN_LINKS = re.compile(r"\s|" + FORBIDDEN_CHARACTERS.pattern)

#: Numbers as written in the tables: plain ASCII digits, an optional minus, no plus, exponent or spaces
#: (whole numbers: at most 18 digits, so that they fit a 64-bit integer).
INTEGER_TEXT = r"^-?[0-9]{1,18}$"
NUMBER_TEXT = r"^-?[0-9]+(\.[0-9]+)?$"
DATE_TEXT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"

#: Messages for cells that are not what their column's type says.
NOT_AN_INTEGER = ("is not a whole number in plain digits (like 42 or -3: no +, decimal point, exponent or spaces; "
                  "at most 18 digits)")
NOT_A_NUMBER = "is not a number in plain digits (like 35.93 or -3.5: no +, exponent or spaces)"


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
    if not isinstance(url, str) or not url or NOT_IN_LINKS.search(url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in URL_SCHEMES and bool(parts.netloc)


#: A fault's message: fixed text, or a function of the faulty cell as text.
Message = str | Callable[[str], str]

#: Where a fault is found, in the order problems are listed within a row.
STRUCTURE, CELLS, RULES, REFERENCES = range(4)


@dataclass
class _Table:
    """One table as read, then as checked: where each record starts, its cells, its typed columns, its faults."""

    name: str
    label: str  # the file, as messages name it
    unit: str  # "line" (CSV) or "row" (Parquet)
    positions: np.ndarray  # the line (CSV) or row number (Parquet) of each record
    cells: dict[str, pa.Array]  # as stored: text for CSV, the stored type for Parquet
    checked: np.ndarray  # rows whose cells are checked (not a blank line)
    typed: dict[str, pa.Array] = field(default_factory=dict)
    faults: list[tuple[np.ndarray, str | None, list[str], int]] = field(default_factory=list)

    def fault(self, mask, column: str | None, message: Message, stage: int = CELLS) -> None:
        """Record a fault in every checked row where `mask` holds."""
        if isinstance(mask, pa.BooleanArray) and not mask.true_count:
            return  # most checks of a clean column: nothing faulty, no numpy mask made
        mask = _mask(mask) & self.checked
        rows = np.flatnonzero(mask)
        if not len(rows):
            return
        messages = [message(text) for text in self.texts(column, rows)] if callable(message) else [message] * len(rows)
        self.faults.append((rows, column, messages, stage))

    def texts(self, column: str, rows: np.ndarray) -> list[str]:
        """The cells of `rows` as text, as they read in the file."""
        return [_as_text(value) for value in self.cells[column].take(pa.array(rows)).to_pylist()]

    def bad(self) -> np.ndarray:
        """Rows with at least one fault."""
        bad = np.zeros(len(self.positions), dtype=bool)
        for rows, *_ in self.faults:
            bad[rows] = True
        return bad


def _mask(values) -> np.ndarray:
    """A boolean numpy mask from an Arrow array, a pandas Series or numpy array (null counts as False)."""
    if isinstance(values, pa.ChunkedArray | pa.Array):
        return np.asarray(values.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.ArrowDtype):
        return _mask(pa.array(values))
    if isinstance(values, pd.Series):
        return values.fillna(False).to_numpy(dtype=bool)
    return np.asarray(values, dtype=bool)


def _as_text(value) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


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
        frames = {name: _empty(resources[name]) for name in TABLE_ORDER}
        return Tables(data_dir, frames, _quarantine([]), list(fatal), {}, fatal)
    fatal: list[Problem] = []
    tables: dict[str, _Table] = {}
    for name in TABLE_ORDER:
        file_problems, table = _read_table(data_dir, resources[name])
        fatal.extend(file_problems)
        if table is not None:
            tables[name] = table
    for name, table in tables.items():
        _check_cells(table, resources[name]["schema"], case)
        _check_rules(table, resources[name]["schema"], case)
    if "events" in tables:
        fatal.extend(_check_case_events(case, tables["events"]))
    _check_references(tables, resources)

    problems = list(fatal)
    quarantine_parts = []
    frames = {}
    for name in TABLE_ORDER:
        if name not in tables:
            frames[name] = _empty(resources[name])
            continue
        table = tables[name]
        found, quarantined = _problems_of(table, resources[name]["schema"])
        problems.extend(found)
        quarantine_parts.append(quarantined)
        frames[name] = _frame(table, resources[name]["schema"], keep=~table.bad())
    frames["claims"] = _with_stances(frames["claims"], case)
    quarantine = pd.concat([_quarantine([]), *quarantine_parts], ignore_index=True).astype({"line": "int64"})
    rows_read = {name: len(table.positions) for name, table in tables.items()}
    return Tables(data_dir, frames, quarantine, problems, rows_read, fatal, case)


def _with_stances(claims: pd.DataFrame, case: Case) -> pd.DataFrame:
    """Each claim's stance (`grading.claim_stances`), worked out once per distinct claimant, party and stance."""
    keys = ["claimant", "party", "stance"]
    distinct = claims[keys].drop_duplicates()
    stances = claim_stances(distinct, case.claimant_party(), case.party_side())
    found = claims[keys].merge(distinct.assign(_derived=stances.to_numpy()), on=keys, how="left")
    return claims.assign(stance=pd.Series(found["_derived"].to_numpy(), index=claims.index,
                                          dtype=pd.ArrowDtype(pa.string())))


def _quarantine(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["table", "line", "column", "problem", "record"])


def _check_case_events(case: Case, events: _Table) -> list[Problem]:
    """The events case.yaml names (focal incident, key events) must be rows of events.csv."""
    named = [("focal.event_id", case.focal.event_id)] if case.focal.event_id else []
    named += [(f"key_events.{event_id}", event_id) for event_id in case.key_events]
    if not named:
        return []
    known = set(pc.unique(events.cells["event_id"]).to_pylist())
    return [Problem(str(case.path), None, None, f"key {key}: {event_id!r} is not an event_id in events.csv")
            for key, event_id in named if event_id not in known]


def load_tables(data_dir: Path | str | None = None) -> Tables:
    """Validated tables for the reports, from the validated-tables cache while no input has changed;
    raises DataError when a file cannot be read at all."""
    from escalation import validated

    tables = validated.load(Path(data_dir) if data_dir is not None else paths.DATA_DIR)
    if tables.fatal:
        raise DataError(tables.fatal)
    return tables


def rows_where(frame: pd.DataFrame, keep) -> pd.DataFrame:
    """The rows of `frame` where `keep` holds (missing counts as not kept), numbered from 0; the frame itself
    when it keeps every row and is numbered from 0 already (a million rows are not copied for nothing)."""
    keep = _mask(keep)
    if keep.all() and isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0 and frame.index.step == 1:
        return frame
    kept = frame.loc[keep]
    kept.index = pd.RangeIndex(len(kept))
    return kept


def stored_column(spec: dict, text: pa.Array) -> pa.Array:
    """A text column as a Parquet table stores it: as the schema's type when every cell converts, else as the
    text itself, so that validation names each cell that does not; empty cells are null."""
    if spec.get("type", "string") == "string":
        return pc.if_else(pc.greater(pc.utf8_length(text), 0), text, None)
    trial = _Table("", "", "row", np.arange(1, len(text) + 1), {spec["name"]: text}, np.ones(len(text), dtype=bool))
    typed = _parsed(trial, spec, text, None)[spec["name"]]
    return text if trial.faults else typed


# --- Reading -------------------------------------------------------------------------------------------------


def _read_table(data_dir: Path, resource: dict) -> tuple[list[Problem], _Table | None]:
    """One table as stored, or the problems that keep it from being read at all."""
    path = data_dir / resource["path"]
    label = str(path)
    names = [f["name"] for f in resource["schema"]["fields"]]
    if path.is_symlink():
        return [Problem(label, None, None, "is a symbolic link; the data folder must hold the file itself")], None
    if not path.is_file():
        return [Problem(label, None, None, "file not found")], None
    if table_format(resource) == "parquet":
        return _read_parquet(path, resource)
    problems, records = _read_records(path, names)
    if problems:
        return problems, None
    header_problems = _header_problems(label, records[0][1], names)
    if header_problems:
        return header_problems, None
    return [], _from_records(resource["name"], label, names, records[1:])


def _from_records(name: str, label: str, names: list[str], records: list[tuple[int, list[str]]]) -> _Table:
    """Records as text columns; blank, short and long lines are faults of their own."""
    width = len(names)
    rows = [cells if len(cells) == width else (cells + [""] * width)[:width] for _, cells in records]
    columns = list(zip(*rows)) if rows else [()] * width
    cells = {column: pa.array(values, pa.string()) for column, values in zip(names, columns)}
    count = len(records)
    blank = np.ones(count, dtype=bool)
    for text in cells.values():
        blank &= _mask(pc.or_(pc.equal(pc.utf8_length(text), 0), pc.utf8_is_space(text)))
    widths = np.fromiter((len(cells) for _, cells in records), dtype=np.int64, count=count)
    for index in np.flatnonzero(blank & (widths > width)):
        blank[index] = not any(cell.strip() for cell in records[index][1])
    table = _Table(name, label, "line", np.fromiter((line for line, _ in records), dtype=np.int64, count=count),
                   cells, np.ones(count, dtype=bool))
    table.fault(blank, None, "blank line", STRUCTURE)
    table.checked = ~blank
    for index in np.flatnonzero(~blank & (widths != width)):
        found = records[index][1]
        if len(found) > width:
            table.fault(_one(count, index), None, f"extra cell(s) {_shown(', '.join(found[width:]))} beyond the "
                                                  f"header's {width} columns", STRUCTURE)
        else:
            table.fault(_one(count, index), names[len(found)],
                        f"value missing: the line has {len(found)} cells, the header {width}", STRUCTURE)
    return table


def _one(count: int, index: int) -> np.ndarray:
    mask = np.zeros(count, dtype=bool)
    mask[index] = True
    return mask


def _read_parquet(path: Path, resource: dict) -> tuple[list[Problem], _Table | None]:
    """A Parquet table: its columns must be the schema's, in order, each stored as its type or as text."""
    label = str(path)
    fields = resource["schema"]["fields"]
    try:
        stored = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        return [Problem(label, None, None, f"not readable as Parquet: {error}")], None
    header = [str(name) for name in stored.column_names]
    problems = _header_problems(label, header, [f["name"] for f in fields], line=None)
    if problems:
        return problems, None
    cells = {}
    for spec in fields:
        column = stored.column(spec["name"]).combine_chunks()
        accepted = _stored_type(spec, column.type)
        if accepted is None:
            problems.append(Problem(label, None, spec["name"], f"stored as {column.type}; datapackage.json says "
                                                               f"{spec.get('type', 'string')}, which Parquet stores "
                                                               f"as {ARROW_TYPES[spec.get('type', 'string')]} "
                                                               "(or as text)"))
            continue
        cells[spec["name"]] = column.cast(accepted)
    if problems:
        return problems, None
    count = stored.num_rows
    return [], _Table(resource["name"], label, "row", np.arange(1, count + 1, dtype=np.int64), cells,
                      np.ones(count, dtype=bool))


def _stored_type(spec: dict, stored: pa.DataType) -> pa.DataType | None:
    """The type a Parquet column is read as: text (parsed like a CSV cell) or the schema's own type."""
    kind = spec.get("type", "string")
    if pa.types.is_string(stored) or pa.types.is_large_string(stored) or pa.types.is_null(stored):
        return pa.string()
    if spec.get("x-timestamp"):
        return None
    if kind == "integer" and pa.types.is_integer(stored):
        return pa.int64()
    if kind == "number" and (pa.types.is_integer(stored) or pa.types.is_floating(stored)):
        return pa.float64()
    if kind == "date" and pa.types.is_date(stored):
        return pa.date32()
    return None


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


def _header_problems(label: str, header: list[str], names: list[str], line: int | None = 1) -> list[Problem]:
    """What is wrong with the first line (a Parquet file's column names), column by column, against the
    schema's field names."""
    if header == names:
        return []
    expected = f"the columns are, in order: {', '.join(names)}"
    if not any(cell.strip() for cell in header):
        return [Problem(label, line, None, f"the first line is blank; it must be the header: {', '.join(names)}")]
    problems = []
    for position, name in enumerate(header, start=1):
        if header.index(name) + 1 < position:
            problems.append(Problem(label, line, name, f"column {name} appears twice in the header (positions "
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
        problems.append(Problem(label, line, name, f"column {name} is missing from the header" + (
            f" (found {in_place!r} in its place, position {position})" if in_place is not None else "")))
    for position, name in unexpected:
        shown = f"an unnamed column at position {position}" if not name.strip() else (
            f"unexpected column {name!r} at position {position}")
        if position not in taken or not name.strip():
            problems.append(Problem(label, line, name or None, f"{shown}; {expected}"))
    if not problems:
        first = next(i for i, (found, wanted) in enumerate(zip(header, names)) if found != wanted)
        problems.append(Problem(label, line, header[first], f"columns out of order: found {header[first]} at "
                                                            f"position {first + 1}; {expected}"))
    return problems


# --- Checking ------------------------------------------------------------------------------------------------


def _check_cells(table: _Table, schema: dict, case: Case) -> None:
    """Each column against its field: the cell's text, its type, then the schema's constraints and keys.
    Faults are recorded most specific first; a cell keeps the first."""
    for spec in schema["fields"]:
        stored = table.cells[spec["name"]]
        if pa.types.is_string(stored.type):
            table.typed.update(_parsed(table, spec, stored, case))
        else:
            table.typed[spec["name"]] = _checked_values(table, spec, stored)
    for spec in schema["fields"]:
        _check_constraints(table, spec, spec["name"] in schema.get("primaryKey", []))
    _check_primary_key(table, schema.get("primaryKey", []))


def _parsed(table: _Table, spec: dict, text: pa.Array, case: Case) -> dict[str, pa.Array]:
    """A text column checked cell by cell and converted to its type (a cell that does not convert is null)."""
    name, kind = spec["name"], spec.get("type", "string")
    given = pc.greater(pc.utf8_length(text), 0)
    forbidden = pc.match_substring_regex(text, FORBIDDEN_CHARACTERS_RE2)
    table.fault(forbidden, name, _forbidden_message)
    table.fault(pc.greater(pc.utf8_length(text), MAX_CELL_CHARACTERS), name,
                lambda cell: f"the cell holds {len(cell):,} characters; the limit is {MAX_CELL_CHARACTERS:,}")
    table.fault(pc.utf8_is_space(text), name,
                "holds only spaces, but a value is required" if spec.get("constraints", {}).get("required") else
                "holds only spaces; leave the cell empty when the value is unknown")
    if kind == "integer":
        plain = pc.match_substring_regex(text, INTEGER_TEXT)
        table.fault(pc.and_not(given, plain), name, lambda cell: f"{_shown(cell)} {NOT_AN_INTEGER}")
        return {name: pc.cast(pc.if_else(plain, text, None), pa.int64())}
    if kind == "number":
        plain = pc.match_substring_regex(text, NUMBER_TEXT)
        values = pc.cast(pc.if_else(plain, text, None), pa.float64())
        table.fault(pc.and_not(given, pc.and_(plain, pc.is_finite(values)).fill_null(False)), name,
                    lambda cell: f"{_shown(cell)} {NOT_A_NUMBER}")
        return {name: pc.if_else(pc.is_finite(values), values, None)}
    if kind == "date":
        return {name: _parsed_dates(table, name, text, given)}
    if spec.get("x-timestamp"):
        return _parsed_moments(table, name, text, case)
    if spec.get("format") == "uri":
        web = _per_distinct(text, is_web_url, pa.bool_())
        table.fault(pc.and_not(given, web), name,
                    lambda cell: f"{_shown(cell)} is not a web address: links must start with http:// or https://")
    return {name: pc.if_else(given, text, None)}


def _forbidden_message(cell: str) -> str:
    found = FORBIDDEN_CHARACTERS.search(cell)
    character = found.group()[0]
    name = unicodedata.name(character, "control character").lower()
    return (f"contains a {name} (U+{ord(character):04X}) at character {found.start() + 1}; "
            "remove it (control and bidi-override characters are not allowed)")


def _parsed_dates(table: _Table, name: str, text: pa.Array, given: pa.Array) -> pa.Array:
    """YYYY-MM-DD days: a day that does not exist is not a date; a real one outside the accepted range is a
    typo of its own."""
    shaped = pc.match_substring_regex(text, DATE_TEXT)
    moments = pc.strptime(pc.if_else(shaped, text, None), format="%Y-%m-%d", unit="s", error_is_null=True)
    real = pc.equal(pc.strftime(moments, format="%Y-%m-%d"), text)  # strptime rolls 31 February on into March
    days = pc.cast(pc.if_else(real, moments, None), pa.date32())
    inside = _in_range(days)
    table.fault(pc.and_not(given, real.fill_null(False)), name, lambda cell: f"{_shown(cell)} is not a valid date "
                                                                             "(YYYY-MM-DD)")
    table.fault(pc.and_not(real, inside), name, lambda cell: f"{cell} is outside the accepted dates, {_date_range()}")
    return pc.if_else(inside, days, None)


def _parsed_moments(table: _Table, name: str, text: pa.Array, case: Case) -> dict[str, pa.Array]:
    """`moments.parse_moments` once per distinct text, in the case's zone, as UTC seconds and a precision;
    a moment on a day outside the accepted dates is a typo."""
    encoded = pc.dictionary_encode(pc.if_else(pc.greater(pc.utf8_length(text), 0), text, None))
    parsed = parse_moments(encoded.dictionary, case.timezone)
    days = pa.array(parsed.written_day, pa.date32())
    outside = pc.and_(pa.array(parsed.parsed), pc.invert(_in_range(days)))
    kept = pc.and_not(pa.array(parsed.parsed), outside)
    seconds = pa.array(parsed.utc_microseconds // 1_000_000, pa.int64()).cast(TIMESTAMP_TYPE)
    table.fault(outside.take(encoded.indices).fill_null(False), name,
                lambda cell: f"{cell} is outside the accepted dates, {_date_range()}")
    return {name: pc.if_else(kept, seconds, None).take(encoded.indices),
            f"{name}_precision": pc.if_else(kept, pa.array(parsed.precision, pa.string()), None).take(encoded.indices)}


def _per_distinct(text: pa.Array, function, kind: pa.DataType) -> pa.Array:
    """`function` of each distinct non-empty text, spread back over the column (null where empty)."""
    encoded = pc.dictionary_encode(pc.if_else(pc.greater(pc.utf8_length(text), 0), text, None))
    results = [function(value) for value in encoded.dictionary.to_pylist()]
    if pa.types.is_struct(kind):
        results = [dict(zip(kind.names, result)) for result in results]
    return pa.array(results, kind).take(encoded.indices)


def _checked_values(table: _Table, spec: dict, values: pa.Array) -> pa.Array:
    """A typed Parquet column: numbers must be finite, days inside the accepted range."""
    name = spec["name"]
    if pa.types.is_floating(values.type):
        table.fault(pc.invert(pc.is_finite(values)), name, lambda cell: f"{_shown(cell)} {NOT_A_NUMBER}")
        return pc.if_else(pc.is_finite(values), values, None)
    if pa.types.is_date(values.type):
        inside = _in_range(values)
        table.fault(pc.invert(inside), name, lambda cell: f"{cell} is outside the accepted dates, {_date_range()}")
        return pc.if_else(inside, values, None)
    return values


def _check_constraints(table: _Table, spec: dict, in_primary_key: bool) -> None:
    """The field's constraints from the schema: required, pattern, enum, minimum, maximum, unique."""
    name = spec["name"]
    constraints = spec.get("constraints", {})
    values = table.typed[name]
    text = table.cells[name]
    if constraints.get("required") or in_primary_key:
        table.fault(_missing(text), name, "a value is required")
    if "pattern" in constraints and pa.types.is_string(text.type):
        wanted = spec.get("x-pattern-description") or spec.get("description")
        given = pc.if_else(pc.greater(pc.utf8_length(text), 0), text, None)
        table.fault(pc.invert(_full_match(given, constraints["pattern"])), name,
                    (lambda cell: f"{_shown(cell)} is not {wanted}") if wanted else
                    (lambda cell: f"{_shown(cell)} does not match {constraints['pattern']}"))
    if "enum" in constraints:
        allowed = ", ".join(str(v) for v in constraints["enum"])
        outside = pc.invert(pc.is_in(values, value_set=_enum_values(constraints["enum"], values.type)))
        table.fault(pc.and_(values.is_valid(), outside), name,
                    lambda cell: f"{_shown(cell)} is not one of the allowed values: {allowed}")
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        for bound, compare, words in (("minimum", pc.less, "below the minimum"),
                                      ("maximum", pc.greater, "above the maximum")):
            if bound in constraints:
                table.fault(compare(values, constraints[bound]), name,
                            lambda cell, words=words, bound=bound: f"{_shown(cell)} is {words} {constraints[bound]}")
    if constraints.get("unique"):
        repeated, first = _repeats(table, pd.Series(values.to_pandas(types_mapper=pd.ArrowDtype)))
        table.fault(repeated, name, lambda cell: f"{_shown(cell)} must be unique but is already on "
                                                 f"{table.unit} {first[cell]}")


def _missing(cells: pa.Array) -> pa.Array:
    """Cells left empty: the unknown value of a CSV cell, null (or empty text) in Parquet."""
    if pa.types.is_string(cells.type):
        return pc.equal(pc.utf8_length(cells), 0).fill_null(True)
    return cells.is_null()


def _full_match(values: pa.Array, pattern: str) -> pa.Array:
    """Whether each text matches the whole pattern: RE2 in pyarrow, Python's re for what RE2 cannot read."""
    try:
        return pc.match_substring_regex(values, f"^(?:{pattern})$")
    except pa.ArrowInvalid:
        compiled = re.compile(pattern)
        return _per_distinct(values, lambda cell: compiled.fullmatch(cell) is not None, pa.bool_())


def _enum_values(enum: list, kind: pa.DataType) -> pa.Array:
    """The allowed values as the column's type (a value that cannot be of that type allows nothing)."""
    try:
        return pa.array([str(v) for v in enum] if pa.types.is_string(kind) else enum).cast(kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.array([], kind)


def _repeats(table: _Table, key: pd.Series) -> tuple[np.ndarray, dict[str, int]]:
    """Rows whose key appeared on an earlier checked row, and the line (row) where each key came first."""
    key = key.where(pd.Series(table.checked, index=key.index) & key.notna())
    repeated = (key.duplicated(keep="first") & key.notna()).to_numpy()
    if not repeated.any():
        return repeated, {}
    firsts = key.loc[key.notna() & ~key.duplicated(keep="first")]
    position = dict(zip(firsts.astype(str), table.positions[firsts.index.to_numpy()]))
    return repeated, {str(k): int(position[str(k)]) for k in key[repeated].unique()}


def _check_primary_key(table: _Table, key: list[str]) -> None:
    """Each row's primary key (its cells joined by '/') must be unique."""
    if not key:
        return
    joined = pd.Series(table.typed[key[0]].to_pandas(types_mapper=pd.ArrowDtype)).astype("string")
    for column in key[1:]:
        joined = joined + "/" + pd.Series(table.typed[column].to_pandas(types_mapper=pd.ArrowDtype)).astype("string")
    repeated, first = _repeats(table, joined)
    if not repeated.any():
        return
    rows = np.flatnonzero(repeated & table.checked)
    values = joined.to_numpy()[rows]
    table.faults.append((rows, ", ".join(key), [f"duplicate id {_shown(str(v))}: already on {table.unit} "
                                                f"{first[str(v)]}" for v in values], CELLS))


def _in_range(days: pa.Array) -> pa.Array:
    """Whether each day (date32) lies in the accepted range."""
    latest = date.today() + timedelta(days=LATEST_DAYS_AHEAD)
    return pc.and_(pc.greater_equal(days, pa.scalar(EARLIEST_DATE, pa.date32())),
                   pc.less_equal(days, pa.scalar(latest, pa.date32())))


def _date_range() -> str:
    return f"{EARLIEST_DATE.isoformat()} to {(date.today() + timedelta(days=LATEST_DAYS_AHEAD)).isoformat()}"


def _shown(text: str, width: int = 60) -> str:
    """A cell quoted for a message, cut short when long."""
    return repr(text if len(text) <= width else text[:width] + "…")


def _check_rules(table: _Table, schema: dict, case: Case) -> None:
    """Row rules a Table Schema cannot express."""
    frame = _frame(table, schema)
    flag = table.fault
    for spec in schema["fields"]:
        if spec.get("x-timestamp"):
            column = spec["name"]
            flag(frame[column].isna() & _mask(pc.greater(pc.utf8_length(table.cells[column]), 0)), column,
                 "not a real date, or a date-time without a UTC offset", RULES)
    if "value_low" in frame and "value_high" in frame:
        flag(frame["value_high"].notna() & (frame["value_low"] > frame["value_high"]), "value_high",
             "value_low is greater than value_high", RULES)
    if "value_best" in frame:
        flag(frame["value_best"].notna() & ((frame["value_best"] < frame["value_low"])
                                           | (frame["value_best"] > frame["value_high"].fillna(frame["value_best"]))),
             "value_best", "value_best is not between value_low and value_high", RULES)
    if table.name == "claims":
        running = frame["scope"] == "running_total"
        flag(running & (frame["period_start"].isna() | frame["period_end"].isna()), "period_start",
             "a running total needs period_start and period_end", RULES)
        flag(running & frame["event_id"].notna(), "event_id", "a running total must not name an event", RULES)
        flag((frame["scope"] == "event") & frame["event_id"].isna(), "event_id",
             "an event claim needs an event_id", RULES)
        flag(frame["period_end"] < frame["period_start"], "period_end", "period_end is before period_start", RULES)
        flag(frame["party"].notna() & ~frame["party"].isin(case.party_ids), "party",
             f"not one of the parties in {case.path.name} ({', '.join(case.party_ids)})", RULES)
    if table.name == "events":
        flag(frame["latitude"].isna() != frame["longitude"].isna(), "longitude",
             "latitude and longitude must both be given or both be blank", RULES)
        inside = pd.Series(False, index=frame.index)
        for south, north, west, east in case.region.boxes.values():
            inside |= frame["latitude"].between(south, north) & frame["longitude"].between(west, east)
        flag(frame["latitude"].notna() & ~inside.fillna(False).astype(bool), "latitude",
             f"coordinates fall outside {' and '.join(case.region.boxes)} (region.boxes in {case.path.name})", RULES)
        day_starts = _per_distinct_day(table.typed["event_date"],
                                       lambda day: datetime.combine(day, time(0), case.timezone).astimezone(UTC))
        flag(pc.less(table.typed["first_reported_at"], day_starts), "first_reported_at",
             "first reported before the event took place", RULES)


def _per_distinct_day(days: pa.Array, function) -> pa.Array:
    """`function` of each distinct day (a UTC moment), spread back over the column (null where no day)."""
    encoded = pc.dictionary_encode(days)
    return pa.array([function(day) for day in encoded.dictionary.to_pylist()], TIMESTAMP_TYPE).take(encoded.indices)


def _check_references(tables: dict[str, _Table], resources: dict) -> None:
    """Foreign keys from the schema, re-checked until quarantining one row orphans no other."""
    changed = True
    while changed:
        changed = False
        for name, table in tables.items():
            for key in resources[name]["schema"].get("foreignKeys", []):
                target_name, target_column = key["reference"]["resource"], key["reference"]["fields"][0]
                if target_name not in tables:
                    continue
                target = tables[target_name]
                alive = pc.unique(pc.drop_null(pc.filter(target.typed[target_column], pa.array(~target.bad()))))
                column = key["fields"][0]
                values = table.typed[column]
                separator = key.get("x-list-separator")
                if separator:
                    parts = pc.split_pattern(values, separator)
                    orphan = pc.invert(pc.is_in(pc.list_flatten(parts), value_set=alive))
                    rows = np.unique(pc.list_parent_indices(parts).to_numpy()[_mask(orphan)])
                    missing = np.zeros(len(table.positions), dtype=bool)
                    missing[rows] = True
                else:
                    missing = _mask(pc.and_(values.is_valid(), pc.invert(pc.is_in(values, value_set=alive))))
                missing &= ~table.bad()
                if not missing.any():
                    continue
                known = set(alive.to_pylist())

                def message(cell: str, separator=separator, known=known, target=f"{target_name}.{target_column}"):
                    absent = [v for v in (cell.split(separator) if separator else [cell]) if v not in known]
                    return f"refers to {', '.join(absent)}, not found among the accepted rows of {target}"

                table.fault(missing, column, message, REFERENCES)
                changed = True


# --- Results -------------------------------------------------------------------------------------------------


def _problems_of(table: _Table, schema: dict) -> tuple[list[Problem], pd.DataFrame]:
    """The table's faults, one per row and column (the first found), in file order; and its quarantine rows."""
    if not table.faults:
        return [], _quarantine([])
    order = {spec["name"]: position for position, spec in enumerate(schema["fields"], start=1)}
    faults = pd.DataFrame({
        "row": np.concatenate([rows for rows, *_ in table.faults]),
        "column": [column for rows, column, *_ in table.faults for _ in rows],
        "message": [message for *_, messages, _ in table.faults for message in messages],
        "stage": np.concatenate([np.full(len(rows), stage) for rows, *_, stage in table.faults]),
    })
    faults = faults.loc[~faults.duplicated(["row", "column"])]
    faults = faults.assign(position=faults["column"].map(order).fillna(0))
    faults = faults.sort_values(["row", "stage", "position"], kind="stable")
    lines = table.positions[faults["row"].to_numpy()]
    problems = [Problem(table.label, int(line), column, message, table.unit)
                for line, column, message in zip(lines, faults["column"], faults["message"])]
    rows = np.unique(faults["row"].to_numpy())
    names = [spec["name"] for spec in schema["fields"]]
    records = pa.table({name: table.cells[name].take(pa.array(rows)) for name in names}).to_pylist()
    record_of = dict(zip(rows.tolist(), (json.dumps({k: _as_text(v) for k, v in record.items()}, ensure_ascii=False)
                                         for record in records)))
    quarantine = pd.DataFrame({
        "table": table.name, "line": lines.astype(int), "column": faults["column"].fillna("").to_numpy(),
        "problem": faults["message"].to_numpy(), "record": [record_of[row] for row in faults["row"]]})
    return problems, quarantine


def _frame(table: _Table, schema: dict, keep: np.ndarray | None = None) -> pd.DataFrame:
    """The typed columns as Arrow-backed pandas columns (only the rows in `keep`)."""
    columns = {}
    kept = None if keep is None or keep.all() else pa.array(keep)  # every row: the columns themselves, no copy
    for spec in schema["fields"]:
        names = [spec["name"]] + ([f"{spec['name']}_precision"] if spec.get("x-timestamp") else [])
        for name in names:
            values = table.typed[name]
            if kept is not None:
                values = values.filter(kept)
            columns[name] = values
    return pa.table(columns).to_pandas(types_mapper=pd.ArrowDtype)


def column_types(resource: dict) -> pa.Schema:
    """The Arrow columns of a validated table, from its Table Schema (a timestamp adds its precision)."""
    columns = []
    for spec in resource["schema"]["fields"]:
        if spec.get("x-timestamp"):
            columns += [(spec["name"], TIMESTAMP_TYPE), (f"{spec['name']}_precision", pa.string())]
        else:
            columns.append((spec["name"], ARROW_TYPES[spec.get("type", "string")]))
    return pa.schema(columns)


def _empty(resource: dict) -> pd.DataFrame:
    """A table with no rows and the columns (and types) of the schema."""
    return column_types(resource).empty_table().to_pandas(types_mapper=pd.ArrowDtype)


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


__all__ = ["column_types", "data_dictionary", "DataError", "is_web_url", "load_tables", "Problem", "rows_where",
           "stored_column", "Tables", "validate_tables"]


def __dir__() -> list[str]:
    """Tab completion offers what the module is for, not its imports."""
    return sorted(__all__)
