"""Importers of conflict-data exports, picked by name: `escalation import acled|ucdp FILE --out DIR`.

Each writes a complete case folder (tables, datapackage.json, case.yaml, raw/ and quarantine.csv);
`describe_mappings()` prints the code tables they translate by, for the documentation.
"""

from __future__ import annotations

from escalation.importers.acled import AcledImporter
from escalation.importers.base import Filters, Importer, ImportInputError, ImportResult
from escalation.importers.ucdp import UcdpImporter

IMPORTERS: dict[str, type[Importer]] = {"acled": AcledImporter, "ucdp": UcdpImporter}

__all__ = ["IMPORTERS", "Filters", "ImportInputError", "ImportResult", "Importer", "get_importer"]


def get_importer(name: str) -> type[Importer]:
    """The importer registered under `name`; a KeyError names the ones there are."""
    try:
        return IMPORTERS[name]
    except KeyError:
        raise KeyError(f"no importer named {name!r}; there are: {', '.join(IMPORTERS)}") from None
