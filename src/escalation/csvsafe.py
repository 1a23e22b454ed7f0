"""CSV files that a spreadsheet opens without running anything in them.

A text cell beginning with =, +, -, @, a tab or a carriage return is read as a formula by Excel,
LibreOffice and Google Sheets (`=HYPERLINK(...)` can leak data or start a program). Following
OWASP's CSV Injection guidance, such a cell is written with a leading single quote, which the
spreadsheet shows as plain text. Numbers stay numbers: only text cells are touched, and only in
the file; the frame a report shows is left as it is.

The file is the one `frame.to_csv(path, index=False)` writes, byte for byte, but the cells are
formatted, quoted and joined by Arrow in C, a column at a time: pandas' writer takes minutes for
the million-row tables of a large case.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from escalation.arrays import one_array

#: First characters that make a spreadsheet evaluate a cell (OWASP CSV Injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
#: What makes the csv module (pandas' writer) quote a cell: the delimiter, the quote, the line end.
NEEDS_QUOTES = r'[,"\n]'
LINES_PER_WRITE = 100_000
#: Rows from which a table's columns are formatted in threads (below, starting them costs more than it saves).
THREADED_FROM = 20_000


def neutralised(value: object) -> object:
    """The value to write: text that a spreadsheet would evaluate gets a leading single quote."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def write_csv(frame: pd.DataFrame, path: Path | str) -> None:
    """`frame.to_csv(path, index=False)` with every text cell (and column name) neutralised."""
    if not len(frame.columns):
        frame.to_csv(path, index=False)
        return
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow([neutralised(str(column)) for column in frame.columns])
    # Arrow's compute functions and file writes let go of the GIL: a long table's columns are formatted on all
    # cores, and each slice is written while the next one is formatted
    pool = ThreadPoolExecutor((os.cpu_count() or 1) + 1) if len(frame) >= THREADED_FROM else None
    with open(path, "wb") as handle, pool or contextlib.nullcontext():
        handle.write(header.getvalue().encode("utf-8"))
        writing = None
        for text in _slice_texts(frame, pool):
            if pool is None:
                handle.write(text)
                continue
            if writing is not None:
                writing.result()
            writing = pool.submit(handle.write, text)
        if writing is not None:
            writing.result()


def _slice_texts(frame: pd.DataFrame, pool: ThreadPoolExecutor | None) -> Iterator[bytes | memoryview]:
    """The CSV lines of a slice of rows at a time (its text, not the whole table's), columns formatted on `pool`."""
    for first in range(0, len(frame), LINES_PER_WRITE):
        rows = frame.iloc[first:first + LINES_PER_WRITE]
        columns = [rows.iloc[:, position] for position in range(len(rows.columns))]
        cells = list(pool.map(_cells, columns)) if pool else [_cells(column) for column in columns]
        if len(cells) > 1:
            lines = pc.binary_join_element_wise(*cells, ",")
        else:  # the csv module quotes a row's only cell when it is empty
            lines = pc.if_else(pc.equal(cells[0], ""), '""', cells[0])
        yield _text_bytes(pc.binary_join_element_wise(lines, "", "\n"))


def _text_bytes(texts: pa.Array | pa.ChunkedArray) -> bytes | memoryview:
    """The texts one after the other, as UTF-8: Arrow's own bytes of them (no Python string per line)."""
    if isinstance(texts, pa.ChunkedArray):
        return b"".join(_text_bytes(chunk) for chunk in texts.chunks)
    if not len(texts):
        return b""
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int32)[texts.offset:texts.offset + len(texts) + 1]
    return memoryview(texts.buffers()[2])[offsets[0]:offsets[-1]]


def _cells(column: pd.Series) -> pa.Array:
    """One column's cells as the csv module writes them (str of each value, empty when missing, quoted when
    needed), text neutralised."""
    kind = column.dtype
    arrow_text = isinstance(kind, pd.StringDtype) and kind.storage != "python"  # read by Arrow as it is
    if pd.api.types.is_object_dtype(kind) or isinstance(kind, pd.CategoricalDtype) or (
            isinstance(kind, pd.StringDtype) and not arrow_text):
        values = column.astype(object).to_numpy()
        try:
            return _text(pa.array(values, pa.string(), from_pandas=True), None)
        except (pa.ArrowTypeError, pa.ArrowInvalid):  # text mixed with other values: only the text is neutralised
            is_text = np.fromiter((isinstance(value, str) for value in values), dtype=bool, count=len(values))
            shown = [value if isinstance(value, str) else "" if pd.isna(value) else str(value) for value in values]
            return _text(pa.array(shown, pa.string()), pa.array(is_text))
    arrow = one_array(column)  # missing values (NaN of a float column too) are null: written as nothing
    if pa.types.is_string(arrow.type) or pa.types.is_large_string(arrow.type):
        return _text(arrow.cast(pa.string()), None)
    if pa.types.is_integer(arrow.type) or pa.types.is_date(arrow.type):
        return arrow.cast(pa.string()).fill_null("")  # as str() of a Python int or date
    if pa.types.is_floating(arrow.type):  # as str() of a Python float (numpy's repr is Python's)
        return _per_distinct(arrow, lambda values: pa.array(values.to_numpy(zero_copy_only=False).astype(str)))
    if arrow.type == pa.timestamp("s", tz="UTC"):  # as str() of a pandas Timestamp in UTC
        return _per_distinct(arrow, lambda moments: pc.strftime(moments, format="%Y-%m-%d %H:%M:%S+00:00"))
    if pa.types.is_boolean(arrow.type):
        return pc.if_else(arrow, "True", "False").fill_null("")
    # anything else (moments, durations): formatted by pandas itself; never text, never quoted
    lines = pa.array(column.to_frame().to_csv(index=False, header=False, lineterminator="\n").split("\n")[:-1],
                     pa.string())
    return pc.if_else(pc.equal(lines, '""'), "", lines)


def _per_distinct(values: pa.Array, formatted) -> pa.Array:
    """`formatted` (an Arrow array of texts from an array of values) of each distinct value, spread back over the
    column, empty where missing: a million moments or coordinates hold a few thousand distinct ones, and
    formatting each cell cost seconds."""
    encoded = pc.dictionary_encode(values)
    return formatted(encoded.dictionary).cast(pa.string()).take(encoded.indices).fill_null("")


def _text(values: pa.Array, is_text: pa.Array | None) -> pa.Array:
    """Text cells neutralised (only where `is_text`, when given) and quoted as the csv module quotes them.

    Quotes are doubled only in the cells that hold one, and a column whose every cell is quoted is quoted
    without a choice per cell: on a million notes each pass over the text costs a few hundred ms."""
    # the triggers are ASCII: a text starts with one exactly when its first byte is one (a byte is cut faster)
    first_bytes = pc.binary_slice(values.cast(pa.binary()), 0, 1)
    risky = pc.is_in(first_bytes, value_set=pa.array([trigger.encode() for trigger in FORMULA_TRIGGERS]))
    if is_text is not None:
        risky = pc.and_(risky, is_text)
    if pc.any(risky).as_py():
        values = pc.if_else(risky, pc.binary_join_element_wise("'", values, ""), values)
    needs_quotes = pc.match_substring_regex(values, NEEDS_QUOTES).fill_null(False)
    quoted_cells = pc.sum(needs_quotes).as_py() or 0
    if quoted_cells:
        quoted = values if quoted_cells == len(values) else values.filter(needs_quotes)
        with_quote = pc.match_substring_regex(quoted, '"')  # RE2 finds it faster than match_substring
        if pc.any(with_quote).as_py():
            escaped = pc.replace_substring(quoted.filter(with_quote), '"', '""')
            quoted = pc.replace_with_mask(quoted, with_quote, escaped)
        quoted = pc.binary_join_element_wise('"', quoted, '"', "")
        values = quoted if quoted_cells == len(values) else pc.replace_with_mask(values, needs_quotes, quoted)
    return values.fill_null("")
