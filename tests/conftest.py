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


#: Session fixtures that build reports: every test using one runs on the same xdist worker, so it is built once.
SHARED_BUILDS = ("site",)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Arrange the run for `pytest -n N --dist loadgroup --no-loadscope-reorder` (see the Makefile): tests that
    share a build, or any module-scoped fixture, form one group run by one worker, so it is built once; modules
    that build reports run first (the shared build first of all), so that no worker ends the run on a long test
    while the other idles."""
    ranks: dict[str, int] = {}
    for item in items:
        fixtures = item._fixtureinfo.name2fixturedefs
        shared = [name for name in SHARED_BUILDS if name in fixtures]
        if shared:
            item.add_marker(pytest.mark.xdist_group(shared[0]))
        elif any(definitions[-1].scope == "module" for definitions in fixtures.values()):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
        rank = 0 if shared else 1 if item.get_closest_marker("slow") else 2
        ranks[item.module.__name__] = min(rank, ranks.get(item.module.__name__, rank))
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
    """One real build of every report and of two daily reports (with their index), shared by the slow tests."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("site")
    where = ["--out", str(root / "reports"), "--figures", str(root / "figures"), *ONE_WORKER]
    for command in (["build"], ["backfill", "--from", "2020-02-27", "--to", "2020-02-28"]):
        result = subprocess.run([sys.executable, "-m", "escalation", *command, *where], capture_output=True,
                                text=True, timeout=1200, stdin=subprocess.DEVNULL)
        assert result.returncode == 0, result.stderr
    return root / "reports"
