"""Failure paths of `escalation build`, run through the real command with tiny committed notebooks.

As in papermill's own test suite, the notebooks under tests/notebooks are small and fail on
purpose: `passing/50_tiny.ipynb` and `failing/50_tiny.ipynb` are the same report, the second one
raising in its third cell. Reports run on the session's Dask cluster (`on_cluster`): what is under test here
(publishing, records, logs, the lock) stays with the command whichever executor runs the reports. The command runs
in a subprocess where its own process is under test (its stderr a pipe, as under cron; its exit before any kernel;
the lock held by another process), else in the test's process (`escalation`: a new interpreter's imports cost about
2 CPU-s a build).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEST_NOTEBOOKS, escalation
from filelock import FileLock

from escalation import paths

pytestmark = pytest.mark.slow


def run_build(*args: str, notebooks: Path = TEST_NOTEBOOKS / "passing") -> subprocess.CompletedProcess:
    """The real command in a subprocess whose stderr is a pipe, as under cron."""
    command = [sys.executable, "-m", "escalation", "build", "--notebooks", str(notebooks), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def built(tmp_path_factory, on_cluster) -> tuple[Path, subprocess.CompletedProcess]:
    """A passing build into a fresh folder, and the finished command (its stderr is a pipe, as under cron): built
    once for the tests that read it; a test that builds into it again works on a copy."""
    root = tmp_path_factory.mktemp("built")
    out = root / "reports"
    result = run_build("--out", str(out), "--figures", str(root / "figures"), *on_cluster)
    assert result.returncode == 0, result.stderr
    return out, result


def test_a_passing_build_publishes_report_manifest_and_index(built):
    built, _ = built
    report = built / "50_tiny" / "50_tiny.html"
    assert report.is_file()
    manifest = json.loads((built / "50_tiny" / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert manifest["parameters"]["label"] == "tiny"
    assert {"kernel_start", "execution", "export", "figures"} <= set(manifest["timings_seconds"])
    assert all(len(item["sha256"]) == 64 for item in manifest["inputs"])
    assert "50_tiny/50_tiny.html" in (built / "index.html").read_text()
    assert not list(built.glob(".staging-*")), "staging folder left behind"


def test_a_raising_notebook_fails_the_build_keeps_the_last_good_report_until_a_later_success(built, tmp_path,
                                                                                             on_cluster):
    built = shutil.copytree(built[0], tmp_path / "reports", symlinks=True)  # the published links are relative
    report = built / "50_tiny" / "50_tiny.html"
    before = digest(report)
    result = escalation("build", "--notebooks", str(TEST_NOTEBOOKS / "failing"), "--out", str(built), "--figures",
                        str(tmp_path / "figures"), *on_cluster)
    assert result.returncode == 1
    assert "50_tiny.ipynb (50_tiny): cell 4 (\"raise ValueError('deliberate failure" in result.stderr
    assert "raised ValueError: deliberate failure for the build tests" in result.stderr
    assert digest(report) == before, "the previous report was changed by a failed build"
    kept = built / "_failed" / "50_tiny.ipynb"
    traceback = json.dumps(json.loads(kept.read_text())["cells"][-1]["outputs"])
    assert "deliberate failure for the build tests" in traceback
    assert "Failed in the last build" in (built / "index.html").read_text()
    fixed = escalation("build", "--notebooks", str(TEST_NOTEBOOKS / "passing"), "--out", str(built), "--figures",
                       str(tmp_path / "figures"), *on_cluster)
    assert fixed.returncode == 0, fixed.stderr
    assert not list((built / "_failed").glob("50_tiny.*")), "a later success left the failure behind"


def test_unknown_parameter_stops_before_any_kernel_starts(tmp_path):
    out = tmp_path / "reports"
    result = run_build("--out", str(out), "--param", "lable=x")
    assert result.returncode == 2
    assert "lable: no notebook declares this parameter (did you mean 'label'?)" in result.stderr
    assert not out.exists(), "the build wrote output although its parameters were wrong"


def test_mistyped_parameter_value_stops_before_any_kernel_starts(tmp_path):
    out = tmp_path / "reports"
    result = run_build("--out", str(out), "--notebooks", str(TEST_NOTEBOOKS / "passing"),
                       "--param", "data_dir=/nonexistent/folder")
    assert result.returncode == 2
    assert "data_dir='/nonexistent/folder': no such directory" in result.stderr
    assert not out.exists()


def test_missing_data_file_is_a_clear_error(data_copy, tmp_path):
    (data_copy / "claims.csv").unlink()
    out = tmp_path / "reports"
    result = run_build("--out", str(out), "--param", f"data_dir={data_copy}")
    assert result.returncode == 3
    assert f"{data_copy / 'claims.csv'}: file not found" in result.stderr
    assert not (out / "50_tiny").exists()


def test_no_terminal_means_log_lines_and_no_progress_bar(built):
    _, result = built
    assert "built 50_tiny in" in result.stderr
    assert "\r" not in result.stderr and "nb/s" not in result.stderr and "%|" not in result.stderr


def test_a_second_build_exits_75_while_the_first_holds_the_lock(tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    with FileLock(str(out / ".build.lock")):
        result = run_build("--out", str(out))
    assert result.returncode == 75
    assert "another build is writing to" in result.stderr


def test_relative_notebook_and_output_folders_build_every_report(tmp_path, on_cluster, monkeypatch):
    """A worker's kernel moves into each notebook's folder, and a Dask worker runs elsewhere than the command: the
    paths the command was given relative to its own folder must reach the reports whole, the second one too."""
    (tmp_path / "notebooks").mkdir()
    for name in ("50_first", "51_second"):
        shutil.copy(TEST_NOTEBOOKS / "passing" / "50_tiny.ipynb", tmp_path / "notebooks" / f"{name}.ipynb")
    monkeypatch.chdir(tmp_path)
    result = escalation("build", "--notebooks", "notebooks", "--out", "reports", "--param",
                        f"data_dir={paths.DATA_DIR}", *on_cluster)
    assert result.returncode == 0, result.stderr
    for name in ("50_first", "51_second"):
        assert json.loads((tmp_path / "reports" / name / "manifest.json").read_text())["status"] == "ok"
