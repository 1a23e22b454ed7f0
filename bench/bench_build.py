"""Benchmark (not a test): `escalation build --force` of the main reports against a plain script that draws
the same charts and writes the same PNG and SVG files (target: the build within 1.5× the script).

Prints the build's wall time, where its reports spent their time (summed over reports; reports run in
parallel, so the sum exceeds the wall time), the plain script's time measured in the same process, and
the ratio of the two.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from escalation import images
from escalation.executor import default_workers

BUILD_TARGET_RATIO = 1.5


def timed_build(out: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "escalation", "build", "--force", "--out", str(out / "reports"),
                    "--figures", str(out / "figures")], check=True, capture_output=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - started


def plain_script(out: Path, slugs: set[str], windows: list[tuple[str, str, str | None]]) -> dict[str, float]:
    """The same figures from a plain script: one process, no kernel, no notebook, no HTML, one kaleido run.
    `windows` are (start, end, as_of) of each report whose charts are drawn."""
    started = time.perf_counter()
    from escalation import charts
    from escalation.data import load_tables
    from escalation.metrics import Window

    tables = load_tables()
    loaded = time.perf_counter()
    figures_json = []
    for number, (start, end, as_of) in enumerate(windows):
        window = Window.from_params(start, end, as_of, zone=tables.case.timezone)
        folder = out / f"plain-{number}"
        folder.mkdir(parents=True)
        for chart in charts.ALL_CHARTS:
            if chart.slug in slugs:
                path = folder / f"{chart.slug}-{number}.json"
                path.write_text(chart(tables, window).to_json(), encoding="utf-8")
                figures_json.append(path)
    computed = time.perf_counter()
    images.write_figures(figures_json, out / "plain-images")
    written = time.perf_counter()
    return {"load_and_validate": loaded - started, "charts": computed - loaded, "figures": written - computed,
            "total": written - started}


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        wall = timed_build(out)
        manifests = [json.loads(p.read_text()) for p in sorted((out / "reports").glob("*/manifest.json"))]
        phases = {}
        for manifest in manifests:
            for phase, seconds in manifest["timings_seconds"].items():
                phases[phase] = phases.get(phase, 0.0) + seconds
        slugs = {slug for manifest in manifests for slug in manifest["figures"]}
        print(f"escalation build --force ({default_workers()} worker(s)): {len(manifests)} reports, "
              f"{len(slugs)} distinct charts")
        print(f"  wall time                      {wall:7.2f} s")
        for phase in ("kernel_start", "execution", "export", "figures"):
            print(f"  {phase:<30} {phases.get(phase, 0):7.2f} s (summed over reports)")
        for manifest in manifests:
            print(f"    {manifest['report']:<28} {manifest['timings_seconds']}  {manifest['html_bytes'] / 1e6:.1f} MB")
        plain = plain_script(out, slugs, [("2020-02-01", "2020-03-06", None)])
        print(f"plain Python script, same {len(slugs)} charts as PNG + SVG:")
        for phase, seconds in plain.items():
            print(f"  {phase:<30} {seconds:7.2f} s")
        print(f"build / plain script: {wall / plain['total']:.2f}x (target <= {BUILD_TARGET_RATIO}x)")


if __name__ == "__main__":
    main()
