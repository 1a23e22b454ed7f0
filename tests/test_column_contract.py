"""One column contract: an imported case (the importers' base datapackage) has exactly the tables, columns,
types, required flags and keys of the shipped Idlib case, so tools that read `data/` read any case.

The two descriptors may differ only where a case differs: descriptions and the values a column allows
(the Idlib case's parties, countries and measures are its own enums)."""

from __future__ import annotations

import json

import pytest

from escalation import paths
from escalation.importers.base import BASE_DATAPACKAGE

#: What a field may change between cases: words, allowed values and id patterns.
CASE_SPECIFIC = {"description", "enum", "pattern", "x-pattern-description"}


def contract(descriptor: dict) -> dict:
    """Each table's path, format, keys and its fields in order, with what a case may change left out."""
    tables = {}
    for resource in descriptor["resources"]:
        schema = resource["schema"]
        fields = [
            (field["name"], field["type"],
             {key: value for key, value in field.get("constraints", {}).items() if key not in CASE_SPECIFIC})
            for field in schema["fields"]]
        tables[resource["name"]] = {
            "path": resource.get("path"), "format": resource.get("format"), "fields": fields,
            "primaryKey": schema.get("primaryKey"), "foreignKeys": schema.get("foreignKeys")}
    return tables


def test_an_imported_case_has_the_column_contract_of_the_shipped_case():
    shipped = contract(json.loads(paths.DATAPACKAGE.read_text(encoding="utf-8")))
    imported = contract(json.loads(BASE_DATAPACKAGE.read_text(encoding="utf-8")))
    assert list(imported) == list(shipped)
    for table in shipped:
        assert imported[table] == shipped[table], table


@pytest.mark.parametrize("change", ["rename", "retype", "drop"])
def test_the_contract_check_sees_a_changed_column(change):
    """The comparison is not blind: a renamed, retyped or dropped column of the base breaks it."""
    base = json.loads(BASE_DATAPACKAGE.read_text(encoding="utf-8"))
    fields = base["resources"][1]["schema"]["fields"]
    if change == "rename":
        fields[0]["name"] += "_renamed"
    elif change == "retype":
        fields[-1]["type"] = "object"
    else:
        del fields[2]
    shipped = contract(json.loads(paths.DATAPACKAGE.read_text(encoding="utf-8")))
    assert contract(base)[base["resources"][1]["name"]] != shipped[base["resources"][1]["name"]]
