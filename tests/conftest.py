"""Shared fixtures: the shipped data, copies of it to break, and one real build of every report."""

from __future__ import annotations

import csv
import io
import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from escalation import paths
from escalation.data import load_tables

TESTS = Path(__file__).parent
TEST_NOTEBOOKS = TESTS / "notebooks"


#: Modules that take longest, longest first, as measured with `--durations` (see the hook below; a stale list costs
#: only balance between the workers).
LONGEST_FIRST = ("test_reports", "test_lab_browser", "test_build_hardening", "test_backfill", "test_timeouts_and_kills",
                 "test_kernel_reuse", "test_archive", "test_hostile_input", "test_as_of", "test_dask_executor")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the run for `pytest -n N --dist loadscope --no-loadscope-reorder` (see the Makefile), where each module
    runs on one worker and a worker takes the next module when it is done: the module reading the shared `site`
    first of all, then the longest modules (`LONGEST_FIRST`), then the other modules that build reports, so that no
    worker ends the run on a long module while the other idles. The shared build is read by one module only, so
    that it is built once."""
    ranks: dict[str, int] = {}
    for item in items:
        module = item.module.__name__
        if "site" in item.fixturenames:
            rank = -1
        elif module in LONGEST_FIRST:
            rank = LONGEST_FIRST.index(module)
        else:
            rank = len(LONGEST_FIRST) + (0 if item.get_closest_marker("slow") else 1)
        ranks[module] = min(rank, ranks.get(module, rank))
    site_readers = sorted(module for module, rank in ranks.items() if rank == -1)
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


#: Dask settings of the tests' cluster (its worker gets them from its nanny). Dask's defaults wake the scheduler, the
#: nanny and the worker every 20 ms (the event-loop tick) and 10 times a second (memory), and sample the running
#: report's stack 100 times a second (the profiler): measured, an idle cluster took 1.7 CPU-s in 20 s (0.2 with
#: these), and the 3 main reports on it 18-24 CPU-s (16-17).
QUIET_CLUSTER = {
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "5s",
    "distributed.worker.profile.enabled": False,
    "distributed.scheduler.work-stealing": False,
}


@pytest.fixture(scope="session")
def cluster(key_cache) -> str:
    """The address of a Dask LocalCluster of one worker process (one thread) kept for the test session (for each
    worker of pytest -n), for builds whose subject is not the local executor: `--executor dask --scheduler` (see
    `on_cluster`) runs their reports on a runner whose kernel and Chromium are already warm, instead of starting a
    worker, a kernel and a Chromium per build (about 10 s of CPU each). The runner puts the kernel back as it was
    after warm-up before each report and restarts it after a failed one, as it does for every executor.

    The worker starts once, so it sees the environment of this moment (the tests' key cache among it); what a
    test sets for one build (the build time, a kill point, a marker) acts in the build's own process, as the lock,
    the keys and publishing do, and reaches the worker only through the report's parameters and timeouts. (The
    scheduler's web page takes any free port: 8787 may be another cluster's.)"""
    import dask
    from distributed import LocalCluster

    with dask.config.set(QUIET_CLUSTER), LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                                      dashboard_address=":0", silence_logs=logging.ERROR) as local:
        yield local.scheduler_address


@pytest.fixture(scope="session")
def on_cluster(cluster) -> tuple[str, ...]:
    """Build options that run the reports on the session's Dask cluster (`cluster`)."""
    return ("--executor", "dask", "--scheduler", cluster)


@pytest.fixture(scope="session")
def tables():
    """The tables shipped in data/, validated."""
    return load_tables(paths.DATA_DIR)


def escalation(*args: str) -> subprocess.CompletedProcess:
    """`escalation ARGS` run in this process (click's CliRunner) and answered as `subprocess.run` would: exit code,
    stdout, and stderr with the log lines the command prints there. For commands whose subject is what they build
    and publish: a new interpreter would spend about 2 CPU-s importing pandas, Dask and the package (measured: a
    tiny report on the session's cluster, 2.4-3.7 CPU-s in a subprocess, 0.2-0.3 here). What only a process of its
    own shows (its stderr a pipe, a traceback printed, a kill, the lock held by another process, the local pool)
    is tested on the real command in a subprocess."""
    from click.testing import CliRunner

    from escalation.cli import main

    logged = io.StringIO()
    handler = logging.StreamHandler(logged)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)  # as the command's own logging.basicConfig, which does nothing under pytest
    try:
        result = CliRunner().invoke(main, list(args))
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # what the real command would print as a traceback
    return subprocess.CompletedProcess(["escalation", *args], result.exit_code, result.stdout,
                                       result.stderr + logged.getvalue())


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
def site(tmp_path_factory, on_cluster) -> Path:
    """One real build of every report and of two daily reports (with their index), read by test_reports.py (by one
    module only: under `pytest -n` each worker would build it again), on the session's Dask cluster, whose kernel
    and Chromium serve the worker's other modules too (measured: 55 CPU-s for this module and test_build.py, against
    70 with a local worker per command, which starts its own kernel and Chromium)."""
    root = tmp_path_factory.mktemp("site")
    where = ["--out", str(root / "reports"), "--figures", str(root / "figures"), *on_cluster]
    for command in (["build"], ["backfill", "--from", "2020-02-27", "--to", "2020-02-28"]):
        result = escalation(*command, *where)
        assert result.returncode == 0, result.stderr
    return root / "reports"
