"""Where a report comes from, as its footer and manifest print it: the hashes of its input files, the
versions of the libraries, the commit, and the build time (never the wall clock)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from escalation import paths
from escalation.case import CASE_FILE
from escalation.schema import read_datapackage


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_files(data_dir: Path) -> list[Path]:
    """The data files a report reads: the datapackage, the case description and every table listed."""
    package = read_datapackage(data_dir)
    descriptor = data_dir / "datapackage.json"
    return ([descriptor] if descriptor.is_file() else [paths.DATAPACKAGE]) + [data_dir / CASE_FILE] + [
        data_dir / r["path"] for r in package["resources"]]


def versions() -> dict[str, str]:
    """The library versions a report records, the same its incremental key includes."""
    from escalation.incremental import library_versions

    return library_versions()


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(paths.ROOT), *args], capture_output=True, text=True, timeout=10,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit() -> str:
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return "unknown"
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return commit + (" (with uncommitted changes)" if dirty else "")


def build_time(explicit: str | None, data_dir: Path) -> str:
    """The time printed in reports: given, SOURCE_DATE_EPOCH, the commit's time, or the inputs' newest
    modification — never the wall clock, so rebuilding the same inputs gives the same bytes."""
    if explicit:
        return datetime.fromisoformat(explicit).isoformat()
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return datetime.fromtimestamp(int(os.environ["SOURCE_DATE_EPOCH"]), UTC).isoformat()
    committed = _git("log", "-1", "--format=%cI")
    if committed:
        return committed
    newest = max(p.stat().st_mtime for p in input_files(data_dir) if p.exists())
    return datetime.fromtimestamp(int(newest), UTC).isoformat()


def display_path(path: Path) -> str:
    """A path relative to the project when inside it, so that reports do not print the machine's folders."""
    path = path.resolve()
    return path.relative_to(paths.ROOT).as_posix() if path.is_relative_to(paths.ROOT) else str(path)


def data_provenance(data_dir: Path, generated_at: str | None) -> dict:
    """What every report on `data_dir` prints in its footer: versions, commit, build time, input hashes."""
    return {
        "versions": versions(), "git_commit": git_commit(), "generated_at": build_time(generated_at, data_dir),
        "inputs": [{"path": display_path(p), "sha256": sha256(p), "bytes": p.stat().st_size}
                   for p in input_files(data_dir)],
    }
