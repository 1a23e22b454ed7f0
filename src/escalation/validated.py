"""Validate once: the typed, validated tables kept as Parquet until an input changes.

Every report loads the tables; validating a large case in each report's kernel would cost the same
seconds again and again. `load` keeps what `data.validate_tables` returns (the accepted frames, the
quarantine, the problems, the rows read) in `paths.VALIDATED_DIR/<key>/`, where the key is a SHA-256 of
everything the outcome depends on: the data folder's path (problems name files by it), datapackage.json,
case.yaml, every table file, the package's own source, the pandas and pyarrow versions, and the day of
the check (dates more than a year ahead are refused, so tomorrow's verdict can differ). A table's
SHA-256 is computed again only when its size or modification time changes (`digests.json` remembers
them), so a 500 MB table costs a `stat` per load. Column types come back from the Parquet files as
Arrow types: the schema in datapackage.json stays the one description of the columns. A folder where
the cache cannot be written (read-only, full) is validated every time instead; nothing fails. pandas and
Arrow are imported only to read or write tables: a build's check that a validation is kept
(`fatal_problems`), made while its workers start their kernels, loads neither.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from escalation import paths
from escalation.case import load_case
from escalation.incremental import library_versions, package_digest
from escalation.provenance import sha256
from escalation.schema import TABLE_ORDER, Problem, descriptor_path, read_datapackage

if TYPE_CHECKING:
    import pyarrow as pa

    from escalation.data import Tables

#: Cached validations kept: the most recently used ones (one per data change, day and code change).
KEEP = 8
DIGESTS = "digests.json"


def load(data_dir: Path, refresh: bool = False) -> Tables:
    """The validated tables of `data_dir`: from the cache when every input is unchanged (unless `refresh`),
    else validated now and written to the cache for the next load."""
    return _load(data_dir, *_entry(data_dir), refresh=refresh)


def _load(data_dir: Path, folder: Path | None, kept: bool, refresh: bool = False) -> Tables:
    """`load` with the cache entry already found (`_entry`: the inputs are hashed once per call)."""
    import pyarrow as pa

    if kept and not refresh:
        try:
            tables = _read(folder, data_dir)
            os.utime(folder)  # most recently used, for pruning
            return tables
        except (OSError, ValueError, KeyError, pa.ArrowException):
            pass  # an unreadable entry is replaced below
    tables = validate_tables(data_dir)
    if folder is not None and not tables.fatal:
        _write(folder, tables)
    return tables


def validate_tables(data_dir: Path) -> Tables:
    """`data.validate_tables`, imported when a validation is made (pandas and Arrow come with it)."""
    from escalation.data import validate_tables as validate

    return validate(data_dir)


def fatal_problems(data_dir: Path) -> list[Problem]:
    """What keeps `data_dir` from being read at all (a build's check before any kernel starts): nothing when a
    validation of the very same inputs is kept (only readable folders are kept), else the problems of a
    validation made now and kept for the reports' kernels. Raises DataError for a broken datapackage.json."""
    folder, kept = _entry(data_dir)
    return [] if kept else _load(data_dir, folder, kept).fatal


def _entry(data_dir: Path) -> tuple[Path | None, bool]:
    """The cache folder of `data_dir`'s inputs as they are now (None when one cannot be read), and whether a
    validation is kept there."""
    key = _key(data_dir)
    folder = paths.VALIDATED_DIR / key if key else None
    return folder, folder is not None and (folder / "meta.json").is_file()


def store(data_dir: Path, tables: Tables) -> None:
    """Keep `tables`, a clean validation of `data_dir`'s files made under another path (an import validates the
    folder it writes before moving it into place), so that the first report does not validate them again. A
    validation with problems is not kept: they name the files by the path they were validated under."""
    key = _key(data_dir)
    if key is not None and not tables.fatal and not tables.problems:
        _write(paths.VALIDATED_DIR / key, dataclasses.replace(tables, data_dir=data_dir))


def _key(data_dir: Path) -> str | None:
    """SHA-256 of every input of a validation; None when an input cannot be read (validation says why)."""
    try:
        package = read_datapackage(data_dir)
        files = [descriptor_path(data_dir), data_dir / "case.yaml",
                 *(data_dir / resource["path"] for resource in package["resources"])]
        if any(path.is_symlink() or not path.is_file() for path in files):
            return None
        digests = _digests([path.resolve() for path in files])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    installed = library_versions()
    parts = [str(data_dir), date.today().isoformat(), package_digest(), installed["pandas"], installed["pyarrow"],
             *digests]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:32]


def _digests(files: list[Path]) -> list[str]:
    """SHA-256 of each file, recomputed only when its size or modification time has changed."""
    memo_path = paths.VALIDATED_DIR / DIGESTS
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}
    found, changed = [], False
    for path in files:
        stat = path.stat()
        known = memo.get(str(path))
        if not known or known[:2] != [stat.st_size, stat.st_mtime_ns]:
            known = [stat.st_size, stat.st_mtime_ns, sha256(path)]
            memo[str(path)] = known
            changed = True
        found.append(known[2])
    if changed:
        _atomic_text(memo_path, json.dumps(memo))
    return found


def _write(folder: Path, tables: Tables) -> None:
    """The validation as Parquet files and a meta.json, published at once (a rename); silently skipped when
    the cache folder cannot be written."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    problems_schema = pa.schema([("file", pa.string()), ("line", pa.int64()), ("column", pa.string()),
                                 ("message", pa.string()), ("unit", pa.string())])
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".writing-", dir=folder.parent))
    except OSError:
        return
    try:
        for name, frame in tables.frames.items():
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), staging / f"{name}.parquet",
                           compression="zstd")
        pq.write_table(pa.Table.from_pandas(tables.quarantine, preserve_index=False),
                       staging / "quarantine.parquet", compression="zstd")
        problems = pd.DataFrame({
            "file": [p.file for p in tables.problems],
            "line": pd.array([p.line for p in tables.problems], dtype="Int64"),
            "column": [p.column for p in tables.problems],
            "message": [p.message for p in tables.problems],
            "unit": [p.unit for p in tables.problems]}, columns=["file", "line", "column", "message", "unit"])
        pq.write_table(pa.Table.from_pandas(problems, preserve_index=False).cast(problems_schema),
                       staging / "problems.parquet", compression="zstd")
        (staging / "meta.json").write_text(json.dumps({"rows_read": tables.rows_read}), encoding="utf-8")
        staging.rename(folder)
    except OSError:
        pass  # written by a parallel load meanwhile, or the disk is full: the next load validates again
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _prune(folder.parent)


def _read(folder: Path, data_dir: Path) -> Tables:
    import pandas as pd
    import pyarrow.parquet as pq

    from escalation.data import Tables, column_types

    resources = {r["name"]: r for r in read_datapackage(data_dir)["resources"]}

    def frame(name: str) -> pd.DataFrame:
        # Parquet has no timestamps in seconds: the schema's own types are restored
        stored = pq.read_table(folder / f"{name}.parquet")
        return _one_chunk(stored.cast(column_types(resources[name]))).to_pandas(types_mapper=pd.ArrowDtype)

    frames = {name: frame(name) for name in TABLE_ORDER}
    quarantine = pq.read_table(folder / "quarantine.parquet").to_pandas()
    problems = [Problem(row["file"], row["line"], row["column"], row["message"], row["unit"])
                for row in pq.read_table(folder / "problems.parquet").to_pylist()]
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    return Tables(data_dir, frames, quarantine, problems, meta["rows_read"], [], load_case(data_dir))


def _one_chunk(table: pa.Table) -> pa.Table:
    """Each column as one Arrow array instead of one per Parquet row group: taking a million rows of a column
    in 8 chunks cost a second, of one chunk 50 ms, and reports take rows of every column many times. A text
    column too long for one array (2 GB) stays in chunks."""
    import pyarrow as pa

    for position, column in enumerate(table.columns):
        if column.num_chunks > 1:
            with contextlib.suppress(pa.ArrowInvalid):  # offsets would overflow
                table = table.set_column(position, table.field(position), column.combine_chunks())
    return table


def _prune(root: Path) -> None:
    """Keep the KEEP most recently used validations."""
    try:
        entries = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                         key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for stale in entries[KEEP:]:
            shutil.rmtree(stale, ignore_errors=True)
    except OSError:
        pass


def _atomic_text(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False,
                                         prefix=".digests-") as handle:
            handle.write(text)
        os.replace(handle.name, path)
    except OSError:
        pass
