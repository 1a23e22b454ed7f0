"""Processes of a build die with the process that started them, and a timed-out report takes all of its
processes with it.

- A worker runs in a process group of its own (its Chromium joins it), so a timeout kills the group.
- The worker and the kernel ask Linux to signal them when their parent dies (PR_SET_PDEATHSIG): killing
  the build kills its workers, a dying worker takes its group down, and the kernel dies with the worker.
  `python -m escalation.lifeline COMMAND...` does this for the kernel and then runs the kernel itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
#: Looked up once, at import: a forked child about to exec must not load libraries.
_prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None) if sys.platform == "linux" else None


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """Be sent `sig` when the parent dies; exit now if it already has (Linux only, a no-op elsewhere)."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, int(sig))
    if os.getppid() != parent_pid:
        os._exit(1)


def start_worker_group(parent_pid: int) -> None:
    """Run in a new worker before it starts: a process group of its own, ended with its parent."""
    os.setpgid(0, 0)
    die_with_parent(parent_pid, signal.SIGTERM)


def end_group_on_term() -> None:
    """In a worker: SIGTERM (its parent died, or it was stopped) kills the worker's whole process group."""
    signal.signal(signal.SIGTERM, lambda *_: os.killpg(os.getpgrp(), signal.SIGKILL))


def kill_group(pid: int) -> None:
    """Kill a worker and every process of its group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


if __name__ == "__main__":
    # jupyter_client names the kernel's parent in JPY_PARENT_PID
    die_with_parent(int(os.environ.get("JPY_PARENT_PID") or os.getppid()))
    os.execv(sys.argv[1], sys.argv[1:])
