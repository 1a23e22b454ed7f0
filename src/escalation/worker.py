"""`python -m escalation.worker`: build one report in a process of its own.

Each report runs in a fresh process (its own kernel and Chromium), started and reaped by the build,
so a stuck or crashed report cannot take the build's bookkeeping down with it. The job comes on
stdin and the result leaves on stdout, never through the disk, so that a full disk is reported with
its cause; everything else the worker or its children print goes to stderr.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path

from escalation import cells, lifeline
from escalation.pool import NotebookResult

#: A failure's message is cut here so that the result always fits the pipe.
MAX_ERROR_CHARS = 4000


def execute_one(job: dict) -> NotebookResult:
    """Run one notebook with papermill (each cell within the cell timeout), export its HTML and figures."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from escalation.export import export_html
    from escalation.images import write_figures

    source, workdir = Path(job["input"]), Path(job["workdir"])
    executed = workdir / f"{source.stem}.ipynb"
    result = NotebookResult(job["name"], "ok")
    started = time.perf_counter()
    try:
        nb = papermill.execute_notebook(
            str(source), str(executed), parameters=job["parameters"], kernel_name=job["kernel"],
            progress_bar=False, log_output=False, cwd=str(source.parent), start_timeout=180,
            execution_timeout=job["cell_timeout"], interrupt_on_timeout=True,
        )
    except PapermillExecutionError as error:
        cell = cells.describe(source, error.cell_index)
        if error.ename == "KeyboardInterrupt":  # what the kernel raises when the cell timeout interrupts it
            cause = f"ran longer than the cell timeout ({job['cell_timeout']:g} s) and was interrupted"
        else:
            cause = f"raised {error.ename}: {error.evalue}"
        return NotebookResult(job["name"], "failed", error=f"{source.name} ({job['name']}): {cell} {cause}")
    wall = time.perf_counter() - started
    duration = sum(c.get("metadata", {}).get("papermill", {}).get("duration") or 0 for c in nb.cells)
    result.seconds = {"kernel_start": round(wall - duration, 3), "execution": round(duration, 3)}
    started = time.perf_counter()
    result.html_bytes = export_html(executed, workdir / job["html_name"], job["context"],
                                    plotly_src=job["context"]["plotly_src"])
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


def main() -> None:
    lifeline.end_group_on_term()
    result_channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # Chromium, the kernel and any print write to stderr
    sys.stdout = sys.stderr
    job = json.loads(sys.stdin.read())
    try:
        result = execute_one(job)
    except Exception as error:  # noqa: BLE001 - any failure (a full disk too) names the report and its cause
        result = NotebookResult(job["name"], "failed",
                                error=f"{Path(job['input']).name} ({job['name']}): {type(error).__name__}: {error}")
    result.error = result.error[:MAX_ERROR_CHARS]
    result_channel.write(json.dumps(dataclasses.asdict(result)))
    result_channel.close()


if __name__ == "__main__":
    main()
