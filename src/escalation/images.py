"""Static figures: PNG and SVG of each chart through kaleido, with SVG files stable across rebuilds."""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

#: plotly.js's random 6-hex ids inside id and class names: clip paths, legends, traces, patterns,
#: colour-bar gradients (`g<id>-cb<id>`) and colour-bar axes (`ycb<id>tick`).
RANDOM_SVG_ID = re.compile(r"(?:clip|legend|trace|cb|^p|-)([0-9a-f]{6})(?=[xy-]|tick|title|$)")
ID_OR_CLASS = re.compile(r'\b(?:id|class)="([^"]+)"')
#: The files written for each chart (the incremental key checks they are all still there).
FORMATS = ("png", "svg")


#: Seconds kaleido waits for one image before it gives up (a stuck Chromium fails the report).
IMAGE_TIMEOUT = 90
_server = {"running": False}


def _prepare_kaleido() -> None:
    os.environ.setdefault("BROWSER_PATH", shutil.which("chromium") or "/usr/bin/chromium")
    for chatty in ("kaleido", "choreographer", "logistro"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def start_server() -> None:
    """Start one Chromium for this process (kaleido's sync server); `write_figures` then reuses it instead of
    starting a browser per call. It dies with the process (its pipe closes)."""
    import kaleido

    _prepare_kaleido()
    kaleido.start_sync_server(mathjax=False, timeout=IMAGE_TIMEOUT, silence_warnings=True)
    _server["running"] = True


def stop_server() -> None:
    import kaleido

    if _server["running"]:
        kaleido.stop_sync_server(silence_warnings=True)
        _server["running"] = False


def write_figures(figure_jsons: list[Path], target: Path) -> None:
    """PNG and SVG of every chart in one batch through kaleido: the process's server if started, else one
    run of the system's Chromium."""
    import kaleido
    import plotly.io as pio

    _prepare_kaleido()
    target.mkdir(parents=True, exist_ok=True)
    jobs = []
    for path in figure_jsons:
        fig = pio.from_json(path.read_text(encoding="utf-8"))
        for fmt in FORMATS:
            jobs.append({"fig": fig, "path": str(target / f"{path.stem}.{fmt}"),
                         "opts": {"format": fmt, "width": 1000, "height": fig.layout.height or 560, "scale": 1}})
    if jobs:
        options = {} if _server["running"] else {"kopts": {"mathjax": False, "timeout": IMAGE_TIMEOUT}}
        kaleido.write_fig_from_object_sync(jobs, **options)
    for svg in target.glob("*.svg"):
        svg.write_text(stable_svg_ids(svg.read_text(encoding="utf-8")), encoding="utf-8")


def stable_svg_ids(svg: str) -> str:
    """Renumber plotly.js's random ids in order of appearance, so that rebuilt SVG files are byte-identical.

    An id is never replaced inside a number (a coordinate or a size), so drawing data stays as drawn."""
    found = []
    for value in ID_OR_CLASS.findall(svg):
        for token in value.split():
            found += RANDOM_SVG_ID.findall(token)
    for number, token in enumerate(dict.fromkeys(found), start=1):
        svg = re.sub(rf"(?<![0-9.]){token}(?![0-9])", f"{number:06x}", svg)
    return svg
