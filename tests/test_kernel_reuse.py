"""A worker's kernel serves report after report: nothing one report changes reaches the next, and a kernel
that failed a report (an exception, a timeout) is replaced, never reused.

tests/notebooks/reused holds two tiny notebooks: the first changes everything a report could change in its
kernel (globals, the environment, the working folder, library settings, the package's module globals), the
second fails if it finds any of it.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
import time
from pathlib import Path

import pytest
from conftest import TEST_NOTEBOOKS

from escalation import paths

pytestmark = pytest.mark.slow

REUSED = TEST_NOTEBOOKS / "reused"
#: What 50_leave_traces changes, as 51_find_no_traces names it, in its (alphabetical) order.
EVERY_TRACE = sorted(["global", "environment", "working folder", "sys.path", "pandas option", "plotly template",
                      "plotly image defaults", "warnings filter", "root logger", "SIGTERM handler", "numpy errors",
                      "numpy random", "random", "package list", "package dict", "package name", "package rebinding",
                      "package cache", "package module"])


def job(notebook: Path, **parameters) -> dict:
    """The payload the build hands a worker for one report, in a fresh work folder."""
    workdir = Path(tempfile.mkdtemp(prefix="report-"))
    return {"input": str(notebook), "workdir": str(workdir), "name": notebook.stem, "html_name": "report.html",
            "parameters": {"output_dir": str(workdir), "data_dir": str(paths.DATA_DIR), **parameters},
            "context": {"parameters": {}, "notebook": notebook.name, "notebook_sha256": "", "window_label": "",
                        "nav": {}, "versions": {}, "git_commit": "", "generated_at": "", "inputs": []},
            "cell_timeout": 3, "report_timeout": 60}


@pytest.fixture(scope="module")
def runner():
    from escalation.runner import ReportRunner

    earlier = set(_children(os.getpid()))  # what other tests of this session left running is not the runner's
    warm = ReportRunner()
    warm.earlier_children = earlier
    yield warm
    warm.stop()


def printed(report: Path, pattern: str) -> str:
    match = re.search(pattern, html.unescape(report.read_text(encoding="utf-8")))
    assert match, f"{pattern!r} not in {report.name}"
    return match.group(1)


def test_without_the_reset_the_second_report_finds_every_trace(runner, monkeypatch):
    """The check can fail (that the second report finds nothing, through the real command on a Dask worker's reused
    kernel: test_dask_executor.py): skip the reset and the second report names what the first left."""
    run_in_kernel = runner._run_in_kernel
    monkeypatch.setattr(runner, "_run_in_kernel", lambda code: None if "restore" in code else run_in_kernel(code))
    assert runner.build(job(REUSED / "50_leave_traces.ipynb")).status == "ok"
    result = runner.build(job(REUSED / "51_find_no_traces.ipynb"))
    assert result.status == "failed"
    assert "51_find_no_traces.ipynb (51_find_no_traces): cell 4" in result.error
    left = re.search(r"left by the previous report: \[(.*)\]", result.error).group(1)
    assert left.split(", ") == [f"'{trace}'" for trace in EVERY_TRACE]


def test_a_kernel_that_timed_out_is_replaced_before_the_next_report(runner):
    before = runner.kernel_pid
    result = runner.build(job(TEST_NOTEBOOKS / "hanging" / "50_tiny.ipynb"))
    assert result.status == "failed"
    assert "ran longer than the cell timeout (3 s) and was interrupted" in result.error
    assert runner.kernel_pid != before
    assert not Path(f"/proc/{before}").exists(), "the timed-out kernel is still running"
    after = runner.build(job(TEST_NOTEBOOKS / "passing" / "50_tiny.ipynb"))
    assert after.status == "ok", after.error


def test_a_report_deaf_to_interrupts_is_ended_at_the_report_timeout_and_its_kernel_replaced(runner):
    before = runner.kernel_pid
    stuck = {**job(TEST_NOTEBOOKS / "hanging" / "50_tiny.ipynb", ignore_interrupts=True), "report_timeout": 5}
    result = runner.build(stuck)
    assert result.error == ("50_tiny.ipynb (50_tiny): cell 4 ('import signal, time  # hung on purpose for the timeout "
                            "tests') was still running when the report timeout (5 s) ended it")
    assert (Path(stuck["workdir"]) / "50_tiny.ipynb").is_file(), "the notebook as far as it ran is not kept"
    assert runner.kernel_pid != before and not Path(f"/proc/{before}").exists()


def test_stopping_a_runner_ends_its_kernel_and_chromium(runner):
    """Last in this file: stops the shared runner (kaleido's server is one per process)."""
    started = set(_children(os.getpid())) - runner.earlier_children
    assert runner.kernel_pid in started and len(started) >= 2, "no kernel and Chromium are running"
    runner.stop()
    deadline = time.monotonic() + 10  # Chromium ends when its pipe closes, a moment after stop() returns
    while [pid for pid in started if _running(pid)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in started if _running(pid)], "a process of the runner outlived it"


def _running(pid: int) -> bool:
    """The process exists and has not ended (a zombie has ended; only its exit status waits to be read)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found
