"""Which reports need rebuilding: a key over everything a report's content depends on.

A report's key hashes the notebook, its parameters, the package (version and source files), the
versions of the libraries that execute and draw it, and the data *visible to it*: the rows of each
table known by its `as_of` (events first reported, claims and displacement figures published by
then) and the rows they cite through the schema's foreign keys (a source is known once a known row
cites it). So a row added for 3 March rebuilds the daily reports from 3 March on and leaves the
earlier ones alone. A report whose outputs were deleted is rebuilt whatever its key.

Tables are read once per change, not once per report: each is put in the order its rows became
known, with a running digest (`KnownOrder`: the sum of 64-bit row hashes mixed with their place;
computed by `known_order`), so the digest of what a moment could see is a lookup, and 35 daily keys
cost one read of each table whatever its size. The orders are kept on disk (`cache_dir`), one file
per data folder, with the identity of the files (path, inode, size, modification time) and of the
package they were computed from, as plain arrays that are mapped, not read: a run after no change
reads no table and imports none of numpy, pyarrow or pandas, and a lookup touches a few pages of a
million-row order. Paths and references come from datapackage.json; a table may be CSV or Parquet.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import mmap
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import cache
from importlib.resources import files
from pathlib import Path

from escalation import __version__
from escalation.case import CaseError, load_case
from escalation.images import FORMATS
from escalation.moments import EPOCH, end_of_day, microseconds
from escalation.schema import read_datapackage, table_paths

#: The libraries whose versions a report records and its key includes: a new pandas or plotly rebuilds.
PACKAGES = ("escalation", "pandas", "numpy", "pyarrow", "plotly", "papermill", "nbconvert", "nbclient", "nbformat",
            "ipykernel", "jinja2", "kaleido", "ruptures")
#: A row without a readable moment is seen by every report (validation reports it)...
ALWAYS = -(2**63)
#: ...a row no known row cites, by none.
NEVER = 2**63 - 1
#: How the kept orders' arrays are typed: signed moments, unsigned running digests (machine byte order).
MOMENT_TYPE, DIGEST_TYPE = "q", "Q"


@cache
def library_versions() -> dict[str, str]:
    """Python's version and each of PACKAGES', kept in the key cache under the state of the folders packages are
    installed in (asking importlib.metadata costs a quarter of a second): installing, upgrading or removing a
    package adds or removes its `<name>-<version>.dist-info` folder, which changes its folder's modification time."""
    places = [sys.executable, *(file_identity(Path(entry)) for entry in sys.path if entry)]
    return kept_json(f"versions/{_sha256_json(places)}.json", _installed_versions)


def _installed_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def kept_json(name: str, compute: Callable[[], object]):
    """`compute()`, kept in the key cache as the JSON file `name` (a path naming everything the result depends on)
    and read from there on later runs. A cache that cannot be written only costs time."""
    kept = cache_dir() / name
    try:
        return json.loads(kept.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    found = compute()
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=kept.parent, delete=False) as handle:
            json.dump(found, handle)
        os.replace(handle.name, kept)
    except OSError:
        pass
    return found


def _sha256_json(value) -> str:
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()


@dataclass(frozen=True)
class KnownOrder:
    """A table's rows in the order they became known (ties in file order), with the running digest of the rows
    so far: what a moment could see is the first `count` rows, found by bisection."""

    header: tuple[str, ...]
    moments: Sequence[int]  # int64, ascending: microseconds since EPOCH, or ALWAYS / NEVER
    running: Sequence[int]  # uint64, one longer: the digest of the first n rows at n

    def digest_at(self, moment: int) -> list:
        count = bisect.bisect_right(self.moments, moment)
        return [list(self.header), count, int(self.running[count])]


def case_zone(data_dir: Path) -> tzinfo:
    """The case's time zone; UTC when case.yaml is unreadable (the build's preflight then reports why). Read once
    per change of case.yaml: 35 keys would otherwise parse it 35 times."""
    return _zone(data_dir, file_identity(data_dir / "case.yaml"))


@cache
def _zone(data_dir: Path, identity: tuple) -> tzinfo:
    try:
        return load_case(data_dir).timezone
    except CaseError:
        return UTC


def _signature(data_dir: Path) -> tuple:
    """What the tables' known orders depend on: the files by identity, and the package that computes them."""
    descriptor, case_file = data_dir / "datapackage.json", data_dir / "case.yaml"
    described = _described(data_dir, file_identity(descriptor), file_identity(case_file))
    return (package_digest(), file_identity(descriptor), file_identity(case_file),
            *(file_identity(path) for path in described.tables))


@dataclass(frozen=True)
class _Description:
    """What datapackage.json and case.yaml say, read once per change of either: the tables' files, and a hash of
    both files (a changed schema or case description changes every key)."""

    tables: tuple[Path, ...]
    digest: str


@cache
def _described(data_dir: Path, descriptor: tuple, case_file: tuple) -> _Description:
    package = read_datapackage(data_dir)
    digest = hashlib.sha256(json.dumps(package, sort_keys=True).encode())
    case_path = data_dir / "case.yaml"
    digest.update(case_path.read_bytes() if case_path.is_file() else b"")
    return _Description(tuple(table_paths(data_dir, package).values()), digest.hexdigest())


def file_identity(path: Path) -> tuple:
    """A file's identity: a changed file has a new size or modification time (or inode, when replaced)."""
    try:
        stat = path.stat()
    except OSError:
        return (str(path),)
    return os.path.abspath(path), stat.st_ino, stat.st_size, stat.st_mtime_ns


def cache_dir() -> Path:
    """Where known orders are kept between runs: $ESCALATION_CACHE, else the user's cache folder."""
    return Path(os.environ.get("ESCALATION_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                / "escalation" / "keys")


_orders_cache: dict[Path, tuple[str, dict[str, KnownOrder]]] = {}


def known_orders(data_dir: Path) -> dict[str, KnownOrder]:
    """Every table of the case in the order its rows became known: computed once per change of the files, kept in
    memory and on disk, one file per data folder (a no-change run of a million-row case maps arrays instead of
    reading the tables)."""
    signature = _sha256_json(_signature(data_dir))
    cached = _orders_cache.get(data_dir)
    if cached and cached[0] == signature:
        return cached[1]
    stored = cache_dir() / f"{_sha256_json(os.path.abspath(data_dir))}.orders"
    orders = _load(stored, signature)
    if orders is None:
        from escalation.known_order import compute

        orders = compute(data_dir)
        _store(stored, signature, orders)
    _orders_cache[data_dir] = (signature, orders)
    return orders


def _load(stored: Path, signature: str) -> dict[str, KnownOrder] | None:
    """The orders kept in `stored`, mapped into memory (pages are read only when a lookup touches them); None
    when missing, damaged or kept for other files (another signature)."""
    try:
        with stored.open("rb") as handle:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        end = mapped.find(b"\n")
        headers = json.loads(mapped[:end])
        if headers["signature"] != signature:
            return None
        view, offset, orders = memoryview(mapped), end + 1, {}
        for name, (header, rows) in headers["tables"].items():
            moments = view[offset:offset + 8 * rows].cast(MOMENT_TYPE)
            running = view[offset + 8 * rows:offset + 8 * (2 * rows + 1)].cast(DIGEST_TYPE)
            offset += 8 * (2 * rows + 1)
            orders[name] = KnownOrder(tuple(header), moments, running)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return orders if offset == len(mapped) else None


def _store(stored: Path, signature: str, orders: dict[str, KnownOrder]) -> None:
    """Keep the orders for the next run, in place of those kept for earlier files of the same folder: a JSON line
    (the signature, each table's header and row count), padded so that the arrays that follow (each table's
    moments, then its running digests) start on 8-byte boundaries. A cache that cannot be written only costs
    time."""
    tables = {name: [list(order.header), len(order.moments)] for name, order in orders.items()}
    headers = json.dumps({"signature": signature, "tables": tables}).encode()
    try:
        stored.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=stored.parent, prefix=".writing-", delete=False) as handle:
            handle.write(headers + b" " * (-(len(headers) + 1) % 8) + b"\n")
            for order in orders.values():
                handle.write(memoryview(order.moments).cast("B"))
                handle.write(memoryview(order.running).cast("B"))
        os.replace(handle.name, stored)
    except OSError:
        return


def visible_data_digest(data_dir: Path, as_of: datetime | None) -> str:
    """SHA-256 of the rows known at `as_of` (all rows that ever become known when None), the schema and the case
    description."""
    orders = known_orders(data_dir)
    described = _described(data_dir, file_identity(data_dir / "datapackage.json"),
                           file_identity(data_dir / "case.yaml"))
    moment = NEVER - 1 if as_of is None else microseconds(as_of)
    visible = {name: order.digest_at(moment) for name, order in sorted(orders.items())}
    return hashlib.sha256(described.digest.encode() + json.dumps(visible, ensure_ascii=False).encode()).hexdigest()


def known_span(data_dir: Path) -> tuple[date, date] | None:
    """The first and last day (the case's local time) on which a row of the data became known, or None for no
    rows."""
    zone = case_zone(data_dir)
    spans = []
    for order in known_orders(data_dir).values():
        first, end = bisect.bisect_right(order.moments, ALWAYS), bisect.bisect_left(order.moments, NEVER)
        if first < end:
            spans.append((order.moments[first], order.moments[end - 1]))
    if not spans:
        return None
    first, last = min(span[0] for span in spans), max(span[1] for span in spans)
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
