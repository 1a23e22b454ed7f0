"""Time validation of a SYNTHETIC imported case of N events (default 100,000 and 1,000,000), and a cached load.

Usage: .venv/bin/python bench/bench_validate.py [ROWS ...] [--cases parquet,faulty,csv]. Prints, for each
size, the wall and CPU time and the peak resident memory of each step, each in a fresh process, with its
ratio to a baseline measured the same way on the same files: reading the same tables with plain
`pd.read_csv` (CSV) or `pq.read_table` (Parquet). Asserts nothing.

The case is made by code: `escalation import acled` of a 2,000-row synthetic export (tests/synthetic_exports.py,
nothing from ACLED), whose events and claims are then repeated with new ids up to N rows (one claim per event,
as ACLED imports have). The same tables are also written as CSV, the form of hand-edited cases, and as a
"faulty" Parquet case in which every tenth event has an event type outside the schema's enum (so that event
and its claim are quarantined: N/5 rows kept aside with their reasons).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

SEED_ROWS = 2_000
TABLES = ("events", "claims", "sources", "displacement")


def synthetic_case(folder: Path, rows: int) -> dict[str, Path]:
    """A Parquet case folder, the same case as CSV and a faulty one, each with `rows` events and `rows` claims."""
    from synthetic_exports import acled_rows, write_acled

    from escalation.importers import AcledImporter

    export = write_acled(folder / "acled_synthetic.csv", acled_rows(SEED_ROWS))
    parquet_case = folder / "parquet"
    AcledImporter().run(export, parquet_case)
    shutil.rmtree(parquet_case / "raw")
    events, claims = (pq.read_table(parquet_case / f"{name}.parquet") for name in ("events", "claims"))
    picks = pa.array([n % events.num_rows for n in range(rows)])
    copies = pc.cast(pa.array([n // events.num_rows for n in range(rows)]), pa.string())
    claim_of_event = {event: n for n, event in enumerate(claims["event_id"].to_pylist())}
    claims = claims.take(pa.array([claim_of_event[e] for e in events["event_id"].to_pylist()]).take(picks))
    first_ids = events["event_id"].take(picks)  # the first copy keeps its ids (case.yaml names one)
    event_ids = pc.if_else(pc.equal(copies, "0"), first_ids, pc.binary_join_element_wise(first_ids, copies, "-r"))
    events = events.take(picks).set_column(0, "event_id", event_ids)
    numbers = pc.utf8_lpad(pc.cast(pa.array(range(1, rows + 1)), pa.string()), 7, "0")
    claims = claims.set_column(0, "claim_id", pc.binary_join_element_wise("CL-AC-", numbers, ""))
    claims = claims.set_column(claims.column_names.index("event_id"), "event_id", event_ids)
    pq.write_table(events, parquet_case / "events.parquet", compression="zstd")
    pq.write_table(claims, parquet_case / "claims.parquet", compression="zstd")
    csv_case = folder / "csv"
    shutil.copytree(parquet_case, csv_case)
    package = json.loads((csv_case / "datapackage.json").read_text(encoding="utf-8"))
    for table in package["resources"]:
        table.update(path=f"{table['name']}.csv", format="csv")
        pa_csv.write_csv(pq.read_table(csv_case / f"{table['name']}.parquet"), csv_case / table["path"],
                         pa_csv.WriteOptions(quoting_style="needed"))
        (csv_case / f"{table['name']}.parquet").unlink()
    (csv_case / "datapackage.json").write_text(json.dumps(package, indent=2), encoding="utf-8")
    faulty_case = folder / "faulty"
    shutil.copytree(parquet_case, faulty_case)
    spoilt = pc.if_else(pa.array([n % 10 == 9 for n in range(rows)]), "Battle", events["event_type"])
    pq.write_table(events.set_column(events.column_names.index("event_type"), "event_type", spoilt),
                   faulty_case / "events.parquet", compression="zstd")
    return {"parquet": parquet_case, "faulty": faulty_case, "csv": csv_case}


# --- Steps, each run in a fresh process -------------------------------------------------------------------


def read_plainly(case: str) -> str:
    """Baseline: every table read by pandas or pyarrow, no check at all."""
    import pandas as pd

    for path in sorted(Path(case).glob("*.csv")):
        pd.read_csv(path, dtype=str, keep_default_na=False)
    for path in sorted(Path(case).glob("*.parquet")):
        pq.read_table(path).to_pandas(types_mapper=pd.ArrowDtype)
    return ""


def validate(case: str) -> str:
    from escalation.data import validate_tables

    tables = validate_tables(case)
    counts = tables.counts().set_index("table")
    return "; ".join(f"{name}: {row.read} read, {row.quarantined} quarantined" for name, row in counts.iterrows()
                     if name in ("events", "claims")) + f"; {len(tables.problems)} problem(s)"


def cache(case: str) -> str:
    """The first load after a change: validate and write the cache."""
    from escalation import validated

    return f"{len(validated.load(Path(case)).events)} events"


def cached_load(case: str) -> str:
    from escalation.data import load_tables

    return f"{len(load_tables(case).events)} events"


def _child(step, case: str, cache_dir: str, pipe) -> None:
    import pandas  # noqa: F401  (imports are not what is measured)

    from escalation import data, paths, validated  # noqa: F401

    paths.VALIDATED_DIR = Path(cache_dir)
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    note = step(case)
    pipe.send((time.perf_counter() - start_wall, time.process_time() - start_cpu, _peak_rss_mb(), note))


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    status = Path("/proc/self/status").read_text(encoding="ascii")
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def measure(step, case: Path, cache_dir: Path) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MB, note) of one step in a fresh interpreter."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(step, str(case), str(cache_dir), send))
    process.start()
    result = receive.recv()
    process.join()
    return result


def main(sizes: list[int], kinds: list[str]) -> None:
    for rows in sizes:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            cases = synthetic_case(Path(folder), rows)
            sizes_mb = {kind: sum(p.stat().st_size for p in case.glob("*.*")) / 1e6 for kind, case in cases.items()}
            print(f"\n{rows:,} synthetic events and claims (made in {time.perf_counter() - start:.0f} s): "
                  f"Parquet {sizes_mb['parquet']:.1f} MB, CSV {sizes_mb['csv']:.1f} MB")
            print(f"  {'step':34s} {'wall s':>8s} {'CPU s':>8s} {'peak MB':>8s} {'× baseline (wall)':>18s}")
            for kind in kinds:
                case, cache_dir = cases[kind], Path(folder) / f"cache-{kind}"
                baseline = measure(read_plainly, case, cache_dir)
                steps = [(f"{kind}: plain read (baseline)", baseline),
                         (f"{kind}: validate", measure(validate, case, cache_dir))]
                if kind != "faulty":
                    steps += [(f"{kind}: first load, cache written", measure(cache, case, cache_dir)),
                              (f"{kind}: cached load", measure(cached_load, case, cache_dir))]
                for label, (wall, cpu, peak, note) in steps:
                    print(f"  {label:34s} {wall:8.2f} {cpu:8.2f} {peak:8.0f} {wall / baseline[0]:17.1f}×"
                          + (f"   {note}" if note else ""))


if __name__ == "__main__":
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("rows", nargs="*", type=int, default=[100_000, 1_000_000])
    arguments.add_argument("--cases", default="parquet,faulty,csv", help="which cases to measure")
    options = arguments.parse_args()
    main(options.rows, options.cases.split(","))
