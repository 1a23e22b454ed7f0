"""Timeouts and kills of a build: a hung cell and a build killed with `kill -9` on the local executor, whose pool is
under test (its workers, their kernels and Chromium, which must not outlive the build), the real command in a
subprocess; a cell deaf to interrupts, ended by the report timeout, and the build after each, which shows that the
lock was freed, on the session's Dask cluster (`on_cluster`), the command in the test's process (`escalation`).

Every process of a build under test carries a marker in its environment, so that the test can find them all.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from conftest import TEST_NOTEBOOKS, escalation
from test_build_hardening import build_args, build_command

from escalation import paths

pytestmark = pytest.mark.slow

HUNG_CELL = "cell 4 ('import signal, time  # hung on purpose for the timeout tests')"


def build_processes(marker: str) -> list[int]:
    """Processes whose environment carries `marker`: the build, its workers, kernels and Chromium."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def wait_until_gone(marker: str, limit: float = 15) -> list[int]:
    """The marked processes still alive after they had `limit` seconds to die."""
    deadline = time.monotonic() + limit
    while (alive := build_processes(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive


@pytest.fixture
def hung_and_passing(tmp_path) -> Path:
    """A notebook folder with the hung report (40_tiny), then a passing one (50_tiny): reports are built in the order
    of their names, so on one worker the passing report waits for the hung one."""
    folder = tmp_path / "hung"
    folder.mkdir()
    shutil.copy(TEST_NOTEBOOKS / "hanging" / "50_tiny.ipynb", folder / "40_tiny.ipynb")
    shutil.copy(TEST_NOTEBOOKS / "passing" / "50_tiny.ipynb", folder / "50_tiny.ipynb")
    return folder


@pytest.fixture
def deaf(tmp_path) -> Path:
    """A notebook folder with the hung report made deaf to interrupts (60_deaf: its `ignore_interrupts` parameter
    set to true in the notebook)."""
    folder = tmp_path / "deaf"
    folder.mkdir()
    notebook = nbformat.read(TEST_NOTEBOOKS / "hanging" / "50_tiny.ipynb", as_version=4)
    (parameters,) = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert "ignore_interrupts = False" in parameters.source
    parameters.source = parameters.source.replace("ignore_interrupts = False", "ignore_interrupts = True")
    nbformat.write(notebook, folder / "60_deaf.ipynb")
    return folder


def test_a_hung_cell_fails_at_the_cell_timeout_a_deaf_one_at_the_report_timeout_and_the_next_build_runs(
        hung_and_passing, deaf, tmp_path, on_cluster):
    """A build of two reports on one local worker: the first hangs and is interrupted at the cell timeout, the
    second goes on after it (on the worker's kernel, restarted), and no process of the build outlives it (one worker
    as two would show it: measured, a second worker's kernel and Chromium cost 8 CPU-s). Then a build of a report
    deaf to the interrupt, ended by the report timeout, on the session's cluster: its runner is warm, so the report
    timeout bounds that report alone (beside a passing report on fresh local workers it would bound that one too,
    which on a busy machine may wait for its worker's warm-up: 40 s of waiting instead of 5). The build after both
    runs."""
    out = tmp_path / "reports"
    marker = f"ESCALATION_TEST_RUN={tmp_path}"
    env = {**os.environ, "ESCALATION_TEST_RUN": str(tmp_path)}
    result = subprocess.run(build_command(hung_and_passing, out, "--workers", "1", "--cell-timeout", "3",
                                          "--param", f"data_dir={paths.DATA_DIR}"),
                            capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL, env=env)
    assert result.returncode == 1, result.stderr
    hung = f"40_tiny.ipynb (40_tiny): {HUNG_CELL} ran longer than the cell timeout (3 s) and was interrupted"
    assert hung in result.stderr
    assert "built 50_tiny in" in result.stderr, "the report after the hung one did not go on"
    assert result.stderr.index(hung) < result.stderr.index("built 50_tiny in"), "the hung report did not run first"
    assert json.loads((out / "_failed" / "40_tiny.error.json").read_text()) == {"report": "40_tiny", "error": hung}
    assert wait_until_gone(marker) == [], "a process of the build outlived it"
    ended = escalation(*build_args(deaf, out, "--report-timeout", "5", "--param", f"data_dir={paths.DATA_DIR}",
                                   *on_cluster))
    assert ended.returncode == 1, ended.stderr
    deaf_error = f"60_deaf.ipynb (60_deaf): {HUNG_CELL} was still running when the report timeout (5 s) ended it"
    assert deaf_error in ended.stderr
    assert json.loads((out / "_failed" / "60_deaf.error.json").read_text())["error"] == deaf_error
    again = escalation(*build_args(TEST_NOTEBOOKS / "passing", out, *on_cluster))
    assert again.returncode == 0, again.stderr


def test_killing_the_build_kills_its_workers_and_kernels_and_frees_the_lock(tmp_path, on_cluster):
    out = tmp_path / "reports"
    marker = f"ESCALATION_TEST_RUN={tmp_path}"
    env = {**os.environ, "ESCALATION_TEST_RUN": str(tmp_path)}
    build = subprocess.Popen(build_command(TEST_NOTEBOOKS / "hanging", out), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not (out / "_failed").exists():
            kernels = [pid for pid in build_processes(marker)
                       if b"ipykernel_launcher" in Path(f"/proc/{pid}/cmdline").read_bytes()]
            if kernels:
                break
            time.sleep(0.5)
        assert kernels, "the kernel never started"
        assert len(build_processes(marker)) >= 3  # the build, its worker and the kernel
        os.kill(build.pid, signal.SIGKILL)  # the build alone, as an operator's `kill -9 PID` would
        build.wait(timeout=60)
        assert wait_until_gone(marker) == [], "a worker or kernel outlived the build"
    finally:
        for pid in build_processes(marker):
            os.kill(pid, signal.SIGKILL)
    again = escalation(*build_args(TEST_NOTEBOOKS / "passing", out, *on_cluster))
    assert again.returncode == 0, again.stderr
