"""Scheduled runs: daily backfill that skips unchanged reports, survives being killed, and rebuilds
byte for byte. Runs on a copy of the shipped data over three days (26–28 February). The module's first backfill
runs on the local executor, in a subprocess; the later runs in the test's process (`escalation`), their reports on
the session's Dask cluster (`on_cluster`; skipping, publishing and the lock stay with the command), so that a
forced rebuild on the cluster shows that the executor changes where reports run, not what they are; the run that is
killed is a local one in a subprocess too: killing it must take its local workers with it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ONE_WORKER, escalation, read_rows, write_rows
from filelock import FileLock

from escalation import paths

pytestmark = pytest.mark.slow

DAYS = ["2020-02-26", "2020-02-27", "2020-02-28"]


def backfill_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["backfill", "--from", DAYS[0], "--to", DAYS[-1], "--param", f"data_dir={data}", "--out", str(out),
            "--figures", str(out.parent / "figures"), "--build-time", "2026-01-01T00:00:00+00:00", *extra]


def backfill_command(data: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "escalation", *backfill_args(data, out, *extra)]


def backfill(data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """The real command in a subprocess (the local executor's workers, the lock held by another process)."""
    return subprocess.run(backfill_command(data, out, *extra), capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL)


def backfill_on(on_cluster: tuple[str, ...], data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """The command in the test's process (`escalation`), its reports on the session's cluster."""
    return escalation(*backfill_args(data, out, *extra, *on_cluster))


def built(result: subprocess.CompletedProcess) -> list[str]:
    return sorted(line.split(":")[0] for line in result.stdout.splitlines() if line.startswith("daily/"))


def published_files(root: Path) -> list[Path]:
    """Every file a reader of `root` sees: published folders are links into a hidden store (see publish.py)."""
    found = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(folder) / name for name in files]
    return sorted(found)


def fingerprint(out: Path) -> dict[str, str]:
    """SHA-256 of every published file except the manifests' run timings."""
    digests = {}
    for path in published_files(out.parent):
        if path.is_file() and not path.name.startswith(".") and "_failed" not in path.parts:
            content = path.read_bytes()
            if path.name == "manifest.json":
                manifest = json.loads(content)
                manifest.pop("timings_seconds")
                content = json.dumps(manifest, sort_keys=True).encode()
            digests[str(path.relative_to(out.parent))] = hashlib.sha256(content).hexdigest()
    return digests


def change_claim_published_on(data: Path, day: str) -> str:
    """Reword the value_text of one claim published on `day` (a real change to a report's content)."""
    path = data / "claims.csv"
    header, rows = read_rows(path)
    column, published = header.index("value_text"), header.index("published_at")
    row = next(r for r in rows if r[published].startswith(day))
    row[column] = row[column] + " (edited)"
    write_rows(path, header, rows)
    return row[header.index("claim_id")]


@pytest.fixture(scope="module")
def pristine_run(tmp_path_factory) -> tuple[Path, Path]:
    """One backfill of the three days on a copy of the data, on the local executor (one worker), built once for the
    module and kept aside."""
    root = tmp_path_factory.mktemp("backfill")
    shutil.copytree(paths.DATA_DIR, root / "run" / "data", ignore=shutil.ignore_patterns("README.md"))
    result = backfill(root / "run" / "data", root / "run" / "reports", *ONE_WORKER)
    assert result.returncode == 0, result.stderr
    assert built(result) == [f"daily/{d}" for d in DAYS]
    shutil.copytree(root / "run", root / "pristine", symlinks=True)
    return root / "pristine", root / "run"


@pytest.fixture
def first_run(pristine_run):
    """The module's backfill as it was first built, restored in place (the data folder is a parameter of the
    reports, so it keeps its path); the publish links are relative, so a copy stays whole."""
    pristine, run = pristine_run
    shutil.rmtree(run)
    shutil.copytree(pristine, run, symlinks=True)
    return run / "data", run / "reports"


def test_reports_are_linked_to_the_previous_and_next_day(first_run):
    _, out = first_run
    middle = (out / "daily" / DAYS[1] / f"situation_report_{DAYS[1]}.html").read_text()
    assert f'href="../{DAYS[0]}/situation_report_{DAYS[0]}.html"' in middle
    assert f'href="../{DAYS[2]}/situation_report_{DAYS[2]}.html"' in middle
    index = (out / "index.html").read_text()
    day_by_day = index[index.index('id="daily"'):]
    positions = [day_by_day.index(f"daily/{d}/situation_report_{d}.html") for d in DAYS]
    assert positions == sorted(positions)


def test_a_repeated_run_with_no_change_executes_nothing(first_run, on_cluster):
    data, out = first_run
    before = fingerprint(out)
    result = backfill_on(on_cluster, data, out)
    assert result.returncode == 0, result.stderr
    assert built(result) == []
    assert "0 built, 3 unchanged" in result.stdout
    assert fingerprint(out) == before


def test_a_changed_claim_rebuilds_exactly_the_reports_that_could_see_it(first_run, on_cluster):
    data, out = first_run
    change_claim_published_on(data, DAYS[1])
    result = backfill_on(on_cluster, data, out)
    assert result.returncode == 0, result.stderr
    assert built(result) == [f"daily/{DAYS[1]}", f"daily/{DAYS[2]}"], "26 February could not know the claim"


def test_forced_rebuild_on_a_dask_cluster_is_byte_identical_to_the_local_executor(first_run, on_cluster):
    """The first run was local; this one runs every report on the session's Dask cluster (one worker process, one
    thread, whose kernel and Chromium have already built other tests' reports) and publishes byte-identical
    reports, tables and figures, and the same manifests except for their timings."""
    data, out = first_run
    before = fingerprint(out)
    result = backfill_on(on_cluster, data, out, "--force")
    assert result.returncode == 0, result.stderr
    assert built(result) == [f"daily/{d}" for d in DAYS]
    assert all(f"built daily/{day} in" in result.stderr for day in DAYS)
    assert fingerprint(out) == before
    again = backfill_on(on_cluster, data, out)
    assert again.returncode == 0 and built(again) == [], "an unchanged report was rebuilt on the cluster"


def test_a_second_run_exits_75_while_another_holds_the_lock(first_run):
    data, out = first_run
    with FileLock(str(out / ".build.lock")):
        result = backfill(data, out)
    assert result.returncode == 75
    assert "another build is writing" in result.stderr


def test_a_run_killed_midway_leaves_valid_reports_and_the_next_run_completes_it(first_run, on_cluster):
    data, out = first_run
    change_claim_published_on(data, "2020-02-25")  # visible to every day: all must be rebuilt
    process = subprocess.Popen(backfill_command(data, out, *ONE_WORKER), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 300
    first_published = out / "daily" / DAYS[0] / "manifest.json"
    original = first_published.stat().st_mtime
    while time.monotonic() < deadline and first_published.stat().st_mtime == original:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    for day in DAYS:  # every report is present and whole, old or new
        folder = out / "daily" / day
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["status"] == "ok"
        assert (folder / manifest["html"]).read_text().rstrip().endswith("</html>")
        assert (folder / manifest["plotly_js"]).stat().st_size > 1_000_000, "the shared plotly.js is whole"
    result = backfill_on(on_cluster, data, out)
    assert result.returncode == 0, result.stderr
    assert f"daily/{DAYS[0]}" not in built(result), "the day finished before the kill is not rebuilt"
    assert built(result), "the days the killed run did not finish are rebuilt"
    assert not list(out.glob(".staging-*")) and not list(out.rglob(".prev-*"))
    again = backfill_on(on_cluster, data, out)
    assert built(again) == []
