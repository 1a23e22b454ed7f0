"""Which reports need rebuilding: a key over everything a report's content depends on.

A report's key hashes the notebook, its parameters, the package (version and source files), the
versions of the libraries that execute and draw it, and the data *visible to it*: the rows of each
table known by its `as_of` (events first reported, claims and displacement figures published by
then) and the rows they cite through the schema's foreign keys (a source is known once a known row
cites it). So a row added for 3 March rebuilds the daily reports from 3 March on and leaves the
earlier ones alone. A report whose outputs were deleted is rebuilt whatever its key.

Tables are read once per change, not once per report: each is put in the order its rows became
known, with a running digest (`KnownOrder`: the sum of 64-bit row hashes mixed with their place), so
the digest of what a moment could see is a lookup, and 35 daily keys cost one read of each table
whatever its size. The orders are kept on disk (`cache_dir`) under the identity of the files (path,
inode, size, modification time) and of the package, so a run after no change reads no table. Paths
and references come from datapackage.json; a table may be CSV or Parquet.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv
import pyarrow.parquet

from escalation import __version__
from escalation.case import CaseError, load_case
from escalation.images import FORMATS
from escalation.moments import end_of_day, parse_moment
from escalation.schema import ForeignKey, foreign_keys, known_at_columns, read_datapackage, table_paths

#: The libraries whose versions a report records and its key includes: a new pandas or plotly rebuilds.
PACKAGES = ("escalation", "pandas", "numpy", "pyarrow", "plotly", "papermill", "nbconvert", "nbclient", "nbformat",
            "ipykernel", "jinja2", "kaleido", "frictionless", "ruptures")
#: Moments are kept as microseconds since 1970 (UTC), which reach year 9999 and beyond.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: A row without a readable moment is seen by every report (validation reports it)...
ALWAYS = -(2**63)
#: ...a row no known row cites, by none.
NEVER = 2**63 - 1
#: The key of pandas' SipHash of each row (16 bytes), and how a row's cells are joined before hashing.
HASH_KEY, UNIT_SEPARATOR, NULL_CELL = "escalation-rows1", "\x1f", "\x00"
#: The usual form of a moment, read in one go (any other form one by one).
USUAL_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d)?[+-]\d\d:\d\d")


@cache
def library_versions() -> dict[str, str]:
    """Python's version and each of PACKAGES'."""
    found = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


@dataclass(frozen=True)
class KnownOrder:
    """A table's rows in the order they became known (ties in file order), with the running digest of the rows
    so far: what a moment could see is the first `count` rows, found by bisection."""

    header: tuple[str, ...]
    moments: np.ndarray  # int64, ascending: microseconds since EPOCH, or ALWAYS / NEVER
    running: np.ndarray  # uint64, one longer: the digest of the first n rows at n

    def digest_at(self, moment: int) -> list:
        count = int(np.searchsorted(self.moments, moment, side="right"))
        return [list(self.header), count, int(self.running[count])]


def case_zone(data_dir: Path) -> tzinfo:
    """The case's time zone; UTC when case.yaml is unreadable (the build's preflight then reports why). Read once
    per change of case.yaml: 35 keys would otherwise parse it 35 times."""
    return _zone(data_dir, _identity(data_dir / "case.yaml"))


@cache
def _zone(data_dir: Path, identity: tuple) -> tzinfo:
    try:
        return load_case(data_dir).timezone
    except CaseError:
        return UTC


def _microseconds(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _moment_of(value, zone: tzinfo) -> int:
    """When a cell says its row became known, by `moments.parse_moment`'s rule; Parquet's typed timestamps and
    dates follow the same rule (an aware moment as it is, a bare date from 23:59 in the case's zone)."""
    if isinstance(value, datetime):
        return _microseconds(value) if value.tzinfo is not None else ALWAYS
    if isinstance(value, date):
        return _microseconds(end_of_day(value, zone))
    moment = parse_moment(value if isinstance(value, str) else None, zone)
    return _microseconds(moment[0]) if moment else ALWAYS


def _moments_of(distinct: list, zone: tzinfo) -> np.ndarray:
    """`_moment_of` each distinct cell; the usual form (minutes, perhaps seconds, and an offset) read in one go,
    any other form, and a batch holding an impossible date, going through `_moment_of` itself."""
    result = np.empty(len(distinct), dtype=np.int64)
    done = np.zeros(len(distinct), dtype=bool)
    usual = np.array([i for i, value in enumerate(distinct) if isinstance(value, str)
                      and USUAL_MOMENT.fullmatch(value)], dtype=np.int64)
    if len(usual):
        texts = pa.array([distinct[i] for i in usual], pa.string())
        offsets = pc.utf8_slice_codeunits(texts, -6)
        hours = pc.cast(pc.utf8_slice_codeunits(offsets, 1, 3), pa.int64()).to_numpy()
        minutes = pc.cast(pc.utf8_slice_codeunits(offsets, 4, 6), pa.int64()).to_numpy()
        sign = np.where(pc.starts_with(offsets, "-").to_numpy(zero_copy_only=False), -1, 1)
        try:  # numpy refuses a 30 February or a 25th hour, as Python does
            local = np.array(pc.utf8_slice_codeunits(texts, 0, -6).to_pylist(), dtype="datetime64[us]")
        except ValueError:
            local = None
        if local is not None:
            readable = (hours < 24) & (minutes < 60)
            moments = local.astype(np.int64) - sign * (hours * 60 + minutes) * 60_000_000
            result[usual[readable]] = moments[readable]
            done[usual[readable]] = True
    for i in np.flatnonzero(~done):
        result[i] = _moment_of(distinct[i], zone)
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
    joined = pc.binary_join_element_wise(*(_as_text(c) for c in table.columns), UNIT_SEPARATOR,
                                         null_handling="replace", null_replacement=NULL_CELL)
    return pd.util.hash_array(joined.to_numpy(zero_copy_only=False), hash_key=HASH_KEY, categorize=False)


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
    return KnownOrder(header, moments[order], running)


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


def _signature(data_dir: Path) -> tuple:
    """What the tables' known orders depend on: the files by identity, and the package that computes them."""
    package = read_datapackage(data_dir)
    watched = [data_dir / "datapackage.json", data_dir / "case.yaml", *table_paths(data_dir, package).values()]
    return (package_digest(), *(_identity(path) for path in watched))


def _identity(path: Path) -> tuple:
    """A file's identity: a changed file has a new size or modification time (or inode, when replaced)."""
    try:
        stat = path.stat()
    except OSError:
        return (str(path),)
    return str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns


def cache_dir() -> Path:
    """Where known orders are kept between runs: $ESCALATION_CACHE, else the user's cache folder."""
    return Path(os.environ.get("ESCALATION_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                / "escalation" / "keys")


_orders_cache: dict[Path, tuple[tuple, dict[str, KnownOrder]]] = {}


def known_orders(data_dir: Path) -> dict[str, KnownOrder]:
    """Every table of the case in the order its rows became known: computed once per change of the files, kept in
    memory and on disk (a no-change run of a million-row case reads arrays instead of the tables)."""
    signature = _signature(data_dir)
    cached = _orders_cache.get(data_dir)
    if cached and cached[0] == signature:
        return cached[1]
    stored = cache_dir() / f"{hashlib.sha256(json.dumps(signature).encode()).hexdigest()}.npz"
    orders = _load(stored)
    if orders is None:
        orders = _compute_orders(data_dir)
        _store(stored, orders)
    _orders_cache[data_dir] = (signature, orders)
    return orders


def _compute_orders(data_dir: Path) -> dict[str, KnownOrder]:
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


def _load(stored: Path) -> dict[str, KnownOrder] | None:
    try:
        with np.load(stored, allow_pickle=False) as arrays:
            headers = json.loads(str(arrays["headers"]))
            return {name: KnownOrder(tuple(header), arrays[f"{name}.moments"], arrays[f"{name}.running"])
                    for name, header in headers.items()}
    except (OSError, ValueError, KeyError):
        return None


def _store(stored: Path, orders: dict[str, KnownOrder]) -> None:
    """Keep the orders for the next run; a cache that cannot be written only costs time."""
    arrays = {"headers": np.array(json.dumps({name: list(order.header) for name, order in orders.items()}))}
    for name, order in orders.items():
        arrays[f"{name}.moments"], arrays[f"{name}.running"] = order.moments, order.running
    try:
        stored.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=stored.parent, suffix=".npz", delete=False) as handle:
            np.savez(handle, **arrays)
        os.replace(handle.name, stored)
    except OSError:
        return


def visible_data_digest(data_dir: Path, as_of: datetime | None) -> str:
    """SHA-256 of the rows known at `as_of` (all rows that ever become known when None), the schema and the case
    description."""
    digest = hashlib.sha256()
    digest.update(json.dumps(read_datapackage(data_dir), sort_keys=True).encode())
    case_file = data_dir / "case.yaml"
    digest.update(case_file.read_bytes() if case_file.is_file() else b"")
    moment = NEVER - 1 if as_of is None else _microseconds(as_of)
    visible = {name: order.digest_at(moment) for name, order in sorted(known_orders(data_dir).items())}
    digest.update(json.dumps(visible, ensure_ascii=False).encode())
    return digest.hexdigest()


def known_span(data_dir: Path) -> tuple[date, date] | None:
    """The first and last day (the case's local time) on which a row of the data became known, or None for no
    rows."""
    zone = case_zone(data_dir)
    known = [m[(m > ALWAYS) & (m < NEVER)] for m in (order.moments for order in known_orders(data_dir).values())]
    known = [m for m in known if len(m)]
    if not known:
        return None
    first, last = min(int(m[0]) for m in known), max(int(m[-1]) for m in known)
    return tuple((EPOCH + timedelta(microseconds=m)).astimezone(zone).date() for m in (first, last))


@cache
def package_digest() -> str:
    """The package version and a hash of its source files and templates."""
    digest = hashlib.sha256(__version__.encode())
    root = files("escalation")
    for path in sorted(Path(str(root)).rglob("*")):
        if path.is_file() and path.suffix in {".py", ".j2", ".css", ".json", ".geojson"}:
            digest.update(path.relative_to(Path(str(root))).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def as_of_moment(parameters: dict, zone: tzinfo) -> datetime | None:
    """The moment a report describes: its `as_of`, or 23:59 of its last day in the case's zone; None for a
    notebook with neither, which may read any row."""
    if parameters.get("as_of"):
        return datetime.fromisoformat(str(parameters["as_of"]))
    if not parameters.get("end"):
        return None
    return end_of_day(date.fromisoformat(str(parameters["end"])), zone)


def input_key(notebook: Path, parameters: dict, moment_parameters: dict, data_dir: Path, context: dict) -> str:
    """Everything that determines a report's content, hashed: the notebook (and so its defaults), the
    parameters given, the package and the libraries' versions, the data known at the report's moment, and the
    report's context (its links, how it loads plotly.js)."""
    payload = {
        "notebook": hashlib.sha256(notebook.read_bytes()).hexdigest(),
        "parameters": {k: str(v) for k, v in sorted(parameters.items()) if k != "output_dir"},
        "package": package_digest(),
        "libraries": library_versions(),
        "data": visible_data_digest(data_dir, as_of_moment(moment_parameters, case_zone(data_dir))),
        "context": context,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def published_key(report_dir: Path, figures_dir: Path | None = None) -> str | None:
    """The key of the report published in `report_dir` if it built successfully and every output its manifest
    lists is still there (its HTML, the plotly.js it loads, its tables, and its figures when `figures_dir` is
    given); None means "rebuild"."""
    manifest = report_dir / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        content = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if content.get("status") != "ok":
        return None
    expected = [report_dir / str(content.get("html")), *(report_dir / "tables" / name for name in content.get(
        "tables", []))]
    if content.get("plotly_js"):
        expected.append(report_dir / content["plotly_js"])
    if figures_dir is not None:
        expected += [figures_dir / f"{slug}.{kind}" for slug in content.get("figures", []) for kind in FORMATS]
    return content.get("input_key") if all(path.is_file() for path in expected) else None
