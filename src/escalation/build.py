"""Build reports: papermill executes the notebooks, nbconvert exports HTML, kaleido the figures.

Safety rules of a build:
- parameters and data files are checked before any kernel starts;
- one build at a time per output folder (a file lock);
- a report whose inputs are unchanged (see `incremental`) is skipped unless forced;
- each report runs in a worker process of its own (`pool`), each cell within a cell timeout and each
  report within a wall-clock limit; no process of a build outlives it (`lifeline`);
- everything is written to a staging folder inside the output folder and published all at once
  (`publish`), so readers see the previous build or the new one, never a mix, and a failed or
  killed build never destroys the last good report. `build` publishes only when every notebook
  succeeded; `backfill` publishes each day as it succeeds, so a killed run keeps its finished days
  and the next run completes the rest;
- a failed notebook is kept, executed up to the error, under `<out>/_failed/` with a record of the
  cause.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from escalation import incremental, paths, pool
from escalation.assets import plotly_href, share_assets
from escalation.case import CASE_FILE
from escalation.index import manifests, write_index
from escalation.moments import end_of_day
from escalation.params import default_value
from escalation.period import too_wide
from escalation.pool import CELL_TIMEOUT, REPORT_TIMEOUT, NotebookResult
from escalation.publish import Destination, inside, kill_here_for_tests, replace_entry
from escalation.schema import read_datapackage

log = logging.getLogger("escalation.build")

KERNEL_NAME = "escalation-build"
DAILY_NOTEBOOK = "04_daily_situation_report.ipynb"
EXPLORE_NOTEBOOK = "00_explore.ipynb"  # interactive quick start for JupyterLab, not a report


class BuildError(RuntimeError):
    """The build stopped; the message says which notebook, cell and exception, or which input."""


class InputError(BuildError):
    """A data file is missing or cannot be read; nothing was executed."""


class UsageError(BuildError):
    """A parameter of the build itself (a folder, the build time, the period) is unusable; nothing ran."""


class LockedError(BuildError):
    """Another build holds the lock on this output folder."""


@dataclass
class ReportJob:
    """One report to build: a notebook, where its report goes, and the parameters it runs with."""

    notebook: Path
    name: str  # folder under the output folder, e.g. "01_events_overview" or "daily/2020-02-27"
    html_name: str
    parameters: dict  # passed to papermill
    shown: dict  # every declared parameter with its value or default, for header, manifest and key
    nav: dict = field(default_factory=dict)  # links to neighbouring reports, relative to the report

    @property
    def figures_subdir(self) -> str:
        """Figures of the main reports go to figures/, those of daily/<day> to figures/daily/<day>/."""
        return self.name if "/" in self.name else ""


@dataclass
class BuildResult:
    out_dir: Path
    results: list[NotebookResult]
    skipped: list[str]
    seconds: dict[str, float]


def discover(notebooks_dir: Path = paths.NOTEBOOKS_DIR) -> list[Path]:
    """Report notebooks: numbered, e.g. `01_events_overview.ipynb`; the daily report is built by backfill, the
    explore notebook is not a report."""
    return sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb")
                  if p.is_file() and p.name not in (DAILY_NOTEBOOK, EXPLORE_NOTEBOOK))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_files(data_dir: Path) -> list[Path]:
    """The data files a report reads: the datapackage, the case description and every table listed."""
    package = read_datapackage(data_dir)
    descriptor = data_dir / "datapackage.json"
    return ([descriptor] if descriptor.is_file() else [paths.DATAPACKAGE]) + [data_dir / CASE_FILE] + [
        data_dir / r["path"] for r in package["resources"]]


def versions() -> dict[str, str]:
    """The library versions a report records, the same its incremental key includes."""
    return incremental.library_versions()


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(paths.ROOT), *args], capture_output=True, text=True, timeout=10,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit() -> str:
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return "unknown"
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return commit + (" (with uncommitted changes)" if dirty else "")


def build_time(explicit: str | None, data_dir: Path) -> str:
    """The time printed in reports: given, SOURCE_DATE_EPOCH, the commit's time, or the inputs' newest
    modification — never the wall clock, so rebuilding the same inputs gives the same bytes."""
    if explicit:
        return datetime.fromisoformat(explicit).isoformat()
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return datetime.fromtimestamp(int(os.environ["SOURCE_DATE_EPOCH"]), UTC).isoformat()
    committed = _git("log", "-1", "--format=%cI")
    if committed:
        return committed
    newest = max(p.stat().st_mtime for p in input_files(data_dir) if p.exists())
    return datetime.fromtimestamp(int(newest), UTC).isoformat()


def _write_kernelspec(base: Path) -> Path:
    """A kernelspec for this very interpreter, so the build never picks up another environment's; the kernel
    is started through `lifeline` so that it dies with its worker."""
    spec_dir = base / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "escalation.lifeline", sys.executable, "-m", "ipykernel_launcher",
                 "-f", "{connection_file}", "--IPKernelApp.log_level=ERROR"],
        "display_name": "escalation (build)",
        "language": "python",
        "env": {"PYTHONWARNINGS": "ignore"},
    }), encoding="utf-8")
    return base


def preflight(data_dir: Path) -> None:
    """Stop before any kernel starts when a data file is missing or unreadable."""
    from escalation.data import validate_tables
    from escalation.schema import DataError

    try:
        tables = validate_tables(data_dir)
    except DataError as error:
        raise InputError("data cannot be read:\n  " + "\n  ".join(str(p) for p in error.problems)) from error
    except (OSError, ValueError, KeyError) as error:
        raise InputError(f"cannot read the data in {data_dir}: {error}") from error
    if tables.fatal:
        raise InputError("data cannot be read:\n  " + "\n  ".join(str(p) for p in tables.fatal))


def report_jobs(values: dict[str, object], notebooks: list[Path], declared_by: dict[Path, dict]) -> list[ReportJob]:
    """One job per report notebook, with the parameters it declares."""
    jobs = []
    for nb in notebooks:
        declared_params = declared_by[nb]
        params = {k: v for k, v in values.items() if k in declared_params}
        jobs.append(ReportJob(nb, nb.stem, f"{nb.stem}.html", params, _shown(params, declared_params)))
    return jobs


def daily_jobs(first: date, last: date, values: dict[str, object], notebook: Path) -> list[ReportJob]:
    """One situation report per day, as of 23:59 in the case's time zone, linked to the days before and after."""
    if last < first:
        raise BuildError(f"--to {last} is before --from {first}")
    probe = ReportJob(notebook, "", "", values, {})
    _fill_shown([probe])
    zone = incremental.case_zone(_data_dir(probe))
    jobs = []
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    for index, day in enumerate(days):
        params = {**values, "end": day.isoformat(), "as_of": end_of_day(day, zone).isoformat()}
        nav = {}
        if index > 0:
            nav["previous"] = (f"../{days[index - 1]}/situation_report_{days[index - 1]}.html", f"{days[index - 1]}")
        if index < len(days) - 1:
            nav["next"] = (f"../{days[index + 1]}/situation_report_{days[index + 1]}.html", f"{days[index + 1]}")
        jobs.append(ReportJob(notebook, f"daily/{day}", f"situation_report_{day}.html", params, {}, nav))
    return jobs


def _shown(parameters: dict, declared_params: dict[str, dict]) -> dict[str, str]:
    """Every declared parameter with the value given or its default (the build's own output_dir left out)."""
    return {k: str(parameters[k]) if k in parameters else default_value(spec)
            for k, spec in declared_params.items() if k != "output_dir"}


def _window_label(shown: dict[str, str], data_dir: Path) -> str:
    from escalation.metrics import Window

    try:
        return Window.from_params(shown["start"], shown["end"], shown.get("as_of") or None,
                                  zone=incremental.case_zone(data_dir)).label()
    except (KeyError, ValueError):
        return ""


def default_figures_dir(out_dir: Path) -> Path:
    """figures/ beside the main reports; `<out>/figures` for any other output folder, so that a build's figures
    go with its reports and are published with them."""
    return paths.FIGURES_DIR if out_dir.resolve() == paths.REPORTS_DIR.resolve() else out_dir / "figures"


def run(jobs: list[ReportJob], out_dir: Path = paths.REPORTS_DIR, figures_dir: Path | None = None,
        workers: int = 2, wait: bool = False, progress: bool | None = None, force: bool = False,
        all_or_nothing: bool = True, generated_at: str | None = None, cell_timeout: float = CELL_TIMEOUT,
        report_timeout: float = REPORT_TIMEOUT, wide_period: bool = False, self_contained: bool = False) -> BuildResult:
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
    lock = FileLock(str(out_dir / ".build.lock"))
    try:
        lock.acquire(timeout=-1 if wait else 0)
    except Timeout as error:
        raise LockedError(f"another build is writing to {out_dir} (lock {lock.lock_file}); "
                          "retry later or pass --wait") from error
    try:
        target = Destination(out_dir, figures_dir)
        _publishing(target.recover)
        data_dirs = {job.name: _data_dir(job) for job in jobs}
        keys = _input_keys(jobs, data_dirs, self_contained)
        todo = [job for job in jobs if force or keys[job.name] != incremental.published_key(
            out_dir / job.name, figures_dir / job.figures_subdir)]
        skipped = [job.name for job in jobs if job not in todo]
        for name in skipped:  # the published report is current: an older failure no longer applies
            _clear_failure(out_dir, name)
        if skipped:
            log.info("%d report(s) unchanged, skipped (use --force to rebuild)", len(skipped))
        results: list[NotebookResult] = []
        if todo:
            for data_dir in sorted(set(data_dirs[job.name] for job in todo)):
                preflight(data_dir)
            _fill_shown(todo)
            if not wide_period:
                _refuse_wide_periods(todo, data_dirs)
            results = _execute(todo, keys, data_dirs, target, workers, progress, all_or_nothing, generated_at,
                               cell_timeout, report_timeout, self_contained)
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


def _data_dir(job: ReportJob) -> Path:
    """The job's data folder: as given, else the notebook's default (read from the notebook's folder)."""
    given = Path(str(job.parameters.get("data_dir") or job.shown.get("data_dir") or paths.DATA_DIR))
    return given if given.is_absolute() else (job.notebook.parent / given).resolve()


def _execute(todo, keys, data_dirs, target: Destination, workers, progress, all_or_nothing, generated_at,
             cell_timeout, report_timeout, self_contained) -> list[NotebookResult]:
    out_dir = target.out_dir
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))  # on the filesystem of the reports
    try:
        _write_kernelspec(staging / "_jupyter")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            filter(None, [str(staging / "_jupyter"), os.environ.get("JUPYTER_PATH")]))
        common_by_dir = {}
        for data_dir in set(data_dirs[job.name] for job in todo):
            common_by_dir[data_dir] = {
                "versions": versions(), "git_commit": git_commit(),
                "generated_at": build_time(generated_at, data_dir),
                "inputs": [{"path": _display_path(p), "sha256": sha256(p), "bytes": p.stat().st_size}
                           for p in input_files(data_dir)],
            }
        payloads = {}
        for job in todo:
            workdir = staging / job.name.replace("/", "__")
            workdir.mkdir()
            common = common_by_dir[data_dirs[job.name]]
            context = {**common, "parameters": job.shown, "notebook": _display_path(job.notebook),
                       "notebook_sha256": sha256(job.notebook),
                       "window_label": _window_label(job.shown, data_dirs[job.name]), "nav": job.nav,
                       "plotly_src": _plotly_src(job, self_contained)}
            payloads[job.name] = {"input": str(job.notebook), "workdir": str(workdir), "name": job.name,
                                  "html_name": job.html_name, "kernel": KERNEL_NAME, "cell_timeout": cell_timeout,
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
                        _clear_failure(out_dir, job.name)
                        if number == 0:
                            kill_here_for_tests("after-first-report")
                    share_assets(reports, manifests(reports))
                    write_index(reports, out_dir / "_failed")
            except OSError as error:
                for result in done:
                    result.status, result.error = "failed", f"{result.name}: publishing failed: {error}"

        results = pool.run_all([payloads[job.name] for job in todo], workers, report_timeout, progress,
                               on_success=None if all_or_nothing else lambda r: publish([r]))
        if all_or_nothing and all(r.status == "ok" for r in results):
            publish(results)
        failed = [r for r in results if r.status != "ok"]
        if failed:
            _keep_failed(failed, payloads, out_dir)
        return results
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fill_shown(jobs: list[ReportJob]) -> None:
    """Every declared parameter with its value or default, read from the notebooks only when needed."""
    from escalation.params import declared

    missing = sorted({job.notebook for job in jobs if not job.shown})
    declared_by = declared(missing) if missing else {}
    for job in jobs:
        if not job.shown:
            job.shown = _shown(job.parameters, declared_by[job.notebook])


def _display_path(path: Path) -> str:
    path = path.resolve()
    return path.relative_to(paths.ROOT).as_posix() if path.is_relative_to(paths.ROOT) else str(path)


def _failed_stem(name: str) -> str:
    return name.replace("/", "_")


def _clear_failure(out_dir: Path, name: str) -> None:
    for stale in (out_dir / "_failed").glob(f"{_failed_stem(name)}.*"):
        stale.unlink()


def _keep_failed(failed: list[NotebookResult], payloads: dict, out_dir: Path) -> None:
    """For each failed report: the executed notebook and a record of the error, in `<out>/_failed/`. The rest
    of its work folder is dropped first, so that a full disk still has room for the record."""
    target = out_dir / "_failed"
    for result in failed:
        payload = payloads[result.name]
        workdir = Path(payload["workdir"])
        executed = workdir / f"{Path(payload['input']).stem}.ipynb"
        stem = _failed_stem(result.name)
        try:
            target.mkdir(exist_ok=True)
            if executed.exists():
                os.replace(executed, target / f"{stem}.ipynb")
            shutil.rmtree(workdir, ignore_errors=True)
            (target / f"{stem}.error.json").write_text(json.dumps({"report": result.name, "error": result.error}),
                                                       encoding="utf-8")
        except OSError as error:
            log.error("could not keep the failure record of %s in %s: %s", result.name, target, error)


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
