"""Build reports: papermill executes the notebooks, nbconvert exports HTML, kaleido the figures.

Safety rules of a build:
- parameters and data files are checked before any kernel starts;
- one build at a time per output folder (a file lock);
- a report whose inputs are unchanged (see `incremental`) is skipped unless forced;
- everything is written to a staging folder inside the output folder and moved into place with
  a recoverable swap, so a failed or killed build never destroys the last good report. `build`
  publishes only when every notebook succeeded; `backfill` publishes each day as it succeeds,
  so a killed run keeps its finished days and the next run completes the rest;
- a failed notebook is kept, executed up to the error, under `<out>/_failed/`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from escalation import incremental, paths
from escalation.case import CASE_FILE
from escalation.index import write_index
from escalation.moments import end_of_day
from escalation.params import default_value
from escalation.schema import read_datapackage

log = logging.getLogger("escalation.build")

KERNEL_NAME = "escalation-build"
DAILY_NOTEBOOK = "04_daily_situation_report.ipynb"
EXPLORE_NOTEBOOK = "00_explore.ipynb"  # interactive quick start for JupyterLab, not a report
PACKAGES = ("escalation", "pandas", "pyarrow", "plotly", "papermill", "nbconvert", "nbclient",
            "ipykernel", "kaleido", "frictionless", "ruptures")
PREVIOUS_PREFIX = ".prev-"


class BuildError(RuntimeError):
    """The build stopped; the message says which notebook, cell and exception, or which input."""


class InputError(BuildError):
    """A data file is missing or cannot be read; nothing was executed."""


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
class NotebookResult:
    name: str
    status: str
    seconds: dict[str, float] = field(default_factory=dict)
    error: str = ""
    html_bytes: int = 0
    figures: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)


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
    found = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


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


def recover(out_dir: Path) -> None:
    """Finish what a killed build left: restore a report whose new copy never arrived, drop staging."""
    for previous in sorted(out_dir.glob(f"**/{PREVIOUS_PREFIX}*")):
        target = previous.with_name(previous.name[len(PREVIOUS_PREFIX):])
        if target.exists():
            shutil.rmtree(previous, ignore_errors=True)
        else:
            previous.rename(target)
    for staging in out_dir.glob(".staging-*"):
        shutil.rmtree(staging, ignore_errors=True)


def _swap_in(new: Path, target: Path) -> None:
    """Replace `target` by `new`; a crash in between is undone by `recover`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    previous = target.with_name(PREVIOUS_PREFIX + target.name)
    if target.exists():
        if previous.exists():
            shutil.rmtree(previous)
        target.rename(previous)
    new.rename(target)
    if previous.exists():
        shutil.rmtree(previous)


def _write_kernelspec(base: Path) -> Path:
    """A kernelspec for this very interpreter, so the build never picks up another environment's."""
    spec_dir = base / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--IPKernelApp.log_level=ERROR"],
        "display_name": "escalation (build)",
        "language": "python",
        "env": {"PYTHONWARNINGS": "ignore"},
    }), encoding="utf-8")
    return base


def _failing_cell(source_nb: Path, error) -> str:
    """'cell N' in the notebook as committed (papermill's injected cell not counted) and its first line."""
    import nbformat

    executed_index = getattr(error, "cell_index", None)
    if executed_index is None:
        return "unknown cell"
    nb = nbformat.read(source_nb, as_version=4)
    parameters_index = next((i for i, c in enumerate(nb.cells)
                             if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    injected = parameters_index is not None and executed_index > parameters_index
    index = executed_index - 1 if injected else executed_index
    first_line = nb.cells[index].source.strip().splitlines()[0] if nb.cells[index].source.strip() else ""
    return f"cell {index + 1} ({first_line[:60]!r})"


def write_figures(figure_jsons: list[Path], target: Path) -> None:
    """PNG and SVG of every chart through kaleido and one run of the system's Chromium."""
    import kaleido
    import plotly.io as pio

    os.environ.setdefault("BROWSER_PATH", shutil.which("chromium") or "/usr/bin/chromium")
    for chatty in ("kaleido", "choreographer", "logistro"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    target.mkdir(parents=True, exist_ok=True)
    jobs = []
    for path in figure_jsons:
        fig = pio.from_json(path.read_text(encoding="utf-8"))
        for fmt in ("png", "svg"):
            jobs.append({"fig": fig, "path": str(target / f"{path.stem}.{fmt}"),
                         "opts": {"format": fmt, "width": 1000, "height": fig.layout.height or 560, "scale": 1}})
    if jobs:
        kaleido.write_fig_from_object_sync(jobs, kopts={"mathjax": False})
    for svg in target.glob("*.svg"):
        _stable_svg_ids(svg)


RANDOM_SVG_ID = re.compile(r"(?:clip|legend|trace|^p|-)([0-9a-f]{6})(?=[xy-]|$)")


def _stable_svg_ids(svg: Path) -> None:
    """plotly.js names clip paths, patterns and trace groups with random hex ids; renumbering them in order
    of appearance makes rebuilt SVG files byte-identical."""
    text = svg.read_text(encoding="utf-8")
    found = []
    for value in re.findall(r'\b(?:id|class)="([^"]+)"', text):
        for token in value.split():
            found += RANDOM_SVG_ID.findall(token)
    for number, token in enumerate(dict.fromkeys(found), start=1):
        text = text.replace(token, f"{number:06x}")
    svg.write_text(text, encoding="utf-8")


def execute_one(job: dict) -> NotebookResult:
    """Run one notebook with papermill, export its HTML and figures (runs in a worker process)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from escalation.export import export_html

    source, workdir = Path(job["input"]), Path(job["workdir"])
    executed = workdir / f"{source.stem}.ipynb"
    result = NotebookResult(job["name"], "ok")
    started = time.perf_counter()
    try:
        nb = papermill.execute_notebook(
            str(source), str(executed), parameters=job["parameters"], kernel_name=KERNEL_NAME,
            progress_bar=False, log_output=False, cwd=str(source.parent), start_timeout=180,
        )
    except PapermillExecutionError as error:
        result.status = "failed"
        result.error = (f"{source.name} ({job['name']}): {_failing_cell(source, error)} raised "
                        f"{error.ename}: {error.evalue}")
        return result
    except Exception as error:  # noqa: BLE001 - any failure must name the notebook, not kill the build
        result.status = "failed"
        result.error = f"{source.name} ({job['name']}): {type(error).__name__}: {error}"
        return result
    wall = time.perf_counter() - started
    cells = sum(c.get("metadata", {}).get("papermill", {}).get("duration") or 0 for c in nb.cells)
    result.seconds = {"kernel_start": round(wall - cells, 3), "execution": round(cells, 3)}
    started = time.perf_counter()
    result.html_bytes = export_html(executed, workdir / job["html_name"], job["context"])
    result.seconds["export"] = round(time.perf_counter() - started, 3)
    executed.unlink()  # it carries run times; the HTML, tables and figures are the report
    started = time.perf_counter()
    figure_jsons = sorted((workdir / "figures").glob("*.json"))
    write_figures(figure_jsons, workdir / "_images")
    result.seconds["figures"] = round(time.perf_counter() - started, 3)
    result.figures = [p.stem for p in figure_jsons]
    shutil.rmtree(workdir / "figures", ignore_errors=True)
    result.tables = sorted(p.name for p in (workdir / "tables").glob("*.csv"))
    return result


def preflight(data_dir: Path) -> None:
    """Stop before any kernel starts when a data file is missing or unreadable."""
    from escalation.data import validate_tables

    try:
        tables = validate_tables(data_dir)
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


def run(jobs: list[ReportJob], out_dir: Path = paths.REPORTS_DIR, figures_dir: Path = paths.FIGURES_DIR,
        workers: int = 2, wait: bool = False, progress: bool | None = None, force: bool = False,
        all_or_nothing: bool = True, generated_at: str | None = None) -> BuildResult:
    """Build the jobs whose inputs changed; raises BuildError naming what failed."""
    from filelock import FileLock, Timeout

    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(out_dir / ".build.lock"))
    try:
        lock.acquire(timeout=-1 if wait else 0)
    except Timeout as error:
        raise LockedError(f"another build is writing to {out_dir} (lock {lock.lock_file}); "
                          "retry later or pass --wait") from error
    try:
        recover(out_dir)
        data_dirs = {job.name: _data_dir(job) for job in jobs}
        keys = {job.name: incremental.input_key(job.notebook, job.parameters, {**job.shown, **job.parameters},
                                                data_dirs[job.name], job.nav) for job in jobs}
        todo = [job for job in jobs if force or incremental.published_key(out_dir / job.name) != keys[job.name]]
        skipped = [job.name for job in jobs if job not in todo]
        for name in skipped:  # the published report is current: an older failure no longer applies
            for stale in (out_dir / "_failed").glob(f"{_failed_stem(name)}.*"):
                stale.unlink()
        if skipped:
            log.info("%d report(s) unchanged, skipped (use --force to rebuild)", len(skipped))
        results: list[NotebookResult] = []
        if todo:
            for data_dir in sorted(set(data_dirs[job.name] for job in todo)):
                preflight(data_dir)
            results = _execute(todo, keys, data_dirs, out_dir, figures_dir, workers, progress, all_or_nothing,
                               generated_at)
        write_index(out_dir)
        seconds = {"total": round(time.perf_counter() - started, 3)}
        failed = [r for r in results if r.status != "ok"]
        if failed:
            kept = "previous reports left untouched" if all_or_nothing else "the other reports were published"
            raise BuildError(f"build failed; {kept}:\n  " + "\n  ".join(r.error for r in failed)
                             + f"\n  executed notebooks kept in {out_dir / '_failed'}")
        log.info("built %d report(s), skipped %d, in %.1f s into %s", len(results), len(skipped),
                 seconds["total"], out_dir)
        return BuildResult(out_dir, results, skipped, seconds)
    finally:
        lock.release()


def _data_dir(job: ReportJob) -> Path:
    """The job's data folder: as given, else the notebook's default (read from the notebook's folder)."""
    given = Path(str(job.parameters.get("data_dir") or job.shown.get("data_dir") or paths.DATA_DIR))
    return given if given.is_absolute() else (job.notebook.parent / given).resolve()


def _execute(todo, keys, data_dirs, out_dir, figures_dir, workers, progress, all_or_nothing, generated_at):
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
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
        _fill_shown(todo)
        payloads = {}
        for job in todo:
            workdir = staging / job.name.replace("/", "__")
            workdir.mkdir()
            common = common_by_dir[data_dirs[job.name]]
            context = {**common, "parameters": job.shown, "notebook": _display_path(job.notebook),
                       "notebook_sha256": sha256(job.notebook),
                       "window_label": _window_label(job.shown, data_dirs[job.name]), "nav": job.nav}
            payloads[job.name] = {"input": str(job.notebook), "workdir": str(workdir), "name": job.name,
                                  "html_name": job.html_name,
                                  "parameters": {**job.parameters, "output_dir": str(workdir)}, "context": context}

        def publish(job: ReportJob, result: NotebookResult) -> None:
            workdir = Path(payloads[job.name]["workdir"])
            _write_manifest(workdir, job, result, payloads[job.name]["context"], keys[job.name])
            images = workdir / "_images"
            target_images = figures_dir / job.figures_subdir
            target_images.mkdir(parents=True, exist_ok=True)
            for image in sorted(images.glob("*")):
                os.replace(image, target_images / image.name)
            images.rmdir()
            _swap_in(workdir, out_dir / job.name)
            for stale in (out_dir / "_failed").glob(f"{_failed_stem(job.name)}.*"):
                stale.unlink()

        by_name = {job.name: job for job in todo}
        results = _run_pool([payloads[job.name] for job in todo], workers, progress,
                            on_success=None if all_or_nothing else lambda r: publish(by_name[r.name], r))
        failed = [r for r in results if r.status != "ok"]
        if failed:
            _keep_failed(failed, payloads, out_dir)
        if all_or_nothing and not failed:
            for result in results:
                publish(by_name[result.name], result)
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


def _run_pool(payloads: list[dict], workers: int, progress: bool | None, on_success) -> list[NotebookResult]:
    """Run each report in a worker process of its own, `workers` at a time; a bar on a terminal, plain log
    lines otherwise."""
    from tqdm import tqdm

    show_bar = sys.stderr.isatty() if progress is None else progress
    pending, running, results = list(payloads), {}, {}
    with tqdm(total=len(payloads), desc="reports", unit="report", disable=not show_bar, file=sys.stderr) as bar:
        while pending or running:
            while pending and len(running) < max(1, workers):
                payload = pending.pop(0)
                job_file = Path(payload["workdir"]) / "_job.json"
                job_file.write_text(json.dumps(payload), encoding="utf-8")
                process = subprocess.Popen([sys.executable, "-m", "escalation.worker", str(job_file),
                                            str(job_file.with_name("_result.json"))], stdin=subprocess.DEVNULL)
                running[process] = payload
            time.sleep(0.05)
            for process in [p for p in running if p.poll() is not None]:
                payload = running.pop(process)
                result = _read_result(payload, process.returncode)
                results[result.name] = result
                if result.status == "ok" and on_success:
                    on_success(result)
                bar.update(1)
                if not show_bar:
                    if result.status == "ok":
                        log.info("built %s in %.1f s", result.name, sum(result.seconds.values()))
                    else:
                        log.error("FAILED %s", result.error)
    return [results[payload["name"]] for payload in payloads]


def _read_result(payload: dict, returncode: int) -> NotebookResult:
    """The worker's result, or a failure naming the report when the worker died without one."""
    workdir = Path(payload["workdir"])
    result_file = workdir / "_result.json"
    (workdir / "_job.json").unlink(missing_ok=True)
    if returncode == 0 and result_file.is_file():
        result = NotebookResult(**json.loads(result_file.read_text(encoding="utf-8")))
        result_file.unlink()
        return result
    error = f"{Path(payload['input']).name} ({payload['name']}): worker exited with code {returncode}"
    return NotebookResult(payload["name"], "failed", error=error)


def _keep_failed(failed: list[NotebookResult], payloads: dict, out_dir: Path) -> None:
    target = out_dir / "_failed"
    target.mkdir(exist_ok=True)
    for result in failed:
        payload = payloads[result.name]
        executed = Path(payload["workdir"]) / f"{Path(payload['input']).stem}.ipynb"
        stem = _failed_stem(result.name)
        if executed.exists():
            os.replace(executed, target / f"{stem}.ipynb")
        (target / f"{stem}.error.json").write_text(json.dumps({"report": result.name, "error": result.error}),
                                                   encoding="utf-8")


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
    }
    (workdir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
