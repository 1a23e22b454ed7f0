"""The Data Package descriptor: the one description of the tables, read without pandas.

A descriptor that cannot serve as that description (not UTF-8, not JSON, a table or a field
without its name...) stops here with a DataError naming the file, before any table is read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from escalation import paths

#: The tables every case folder holds, in the order they are checked (a claim refers to an event and a source).
TABLE_ORDER = ("sources", "events", "claims", "displacement")

#: Table Schema field types the loader turns into columns.
FIELD_TYPES = ("string", "integer", "number", "date")

#: How a table is stored, by the suffix of its path: CSV (hand-edited cases) or Parquet (imported cases).
TABLE_FORMATS = {".csv": "csv", ".parquet": "parquet"}

#: Field formats the validator checks (a format it cannot check would pass unchecked, so it is refused).
FIELD_FORMATS = {"string": ("default", "uri")}


@dataclass(frozen=True)
class Problem:
    """One fault in one cell, line or file, located the way an editor can jump to it."""

    file: str
    line: int | None
    column: str | None
    message: str
    #: "line" in a CSV file (the line the record starts on, as an editor counts); "row" in a Parquet file.
    unit: str = "line"

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", {self.unit} {self.line}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


class DataError(Exception):
    """A file could not be read at all (missing, not UTF-8, bad header, broken datapackage.json)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def descriptor_path(data_dir: Path) -> Path:
    """The datapackage.json beside the data, or the project's own when a folder has none."""
    descriptor = data_dir / "datapackage.json"
    return descriptor if descriptor.is_file() or descriptor.is_symlink() else paths.DATAPACKAGE


def read_datapackage(data_dir: Path) -> dict:
    """The checked descriptor; raises DataError naming the file and what is wrong with it."""
    descriptor = descriptor_path(data_dir)
    label = str(descriptor)
    if descriptor.is_symlink():
        raise DataError([Problem(label, None, None, "is a symbolic link; the data folder must hold the file itself")])
    try:
        text = descriptor.read_bytes().decode("utf-8")
    except OSError as error:
        raise DataError([Problem(label, None, None, f"cannot be read: {error.strerror or error}")]) from error
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        raise DataError([Problem(label, line, None, f"not UTF-8 (byte 0x{error.object[error.start]:02x} at "
                                                    f"offset {error.start}); save it as UTF-8")]) from error
    try:
        package = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError([Problem(label, error.lineno, None,
                                 f"not valid JSON: {error.msg} at character {error.colno}")]) from error
    problems = [Problem(label, None, None, message) for message in _descriptor_faults(package)]
    if problems:
        raise DataError(problems)
    return package


def _descriptor_faults(package) -> list[str]:
    """What keeps a parsed descriptor from describing the tables, in words."""
    if not isinstance(package, dict) or not isinstance(package.get("resources"), list):
        return ['expected a JSON object with a "resources" list (a Frictionless Data Package)']
    faults = []
    names = []
    fields_of: dict[str, set] = {}
    for index, resource in enumerate(package["resources"], start=1):
        if not isinstance(resource, dict) or not isinstance(resource.get("name"), str):
            faults.append(f"resource {index} has no name")
            continue
        name = resource["name"]
        names.append(name)
        path = resource.get("path")
        if not isinstance(path, str) or not path or PurePosixPath(path).is_absolute() or ".." in PurePosixPath(
                path).parts or "\\" in path:
            faults.append(f"resource {name}: path must name a file inside the data folder, got {path!r}")
        elif PurePosixPath(path).suffix not in TABLE_FORMATS:
            faults.append(f"resource {name}: path must end in {' or '.join(TABLE_FORMATS)}, got {path!r}")
        elif resource.get("format", table_format(resource)) != table_format(resource):
            faults.append(f"resource {name}: format {resource['format']!r} does not match the path {path!r}")
        schema = resource.get("schema")
        fields = schema.get("fields") if isinstance(schema, dict) else None
        if not isinstance(fields, list) or not fields:
            faults.append(f"resource {name}: schema.fields must be a non-empty list")
            continue
        faults.extend(f"resource {name}: {fault}" for fault in _schema_faults(schema))
        fields_of[name] = {f["name"] for f in fields if isinstance(f, dict) and isinstance(f.get("name"), str)}
    for resource in package["resources"]:
        for key in resource.get("schema", {}).get("foreignKeys", []) if not faults else []:
            target, column = key["reference"]["resource"], key["reference"]["fields"][0]
            if column not in fields_of.get(target, ()):
                faults.append(f"resource {resource['name']}: foreign key {key['fields'][0]} refers to "
                              f"{target}.{column}, which is not a field of the package")
    faults.extend(f'resource {table} is missing (every data folder has {", ".join(TABLE_ORDER)})'
                  for table in TABLE_ORDER if table not in names)
    faults.extend(f"resource {name} is listed twice" for name in sorted({n for n in names if names.count(n) > 1}))
    return faults


def _schema_faults(schema: dict) -> list[str]:
    faults = []
    names = []
    for index, spec in enumerate(schema["fields"], start=1):
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
            faults.append(f"field {index} has no name")
            continue
        names.append(spec["name"])
        if spec.get("type", "string") not in FIELD_TYPES:
            faults.append(f"field {spec['name']}: type {spec.get('type')!r} is not one of {', '.join(FIELD_TYPES)}")
        formats = FIELD_FORMATS.get(spec.get("type", "string"), ("default",))
        if spec.get("format", "default") not in formats:
            faults.append(f"field {spec['name']}: format {spec.get('format')!r} is not one the validator checks "
                          f"({', '.join(formats)})")
        constraints = spec.get("constraints", {})
        if not isinstance(constraints, dict):
            faults.append(f"field {spec['name']}: constraints must be an object")
            continue
        if not isinstance(constraints.get("enum", []), list):
            faults.append(f"field {spec['name']}: enum must be a list of the allowed values")
        for bound in ("minimum", "maximum"):
            if bound in constraints and (isinstance(constraints[bound], bool)
                                         or not isinstance(constraints[bound], int | float)):
                faults.append(f"field {spec['name']}: {bound} must be a number")
        try:
            re.compile(str(constraints.get("pattern", "")))
        except re.error as error:
            faults.append(f"field {spec['name']}: pattern is not a regular expression ({error})")
    faults.extend(f"field {name} is listed twice" for name in sorted({n for n in names if names.count(n) > 1}))
    keys = schema.get("primaryKey", [])
    if not isinstance(keys, list) or any(key not in names for key in keys):
        faults.append(f"primaryKey {keys!r} must list fields of the table")
    for key in schema.get("foreignKeys", []) if isinstance(schema.get("foreignKeys", []), list) else [None]:
        reference = key.get("reference") if isinstance(key, dict) else None
        if (not isinstance(reference, dict) or not isinstance(key.get("fields"), list) or not key["fields"]
                or key["fields"][0] not in names or not isinstance(reference.get("fields"), list)
                or not reference["fields"] or not isinstance(reference.get("resource"), str)):
            faults.append(f"foreign key {key!r} must name a field of the table and a resource's fields")
    return faults


def table_format(resource: dict) -> str:
    """'csv' or 'parquet', from the suffix of the resource's path."""
    return TABLE_FORMATS[PurePosixPath(resource["path"]).suffix]


def known_at_columns(package: dict) -> dict[str, str]:
    """Per table, the column saying when a row became known (`x-timestamp`); sources have none of their own
    (a source is known when a row cites it)."""
    return {resource["name"]: next(f["name"] for f in resource["schema"]["fields"] if f.get("x-timestamp"))
            for resource in package["resources"]
            if resource["name"] != "sources" and any(f.get("x-timestamp") for f in resource["schema"]["fields"])}


@dataclass(frozen=True)
class ForeignKey:
    """One reference of the schema: `table.field` holds values (a list, when `separator` is set) of
    `target.target_field`."""

    table: str
    field: str
    target: str
    target_field: str
    separator: str | None


def foreign_keys(package: dict) -> list[ForeignKey]:
    """Every foreign key of a checked descriptor, in the order the descriptor lists them."""
    return [ForeignKey(resource["name"], key["fields"][0], key["reference"]["resource"],
                       key["reference"]["fields"][0], key.get("x-list-separator"))
            for resource in package["resources"] for key in resource["schema"].get("foreignKeys", [])]


def table_paths(data_dir: Path, package: dict) -> dict[str, Path]:
    """Each table's file, as the descriptor's `path` names it (CSV, or Parquet for an imported case)."""
    return {resource["name"]: data_dir / resource["path"] for resource in package["resources"]}
