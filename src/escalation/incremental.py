"""Which reports need rebuilding: a key over everything a report's content depends on.

A report's key hashes the notebook, its parameters, the package (version and source files), the
versions of the libraries that execute and draw it, and the data *visible to it*: the rows of each
table known by its `as_of` (events first reported, claims and displacement figures published by
then) and the rows they cite through the schema's foreign keys (a source is known once a known row
cites it). So a row added for 3 March rebuilds the daily reports from 3 March on and leaves the
earlier ones alone. A report whose outputs were deleted is rebuilt whatever its key.

Tables are read once per run, not once per report: each is put in the order its rows became known,
with a running digest (`KnownOrder`), so the digest of what a moment could see is a lookup, and
35 daily keys cost one read of each table whatever its size. Paths and references come from
datapackage.json; a table may be CSV or Parquet.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet

from escalation import __version__
from escalation.case import CaseError, load_case
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
#: Two independent 64-bit row hashes (pandas' keyed hash), so a running digest has 128 bits.
HASH_KEYS = ("escalation-key-a", "escalation-key-b")


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
    running: np.ndarray  # uint64 of shape (rows + 1, 2): the digest of the first n rows in row n

    def digest_at(self, moment: int) -> list:
        count = int(np.searchsorted(self.moments, moment, side="right"))
        return [list(self.header), count, *(int(lane) for lane in self.running[count])]


def case_zone(data_dir: Path) -> tzinfo:
    """The case's time zone; UTC when case.yaml is unreadable (the build's preflight then reports why)."""
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


def _column_moments(frame: pd.DataFrame, header: tuple[str, ...], column: str, zone: tzinfo):
    """Each row's moment; each distinct cell is parsed once (a million rows share a few thousand days)."""
    if column not in header:  # validation names the missing column
        return np.full(len(frame), ALWAYS, dtype=np.int64)
    codes, distinct = pd.factorize(frame.iloc[:, header.index(column)], use_na_sentinel=False)
    return np.array([_moment_of(value, zone) for value in distinct], dtype=np.int64)[codes]


def _read_table(path: Path) -> tuple[tuple[str, ...], pd.DataFrame]:
    """(header, cells): a table's cells as text (typed for Parquet), columns by position; a file that is missing
    is an empty table (validation reports it)."""
    if not path.is_file():
        return (), pd.DataFrame()
    if path.suffix == ".parquet":
        frame = pyarrow.parquet.read_table(path).to_pandas()
        header = tuple(frame.columns)
        frame.columns = range(len(header))
        return header, frame
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = tuple(next(csv.reader(handle), []))
    try:
        return header, _read_csv_quickly(path, len(header))
    except ValueError:  # pyarrow's ArrowInvalid: ragged rows, a cell longer than a block, not UTF-8...
        return header, _read_csv_plainly(path)


def _read_csv_quickly(path: Path, width: int) -> pd.DataFrame:
    if not width:
        return pd.DataFrame()
    names = [str(i) for i in range(width)]
    table = pyarrow.csv.read_csv(path, read_options=pyarrow.csv.ReadOptions(column_names=names, skip_rows=1),
                                 parse_options=pyarrow.csv.ParseOptions(newlines_in_values=True),
                                 convert_options=pyarrow.csv.ConvertOptions(
                                     column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False,
                                     quoted_strings_can_be_null=False))
    frame = table.to_pandas()
    frame.columns = range(width)
    return frame


def _read_csv_plainly(path: Path) -> pd.DataFrame:
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
    return pd.DataFrame([row + [""] * (width - len(row)) for row in rows], columns=range(width), dtype=object)


def _known_order(header: tuple[str, ...], frame: pd.DataFrame, moments: np.ndarray) -> KnownOrder:
    order = np.argsort(moments, kind="stable")
    lanes = []
    for key in HASH_KEYS:
        rows = pd.util.hash_pandas_object(frame, index=False, hash_key=key).to_numpy()[order] if len(frame) \
            else np.zeros(0, dtype=np.uint64)
        placed = pd.util.hash_pandas_object(pd.DataFrame({"row": rows, "at": np.arange(len(rows), dtype=np.uint64)}),
                                            index=False, hash_key=key).to_numpy()
        lanes.append(np.concatenate([[np.uint64(0)], np.cumsum(placed, dtype=np.uint64)]))
    return KnownOrder(header, moments[order], np.stack(lanes, axis=1))


def _cited_moments(citing: tuple, key: ForeignKey, citing_moments: np.ndarray, target: tuple) -> np.ndarray:
    """For each row of a cited table, the first moment a row of the citing table refers to it (NEVER if none)."""
    (header, frame), (target_header, target_frame) = citing, target
    if key.field not in header or key.target_field not in target_header or not len(frame):
        return np.full(len(target_frame), NEVER, dtype=np.int64)
    cells = frame.iloc[:, header.index(key.field)].astype("string")
    cited = (cells.str.split(key.separator, regex=False) if key.separator else cells.map(lambda v: [v])).explode()
    cited = cited[cited.notna() & (cited != "")]
    if cited.empty:
        return np.full(len(target_frame), NEVER, dtype=np.int64)
    first = pd.Series(np.asarray(citing_moments)[cited.index.to_numpy()], index=cited.to_numpy()).groupby(
        level=0).min()
    targets = target_frame.iloc[:, target_header.index(key.target_field)].astype("string")
    found = first.index.get_indexer(targets)
    return np.where(found >= 0, first.to_numpy()[found], NEVER).astype(np.int64)


def _signature(data_dir: Path) -> tuple:
    """What the tables' known orders depend on, by file identity (a changed file has a new size or mtime)."""
    package = read_datapackage(data_dir)
    watched = [data_dir / "datapackage.json", data_dir / "case.yaml", *table_paths(data_dir, package).values()]
    return tuple((str(p), s.st_ino, s.st_size, s.st_mtime_ns) if (s := _stat(p)) else (str(p),) for p in watched)


def _stat(path: Path):
    try:
        return path.stat()
    except OSError:
        return None


_orders_cache: dict[Path, tuple[tuple, dict[str, KnownOrder]]] = {}


def known_orders(data_dir: Path) -> dict[str, KnownOrder]:
    """Every table of the case in the order its rows became known; computed once per change of the files."""
    signature = _signature(data_dir)
    cached = _orders_cache.get(data_dir)
    if cached and cached[0] == signature:
        return cached[1]
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
    for name, (header, frame) in read.items():
        if name in moments or name in cited:
            orders[name] = _known_order(header, frame, moments[name] if name in moments else cited[name])
        else:  # nothing says when its rows became known: every report sees them
            orders[name] = _known_order(header, frame, np.full(len(frame), ALWAYS, dtype=np.int64))
    _orders_cache[data_dir] = (signature, orders)
    return orders


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
        expected += [figures_dir / f"{slug}.{kind}" for slug in content.get("figures", []) for kind in ("png", "svg")]
    return content.get("input_key") if all(path.is_file() for path in expected) else None
