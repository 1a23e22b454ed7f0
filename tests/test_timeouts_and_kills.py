"""Timeouts and kills of a build on the local executor: a hung cell, a cell deaf to interrupts, a build killed
with `kill -9`. What is under test is the local pool itself (its workers, their kernels and Chromium, which must
not outlive the build), so these builds run on local workers; the build after each, which shows that the lock
was freed, runs on the session's Dask cluster (`on_cluster`).

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
from conftest import TEST_NOTEBOOKS
from test_build_hardening import build_command

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
def hung_deaf_and_passing(tmp_path) -> Path:
    """A notebook folder with a passing report (40_tiny), the hung one (50_tiny), and the hung one made deaf to
    interrupts (60_deaf: its `ignore_interrupts` parameter set to true in the notebook, the others keep false)."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(TEST_NOTEBOOKS / "passing" / "50_tiny.ipynb", folder / "40_tiny.ipynb")
    shutil.copy(TEST_NOTEBOOKS / "hanging" / "50_tiny.ipynb", folder / "50_tiny.ipynb")
    deaf = nbformat.read(TEST_NOTEBOOKS / "hanging" / "50_tiny.ipynb", as_version=4)
    (parameters,) = [cell for cell in deaf.cells if "parameters" in cell.metadata.get("tags", [])]
    assert "ignore_interrupts = False" in parameters.source
    parameters.source = parameters.source.replace("ignore_interrupts = False", "ignore_interrupts = True")
    nbformat.write(deaf, folder / "60_deaf.ipynb")
    return folder


def test_a_hung_cell_fails_at_the_cell_timeout_a_deaf_one_at_the_report_timeout_and_the_next_build_runs(
        hung_deaf_and_passing, tmp_path, on_cluster):
    """One build of three reports on two local workers: one hangs and is interrupted at the cell
    timeout, one ignores the interrupt and is ended by the report timeout, and the passing one goes on. (One build
    for both timeouts: each local build starts its workers' kernels and Chromium.)"""
    out = tmp_path / "reports"
    marker = f"ESCALATION_TEST_RUN={tmp_path}"
    env = {**os.environ, "ESCALATION_TEST_RUN": str(tmp_path)}
    # the report timeout also bounds the passing report, the first on a worker still warming up on a busy machine
    result = subprocess.run(build_command(hung_deaf_and_passing, out, "--workers", "2", "--cell-timeout", "3",
                                          "--report-timeout", "40", "--param", f"data_dir={paths.DATA_DIR}"),
                            capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL, env=env)
    assert result.returncode == 1, result.stderr
    hung = f"50_tiny.ipynb (50_tiny): {HUNG_CELL} ran longer than the cell timeout (3 s) and was interrupted"
    deaf = f"60_deaf.ipynb (60_deaf): {HUNG_CELL} was still running when the report timeout (40 s) ended it"
    assert hung in result.stderr
    assert deaf in result.stderr
    assert "built 40_tiny in" in result.stderr, "the other report did not go on"
    assert json.loads((out / "_failed" / "50_tiny.error.json").read_text()) == {"report": "50_tiny", "error": hung}
    assert json.loads((out / "_failed" / "60_deaf.error.json").read_text())["error"] == deaf
    assert wait_until_gone(marker) == [], "a process of the build outlived it"
    again = subprocess.run(build_command(TEST_NOTEBOOKS / "passing", out, *on_cluster), capture_output=True, text=True,
                           timeout=600, stdin=subprocess.DEVNULL)
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
    again = subprocess.run(build_command(TEST_NOTEBOOKS / "passing", out, *on_cluster), capture_output=True, text=True,
                           timeout=600, stdin=subprocess.DEVNULL)
    assert again.returncode == 0, again.stderr
