"""Benchmark (not a test): the whole test suite as `make test` runs it (target: 3 min on 2 cores, `.venv` made).

Prints the suite's wall and CPU time (with its workers, kernels and Chromium), its slowest tests, and, as the
baseline measured in the same process, the tests that need no kernel and no browser (`-m "not slow"`): the
difference is what building real reports costs the suite.

CPU is counted in a cgroup of its own where one can be made (cgroup v1's cpuacct, as root): every process the
suite starts is counted there, also those no parent waits for, which `getrusage` misses (Chromium's renderers:
measured, a report page rendered for 6 CPU-s, of which getrusage saw 1.8). Elsewhere it falls back to getrusage,
and says so.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 180.0


CPUACCT = Path("/sys/fs/cgroup/cpuacct")


def own_cgroup() -> Path | None:
    """A new cpuacct cgroup, or None where none can be made (no cgroup v1, not root)."""
    try:
        group = CPUACCT / f"escalation-bench-tests-{os.getpid()}-{time.monotonic_ns()}"
        group.mkdir()
        return group
    except OSError:
        return None


def timed_pytest(*args: str) -> tuple[float, float, str, str]:
    """Wall seconds, CPU seconds (this pytest and everything it started), how CPU was counted, and pytest's
    output."""
    workers = os.environ.get("TEST_WORKERS", "auto")
    command = [sys.executable, "-m", "pytest", "-n", workers, "-q", "-p", "no:cacheprovider", *args]
    group = own_cgroup()
    if group:  # the shell joins the cgroup, then becomes pytest: every process after it is counted there
        command = ["sh", "-c", f'echo $$ > {group / "cgroup.procs"} && exec "$@"', "sh", *command]
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    if group:
        cpu, counted = int((group / "cpuacct.usage").read_text()) / 1e9, "cgroup"
        group.rmdir()
    else:
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        counted = "getrusage: misses Chromium's unreaped processes"
    return wall, cpu, counted, result.stdout


def main() -> None:
    wall, cpu, counted, output = timed_pytest("--durations=10")
    base_wall, base_cpu, _, base_output = timed_pytest("-m", "not slow")
    print("\n".join(line for line in output.splitlines() if "s call" in line or "s setup" in line))
    print(f"whole suite (`make test`): {wall:6.1f} s wall, {cpu:6.1f} s CPU  ({output.strip().splitlines()[-1]}; "
          f"CPU counted by {counted})")
    print(f"  baseline, tests without kernels or Chromium: {base_wall:6.1f} s wall, {base_cpu:6.1f} s CPU  "
          f"({base_output.strip().splitlines()[-1]})")
    print(f"  whole / baseline: {wall / base_wall:.2f}x; target <= {TARGET_SECONDS:g} s ({wall / TARGET_SECONDS:.2f} "
          "of it)")


if __name__ == "__main__":
    main()
