"""Write the golden tables of the Idlib case: every chart's table and the key figures, per window.

tests/test_golden.py recomputes these with the package and requires the same CSV text, so a
refactoring cannot change a published number unnoticed. After a deliberate change to data/ or to
a metric, regenerate them with `.venv/bin/python tests/golden/make_golden.py`, review the diff and
commit it with the change.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

GOLDEN = Path(__file__).resolve().parent

#: Window name → (start, end, as_of): the default period, and two moments of the Idlib night.
WINDOWS = {
    "default": ("2020-02-01", "2020-03-06", None),
    "as-of-2020-02-28T0300": ("2020-02-01", "2020-03-06", "2020-02-28T03:00:00+03:00"),
    "as-of-2020-02-27T1200": ("2020-02-01", "2020-03-06", "2020-02-27T12:00:00+03:00"),
}


def golden_tables(data_dir: Path | None = None) -> dict[str, dict[str, str]]:
    """Window name → file name → CSV text, computed by the package as it is now."""
    from escalation import charts, metrics
    from escalation.data import load_tables
    from escalation.metrics import Window

    tables = load_tables(data_dir)
    result = {}
    for name, (start, end, as_of) in WINDOWS.items():
        window = Window.from_params(start, end, as_of, zone=tables.case.timezone)
        files = {f"{chart.slug}.csv": _csv(chart.table(tables, window)) for chart in charts.ALL_CHARTS}
        files["key_figures.csv"] = _csv(metrics.key_figures(tables, window))
        result[name] = files
    return result


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")


def main() -> int:
    for window, files in golden_tables().items():
        folder = GOLDEN / window
        folder.mkdir(exist_ok=True)
        for stale in folder.glob("*.csv"):
            stale.unlink()
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
        print(f"{folder}: {len(files)} tables")
    return 0


if __name__ == "__main__":
    sys.exit(main())
