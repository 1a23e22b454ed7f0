"""The Dask executor (the session's LocalCluster, `cluster` in conftest: one worker process, one thread): a worker
keeps its warm runner from one build to the next, where the next report finds nothing the one before left, and the
executor needs a scheduler. (That a backfill on the cluster is byte-identical to the local executor's is shown by
test_backfill.py's forced rebuild, on the module's local backfill.)"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from conftest import escalation
from test_backfill import backfill_command
from test_kernel_reuse import REUSED, printed

from escalation import paths

pytestmark = pytest.mark.slow


def test_a_worker_keeps_its_kernel_from_one_build_to_the_next_and_the_next_build_finds_no_trace(tmp_path,
                                                                                                on_cluster):
    """Two builds, one after the other, on the one worker of the session's cluster, whose kernel has served other
    tests' reports before: the second report runs on the kernel of the first (each build registers the worker
    plugin that stops the runner when the worker closes; registering it again must not stop the runner) and finds
    nothing the first left there (tests/notebooks/reused: see test_kernel_reuse.py)."""
    out = tmp_path / "reports"
    for name in ("50_leave_traces", "51_find_no_traces"):
        notebooks = tmp_path / name
        notebooks.mkdir()
        shutil.copy(REUSED / f"{name}.ipynb", notebooks)
        result = escalation("build", "--notebooks", str(notebooks), "--param", f"data_dir={paths.DATA_DIR}", "--out",
                            str(out), *on_cluster)
        assert result.returncode == 0, result.stderr
    first = out / "50_leave_traces" / "50_leave_traces.html"
    second = out / "51_find_no_traces" / "51_find_no_traces.html"
    assert printed(first, r"(traces left)")
    assert printed(second, r"(no traces) among \d+ checks")
    assert printed(first, r"kernel (\d+)") == printed(second, r"kernel (\d+)"), "the second build ran on another kernel"
    warm = printed(first, r"imported before the first cell: \[(.*)\]")
    assert all(f"'{module}'" in warm for module in ("pandas", "plotly.graph_objects", "escalation.charts"))


def test_the_dask_executor_without_a_scheduler_is_a_usage_error(tmp_path):
    result = subprocess.run(backfill_command(paths.DATA_DIR, tmp_path / "reports", "--executor", "dask"),
                            capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result.stderr
    assert "--executor dask needs --scheduler ADDRESS" in result.stderr
