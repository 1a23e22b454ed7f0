"""Build every report: papermill executes the notebooks, nbconvert exports HTML, kaleido the figures.

Safety rules of a build:
- parameters and data files are checked before any kernel starts;
- one build at a time per output folder (a file lock);
- everything is written to a staging folder inside the output folder and moved into place
  only when every notebook succeeded, one report folder at a time with a recoverable swap, so a
  failed or killed build never destroys the last good report;
- a failed notebook is kept, executed up to the error, under `<out>/_failed/`.
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
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from multiprocessing import get_context
from pathlib import Path

from escalation import paths
from escalation.data import read_datapackage, validate_tables
from escalation.index import write_index
from escalation.params import declared, for_notebook

log = logging.getLogger("escalation.build")

KERNEL_NAME = "escalation-build"
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
class NotebookResult:
    name: str
    status: str
    seconds: dict[str, float] = field(default_factory=dict)
    error: str = ""
    html_bytes: int = 0
    figures: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)


def discover(notebooks_dir: Path = paths.NOTEBOOKS_DIR) -> list[Path]:
    """Report notebooks: numbered, e.g. `01_events_overview.ipynb`."""
    return sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb") if p.is_file())


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_files(data_dir: Path) -> list[Path]:
    """The data files a report reads: the datapackage and every table it lists."""
    package = read_datapackage(data_dir)
    files = [data_dir / r["path"] for r in package["resources"]]
    descriptor = data_dir / "datapackage.json"
    return ([descriptor] if descriptor.is_file() else [paths.DATAPACKAGE]) + files


def versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def git_commit(root: Path = paths.ROOT) -> str:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=False)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if out.returncode != 0:
        return "unknown"
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def recover(out_dir: Path) -> None:
    """Finish a swap a killed build left half done: restore a report whose new copy never arrived."""
    for previous in out_dir.glob(f"{PREVIOUS_PREFIX}*"):
        target = out_dir / previous.name[len(PREVIOUS_PREFIX):]
        if target.exists():
            shutil.rmtree(previous, ignore_errors=True)
        else:
            previous.rename(target)
    for staging in out_dir.glob(".staging-*"):
        shutil.rmtree(staging, ignore_errors=True)


def _swap_in(new: Path, target: Path) -> None:
    """Replace `target` by `new`; a crash in between is undone by `recover`."""
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
    index = executed_index - 1 if parameters_index is not None and executed_index > parameters_index else executed_index
    first_line = nb.cells[index].source.strip().splitlines()[0] if nb.cells[index].source.strip() else ""
    return f"cell {index + 1} ({first_line[:60]!r})"


def execute_one(job: dict) -> NotebookResult:
    """Run one notebook with papermill and export its HTML (runs in a worker process)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from escalation.export import export_html

    source, workdir = Path(job["input"]), Path(job["workdir"])
    executed = workdir / f"{source.stem}.ipynb"
    result = NotebookResult(source.stem, "ok")
    started = time.perf_counter()
    try:
        nb = papermill.execute_notebook(
            str(source), str(executed), parameters=job["parameters"], kernel_name=KERNEL_NAME,
            progress_bar=False, log_output=False, cwd=str(source.parent), start_timeout=180,
        )
    except PapermillExecutionError as error:
        result.status = "failed"
        result.error = f"{source.name}: {_failing_cell(source, error)} raised {error.ename}: {error.evalue}"
        return result
    except Exception as error:  # noqa: BLE001 - any failure must name the notebook, not kill the build
        result.status = "failed"
        result.error = f"{source.name}: {type(error).__name__}: {error}"
        return result
    wall = time.perf_counter() - started
    cells = sum(c.get("metadata", {}).get("papermill", {}).get("duration") or 0 for c in nb.cells)
    result.seconds = {"kernel_and_overhead": round(wall - cells, 3), "execution": round(cells, 3)}
    started = time.perf_counter()
    result.html_bytes = export_html(executed, workdir / f"{source.stem}.html", job["context"])
    result.seconds["export"] = round(time.perf_counter() - started, 3)
    result.figures = sorted(p.stem for p in (workdir / "figures").glob("*.json"))
    result.tables = sorted(p.name for p in (workdir / "tables").glob("*.csv"))
    return result


def write_figures(figure_jsons: list[Path], target: Path) -> float:
    """PNG and SVG of every chart through kaleido and the system's Chromium; returns seconds."""
    import kaleido
    import plotly.io as pio

    started = time.perf_counter()
    target.mkdir(parents=True, exist_ok=True)
    jobs = []
    for path in figure_jsons:
        fig = pio.from_json(path.read_text(encoding="utf-8"))
        for fmt in ("png", "svg"):
            jobs.append({"fig": fig, "path": str(target / f"{path.stem}.{fmt}"),
                         "opts": {"format": fmt, "width": 1000, "height": 560, "scale": 1}})
    if jobs:
        os.environ.setdefault("BROWSER_PATH", shutil.which("chromium") or "/usr/bin/chromium")
        kaleido.write_fig_from_object_sync(jobs, kopts={"mathjax": False})
    return time.perf_counter() - started


@dataclass
class BuildResult:
    out_dir: Path
    results: list[NotebookResult]
    seconds: dict[str, float]


def build(values: dict[str, object], out_dir: Path = paths.REPORTS_DIR,
          figures_dir: Path = paths.FIGURES_DIR, notebooks: list[Path] | None = None,
          workers: int = 2, wait: bool = False, progress: bool | None = None,
          generated_at: str | None = None) -> BuildResult:
    """Execute, export and publish every notebook; raises BuildError naming what failed."""
    notebooks = notebooks if notebooks is not None else discover()
    if not notebooks:
        raise BuildError(f"no report notebooks (NN_name.ipynb) in {paths.NOTEBOOKS_DIR}")
    declared_by = declared(notebooks)
    data_dir = Path(str(values.get("data_dir") or paths.DATA_DIR))
    _preflight(data_dir)

    out_dir.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock, Timeout

    lock = FileLock(str(out_dir / ".build.lock"))
    try:
        lock.acquire(timeout=-1 if wait else 0)
    except Timeout as error:
        raise LockedError(f"another build is writing to {out_dir} (lock {lock.lock_file}); "
                          "retry later or pass --wait") from error
    try:
        return _build_locked(values, declared_by, data_dir, out_dir, figures_dir, workers, progress,
                             generated_at)
    finally:
        lock.release()


def _preflight(data_dir: Path) -> None:
    """Stop before any kernel starts when a data file is missing or unreadable."""
    try:
        tables = validate_tables(data_dir)
    except (OSError, ValueError, KeyError) as error:
        raise InputError(f"cannot read the data in {data_dir}: {error}") from error
    if tables.fatal:
        raise InputError("data cannot be read:\n  " + "\n  ".join(str(p) for p in tables.fatal))


def _build_locked(values, declared_by, data_dir, out_dir, figures_dir, workers, progress, generated_at):
    recover(out_dir)
    started = time.perf_counter()
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        _write_kernelspec(staging / "_jupyter")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            filter(None, [str(staging / "_jupyter"), os.environ.get("JUPYTER_PATH")]))
        inputs = [{"path": str(p.relative_to(paths.ROOT)) if p.is_relative_to(paths.ROOT) else str(p),
                   "sha256": sha256(p), "bytes": p.stat().st_size} for p in input_files(data_dir)]
        common = {"versions": versions(), "git_commit": git_commit(), "inputs": inputs,
                  "generated_at": generated_at or datetime.now(UTC).isoformat(timespec="seconds")}
        jobs = []
        for nb, declared_params in declared_by.items():
            workdir = staging / nb.stem
            workdir.mkdir()
            params = for_notebook(values, declared_params)
            params["output_dir"] = str(workdir)
            shown = {k: _default_or(values, k, spec) for k, spec in declared_params.items() if k != "output_dir"}
            context = {**common, "parameters": shown, "notebook": f"notebooks/{nb.name}",
                       "notebook_sha256": sha256(nb), "window_label": _window_label(shown)}
            jobs.append({"input": str(nb), "workdir": str(workdir), "parameters": params, "context": context})
        results = _run(jobs, workers, progress)
        failed = [r for r in results if r.status != "ok"]
        if failed:
            _keep_failed(failed, staging, out_dir)
            write_index(out_dir)
            raise BuildError("build failed; previous reports left untouched:\n  "
                             + "\n  ".join(r.error for r in failed)
                             + f"\n  executed notebooks kept in {out_dir / '_failed'}")
        figure_jsons = sorted(staging.glob("*/figures/*.json"))
        figure_seconds = write_figures(figure_jsons, staging / "_figures")
        for job, result in zip(jobs, results):
            _finish_report(Path(job["workdir"]), job, result, common)
        for job in jobs:
            workdir = Path(job["workdir"])
            _swap_in(workdir, out_dir / workdir.name)
            for stale in (out_dir / "_failed").glob(f"{workdir.name}.*"):
                stale.unlink()
        figures_dir.mkdir(parents=True, exist_ok=True)
        for image in sorted((staging / "_figures").glob("*")):
            os.replace(image, figures_dir / image.name)
        write_index(out_dir)
        seconds = {"total": round(time.perf_counter() - started, 3), "figures": round(figure_seconds, 3)}
        log.info("built %d report(s) in %.1f s into %s", len(results), seconds["total"], out_dir)
        return BuildResult(out_dir, results, seconds)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _default_or(values: dict, key: str, spec: dict) -> str:
    if key in values:
        return str(values[key])
    return str(spec.get("default", "")).strip("'\"")


def _window_label(shown: dict[str, str]) -> str:
    from escalation.metrics import Window

    try:
        return Window.from_params(shown["start"], shown["end"], shown.get("as_of") or None).label()
    except (KeyError, ValueError):
        return ""


def _run(jobs: list[dict], workers: int, progress: bool | None) -> list[NotebookResult]:
    """Execute notebooks in worker processes; a bar on a terminal, plain log lines otherwise."""
    from tqdm import tqdm

    show_bar = sys.stderr.isatty() if progress is None else progress
    results: dict[str, NotebookResult] = {}
    with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(execute_one, job): Path(job["input"]).stem for job in jobs}
        with tqdm(total=len(jobs), desc="notebooks", unit="nb", disable=not show_bar,
                  file=sys.stderr) as bar:
            for future in as_completed(futures):
                result = future.result()
                results[result.name] = result
                bar.update(1)
                if not show_bar:
                    if result.status == "ok":
                        log.info("executed %s in %.1f s", result.name, sum(result.seconds.values()))
                    else:
                        log.error("FAILED %s", result.error)
    return [results[Path(job["input"]).stem] for job in jobs]


def _keep_failed(failed: list[NotebookResult], staging: Path, out_dir: Path) -> None:
    target = out_dir / "_failed"
    target.mkdir(exist_ok=True)
    for result in failed:
        executed = staging / result.name / f"{result.name}.ipynb"
        if executed.exists():
            os.replace(executed, target / executed.name)
        (target / f"{result.name}.error.txt").write_text(result.error + "\n", encoding="utf-8")


def _finish_report(workdir: Path, job: dict, result: NotebookResult, common: dict) -> None:
    """Write the manifest; the figure JSON stays out of the published folder."""
    shutil.rmtree(workdir / "figures", ignore_errors=True)
    manifest = {
        "report": result.name,
        "html": f"{result.name}.html",
        "status": result.status,
        "notebook": job["context"]["notebook"],
        "notebook_sha256": job["context"]["notebook_sha256"],
        "parameters": job["context"]["parameters"],
        "window": job["context"]["window_label"],
        "inputs": common["inputs"],
        "versions": common["versions"],
        "git_commit": common["git_commit"],
        "generated_at": common["generated_at"],
        "timings_seconds": result.seconds,
        "html_bytes": result.html_bytes,
        "figures": result.figures,
        "tables": result.tables,
    }
    (workdir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
