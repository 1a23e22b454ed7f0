"""Benchmark (not a test): the incremental keys of 35 daily reports, on the Idlib data and on a SYNTHETIC case
whose events table has 1,000,000 rows (generated below by code, every row labelled synthetic; the other tables
are Idlib's).

Usage: .venv/bin/python bench/bench_keys.py [ROWS]. Prints, for each case:
- the 35 keys computed from scratch in this process (every table read once), and the ratio between the cases;
- a fresh process making the 35 daily jobs and their keys, as a no-change backfill does before it skips every
  report (targets: ≤ 2 s for Idlib, ≤ 5 s on the 1M case); it finds the notebook's parameters and the known
  orders in the key cache, as a run after no change does, so it imports none of papermill, pandas or numpy;
- the same for the events table stored as Parquet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from escalation import incremental, paths
from escalation.jobs import DAILY_NOTEBOOK, daily_jobs

FIRST, LAST = date(2020, 2, 1), date(2020, 3, 6)
KEYS_IN_A_FRESH_PROCESS = """
import sys, time
started = time.perf_counter()
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from bench_keys import daily_jobs_of, daily_keys
jobs = daily_jobs_of(Path(sys.argv[1]))
made = time.perf_counter()
keys = daily_keys(Path(sys.argv[1]), jobs)
print(len(set(keys)), round(made - started, 3), round(time.perf_counter() - made, 3))
"""


def synthetic_case(folder: Path, rows: int) -> Path:
    """Idlib's folder with its events table replaced by `rows` synthetic events citing Idlib's sources."""
    import numpy as np
    import pandas as pd

    case = folder / "synthetic"
    shutil.copytree(paths.DATA_DIR, case, ignore=shutil.ignore_patterns("README.md"))
    sources = pd.read_csv(case / "sources.csv", usecols=["source_id"])["source_id"].to_numpy()
    rng = np.random.default_rng(20200227)
    day = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 120, rows), unit="D")
    minutes = pd.to_timedelta(rng.integers(0, 24 * 60, rows), unit="min")
    numbers = np.arange(rows)
    events = pd.DataFrame({
        "event_id": "EV-" + day.strftime("%Y%m%d") + "-synthetic-" + pd.Index(numbers).astype(str),
        "event_date": day.strftime("%Y-%m-%d"),
        "time_precision": 1,
        "event_type": "Battles",
        "sub_event_type": "Armed clash",
        "actor1": "Synthetic actor A",
        "actor2": "Synthetic actor B",
        "country": "Syria",
        "admin1": "Synthetic region", "admin2": "", "admin3": "",
        "location": "Synthetic place " + pd.Index(numbers % 5000).astype(str),
        "latitude": np.round(rng.uniform(35.0, 37.0, rows), 4),
        "longitude": np.round(rng.uniform(36.0, 38.0, rows), 4),
        "geo_precision": 1,
        "notes": "SYNTHETIC benchmark row, no real event: " + pd.Series(numbers).astype(str) + " " + "x" * 120,
        "source_ids": pd.Index(rng.choice(sources, rows)) + ";" + pd.Index(rng.choice(sources, rows)),
        "first_reported_at": (day + pd.Timedelta(days=1) + minutes).strftime("%Y-%m-%dT%H:%M+03:00"),
    })
    events.to_csv(case / "events.csv", index=False)
    return case


def daily_jobs_of(data_dir: Path) -> list:
    return daily_jobs(FIRST, LAST, {"data_dir": str(data_dir)}, paths.NOTEBOOKS_DIR / DAILY_NOTEBOOK)


def daily_keys(data_dir: Path, jobs: list | None = None) -> list[str]:
    """The keys of the 35 daily reports, as a backfill computes them."""
    return [incremental.input_key(job.notebook, job.parameters, {**job.shown, **job.parameters}, data_dir,
                                  {"nav": job.nav}) for job in jobs or daily_jobs_of(data_dir)]


def keys_here(data_dir: Path) -> float:
    """Seconds for the 35 daily keys in this process, every table read afresh (the jobs made beforehand); the
    known orders are left on disk for the fresh process, which then runs as after no change."""
    jobs = daily_jobs_of(data_dir)
    for kept in incremental.cache_dir().glob("*.orders"):  # the bench's own cache (see main)
        kept.unlink()
    incremental._orders_cache.clear()
    incremental._zone.cache_clear()
    incremental._described.cache_clear()
    started = time.perf_counter()
    daily_keys(data_dir, jobs)
    return time.perf_counter() - started


def keys_in_a_fresh_process(data_dir: Path) -> tuple[float, float, float, str]:
    """(wall seconds, seconds to import and make the jobs, seconds for the keys, distinct keys) of a new process."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", KEYS_IN_A_FRESH_PROCESS, str(data_dir), str(Path(__file__).parent)],
                            capture_output=True, text=True, check=True)
    distinct, jobs, keys = result.stdout.split()
    return time.perf_counter() - started, float(jobs), float(keys), distinct


def as_parquet(case: Path) -> Path:
    """The same case with its events table stored as Parquet (zstd), as imported cases are."""
    import json

    import pyarrow as pa
    import pyarrow.csv
    import pyarrow.parquet

    target = case.with_name(case.name + "-parquet")
    shutil.copytree(case, target)
    header = (target / "events.csv").open(encoding="utf-8").readline().strip().split(",")
    table = pyarrow.csv.read_csv(target / "events.csv", convert_options=pyarrow.csv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.string())))
    pyarrow.parquet.write_table(table, target / "events.parquet", compression="zstd")
    (target / "events.csv").unlink()
    package = json.loads((target / "datapackage.json").read_text(encoding="utf-8"))
    next(r for r in package["resources"] if r["name"] == "events").update(path="events.parquet", format="parquet")
    (target / "datapackage.json").write_text(json.dumps(package, indent=2), encoding="utf-8")
    return target


def main(rows: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        os.environ["ESCALATION_CACHE"] = str(Path(folder) / "key-cache")  # kept by the first, read by the fresh
        started = time.perf_counter()
        synthetic = synthetic_case(Path(folder), rows)
        size = (synthetic / "events.csv").stat().st_size / 1e6
        print(f"SYNTHETIC events table: {rows:,} rows, {size:.0f} MB, written in {time.perf_counter() - started:.1f} s")
        cases = {"Idlib": paths.DATA_DIR, f"synthetic {rows:,} events (CSV)": synthetic,
                 f"synthetic {rows:,} events (Parquet)": as_parquet(synthetic)}
        here = {}
        for label, data_dir in cases.items():
            here[label] = keys_here(data_dir)
            wall, jobs, keys, distinct = keys_in_a_fresh_process(data_dir)
            target = 2.0 if label == "Idlib" else 5.0
            print(f"{label}: 35 keys from scratch in this process {here[label]:.2f} s; a fresh process, as a "
                  f"no-change run: {wall:.2f} s wall = imports and jobs {jobs:.2f} s + 35 keys {keys:.2f} s "
                  f"({distinct} distinct) + start; target ≤ {target:g} s: {'met' if wall <= target else 'NOT met'}")
        idlib = here["Idlib"]
        for label, seconds in here.items():
            if label != "Idlib":
                print(f"ratio {label} / Idlib: {seconds / idlib:.1f}×")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
