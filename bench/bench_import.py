"""Time `escalation import acled` on a SYNTHETIC export of N rows (default 100,000), phase by phase.

Usage: .venv/bin/python bench/bench_import.py [ROWS]. Prints seconds per phase; asserts nothing.
The export is written by tests/synthetic_exports.py (synthetic names, nothing from ACLED).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from synthetic_exports import acled_rows, write_acled  # noqa: E402

from escalation import data  # noqa: E402
from escalation.importers import AcledImporter  # noqa: E402
from escalation.importers import base as importer_base  # noqa: E402


def timed(label: str, timings: dict, function):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            timings[label] = timings.get(label, 0.0) + time.perf_counter() - start
    return wrapper


def main(rows: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        export = write_acled(Path(folder) / "acled_synthetic.csv", acled_rows(rows))
        print(f"{rows} synthetic rows, {export.stat().st_size / 1e6:.1f} MB")
        timings: dict[str, float] = {}
        importer = AcledImporter()
        with mock.patch.object(importer_base, "_read_csv", timed("read", timings, importer_base._read_csv)), \
                mock.patch.object(AcledImporter, "map", timed("map", timings, AcledImporter.map)), \
                mock.patch.object(AcledImporter, "_write", timed("write", timings, AcledImporter._write)), \
                mock.patch.object(data, "validate_tables", timed("validate", timings, data.validate_tables)):
            start = time.perf_counter()
            result = importer.run(export, Path(folder) / "case")
            total = time.perf_counter() - start
        print(result.summary().splitlines()[0])
        for label, seconds in timings.items():
            print(f"  {label:9s} {seconds:7.2f} s")
        print(f"  total     {total:7.2f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
