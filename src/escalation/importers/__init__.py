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


def describe_mappings() -> str:
    """The code tables the importers translate by, as Markdown (docs/importers.md holds this text)."""
    from escalation.importers import acled, ucdp

    def table(header: str, rows) -> str:
        columns = header.count("|") - 1
        return "\n".join([header, "|" + "---|" * columns, *("| " + " | ".join(map(str, r)) + " |" for r in rows)])

    parts = [
        "### ACLED event types before 2019\n",
        table("| old event type | event type | sub-event type |", (
            (old, new or "Riots if an actor is rioters (5), Protests if protesters (6)",
             sub or f"the export's own, else {acled.UNSPECIFIED}")
            for old, (new, sub) in acled.PRE_2019_EVENT_TYPES.items())),
        "\n### ACLED actor types (`inter1`, `inter2`) → parties\n",
        table("| code | party id | label | words accepted |", (
            (code, party, label, ", ".join(aliases)) for code, (party, label, aliases) in acled.INTER_CODES.items())),
        f"\nACLED's fatalities go to the party `{acled.UNSPLIT_PARTY['id']}` "
        f"(\"{acled.UNSPLIT_PARTY['label']}\").\n",
        "### ACLED date forms\n",
        "Accepted: " + ", ".join(f"`{form}`" for form in acled.DATE_FORMATS)
        + f" (for example {acled.DATE_FORMS_TEXT}); numeric day/month forms such as 02/03/2020 are refused.\n",
        "### UCDP `type_of_violence`\n",
        table("| code | UCDP's name | event type | sub-event type |", (
            (code, name, event_type, acled.UNSPECIFIED) for code, (event_type, name) in ucdp.TYPE_OF_VIOLENCE.items())),
        "\n### UCDP `date_prec` → `time_precision`\n",
        table("| date_prec | UCDP: the date is known to | time_precision |", (
            (code, meaning, ours) for code, (ours, meaning) in ucdp.DATE_PRECISION.items())),
        "\n### UCDP `where_prec` → `geo_precision`\n",
        table("| where_prec | UCDP: the place is known to | geo_precision |", (
            (code, meaning, ours) for code, (ours, meaning) in ucdp.WHERE_PRECISION.items())),
    ]
    return "\n".join(parts) + "\n"
