"""Reports built in worker processes, `workers` at a time, each within a wall-clock limit.

A worker that outlives `report_timeout` is killed with its process group (its Chromium; its kernel dies
with it, see `lifeline`) and its report fails with a record naming the cell that was running.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from escalation import cells, lifeline

log = logging.getLogger("escalation.build")

#: Default limits in seconds: one cell, and one whole report (kernel start, execution, HTML, figures).
CELL_TIMEOUT, REPORT_TIMEOUT = 300.0, 1200.0


@dataclass
class NotebookResult:
    name: str
    status: str
    seconds: dict[str, float] = field(default_factory=dict)
    error: str = ""
    html_bytes: int = 0
    figures: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)


def run_all(payloads: list[dict], workers: int, report_timeout: float, progress: bool | None,
            on_success) -> list[NotebookResult]:
    """Run each payload in a worker; a bar on a terminal, plain log lines otherwise."""
    from tqdm import tqdm

    show_bar = sys.stderr.isatty() if progress is None else progress
    pending, running, results = list(payloads), {}, {}
    parent = os.getpid()
    try:
        with tqdm(total=len(payloads), desc="reports", unit="report", disable=not show_bar, file=sys.stderr) as bar:
            while pending or running:
                while pending and len(running) < max(1, workers):
                    payload = pending.pop(0)
                    process = subprocess.Popen([sys.executable, "-m", "escalation.worker"], stdin=subprocess.PIPE,
                                               stdout=subprocess.PIPE,
                                               preexec_fn=lambda: lifeline.start_worker_group(parent))
                    process.stdin.write(json.dumps(payload).encode("utf-8"))
                    process.stdin.close()
                    running[process] = (payload, time.monotonic())
                time.sleep(0.05)
                for process, (payload, started) in list(running.items()):
                    if process.poll() is None and time.monotonic() - started <= report_timeout:
                        continue
                    del running[process]
                    if process.poll() is None:
                        lifeline.kill_group(process.pid)
                        process.wait()
                        result = _timed_out(payload, report_timeout)
                    else:
                        lifeline.kill_group(process.pid)  # whatever the worker left behind in its group
                        result = _read_result(payload, process)
                    results[result.name] = result
                    if result.status == "ok" and on_success:
                        on_success(result)
                    bar.update(1)
                    if not show_bar:
                        if result.status == "ok":
                            log.info("built %s in %.1f s", result.name, sum(result.seconds.values()))
                        else:
                            log.error("FAILED %s", result.error)
    finally:
        for process in running:
            lifeline.kill_group(process.pid)
            process.wait()
    return [results[payload["name"]] for payload in payloads]


def _read_result(payload: dict, process: subprocess.Popen) -> NotebookResult:
    """The worker's result, or a failure naming the report when the worker died without one."""
    output = process.stdout.read()
    process.stdout.close()
    try:
        return NotebookResult(**json.loads(output))
    except (ValueError, TypeError):  # no result, or a cut one: the worker died
        pass
    return NotebookResult(payload["name"], "failed",
                          error=f"{_notebook(payload)}: worker exited with code {process.returncode}")


def _timed_out(payload: dict, limit: float) -> NotebookResult:
    executed = Path(payload["workdir"]) / f"{Path(payload['input']).stem}.ipynb"
    cell = cells.describe(Path(payload["input"]), cells.running(executed))
    return NotebookResult(payload["name"], "failed",
                          error=f"{_notebook(payload)}: {cell} was still running when the report timeout "
                                f"({limit:g} s) ended it")


def _notebook(payload: dict) -> str:
    return f"{Path(payload['input']).name} ({payload['name']})"
