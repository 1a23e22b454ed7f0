"""Shared fixtures: the shipped data, copies of it to break, and one real build of every report."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from escalation import paths
from escalation.data import load_tables

TESTS = Path(__file__).parent
TEST_NOTEBOOKS = TESTS / "notebooks"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the run for `pytest -n N --dist loadscope --no-loadscope-reorder` (see the Makefile), where each module
    runs on one worker: modules that build reports come first (the one reading the shared `site` first of all), so
    that no worker ends the run on a long test while the other idles. The shared build is read by one module only,
    so that it is built once."""
    ranks: dict[str, int] = {}
    for item in items:
        module = item.module.__name__
        rank = 0 if "site" in item.fixturenames else 1 if item.get_closest_marker("slow") else 2
        ranks[module] = min(rank, ranks.get(module, rank))
    site_readers = sorted(module for module, rank in ranks.items() if rank == 0)
    if len(site_readers) > 1:
        raise pytest.UsageError(f"the shared build `site` is read by {site_readers}: one module only, or each "
                                "worker of pytest -n builds it again")
    items.sort(key=lambda item: ranks[item.module.__name__])


@pytest.fixture(scope="session", autouse=True)
def key_cache(tmp_path_factory) -> Path:
    """The incremental keys' cache of this test session (builds in subprocesses inherit it), not the user's."""
    import os

    folder = tmp_path_factory.mktemp("key-cache")
    os.environ["ESCALATION_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def tables():
    """The tables shipped in data/, validated."""
    return load_tables(paths.DATA_DIR)


#: For builds of several reports whose parallelism is not under test: under `pytest -n` the cores are busy with
#: other tests already, and each worker of a build starts its own kernel and Chromium (about 15 s of CPU).
ONE_WORKER = ("--workers", "1")

#: The Idlib case's focal incident (tests may name case facts; the package may not).
BALYUN = "EV-20200227-balyun-airstrike"


@pytest.fixture
def data_copy(tmp_path) -> Path:
    """A writable copy of data/ (tables, datapackage.json and case.yaml) for tests that break it."""
    target = tmp_path / "data"
    shutil.copytree(paths.DATA_DIR, target, ignore=shutil.ignore_patterns("README.md"))
    return target


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """One real build of every report and of two daily reports (with their index), read by test_reports.py (by one
    module only: under `pytest -n` each worker would build it again)."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("site")
    where = ["--out", str(root / "reports"), "--figures", str(root / "figures"), *ONE_WORKER]
    for command in (["build"], ["backfill", "--from", "2020-02-27", "--to", "2020-02-28"]):
        result = subprocess.run([sys.executable, "-m", "escalation", *command, *where], capture_output=True,
                                text=True, timeout=1200, stdin=subprocess.DEVNULL)
        assert result.returncode == 0, result.stderr
    return root / "reports"
