"""CSV files that a spreadsheet opens without running anything in them.

A text cell beginning with =, +, -, @, a tab or a carriage return is read as a formula by Excel,
LibreOffice and Google Sheets (`=HYPERLINK(...)` can leak data or start a program). Following
OWASP's CSV Injection guidance, such a cell is written with a leading single quote, which the
spreadsheet shows as plain text. Numbers stay numbers: only text cells are touched, and only in
the file; the frame a report shows is left as it is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: First characters that make a spreadsheet evaluate a cell (OWASP CSV Injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(value: object) -> object:
    """The value to write: text that a spreadsheet would evaluate gets a leading single quote."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def write_csv(frame: pd.DataFrame, path: Path | str) -> None:
    """`frame.to_csv(path, index=False)` with every text cell (and column name) neutralised."""
    safe = frame.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):
            cells = safe[column].astype(object)
            is_text = cells.map(type).eq(str).to_numpy()
            risky = np.zeros(len(cells), dtype=bool)
            risky[is_text] = cells[is_text].astype(str).str.startswith(FORMULA_TRIGGERS).to_numpy()
            safe[column] = cells.where(~risky, "'" + cells.where(risky, "").astype(str))
    safe.columns = [neutralised(str(column)) for column in safe.columns]
    safe.to_csv(path, index=False)
