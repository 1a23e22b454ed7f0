"""Where reports run: worker processes on this machine (`concurrent.futures`), or a Dask cluster.

Either way each worker process keeps one warm `runner.ReportRunner` (a kernel and a Chromium) for all
the reports it builds, and hands back a `NotebookResult` per report. Everything else — the lock, the
incremental skip, publishing and failure records — stays in the build's own process, so it behaves
the same whichever executor ran the reports.

- `local`: a `ProcessPoolExecutor` of `workers` processes (by default one per two cores, `default_workers`;
  no more than there are reports), started before the build checks its data; each starts its runner in the
  pool's initializer and dies with the build (`lifeline`), taking its kernel and Chromium with it.
- `dask`: a `distributed.Client` on the scheduler at `scheduler`; each Dask worker process starts its
  runner on its first report and stops it when the worker closes (a worker plugin). The workers must
  see the notebooks, the data and the output folder at the same paths as the build.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager

from escalation.jobs import NotebookResult, label

log = logging.getLogger("escalation.build")

EXECUTORS = ("local", "dask")


def default_workers() -> int:
    """One local worker per two cores: a worker keeps two processes busy at once (its kernel computes while its
    Chromium draws the charts already written), and each costs about 7 s of CPU to start (kernel and imports,
    Chromium, papermill and nbconvert). Measured on 2 busy cores: `build --force` of the 3 main reports took 25 CPU-s
    on one worker against 35 on two, and less wall time; the 35-day backfill 78 against 97 CPU-s, 86 against
    102 s (bench/bench_build.py, bench/bench_backfill.py)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // 2)


class ExecutorError(RuntimeError):
    """The executor cannot be used: the Dask extra is missing, or its scheduler cannot be reached."""


class Started:
    """An executor whose workers are already starting: a local build starts them as soon as it knows there are
    reports to make, so that their kernels and Chromium warm up while it checks the data."""

    def __init__(self, submit: Callable[[list[dict]], Iterator[NotebookResult]], release: Callable[[], None]):
        self._submit, self._release = submit, release

    def run_all(self, payloads: list[dict], on_result: Callable[[NotebookResult], None] | None = None,
                progress: bool | None = None) -> list[NotebookResult]:
        """Build every payload; `on_result` sees each result as it comes. A bar on a terminal, log lines
        otherwise."""
        from tqdm import tqdm

        show_bar = sys.stderr.isatty() if progress is None else progress
        results = {}
        with tqdm(total=len(payloads), desc="reports", unit="report", disable=not show_bar, file=sys.stderr) as bar:
            for result in self._submit(payloads):
                results[result.name] = result
                if on_result:
                    on_result(result)
                bar.update(1)
                if not show_bar:
                    if result.status == "ok":
                        log.info("built %s in %.1f s", result.name, sum(result.seconds.values()))
                    else:
                        log.error("FAILED %s", result.error)
        return [results[payload["name"]] for payload in payloads]

    def release(self) -> None:
        """No more reports: the local workers start stopping (their kernels and Chromium take about a second) while
        the build publishes; leaving `started` waits until they are gone."""
        self._release()


@contextmanager
def started(executor: str = "local", workers: int | None = None, reports: int = 1,
            scheduler: str | None = None) -> Iterator[Started]:
    """The executor, ready for `reports` reports: `workers` local processes (`default_workers` when None; no more
    than there are reports), already starting, or a client of the Dask scheduler at `scheduler`. Leaving the block
    stops the local workers, with their kernels and Chromium."""
    opened = (_dask(scheduler) if executor == "dask"
              else _local(max(1, min(workers or default_workers(), reports))))
    with opened as ready:
        yield ready


@contextmanager
def _local(workers: int) -> Iterator[Started]:
    """Worker processes started fresh (`spawn`: no state of the build is copied into them), at once: a pool starts
    a process for each task it is given while none is idle, so one empty task per worker starts them all."""
    from escalation import runner  # the kernel's machinery; papermill is imported by the workers only

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=runner.start_worker, initargs=(os.getpid(),))
    for _ in range(workers):
        pool.submit(os.getpid)

    def submit(payloads: list[dict]) -> Iterator[NotebookResult]:
        futures = {pool.submit(runner.build_report, payload): payload for payload in payloads}
        return (_result(future, futures[future]) for future in as_completed(futures))

    stopping = threading.Thread(target=pool.shutdown, name="stopping-workers")

    def release() -> None:
        if stopping.ident is None:  # not started yet
            stopping.start()

    try:
        yield Started(submit, release)
    except BaseException:
        processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown forgets them
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:  # their kernels and Chromium follow
            process.kill()
        raise
    release()
    stopping.join()


@contextmanager
def _dask(scheduler: str | None) -> Iterator[Started]:
    try:
        from distributed import Client
        from distributed import as_completed as completed
        from distributed.diagnostics.plugin import WorkerPlugin
    except ImportError as error:
        raise ExecutorError("--executor dask needs the dask extra: pip install 'escalation[dask]'") from error
    try:
        client = Client(scheduler, timeout="20s", set_as_default=False)
    except OSError as error:
        raise ExecutorError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from error

    class RunnerPlugin(WorkerPlugin):
        """Stops a Dask worker's runner (kernel and Chromium) when the worker closes. Registered once per cluster
        (`idempotent`): registering it again would tear the previous one down, stopping the warm runners of every
        worker, even in the middle of another build's report."""

        idempotent = True

        def teardown(self, worker) -> None:
            from escalation import runner

            runner.stop_process_runner()

    def submit(payloads: list[dict]) -> Iterator[NotebookResult]:
        run = uuid.uuid4().hex[:8]
        futures = {client.submit(_build_on_worker, payload, key=f"escalation-{run}-{payload['name']}",
                                 pure=False): payload for payload in payloads}
        return (_result(future, futures[future]) for future in completed(futures, loop=client.loop))

    try:
        client.register_plugin(RunnerPlugin(), name="escalation-runner")
        yield Started(submit, release=lambda: None)  # the cluster's workers stay, warm, for the next build
    finally:
        client.close()


def _build_on_worker(payload: dict) -> NotebookResult:
    """The Dask task: the report on the worker's warm runner. Sent by name, so that the command, which only hands
    out reports, never imports papermill and the Jupyter stack (about a second of CPU per run)."""
    from escalation import runner

    return runner.build_report(payload)


def _result(future, payload: dict) -> NotebookResult:
    """The report's result, or a failure naming the report when its worker died or the task was lost."""
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 - a dead worker must not stop the other reports
        return NotebookResult(payload["name"], "failed",
                              error=f"{label(payload)}: the worker was lost ({type(error).__name__}: {error})")
