"""The executor changes where reports run, not what they are: a backfill on a Dask cluster (a LocalCluster of
two worker processes, one thread each) publishes byte-identical reports, tables and figures, and the same
manifests except for their timings, as the local executor."""

from __future__ import annotations

import subprocess

import pytest
from conftest import ONE_WORKER
from test_backfill import DAYS, backfill_command, built, fingerprint

from escalation import paths

pytestmark = pytest.mark.slow


def run(out, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(backfill_command(paths.DATA_DIR, out, *extra), capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL)


def test_a_backfill_on_a_dask_cluster_is_byte_identical_to_the_local_executor(tmp_path):
    from distributed import LocalCluster

    local_out, dask_out = tmp_path / "local" / "reports", tmp_path / "dask" / "reports"
    local = run(local_out, *ONE_WORKER)
    assert local.returncode == 0, local.stderr
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = run(dask_out, "--executor", "dask", "--scheduler", cluster.scheduler_address)
        assert on_dask.returncode == 0, on_dask.stderr
        assert built(on_dask) == [f"daily/{day}" for day in DAYS]
        assert all(f"built daily/{day} in" in on_dask.stderr for day in DAYS)
        again = run(dask_out, "--executor", "dask", "--scheduler", cluster.scheduler_address)
        assert again.returncode == 0 and built(again) == [], "an unchanged report was rebuilt on the cluster"
    assert fingerprint(dask_out) == fingerprint(local_out)


def test_the_dask_executor_without_a_scheduler_is_a_usage_error(tmp_path):
    result = subprocess.run(backfill_command(paths.DATA_DIR, tmp_path / "reports", "--executor", "dask"),
                            capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result.stderr
    assert "--executor dask needs --scheduler ADDRESS" in result.stderr
