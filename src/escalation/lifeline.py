"""Processes of a build die with the process that started them, and a timed-out report takes all of its
processes with it.

- A local worker and each kernel ask Linux to kill them when their parent dies (PR_SET_PDEATHSIG): killing
  the build kills its workers, and a kernel dies with its worker. `python -m escalation.lifeline COMMAND...`
  does this for the kernel and then runs the kernel itself.
- A kernel runs in a session of its own (jupyter_client starts it so), so the report timeout kills it and
  whatever it started as one process group.
- A worker's Chromium (kaleido) talks to it through a pipe and exits when the pipe closes, that is when the
  worker dies.
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


def kill_group(pid: int) -> None:
    """Kill a process group (a kernel and what it started)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


if __name__ == "__main__":
    # jupyter_client names the kernel's parent in JPY_PARENT_PID
    die_with_parent(int(os.environ.get("JPY_PARENT_PID") or os.getppid()))
    os.execv(sys.argv[1], sys.argv[1:])
