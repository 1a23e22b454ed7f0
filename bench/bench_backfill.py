"""Benchmark (not a test): the daily backfill from scratch, then the same run again with nothing changed.

Prints, for `escalation backfill --from 2020-02-01 --to 2020-03-06` into a temporary folder (the default workers):
the wall time from scratch (target: 45 s on 2 cores) against a plain script that draws the same daily
charts as PNG and SVG; and the wall time of a rerun with nothing changed (target: 2 s) against the bare
start of the command (`escalation --version`). Both baselines run in the same process as the backfill.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bench_build import plain_script

from escalation.case import load_case
from escalation.executor import default_workers
from escalation.moments import end_of_day
from escalation.paths import DATA_DIR

FULL_TARGET, RERUN_TARGET = 45.0, 2.0


def timed(*args: str) -> tuple[float, str]:
    """Wall seconds and last output line of the command; its CPU seconds (with its workers', kernels' and Chromium's)
    are printed, as a shared machine makes wall time overstate."""
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run([sys.executable, "-m", "escalation", *args], check=True, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL)
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"  escalation {' '.join(args[:1])}: {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
    return wall, (result.stdout.strip().splitlines() or [""])[-1]


def main() -> None:
    first, last = (sys.argv[1], sys.argv[2]) if len(sys.argv) == 3 else ("2020-02-01", "2020-03-06")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        where = ["--out", str(out / "reports"), "--figures", str(out / "figures")]
        full, summary = timed("backfill", "--from", first, "--to", last, *where)
        again, again_summary = timed("backfill", "--from", first, "--to", last, *where)
        bare, _ = timed("--version")
        manifests = [json.loads(p.read_text()) for p in sorted((out / "reports").glob("daily/*/manifest.json"))]
        slugs = {slug for manifest in manifests for slug in manifest["figures"]}
        zone = load_case(DATA_DIR).timezone
        days = [date.fromisoformat(first) + timedelta(days=i)
                for i in range((date.fromisoformat(last) - date.fromisoformat(first)).days + 1)]
        plain = plain_script(out, slugs, [("2020-02-01", day.isoformat(), end_of_day(day, zone).isoformat())
                                          for day in days])
        size = sum(p.stat().st_size for p in (out / "reports").rglob("*") if p.is_file() and not p.is_symlink())
    print(f"backfill {first} .. {last} from scratch, {default_workers()} worker(s): {full:6.1f} s  ({summary})")
    print(f"  plain script, same {len(slugs)} charts x {len(days)} days as PNG + SVG: {plain['total']:6.1f} s  "
          f"-> {full / plain['total']:.2f}x; target <= {FULL_TARGET:g} s ({full / FULL_TARGET:.2f} of it)")
    print(f"rerun, nothing changed: {again:6.2f} s  ({again_summary})")
    print(f"  bare `escalation --version`: {bare:6.2f} s  -> {again / bare:.2f}x; target <= {RERUN_TARGET:g} s "
          f"({again / RERUN_TARGET:.2f} of it)")
    print(f"reports on disk: {size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
