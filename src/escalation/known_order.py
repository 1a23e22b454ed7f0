"""The half of the incremental key that reads the tables: each table of a case put in the order its rows became
known, with a running digest (see `incremental.KnownOrder`).

It runs only when a table, the schema, case.yaml or the package changed (`incremental.known_orders` keeps its
result on disk), so a run after no change imports none of numpy, pyarrow or pandas.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, tzinfo
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv
import pyarrow.parquet

from escalation.incremental import ALWAYS, NEVER, KnownOrder, case_zone
from escalation.moments import end_of_day, microseconds, parse_moments
from escalation.schema import ForeignKey, foreign_keys, known_at_columns, read_datapackage, table_paths

#: The key of pandas' SipHash of each row (16 bytes), and how a row's cells are joined before hashing.
HASH_KEY, UNIT_SEPARATOR, NULL_CELL = "escalation-rows1", "\x1f", "\x00"
#: Rows hashed at a time (a million joined rows would otherwise be held at once as Python strings).
HASH_BATCH_ROWS = 100_000


def compute(data_dir: Path) -> dict[str, KnownOrder]:
    """Every table of `data_dir` in the order its rows became known."""
    package = read_datapackage(data_dir)
    zone = case_zone(data_dir)
    read = {name: _read_table(path) for name, path in table_paths(data_dir, package).items()}
    timed = known_at_columns(package)
    moments = {name: _column_moments(read[name][1], read[name][0], column, zone) for name, column in timed.items()}
    cited = {}
    for key in foreign_keys(package):  # a table without moments of its own is known once a known row cites it
        if key.table in timed and key.target not in timed:
            first = _cited_moments(read[key.table], key, moments[key.table], read[key.target])
            cited[key.target] = np.minimum(cited[key.target], first) if key.target in cited else first
    orders = {}
    for name, (header, table) in read.items():
        if name in moments or name in cited:
            orders[name] = _known_order(header, table, moments[name] if name in moments else cited[name])
        else:  # nothing says when its rows became known: every report sees them
            orders[name] = _known_order(header, table, np.full(table.num_rows, ALWAYS, dtype=np.int64))
    return orders


def _typed_moment_of(value, zone: tzinfo) -> int:
    """When a typed Parquet cell says its row became known, by `moments.parse_moment`'s rule: an aware moment as
    it is, a bare date from 23:59 in the case's zone."""
    if isinstance(value, datetime):
        return microseconds(value) if value.tzinfo is not None else ALWAYS
    if isinstance(value, date):
        return microseconds(end_of_day(value, zone))
    return ALWAYS


def _moments_of(distinct: list, zone: tzinfo) -> np.ndarray:
    """The moment of each distinct cell: text by `moments.parse_moments`, typed cells by `_typed_moment_of`."""
    text = [value if isinstance(value, str) else None for value in distinct]
    parsed = parse_moments(text, zone)
    result = np.where(parsed.parsed, parsed.utc_microseconds, ALWAYS)
    for i, value in enumerate(distinct):
        if value is not None and not isinstance(value, str):
            result[i] = _typed_moment_of(value, zone)
    return result


def _column_moments(table: pa.Table, header: tuple[str, ...], column: str, zone: tzinfo) -> np.ndarray:
    """Each row's moment; each distinct cell is parsed once (a million rows share far fewer moments)."""
    if column not in header:  # validation names the missing column
        return np.full(table.num_rows, ALWAYS, dtype=np.int64)
    encoded = pc.dictionary_encode(table.column(header.index(column)).combine_chunks(), null_encoding="encode")
    return _moments_of(encoded.dictionary.to_pylist(), zone)[encoded.indices.to_numpy(zero_copy_only=False)]


def _read_table(path: Path) -> tuple[tuple[str, ...], pa.Table]:
    """(header, cells): a table's cells as text (typed for Parquet); a file that is missing is an empty table
    (validation reports it)."""
    if not path.is_file():
        return (), pa.table({})
    if path.suffix == ".parquet":
        table = pyarrow.parquet.read_table(path)
        return tuple(table.column_names), table
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = tuple(next(csv.reader(handle), []))
    if not header:
        return (), pa.table({})
    names = [str(i) for i in range(len(header))]
    try:
        return header, pyarrow.csv.read_csv(path, read_options=pyarrow.csv.ReadOptions(column_names=names, skip_rows=1),
                                            parse_options=pyarrow.csv.ParseOptions(newlines_in_values=True),
                                            convert_options=pyarrow.csv.ConvertOptions(
                                                column_types=dict.fromkeys(names, pa.string()),
                                                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except pa.ArrowInvalid:  # ragged rows, a cell longer than a block, not UTF-8...
        return header, _read_csv_plainly(path)


def _read_csv_plainly(path: Path) -> pa.Table:
    """Any CSV the csv module reads, whatever the length of a cell or of a row (the data check quarantines such
    rows); a file that is not UTF-8 raises, and the build's data check names the byte."""
    text = path.read_text(encoding="utf-8-sig")
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))[1:]
    finally:
        csv.field_size_limit(limit)
    width = max(map(len, rows), default=0)
    return pa.table({str(i): [row[i] if i < len(row) else "" for row in rows] for i in range(width)})


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return pa.chunked_array([pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())])


def _row_hashes(table: pa.Table) -> np.ndarray:
    """A 64-bit hash of each row's cells (pandas' keyed SipHash of the cells joined by a unit separator, which the
    data check refuses inside a cell)."""
    if not table.num_rows or not table.num_columns:
        return np.zeros(table.num_rows, dtype=np.uint64)
    hashes = []
    for start in range(0, table.num_rows, HASH_BATCH_ROWS):  # joined rows held as Python strings: a batch at a time
        batch = table.slice(start, HASH_BATCH_ROWS)
        joined = pc.binary_join_element_wise(*(_as_text(c) for c in batch.columns), UNIT_SEPARATOR,
                                             null_handling="replace", null_replacement=NULL_CELL)
        hashes.append(pd.util.hash_array(joined.to_numpy(zero_copy_only=False), hash_key=HASH_KEY, categorize=False))
    return np.concatenate(hashes)


def _mix(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: spreads each 64-bit value over all bits (wrapping arithmetic)."""
    values = values ^ (values >> np.uint64(30))
    values = values * np.uint64(0xBF58476D1CE4E5B9)
    values = values ^ (values >> np.uint64(27))
    values = values * np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


def _known_order(header: tuple[str, ...], table: pa.Table, moments: np.ndarray) -> KnownOrder:
    """Rows sorted by moment (stable: ties in file order); the running digest sums each row's hash mixed with its
    place, so a changed, added, removed or moved row changes the digest of every moment that sees it."""
    order = np.argsort(moments, kind="stable")
    with np.errstate(over="ignore"):
        placed = _mix(_row_hashes(table)[order] ^ _mix(np.arange(1, len(order) + 1, dtype=np.uint64)))
        running = np.concatenate([np.zeros(1, dtype=np.uint64), np.cumsum(placed, dtype=np.uint64)])
    return KnownOrder(header, memoryview(moments[order]), memoryview(running))


def _cited_moments(citing: tuple, key: ForeignKey, citing_moments: np.ndarray, target: tuple) -> np.ndarray:
    """For each row of a cited table, the first moment a row of the citing table refers to it (NEVER if none)."""
    (header, table), (target_header, target_table) = citing, target
    never = np.full(target_table.num_rows, NEVER, dtype=np.int64)
    if key.field not in header or key.target_field not in target_header or not table.num_rows:
        return never
    cells = _as_text(table.column(header.index(key.field))).combine_chunks()
    if key.separator:
        lists = pc.split_pattern(cells, key.separator)
        cited, rows = pc.list_flatten(lists), pc.list_parent_indices(lists).to_numpy()
    else:
        cited, rows = cells, np.arange(len(cells))
    first = pa.table({"id": cited, "at": citing_moments[rows]}).filter(
        pc.fill_null(pc.not_equal(cited, ""), False)).group_by("id").aggregate([("at", "min")])
    if not first.num_rows:
        return never
    found = pc.index_in(_as_text(target_table.column(target_header.index(key.target_field))),
                        value_set=first.column("id").combine_chunks()).fill_null(-1).to_numpy()
    return np.where(found >= 0, first.column("at_min").to_numpy()[found], NEVER).astype(np.int64)

