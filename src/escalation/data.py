"""Load the claim-level tables of `data/` and validate them against `datapackage.json`.

The Frictionless Table Schema in `datapackage.json` is the only description of the columns:
types, enums, patterns, primary and foreign keys are read from it, Frictionless checks each
cell, and the rules a schema cannot express (low <= high, a running total needs a period,
coordinates inside Syria or Turkey...) are checked here. Every problem is reported at once,
naming file, row and column. A row that fails is never dropped silently: it goes to the
quarantine table with its reason, so rows read = rows accepted + rows quarantined.
"""

from __future__ import annotations

import csv
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa

from escalation import paths
from escalation.moments import LOCAL_TZ, parse_moment
from escalation.schema import read_datapackage

#: Boxes (south, north, west, east) that coordinates must fall in: Syria, and Turkey with its
#: Greek border crossing. A point outside both is a typo (swapped lat/lon, a missing minus).
COORDINATE_BOXES = {
    "Syria": (32.3, 37.4, 35.6, 42.4),
    "Turkey": (35.8, 42.2, 25.6, 44.9),
}

TABLE_ORDER = ("sources", "events", "claims", "displacement")

ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "date": pa.date32(),
}


class DataError(Exception):
    """A table could not be read at all (missing file, bad header, bad encoding)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Problem:
    """One fault in one cell, row or file, located the way an editor can jump to it."""

    file: str
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", row {self.line}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


@dataclass
class Tables:
    """The accepted rows of each table, the rows kept aside, and every problem found."""

    data_dir: Path
    frames: dict[str, pd.DataFrame]
    quarantine: pd.DataFrame
    problems: list[Problem]
    rows_read: dict[str, int]
    fatal: list[Problem] = field(default_factory=list)

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


def validate_tables(data_dir: Path | str | None = None) -> Tables:
    """Validate every table and return accepted rows, quarantine and problems; never raises on data."""
    data_dir = Path(data_dir) if data_dir is not None else paths.DATA_DIR
    package = read_datapackage(data_dir)
    resources = {r["name"]: r for r in package["resources"]}
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

    typed = {name: _typed(frame, resources[name]) for name, frame in raw.items()}
    for name, frame in typed.items():
        for problem in _check_rules(str(data_dir / resources[name]["path"]), name, frame, raw[name], resources[name]):
            found = bad[name].setdefault(problem.line, [])
            if not any(p.column == problem.column for p in found):
                found.append(problem)
    _check_references(data_dir, typed, resources, bad)

    problems = list(fatal)
    quarantine_rows = []
    frames = {}
    for name in TABLE_ORDER:
        if name not in typed:
            frames[name] = _empty(resources[name])
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
    quarantine = pd.DataFrame(quarantine_rows, columns=["table", "line", "column", "problem", "record"])
    return Tables(data_dir, frames, quarantine, problems, rows_read, fatal)


def load_tables(data_dir: Path | str | None = None) -> Tables:
    """Validated tables for the reports; raises DataError when a file cannot be read at all."""
    tables = validate_tables(data_dir)
    if tables.fatal:
        raise DataError(tables.fatal)
    return tables


def _check_cells(data_dir: Path, resource: dict):
    """Frictionless cell-level validation; returns (file problems, row problems, raw frame)."""
    from frictionless import Resource, Schema

    path = data_dir / resource["path"]
    file_label = str(path)
    if not path.is_file():
        return [Problem(file_label, None, None, "file not found")], {}, None
    schema_descriptor = {k: v for k, v in resource["schema"].items() if k != "foreignKeys"}
    schema = Schema.from_descriptor(schema_descriptor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = Resource(
            path=resource["path"], basepath=str(data_dir), schema=schema, encoding="utf-8"
        ).validate(limit_errors=100_000)
    file_problems: list[Problem] = []
    row_problems: dict[int, list[Problem]] = {}
    key = ", ".join(resource["schema"].get("primaryKey", []))
    for error in report.tasks[0].errors if report.tasks else report.errors:
        row_number = getattr(error, "row_number", None)
        column = getattr(error, "field_name", None) or getattr(error, "label", None)
        if row_number is None:
            file_problems.append(Problem(file_label, 1 if column else None, column, _describe(error)))
            continue
        if error.type in ("primary-key", "unique-error") and not column:
            column = key
        row_problems.setdefault(row_number, []).append(
            Problem(file_label, row_number, column, _describe(error))
        )
    if file_problems:
        return file_problems, row_problems, None
    return [], row_problems, _read_raw(path, resource)


def _describe(error) -> str:
    """A short message for a Frictionless error, with the offending value."""
    cell = getattr(error, "cell", None)
    if error.type == "type-error":
        expected = re.search(r'"(\w+)(?:/(\w+))?"', error.note)
        kind = "value" if not expected else (
            expected.group(2) if expected.group(2) not in (None, "default") else expected.group(1))
        return f"{cell!r} is not a valid {kind}"
    if error.type == "constraint-error":
        return f"{cell!r} breaks the constraint {error.note}"
    if error.type == "missing-cell":
        return "value missing (the row has too few cells)"
    if error.type == "extra-cell":
        return f"extra cell {cell!r} beyond the header's columns"
    if error.type in ("primary-key", "unique-error"):
        return f"duplicate id: {error.note}"
    if error.type == "blank-row":
        return "blank row"
    return f"{error.title}: {error.note}"


def _read_raw(path: Path, resource: dict) -> pd.DataFrame:
    """Rows as text, each with the row number Frictionless reports (header = 1)."""
    names = [f["name"] for f in resource["schema"]["fields"]]
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        records = []
        for row_number, row in enumerate(reader, start=2):
            cells = (row + [""] * len(names))[: len(names)]
            records.append([row_number, *cells])
    return pd.DataFrame(records, columns=["_line", *names])


def _typed(raw: pd.DataFrame, resource: dict) -> pd.DataFrame:
    """Arrow-backed columns; cells that cannot convert become null (their rows are quarantined)."""
    frame = pd.DataFrame({"_line": raw["_line"]})
    for spec in resource["schema"]["fields"]:
        name = spec["name"]
        text = raw[name].where(raw[name] != "", None)
        if spec.get("x-timestamp"):
            moments = text.map(_parse_moment)
            frame[name] = pd.Series(
                [m[0] if m else None for m in moments], dtype=pd.ArrowDtype(pa.timestamp("s", tz="UTC"))
            )
            frame[f"{name}_precision"] = pd.Series(
                [m[1] if m else None for m in moments], dtype=pd.ArrowDtype(pa.string())
            )
            continue
        arrow_type = ARROW_TYPES[spec.get("type", "string")]
        if arrow_type == pa.string():
            frame[name] = text.astype(pd.ArrowDtype(pa.string()))
        elif arrow_type == pa.date32():
            frame[name] = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce").dt.date.astype(
                pd.ArrowDtype(pa.date32())
            )
        else:
            frame[name] = pd.to_numeric(text, errors="coerce").astype(pd.ArrowDtype(arrow_type))
    return frame


def _parse_moment(text: str | None):
    """`moments.parse_moment` as a UTC pandas Timestamp and its precision."""
    parsed = parse_moment(text)
    return (pd.Timestamp(parsed[0]).tz_convert("UTC"), parsed[1]) if parsed else None


def _empty(resource: dict) -> pd.DataFrame:
    raw = pd.DataFrame({"_line": pd.Series(dtype=int), **{
        f["name"]: pd.Series(dtype=str) for f in resource["schema"]["fields"]}})
    return _typed(raw, resource).drop(columns="_line")


def _check_rules(
    file_label: str, name: str, frame: pd.DataFrame, raw: pd.DataFrame, resource: dict
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
    if name == "claims":
        running = frame["scope"] == "running_total"
        flag(running & (frame["period_start"].isna() | frame["period_end"].isna()), "period_start",
             "a running total needs period_start and period_end")
        flag(running & frame["event_id"].notna(), "event_id", "a running total must not name an event")
        flag((frame["scope"] == "event") & frame["event_id"].isna(), "event_id",
             "an event claim needs an event_id")
        flag(frame["period_end"] < frame["period_start"], "period_end", "period_end is before period_start")
    if name == "events":
        flag(frame["latitude"].isna() != frame["longitude"].isna(), "longitude",
             "latitude and longitude must both be given or both be blank")
        inside = pd.Series(False, index=frame.index)
        for south, north, west, east in COORDINATE_BOXES.values():
            inside |= frame["latitude"].between(south, north) & frame["longitude"].between(west, east)
        flag(frame["latitude"].notna() & ~inside.fillna(False).astype(bool), "latitude",
             "coordinates fall outside Syria and Turkey")
        reported = frame["first_reported_at"].astype("datetime64[s, UTC]").dt.tz_convert(LOCAL_TZ)
        event_day = pd.to_datetime(frame["event_date"].astype("object")).dt.tz_localize(LOCAL_TZ)
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


__all__ = ["data_dictionary", "DataError", "load_tables", "Problem", "Tables", "validate_tables"]


def __dir__() -> list[str]:
    """Tab completion offers what the module is for, not its imports."""
    return sorted(__all__)
