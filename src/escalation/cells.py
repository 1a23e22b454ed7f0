"""Which cell of a notebook, as committed, an executed cell is: how failures and timeouts name it."""

from __future__ import annotations

from pathlib import Path


def describe(source_nb: Path, executed_index: int | None) -> str:
    """'cell N ('first line')' in the notebook as committed (papermill's injected cell not counted)."""
    import nbformat

    if executed_index is None:
        return "unknown cell"
    nb = nbformat.read(source_nb, as_version=4)
    parameters_index = next((i for i, c in enumerate(nb.cells)
                             if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    injected = parameters_index is not None and executed_index > parameters_index
    index = executed_index - 1 if injected else executed_index
    if not 0 <= index < len(nb.cells):
        return f"cell {index + 1}"
    first_line = nb.cells[index].source.strip().splitlines()[0] if nb.cells[index].source.strip() else ""
    return f"cell {index + 1} ({first_line[:60]!r})"
