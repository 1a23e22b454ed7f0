"""One worker's warm machinery: a Jupyter kernel and a kaleido Chromium that live as long as the worker, so
that a report pays for neither a kernel start, nor the imports of pandas and Plotly, nor a browser start.

- papermill runs each notebook on the running kernel (`warm_kernel_engine`: papermill's nbclient engine
  given the kernel manager); before each report `kernel_state.restore` puts the kernel back as it was
  after warm-up, so nothing a report leaves behind reaches the next one.
- Each cell runs within the cell timeout (papermill interrupts it); each report within the report
  timeout, after which a watchdog kills the kernel and the report fails naming the cell that was running.
- A report that fails in any way gets the kernel restarted (and warmed again): a kernel that was
  interrupted, killed or left in an unknown state is never reused.
- Chromium draws each chart as soon as the notebook has written it (`images.Drawing`), while the kernel
  goes on with the next cells.
- The kernel dies with its worker (`lifeline`), Chromium when the worker's pipe to it closes.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import functools
import logging
import multiprocessing.util
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from jupyter_core.utils import run_sync

from escalation import cells, images, lifeline
from escalation.jobs import NotebookResult, label
from escalation.kernelspec import KERNEL_NAME, write_kernelspec

log = logging.getLogger("escalation.build")

#: Seconds a kernel may take to start and import the modules every report needs.
START_TIMEOUT = 180
ENGINE_NAME = "escalation-warm-kernel"
STAGES = {"reset": "the kernel's reset", "export": "the HTML export", "figures": "the figure export"}


@functools.cache
def warm_kernel_engine() -> str:
    """Register, once per process, papermill's nbclient engine on a kernel that is already running (`km`),
    through a client whose channels are already open (`kc`): both are left as they are after the notebook. The
    notebook being executed is kept in `executing["nb"]`, and written to `partial_path` as far as it ran when
    execution stopped (a dead kernel). Registered on first use: papermill and nbclient take about a second of CPU to
    import, which a worker spends while its kernel starts, and the build's own process never."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines

    class WarmKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, km=None, kc=None, partial_path=None, executing=None,
                                     start_timeout=60, execution_timeout=None, **kwargs):
            import nbformat
            from papermill.log import logger

            kwargs.pop("input_path", None)
            if executing is not None:
                executing["nb"] = nb_man.nb
            client = PapermillNotebookClient(nb_man, km=km, kernel_name=kernel_name, timeout=execution_timeout,
                                             startup_timeout=start_timeout, log=logger, **kwargs)
            client.kc = kc  # nbclient starts a client (and waits for the kernel) only when it has none
            try:
                return client.execute()
            except Exception:
                if partial_path:
                    nbformat.write(nb_man.nb, partial_path)
                raise

    papermill_engines.register(ENGINE_NAME, WarmKernelEngine)
    return ENGINE_NAME


def _warm_up_worker() -> None:
    """What a worker prepares while its kernel starts: papermill's engine, which the first report needs first, then
    the HTML exporter."""
    from escalation import export

    warm_kernel_engine()
    export.warm_up()


class KernelError(RuntimeError):
    """The kernel could not be started or warmed up."""


class ReportRunner:
    """A warm kernel and a kaleido server, building one report at a time."""

    def __init__(self) -> None:
        self._home = Path(tempfile.mkdtemp(prefix="escalation-runner-"))
        self._kernel_dirs = write_kernelspec(self._home)
        self._lock = threading.Lock()
        self._starts = 0
        self.km = self.kc = None
        self._stage, self._running_cell, self._timed_out = "reset", None, False
        self._launch_kernel()  # first: its start and warm-up are what the first report waits for
        images.start_server()
        warming = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="worker-warm-up")
        self._worker_warmed_up = warming.submit(_warm_up_worker)  # while the kernel starts
        warming.shutdown(wait=False)
        self._warm_up_kernel()

    @property
    def kernel_pid(self) -> int | None:
        return getattr(self.km.provisioner, "pid", None) if self.km is not None else None

    def build(self, job: dict) -> NotebookResult:
        """Build one report; never raises for a failing report. `job` is the build's payload: input (the
        notebook), workdir, name, html_name, parameters, context (for the HTML header and footer),
        cell_timeout and report_timeout."""
        with self._lock:
            self._stage, self._running_cell, self._timed_out = "reset", None, False
            watchdog = threading.Timer(job["report_timeout"], self._end_kernel)
            watchdog.daemon = True
            watchdog.start()
            try:
                result = self._build(job)
            except Exception as error:  # noqa: BLE001 - any failure (a full disk too) names the report and cause
                result = NotebookResult(job["name"], "failed", error=f"{label(job)}: {type(error).__name__}: {error}")
            finally:
                watchdog.cancel()
            if self._timed_out:
                what = (cells.describe(Path(job["input"]), self._running_cell) if self._stage == "execution"
                        else STAGES[self._stage])
                result = NotebookResult(job["name"], "failed",
                                        error=f"{label(job)}: {what} was still running when the report timeout "
                                              f"({job['report_timeout']:g} s) ended it")
            if result.status != "ok":
                try:
                    self._restart_kernel()
                except Exception as error:  # noqa: BLE001 - the next report tries again and fails with the cause
                    log.error("could not restart the kernel after %s failed: %s", job["name"], error)
                    self._shutdown_kernel()
            return result

    def _build(self, job: dict) -> NotebookResult:
        source, workdir = Path(job["input"]), Path(job["workdir"])
        started = time.perf_counter()
        if self.km is None or not run_sync(self.km.is_alive)():
            self._restart_kernel()
        self._run_in_kernel(f"import escalation.kernel_state as s; s.restore({str(source.parent)!r})")
        self._stage = "execution"
        self._drawing = images.Drawing(workdir / "figures", workdir / "_images")
        try:
            return self._execute_and_export(job, source, workdir, started)
        finally:
            self._drawing.wait()  # nothing may still write into the work folder

    def _execute_and_export(self, job: dict, source: Path, workdir: Path, started: float) -> NotebookResult:
        """Execute the notebook (Chromium draws each chart meanwhile), then export its HTML while Chromium draws the
        last charts. Each phase's time is its own wall time."""
        import papermill
        from papermill.exceptions import PapermillExecutionError

        from escalation import export

        # kept for the failure record only: the executed notebook of a report that succeeds is not written (about
        # 0.4 s of CPU for a report with large charts, right when its HTML is awaited)
        executed, executing = workdir / f"{source.stem}.ipynb", {}
        try:
            nb = papermill.execute_notebook(
                str(source), None, parameters=job["parameters"], kernel_name=KERNEL_NAME,
                progress_bar=False, log_output=False, request_save_on_cell_execute=False,
                execution_timeout=job["cell_timeout"], interrupt_on_timeout=True,
                engine_name=warm_kernel_engine(), km=self.km, kc=self.kc, partial_path=str(executed),
                executing=executing, on_cell_execute=self._cell_started,
            )
        except PapermillExecutionError as error:
            import nbformat

            nbformat.write(executing["nb"], executed)  # as papermill marks it: the failing cell's error on top
            cell = cells.describe(source, error.cell_index)
            if error.ename == "KeyboardInterrupt":  # what the kernel raises when the cell timeout interrupts it
                cause = f"ran longer than the cell timeout ({job['cell_timeout']:g} s) and was interrupted"
            else:
                cause = f"raised {error.ename}: {error.evalue}"
            return NotebookResult(job["name"], "failed", error=f"{label(job)}: {cell} {cause}")
        result = NotebookResult(job["name"], "ok")
        wall = time.perf_counter() - started
        duration = sum(c.get("metadata", {}).get("papermill", {}).get("duration") or 0 for c in nb.cells)
        result.seconds = {"kernel_start": round(wall - duration, 3), "execution": round(duration, 3)}
        started = time.perf_counter()
        self._drawing.draw_new()  # the last cell's charts
        self._stage = "export"
        concurrent.futures.wait([self._worker_warmed_up])  # a failed warm-up fails the export with its cause
        result.html_bytes = export.write_html(nb, executed.stem, workdir / job["html_name"], job["context"],
                                              plotly_src=job["context"].get("plotly_src"))
        result.seconds["export"] = round(time.perf_counter() - started, 3)
        self._stage = "figures"
        self._drawing.result()
        result.seconds["figures"] = round(time.perf_counter() - started, 3)
        result.figures = self._drawing.charts
        shutil.rmtree(workdir / "figures", ignore_errors=True)
        result.tables = sorted(p.name for p in (workdir / "tables").glob("*.csv"))
        return result

    def _cell_started(self, cell, cell_index: int) -> None:
        """Before each cell: the kernel is between cells, the charts of the cells before are written."""
        self._running_cell = cell_index
        self._drawing.draw_new()

    def _end_kernel(self) -> None:
        """The report timeout: kill the kernel and whatever it started (its own process group)."""
        self._timed_out = True
        pid = self.kernel_pid
        if pid:
            lifeline.kill_group(pid)

    def _launch_kernel(self) -> None:
        """Start a kernel process (asynchronous, as nbclient drives it); `_warm_up_kernel` waits for it."""
        from jupyter_client import AsyncKernelManager
        from jupyter_client.kernelspec import KernelSpecManager

        self._starts += 1
        self.km = AsyncKernelManager(kernel_name=KERNEL_NAME,
                                     kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(self._kernel_dirs)]),
                                     connection_file=str(self._home / f"kernel-{self._starts}.json"))
        run_sync(self.km.start_kernel)()

    def _warm_up_kernel(self) -> None:
        """Wait for the launched kernel and import what every report needs."""
        self.kc = self.km.client()
        self.kc.allow_stdin = False
        self.kc.start_channels()
        run_sync(self.kc.wait_for_ready)(timeout=START_TIMEOUT)
        self._run_in_kernel("import escalation.kernel_state as s; s.warm_up()")

    def _restart_kernel(self) -> None:
        self._shutdown_kernel()
        self._launch_kernel()
        self._warm_up_kernel()

    def _shutdown_kernel(self) -> None:
        km, kc, self.km, self.kc = self.km, self.kc, None, None
        if kc is not None:
            kc.stop_channels()
        if km is not None and km.has_kernel:
            try:
                run_sync(km.shutdown_kernel)(now=True)
            except (RuntimeError, OSError) as error:  # already dead: only its files are left to clean
                log.debug("kernel shutdown: %s", error)
                run_sync(km.cleanup_resources)()

    def _run_in_kernel(self, code: str) -> None:
        """Run the runner's own code in the kernel: silent, outside the history and the execution count."""
        reply = run_sync(self.kc.execute_interactive)(code, silent=True, store_history=False, timeout=START_TIMEOUT,
                                                      output_hook=lambda message: None)
        if reply["content"]["status"] != "ok":
            raise KernelError(f"{reply['content'].get('ename')}: {reply['content'].get('evalue')}")

    def stop(self) -> None:
        """End the kernel and Chromium; safe to call twice."""
        self._shutdown_kernel()
        images.stop_server()
        shutil.rmtree(self._home, ignore_errors=True)


_process_runner: dict[str, ReportRunner] = {}


def process_runner() -> ReportRunner:
    """This process's runner, started on first use and stopped when the process ends."""
    if "runner" not in _process_runner:
        runner = _process_runner["runner"] = ReportRunner()
        atexit.register(runner.stop)
        multiprocessing.util.Finalize(None, runner.stop, exitpriority=10)  # worker processes skip atexit
    return _process_runner["runner"]


def stop_process_runner() -> None:
    runner = _process_runner.pop("runner", None)
    if runner is not None:
        runner.stop()


def start_worker(parent_pid: int) -> None:
    """Initializer of a local worker process: die with the build, and warm up before the first report (a
    runner that cannot start is tried again by the first report, which then fails with the cause)."""
    lifeline.die_with_parent(parent_pid, signal.SIGKILL)
    multiprocessing.util.Finalize(None, _exit_at_once, exitpriority=-100)  # after every other finalizer
    try:
        process_runner()
    except Exception as error:  # noqa: BLE001 - an initializer that raises breaks the pool without a word
        log.error("the worker could not start its kernel and Chromium: %s: %s", type(error).__name__, error)


def _exit_at_once() -> None:
    """A local worker's last step, once its runner has stopped and its results are sent: end the process without the
    interpreter's teardown of papermill, nbconvert and kaleido, which the build would wait half a second for."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def build_report(job: dict) -> NotebookResult:
    """The task an executor runs: one report on this process's warm runner."""
    try:
        warm = process_runner()
    except Exception as error:  # noqa: BLE001 - the report fails with the cause; the next one tries again
        return NotebookResult(job["name"], "failed", error=f"{label(job)}: the worker could not start its kernel "
                                                           f"and Chromium: {type(error).__name__}: {error}")
    return warm.build(job)
