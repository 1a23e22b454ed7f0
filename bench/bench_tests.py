"""Benchmark (not a test): the whole test suite as `make test` runs it (target: 3 min on 2 cores, `.venv` made).

Prints the suite's wall and CPU time (with its workers, kernels and Chromium), its slowest tests, and, as the
baseline measured in the same process, the tests that need no kernel and no browser (`-m "not slow"`): the
difference is what building real reports costs the suite.
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


def timed_pytest(*args: str) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (this pytest and everything it started) and pytest's output."""
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    workers = os.environ.get("TEST_WORKERS", "auto")
    result = subprocess.run([sys.executable, "-m", "pytest", "-n", workers, "-q", "-p", "no:cacheprovider", *args],
                            cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result.stdout


def main() -> None:
    wall, cpu, output = timed_pytest("--durations=10")
    base_wall, base_cpu, base_output = timed_pytest("-m", "not slow")
    print("\n".join(line for line in output.splitlines() if "s call" in line or "s setup" in line))
    print(f"whole suite (`make test`): {wall:6.1f} s wall, {cpu:6.1f} s CPU  ({output.strip().splitlines()[-1]})")
    print(f"  baseline, tests without kernels or Chromium: {base_wall:6.1f} s wall, {base_cpu:6.1f} s CPU  "
          f"({base_output.strip().splitlines()[-1]})")
    print(f"  whole / baseline: {wall / base_wall:.2f}x; target <= {TARGET_SECONDS:g} s ({wall / TARGET_SECONDS:.2f} "
          "of it)")


if __name__ == "__main__":
    main()
