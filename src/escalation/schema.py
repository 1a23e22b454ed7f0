"""The Data Package descriptor: the one description of the tables, read without pandas."""

from __future__ import annotations

import json
from pathlib import Path

from escalation import paths


def read_datapackage(data_dir: Path) -> dict:
    """The schema beside the data, or the project's own when a folder has none."""
    descriptor = data_dir / "datapackage.json"
    if not descriptor.is_file():
        descriptor = paths.DATAPACKAGE
    return json.loads(descriptor.read_text(encoding="utf-8"))


def known_at_columns(package: dict) -> dict[str, str]:
    """Per table, the column saying when a row became known (`x-timestamp`); sources have none of their own
    (a source is known when a row cites it)."""
    return {resource["name"]: next(f["name"] for f in resource["schema"]["fields"] if f.get("x-timestamp"))
            for resource in package["resources"]
            if resource["name"] != "sources" and any(f.get("x-timestamp") for f in resource["schema"]["fields"])}
