"""Which reports need rebuilding: a key over everything a report's content depends on.

A report's key hashes the notebook, its parameters, the package (version and source files) and
the data *visible to it*: the rows of each table known by its `as_of` (events first reported,
claims and displacement figures published by then) and the sources they cite. So a row added
for 3 March rebuilds the daily reports from 3 March on and leaves the earlier ones alone. The
key is computed with the csv module only, so a scheduled run that changes nothing is fast.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, date, datetime, tzinfo
from functools import cache
from importlib.resources import files
from pathlib import Path

from escalation import __version__
from escalation.case import CaseError, load_case
from escalation.moments import end_of_day, parse_moment
from escalation.schema import known_at_columns, read_datapackage


def _rows(path: Path) -> list[dict]:
    """A table's rows as text, whatever the length of a cell (the data check quarantines overlong ones)."""
    text = path.read_text(encoding="utf-8")
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))
    try:
        return list(csv.DictReader(io.StringIO(text, newline="")))
    finally:
        csv.field_size_limit(limit)


@cache
def _table_rows(path: Path, modified: float, size: int) -> list[dict]:
    return _rows(path)


def _read(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    stat = path.stat()
    return _table_rows(path, stat.st_mtime, stat.st_size)


def case_zone(data_dir: Path) -> tzinfo:
    """The case's time zone; UTC when case.yaml is unreadable (the build's preflight then reports why)."""
    try:
        return load_case(data_dir).timezone
    except CaseError:
        return UTC


def visible_data_digest(data_dir: Path, as_of: datetime | None) -> str:
    """SHA-256 of the rows known at `as_of` (all rows when None), the sources they cite, the schema and the
    case description."""
    digest = hashlib.sha256()
    package = read_datapackage(data_dir)
    digest.update(json.dumps(package, sort_keys=True).encode())
    case_file = data_dir / "case.yaml"
    digest.update(case_file.read_bytes() if case_file.is_file() else b"")
    zone = case_zone(data_dir)
    cited: set[str] = set()
    for table, column in known_at_columns(package).items():
        visible = []
        for row in _read(data_dir / f"{table}.csv"):
            moment = parse_moment(row.get(column), zone)
            if as_of is None or moment is None or moment[0] <= as_of:  # unreadable: validation reports them
                visible.append(row)
                cited.update(filter(None, (row.get("source_ids") or row.get("source_id") or "").split(";")))
        digest.update(json.dumps([table, visible], sort_keys=True, ensure_ascii=False).encode())
    sources = [row for row in _read(data_dir / "sources.csv") if row.get("source_id") in cited]
    digest.update(json.dumps(["sources", sources], sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()


def known_span(data_dir: Path) -> tuple[date, date] | None:
    """The first and last day (the case's local time) on which a row of the data became known, or None for no
    rows."""
    zone = case_zone(data_dir)
    days = [moment[0].astimezone(zone).date()
            for table, column in known_at_columns(read_datapackage(data_dir)).items()
            for row in _read(data_dir / f"{table}.csv")
            if (moment := parse_moment(row.get(column), zone))]
    return (min(days), max(days)) if days else None


@cache
def package_digest() -> str:
    """The package version and a hash of its source files and templates."""
    digest = hashlib.sha256(__version__.encode())
    root = files("escalation")
    for path in sorted(Path(str(root)).rglob("*")):
        if path.is_file() and path.suffix in {".py", ".j2", ".css", ".json", ".geojson"}:
            digest.update(path.relative_to(Path(str(root))).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def as_of_moment(parameters: dict, zone: tzinfo) -> datetime | None:
    """The moment a report describes: its `as_of`, or 23:59 of its last day in the case's zone; None for a
    notebook with neither, which may read any row."""
    if parameters.get("as_of"):
        return datetime.fromisoformat(str(parameters["as_of"]))
    if not parameters.get("end"):
        return None
    return end_of_day(date.fromisoformat(str(parameters["end"])), zone)


def input_key(notebook: Path, parameters: dict, moment_parameters: dict, data_dir: Path, context: dict) -> str:
    """Everything that determines a report's content, hashed: the notebook (and so its defaults), the
    parameters given, the package, the data known at the report's moment, and its links."""
    payload = {
        "notebook": hashlib.sha256(notebook.read_bytes()).hexdigest(),
        "parameters": {k: str(v) for k, v in sorted(parameters.items()) if k != "output_dir"},
        "package": package_digest(),
        "data": visible_data_digest(data_dir, as_of_moment(moment_parameters, case_zone(data_dir))),
        "context": context,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def published_key(report_dir: Path) -> str | None:
    """The key of the report currently published in `report_dir`, if it built successfully."""
    manifest = report_dir / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        content = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return content.get("input_key") if content.get("status") == "ok" else None
