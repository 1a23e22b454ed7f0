"""Build reports: papermill executes the notebooks, nbconvert exports HTML, kaleido the figures.

Safety rules of a build:
- parameters and data files are checked before any report runs, while the workers start their kernels
  and Chromium;
- one build at a time per output folder (a file lock);
- a report whose inputs are unchanged (see `incremental`) is skipped unless forced;
- reports run on worker processes, each keeping one warm kernel and Chromium (`runner`), on this machine
  or on a Dask cluster (`executor`); each cell within a cell timeout and each report within a wall-clock
  limit; no process of a local build outlives it (`lifeline`);
- everything is written to a staging folder inside the output folder and published all at once
  (`publish`), so readers see the previous build or the new one, never a mix, and a failed or
  killed build never destroys the last good report. `build` publishes only when every notebook
  succeeded; `backfill` publishes each day as it succeeds, so a killed run keeps its finished days
  and the next run completes the rest;
- a failed notebook is kept, executed up to the error, under `<out>/_failed/` with a record of the
  cause (`failures`).

Which reports a build makes is `jobs`; what their footers and manifests say about their origin is
`provenance`.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from escalation import executor, incremental, paths
from escalation.assets import plotly_href, share_assets
from escalation.failures import clear_failure, keep_failed
from escalation.index import manifests, write_index
from escalation.jobs import CELL_TIMEOUT, REPORT_TIMEOUT, NotebookResult, ReportJob, fill_shown, window_label
from escalation.period import too_wide
from escalation.provenance import data_provenance, display_path, sha256
from escalation.publish import Destination, inside, kill_here_for_tests, replace_entry

log = logging.getLogger("escalation.build")


class BuildError(RuntimeError):
    """The build stopped; the message says which notebook, cell and exception, or which input."""


class InputError(BuildError):
    """A data file is missing or cannot be read; nothing was executed."""


class UsageError(BuildError):
    """A parameter of the build itself (a folder, the build time, the period) is unusable; nothing ran."""


class LockedError(BuildError):
    """Another build holds the lock on this output folder."""


@dataclass
class BuildResult:
    out_dir: Path
    results: list[NotebookResult]
    skipped: list[str]
    seconds: dict[str, float]


def preflight(data_dir: Path) -> None:
    """Stop before any report runs when a data file is missing or unreadable. The check is the validation the
    reports load (`validated`): reused when the same inputs were validated before (an import keeps one), else
    made now and kept for the reports' kernels."""
    from escalation import validated
    from escalation.schema import DataError

    try:
        fatal = validated.fatal_problems(data_dir)
    except DataError as error:
        raise InputError("data cannot be read:\n  " + "\n  ".join(str(p) for p in error.problems)) from error
    except (OSError, ValueError, KeyError) as error:
        raise InputError(f"cannot read the data in {data_dir}: {error}") from error
    if fatal:
        raise InputError("data cannot be read:\n  " + "\n  ".join(str(p) for p in fatal))


def default_figures_dir(out_dir: Path) -> Path:
    """figures/ beside the main reports; `<out>/figures` for any other output folder, so that a build's figures
    go with its reports and are published with them."""
    return paths.FIGURES_DIR if out_dir.resolve() == paths.REPORTS_DIR.resolve() else out_dir / "figures"


def run(jobs: list[ReportJob], out_dir: Path = paths.REPORTS_DIR, figures_dir: Path | None = None,
        workers: int | None = None, wait: bool = False, progress: bool | None = None, force: bool = False,
        all_or_nothing: bool = True, generated_at: str | None = None, cell_timeout: float = CELL_TIMEOUT,
        report_timeout: float = REPORT_TIMEOUT, wide_period: bool = False, executor_name: str = "local",
        scheduler: str | None = None, self_contained: bool = False) -> BuildResult:
    """Build the jobs whose inputs changed; raises BuildError naming what failed. Reports load the output folder's
    shared plotly.js, or inline it when `self_contained`."""
    from filelock import FileLock, Timeout

    started = time.perf_counter()
    figures_dir = figures_dir or default_figures_dir(out_dir)
    _check_writable(out_dir, "--out")
    if inside(figures_dir, out_dir) is None:
        _check_writable(figures_dir, "--figures")
    if generated_at:
        _check_build_time(generated_at)
    if executor_name == "dask" and not scheduler:
        raise UsageError("--executor dask needs --scheduler ADDRESS (e.g. tcp://10.0.0.5:8786)")
    if executor_name != "dask" and scheduler:
        raise UsageError("--scheduler is used only with --executor dask")
    lock = FileLock(str(out_dir / ".build.lock"))
    try:
        lock.acquire(timeout=-1 if wait else 0)
    except Timeout as error:
        raise LockedError(f"another build is writing to {out_dir} (lock {lock.lock_file}); "
                          "retry later or pass --wait") from error
    try:
        target = Destination(out_dir, figures_dir)
        _publishing(target.recover)
        try:
            with contextlib.ExitStack() as running:
                def start_workers(count: int) -> executor.Started:
                    """The executor, its workers starting their kernels and Chromium while this process goes on."""
                    return running.enter_context(executor.started(executor_name, workers, count, scheduler))

                # everything is rebuilt when forced: the workers start while the keys are computed
                reports = start_workers(len(jobs)) if force and jobs else None
                data_dirs = {job.name: job.data_dir for job in jobs}
                keys = _input_keys(jobs, data_dirs, self_contained)
                todo = [job for job in jobs if force or keys[job.name] != incremental.published_key(
                    out_dir / job.name, figures_dir / job.figures_subdir)]
                skipped = [job.name for job in jobs if job not in todo]
                for name in skipped:  # the published report is current: an older failure no longer applies
                    clear_failure(out_dir, name)
                if skipped:
                    log.info("%d report(s) unchanged, skipped (use --force to rebuild)", len(skipped))
                results: list[NotebookResult] = []
                if todo:
                    fill_shown(todo)
                    if not wide_period:
                        _refuse_wide_periods(todo, data_dirs)
                    reports = reports or start_workers(len(todo))  # started while this process checks the data
                    for data_dir in sorted(set(data_dirs[job.name] for job in todo)):
                        preflight(data_dir)
                    limits = {"cell_timeout": cell_timeout, "report_timeout": report_timeout}
                    results = _execute(todo, keys, data_dirs, target, all_or_nothing, generated_at, limits,
                                       reports, progress, self_contained)
        except executor.ExecutorError as error:
            raise UsageError(str(error)) from error
        _publishing(target.refresh_index)
        seconds = {"total": round(time.perf_counter() - started, 3)}
        failed = [r for r in results if r.status != "ok"]
        if failed:
            kept = "previous reports left untouched" if all_or_nothing else "the other reports were published"
            raise BuildError(f"build failed; {kept}:\n  " + "\n  ".join(r.error for r in failed)
                             + f"\n  records and executed notebooks kept in {out_dir / '_failed'}")
        log.info("built %d report(s), skipped %d, in %.1f s into %s", len(results), len(skipped),
                 seconds["total"], out_dir)
        return BuildResult(out_dir, results, skipped, seconds)
    finally:
        lock.release()


def _input_keys(jobs: list[ReportJob], data_dirs: dict[str, Path], self_contained: bool) -> dict[str, str]:
    """Each job's incremental key. The keys read the tables plainly (fast, for no-change reruns); a table they
    cannot read (not UTF-8, a huge cell, a broken datapackage.json) is reported by the full data check."""
    import csv

    from escalation.schema import DataError

    try:
        return {job.name: incremental.input_key(job.notebook, job.parameters, {**job.shown, **job.parameters},
                                                data_dirs[job.name], {"nav": job.nav, "plotly_js": _plotly_src(
                                                    job, self_contained)}) for job in jobs}
    except (UnicodeDecodeError, csv.Error, DataError, ValueError, KeyError) as error:
        for data_dir in sorted(set(data_dirs.values())):
            preflight(data_dir)
        raise InputError(f"cannot read the data: {error}") from error


def _plotly_src(job: ReportJob, self_contained: bool) -> str | None:
    """Where the job's report loads plotly.js from: the output folder's shared file, or nowhere (inlined)."""
    return None if self_contained else plotly_href(job.name)


def _publishing(step) -> None:
    """Run a publishing step; a filesystem error (a full disk) stops the build with its cause."""
    try:
        step()
    except OSError as error:
        raise BuildError(f"publishing failed, the published reports are unchanged: {error}") from error


def _check_writable(folder: Path, option: str) -> None:
    """A folder the build can write to, created if needed; otherwise a parameter error naming the option."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise UsageError(f"{option} {folder}: cannot write there ({reason})") from error


def _check_build_time(text: str) -> None:
    try:
        datetime.fromisoformat(text)
    except ValueError as error:
        raise UsageError(f"--build-time {text!r}: expected an ISO 8601 moment, e.g. 2026-01-01T00:00:00+00:00") \
            from error


def _refuse_wide_periods(jobs: list[ReportJob], data_dirs: dict[str, Path]) -> None:
    for job in jobs:
        values = {**job.shown, **job.parameters}
        problem = too_wide(str(values.get("start") or ""), str(values.get("end") or ""), data_dirs[job.name])
        if problem:
            raise UsageError(f"{job.name}: {problem}")


def _execute(todo: list[ReportJob], keys: dict[str, str], data_dirs: dict[str, Path], target: Destination,
             all_or_nothing: bool, generated_at: str | None, limits: dict, reports: executor.Started,
             progress: bool | None, self_contained: bool) -> list[NotebookResult]:
    """Stage a work folder per report, run the reports on the executor, publish the ones that succeeded (each
    as it comes for a backfill, all at once for a build) and keep records of the ones that failed."""
    out_dir = target.out_dir
    # on the filesystem of the reports; absolute, as are the notebooks' paths: a worker's kernel moves into each
    # notebook's folder, so a relative path would point elsewhere from the second report on
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir)).resolve()
    try:
        provenance_by_dir = {data_dir: data_provenance(data_dir, generated_at)
                             for data_dir in set(data_dirs[job.name] for job in todo)}
        payloads = {}
        for job in todo:
            workdir = staging / job.name.replace("/", "__")
            workdir.mkdir()
            context = {**provenance_by_dir[data_dirs[job.name]], "parameters": job.shown,
                       "notebook": display_path(job.notebook), "notebook_sha256": sha256(job.notebook),
                       "window_label": window_label(job), "nav": job.nav,
                       "plotly_src": _plotly_src(job, self_contained)}
            payloads[job.name] = {"input": str(job.notebook.resolve()), "workdir": str(workdir), "name": job.name,
                                  "html_name": job.html_name, **limits,
                                  "parameters": {**job.parameters, "output_dir": str(workdir)}, "context": context}

        by_name = {job.name: job for job in todo}

        def publish(done: list[NotebookResult]) -> None:
            """Publish the reports in one step; on failure (a full disk) they fail with the cause."""
            try:
                with target.next_version() as (reports, figures):
                    for number, result in enumerate(done):
                        job = by_name[result.name]
                        workdir = Path(payloads[job.name]["workdir"])
                        _write_manifest(workdir, job, result, payloads[job.name]["context"], keys[job.name])
                        images = workdir / "_images"
                        for image in sorted(images.glob("*")):
                            replace_entry(figures / job.figures_subdir, image.name, image)
                        images.rmdir()
                        replace_entry(reports, job.name, workdir)
                        clear_failure(out_dir, job.name)
                        if number == 0:
                            kill_here_for_tests("after-first-report")
                    share_assets(reports, manifests(reports))
                    write_index(reports, out_dir / "_failed")
            except OSError as error:
                for result in done:
                    result.status, result.error = "failed", f"{result.name}: publishing failed: {error}"

        def publish_each(result: NotebookResult) -> None:
            if result.status == "ok" and not all_or_nothing:
                publish([result])

        threading.Thread(target=_import_frontpage, name="importing-frontpage", daemon=True).start()
        results = reports.run_all([payloads[job.name] for job in todo], publish_each, progress)
        reports.release()  # the workers stop while this process publishes
        if all_or_nothing and all(r.status == "ok" for r in results):
            publish(results)
        failed = [r for r in results if r.status != "ok"]
        if failed:
            keep_failed(failed, payloads, out_dir)
        return results
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _import_frontpage() -> None:
    """Import the index's front page, which reads the reports' tables with pandas (a second or two of CPU), while the
    reports run: at the lowest priority (Linux gives each thread its own), so that it takes only the CPU their
    kernels and Chromium leave; an index rendered before it is done waits for it, as for any import."""
    with contextlib.suppress(AttributeError, OSError):  # a system without per-thread priorities imports it as is
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    importlib.import_module("escalation.frontpage")


def _write_manifest(workdir: Path, job: ReportJob, result: NotebookResult, context: dict, key: str) -> None:
    manifest = {
        "report": job.name,
        "html": job.html_name,
        "status": result.status,
        "input_key": key,
        "notebook": context["notebook"],
        "notebook_sha256": context["notebook_sha256"],
        "parameters": job.shown,
        "window": context["window_label"],
        "nav": job.nav,
        "inputs": context["inputs"],
        "versions": context["versions"],
        "git_commit": context["git_commit"],
        "generated_at": context["generated_at"],
        "timings_seconds": result.seconds,
        "html_bytes": result.html_bytes,
        "figures": result.figures,
        "tables": result.tables,
        "plotly_js": context["plotly_src"],
    }
    (workdir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
