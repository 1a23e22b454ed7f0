"""Benchmark (not a test): the full daily backfill, then the same run again with nothing changed.

Prints the wall time of `escalation backfill --from 2020-02-01 --to 2020-03-06` into a temporary
folder on this machine (2 workers), and of a second run with no change (target: under 2 s).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(out: Path, first: str, last: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "escalation", "backfill", "--from", first, "--to", last, "--out", str(out / "reports"),
         "--figures", str(out / "figures")], check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - started, result.stdout.strip().splitlines()[-1]


def main() -> None:
    first, last = (sys.argv[1], sys.argv[2]) if len(sys.argv) == 3 else ("2020-02-01", "2020-03-06")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        full, summary = run(out, first, last)
        print(f"backfill {first} .. {last}, 2 workers: {full:.1f} s  ({summary})")
        again, summary = run(out, first, last)
        print(f"second run, nothing changed:        {again:.2f} s  ({summary})")
        size = sum(p.stat().st_size for p in (out / "reports").rglob("*") if p.is_file() and not p.is_symlink())
        print(f"reports on disk: {size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
