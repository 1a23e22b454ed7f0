"""Pandas columns as Arrow arrays, for the compute functions that need one array rather than chunks."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa


def one_array(column: pd.Series) -> pa.Array:
    """A column as one Arrow array: the chunks of an Arrow-backed column (a concatenation leaves several) are
    combined, a column of one chunk is taken as it is (no copy); masks, `replace_with_mask` and `take` on an index
    want an array, not chunks."""
    values = pa.array(column)
    if isinstance(values, pa.ChunkedArray):
        return values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
    return values
