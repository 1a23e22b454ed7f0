"""Benchmark (not a test): a million events, from a SYNTHETIC ACLED export to reports, step by step.

Steps (each runnable alone with --steps; --events N for a smaller file while iterating):
  export    write a deterministic SYNTHETIC ACLED-format export (tests/synthetic_exports.py: invented
            countries, actors, places and notes, all labelled synthetic; nothing comes from ACLED)
  import    `escalation import acled` of the whole file, and of one country (`--country`, the importer's filter)
  country   build the events overview (01) and the escalation summary (03) of that country over the whole period
  whole     the same two reports over the whole file
  backfill  35 daily reports on the whole file, then the same backfill again with nothing changed

For each step it prints the wall time, the peak resident memory of the step's processes (the largest
process: `resource.getrusage(RUSAGE_CHILDREN).ru_maxrss` of a fresh wrapper per step, which counts the
kernels and Chromium the build waits for), each HTML's size, its target, and its ratio to a baseline
measured in the same process (pandas reading the same CSV). It asserts nothing.

Usage: .venv/bin/python bench/bench_scale.py [--events 1000000] [--steps export,import,country,whole,backfill]
       [--work DIR] (default: a folder under /tmp kept between runs, so steps can be rerun one by one)
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from synthetic_exports import write_acled_bulk  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIRST_DAY, YEARS, COUNTRIES = "2015-01-01", 10, 100
#: The issue's targets: seconds, GB of peak RSS, MB of HTML.
TARGETS = {"import": (60, 3), "whole": (30, 3), "country": (10, 3), "backfill-again": (5, 3)}
HTML_TARGET_MB = 6
BACKFILL_DAYS = 35


def measured(command: list[str]) -> dict:
    """Run `command` under a fresh wrapper so its peak RSS is its own: wall seconds, peak GB, exit code, output."""
    wrapper = ("import json, resource, subprocess, sys, time; started = time.perf_counter(); "
               "done = subprocess.run(sys.argv[1:], capture_output=True, text=True, stdin=subprocess.DEVNULL); "
               "usage = resource.getrusage(resource.RUSAGE_CHILDREN); "
               "print(json.dumps({'seconds': time.perf_counter() - started, 'returncode': done.returncode, "
               "'peak_kb': usage.ru_maxrss, 'cpu_seconds': usage.ru_utime + usage.ru_stime, "
               "'output': (done.stdout + done.stderr)[-3000:]}))")
    result = subprocess.run([sys.executable, "-c", wrapper, *command], capture_output=True, text=True, check=True)
    outcome = json.loads(result.stdout)
    outcome["peak_gb"] = outcome.pop("peak_kb") / 1e6
    return outcome


def escalation(*arguments: str) -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "escalation"), *arguments]


def report(label: str, outcome: dict, baseline: float, target: tuple[float, float] | None) -> None:
    seconds, peak = outcome["seconds"], outcome["peak_gb"]
    goal = f"  target ≤ {target[0]} s, ≤ {target[1]} GB" if target else ""
    verdict = "" if not target else ("  ok" if seconds <= target[0] and peak <= target[1] else "  OVER TARGET")
    status = "" if outcome["returncode"] == 0 else f"  FAILED (exit {outcome['returncode']})"
    print(f"{label:34s} {seconds:8.1f} s  {peak:5.2f} GB  ({seconds / baseline:5.1f}× baseline){goal}{verdict}{status}"
          f"  [CPU {outcome['cpu_seconds']:.1f} s: on a busy machine wall time overstates]", flush=True)
    lines = outcome["output"].strip().splitlines()
    if outcome["returncode"]:
        print("    " + "\n    ".join(lines), flush=True)
    else:  # the build's own line per report: its phases in seconds
        print("".join(f"    {line}\n" for line in lines if ": ok," in line or " built, " in line), end="", flush=True)


def html_sizes(out: Path) -> None:
    for page in sorted(out.glob("[!.]*/*.html")):  # the published reports (their folders link the current version)
        size = page.stat().st_size / 1e6
        flag = "ok" if size <= HTML_TARGET_MB else "OVER TARGET"
        print(f"    {str(page.relative_to(out)):40s} {size:6.2f} MB  target ≤ {HTML_TARGET_MB} MB  {flag}", flush=True)


def baseline_seconds(export: Path) -> float:
    """pandas reading the whole export: the floor any import of it stands on."""
    import pandas as pd

    started = time.perf_counter()
    pd.read_csv(export, dtype=str, keep_default_na=False)
    return time.perf_counter() - started


def notebooks_folder(work: Path, name: str) -> Path:
    """A folder holding one report notebook, so each report is built and timed on its own."""
    folder = work / "notebooks" / name
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "notebooks" / name, folder / name)
    return folder


def build_reports(label: str, case: Path, out: Path, work: Path, last_day: str, baseline: float) -> None:
    target = TARGETS["whole" if label == "whole" else "country"]
    for name in ("01_events_overview.ipynb", "03_escalation_summary.ipynb"):
        outcome = measured(escalation(
            "build", "--force", "--wide-period", "--workers", "1", "--notebooks", str(notebooks_folder(work, name)),
            "--param", f"data_dir={case}", "--param", f"start={FIRST_DAY}", "--param", f"end={last_day}",
            "--out", str(out / label)))
        report(f"{label}: {name[:-6]}", outcome, baseline, target)
    html_sizes(out / label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--steps", default="export,import,country,whole,backfill")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    steps = args.steps.split(",")
    work = args.work or Path("/tmp") / f"escalation-bench-scale-{args.events}"
    work.mkdir(parents=True, exist_ok=True)
    export, case, country_case, out = (work / "acled_synthetic.csv", work / "case", work / "case-country",
                                       work / "reports")
    if "export" in steps or not export.exists():
        started = time.perf_counter()
        summary = write_acled_bulk(export, args.events, countries=COUNTRIES, first_day=FIRST_DAY, years=YEARS)
        export.with_suffix(".json").write_text(json.dumps(summary), encoding="utf-8")
        print(f"SYNTHETIC export: {args.events:,} events, {summary['countries']} countries, "
              f"{export.stat().st_size / 1e6:,.0f} MB, written in {time.perf_counter() - started:.1f} s", flush=True)
    summary = json.loads((export.with_suffix(".json")).read_text(encoding="utf-8"))
    baseline = baseline_seconds(export)
    print(f"baseline: pandas reads the export in {baseline:.1f} s (peak RSS of this process so far "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB)", flush=True)
    country, last_day = summary["country"], summary["last_day"]
    if "import" in steps:
        shutil.rmtree(case, ignore_errors=True)
        report("import: whole file", measured(escalation("import", "acled", str(export), "--out", str(case))),
               baseline, TARGETS["import"])
        shutil.rmtree(country_case, ignore_errors=True)
        report(f"import: --country '{country}'", measured(escalation(
            "import", "acled", str(export), "--out", str(country_case), "--country", country)), baseline,
            TARGETS["import"])
        for folder in (case, country_case):
            events = pq.ParquetFile(folder / "events.parquet").metadata.num_rows  # imported cases are Parquet
            print(f"    {folder.name}: {events:,} events imported", flush=True)
    if "country" in steps:
        build_reports("country", country_case, out, work, last_day, baseline)
    if "whole" in steps:
        build_reports("whole", case, out, work, last_day, baseline)
    if "backfill" in steps:
        first = (date.fromisoformat(last_day) - timedelta(days=BACKFILL_DAYS - 1)).isoformat()
        for label in ("backfill", "backfill-again"):
            outcome = measured(escalation("backfill", "--from", first, "--to", last_day, "--param",
                                          f"data_dir={case}", "--param", f"start={first}",
                                          "--out", str(out / "backfill")))
            report(f"{label}: {BACKFILL_DAYS} daily reports", outcome, baseline, TARGETS.get(label))


if __name__ == "__main__":
    main()
