"""Static figures: PNG and SVG of each chart through kaleido, with SVG files stable across rebuilds.

A process keeps one Chromium (`start_server`) whose page, with plotly.js loaded, draws one image after the
other; the report runner has it draw each chart as soon as the notebook has written it (`Drawing`), and
exports the HTML while Chromium draws the last ones."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import re
import shutil
import threading
from pathlib import Path

#: plotly.js's random 6-hex ids inside id and class names: clip paths, legends, traces, patterns,
#: colour-bar gradients (`g<id>-cb<id>`) and colour-bar axes (`ycb<id>tick`).
RANDOM_SVG_ID = re.compile(r"(?:clip|legend|trace|cb|^p|-)([0-9a-f]{6})(?=[xy-]|tick|title|$)")
ID_OR_CLASS = re.compile(r'\b(?:id|class)="([^"]+)"')
#: An element's start tag and its attributes (plotly.js writes every value double-quoted, `<` escaped).
START_TAG = re.compile(r'<([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"]*")*)(\s*/?)>')
ATTRIBUTE = re.compile(r'([\w:.-]+)="[^"]*"')
#: The files written for each chart (the incremental key checks they are all still there).
FORMATS = ("png", "svg")


#: Seconds kaleido waits for one image before it gives up (a stuck Chromium fails the report).
IMAGE_TIMEOUT = 90
#: Seconds to close Chromium before the process goes on without it (it dies with the process anyway).
CLOSE_TIMEOUT = 10
#: Drawn once when Chromium starts, so that every chart is drawn on a page that has drawn before: plotly.js
#: sets some SVG attributes in another order on a page's first drawing and after certain drawings; files must not
#: depend on what the page drew before (`sorted_attributes` puts every element's attributes in name order).
WARM_UP_FIGURE = {"data": [{"type": "scatter", "x": [0], "y": [0]}], "layout": {}}


#: The browsers kaleido may draw with, the first found on PATH: Debian's old headless shell (its package
#: chromium-headless-shell) is the same Chromium without the browser's interface, and draws byte-identical PNG and
#: SVG files for about 3 s of CPU less per start (7.2 against 9.9 CPU-s for the shipped case's 11 charts: no interface
#: renderer, a lighter browser and GPU process), which every worker and every `write_figures` pays.
BROWSERS = ("chromium-headless-shell", "chromium")


def _prepare_kaleido() -> None:
    found = (shutil.which(name) for name in BROWSERS)
    os.environ.setdefault("BROWSER_PATH", next(filter(None, found), "/usr/bin/chromium"))
    for chatty in ("kaleido", "choreographer", "logistro"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def _page_keeping_kaleido():
    """kaleido's browser, except that its page is kept between images instead of reloaded after each: a
    reload parses plotly.js again, about 0.5 s of CPU per image, while plotly.js's `toImage` draws each
    figure in a detached element that it removes afterwards."""
    import kaleido

    class PageKeepingKaleido(kaleido.Kaleido):
        async def _return_kaleido_tab(self, tab) -> None:
            await self.tabs_ready.put(tab)

    return PageKeepingKaleido


class ImageServer:
    """One Chromium driven by kaleido on an event loop of its own (a thread), kept for every batch of the
    process. It starts in the background: the caller goes on (a worker starts its kernel meanwhile)."""

    def __init__(self) -> None:
        _prepare_kaleido()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kaleido", daemon=True)
        self._thread.start()
        self._browser = self._submit(self._open())

    def _submit(self, coroutine) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    @staticmethod
    async def _open():
        browser = _page_keeping_kaleido()(mathjax=False, timeout=IMAGE_TIMEOUT)
        await browser.open()
        await browser.calc_fig(WARM_UP_FIGURE, {"format": "svg"})
        return browser

    def start(self, jobs: list[dict], target: Path) -> concurrent.futures.Future:
        """Start writing kaleido's figure jobs (fig, path, opts) into `target`; the future is done when every
        file is final, or raises the first image's error."""
        return self._submit(self._write(jobs, target))

    async def _write(self, jobs: list[dict], target: Path) -> None:
        browser = await asyncio.wrap_future(self._browser)
        await browser.write_fig_from_object(jobs, cancel_on_error=True)
        for svg in (Path(job["path"]) for job in jobs if job["opts"]["format"] == "svg"):
            svg.write_text(stable_svg_ids(sorted_attributes(svg.read_text(encoding="utf-8"))), encoding="utf-8")

    def close(self) -> None:
        try:
            browser = self._browser.result()
            self._submit(browser.close()).result(timeout=CLOSE_TIMEOUT)
        except Exception as error:  # noqa: BLE001 - a browser that failed to start or is gone has nothing to close
            logging.getLogger(__name__).debug("closing Chromium: %s", error)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=CLOSE_TIMEOUT)


_server: dict[str, ImageServer] = {}


def start_server() -> None:
    """Start this process's Chromium; `write_figures` then uses it instead of starting a browser per call.
    It dies with the process (its pipe closes)."""
    if "server" not in _server:
        _server["server"] = ImageServer()


def stop_server() -> None:
    server = _server.pop("server", None)
    if server is not None:
        server.close()


def start_figures(figure_jsons: list[Path], target: Path) -> concurrent.futures.Future:
    """Start drawing PNG and SVG of every chart on this process's server (`start_server`), so that the caller
    can go on meanwhile (the HTML export: Chromium and Python then use both cores); the future is done when the
    files are written."""
    return _server["server"].start(_figure_jobs(figure_jsons, target), target)


class Drawing:
    """The charts of one report, drawn while its notebook runs: each `draw_new` starts drawing the charts whose JSON
    files appeared in (or changed in) `source` since the last call, so that Chromium draws one chart while the kernel
    computes the next. Call it when the kernel is between cells (no file half-written)."""

    def __init__(self, source: Path, target: Path):
        self.source, self.target = source, target
        target.mkdir(parents=True, exist_ok=True)  # a report without charts has an empty folder of images
        self._seen: dict[Path, tuple] = {}
        self._batches: list[concurrent.futures.Future] = []

    @property
    def charts(self) -> list[str]:
        return sorted(path.stem for path in self._seen)

    def draw_new(self) -> None:
        found = {path: (path.stat().st_mtime_ns, path.stat().st_size) for path in self.source.glob("*.json")}
        new = sorted(path for path, signature in found.items() if self._seen.get(path) != signature)
        if not new:
            return
        if any(path in self._seen for path in new):  # a chart drawn again: its last drawing must be the one kept
            self.wait()
        self._seen.update((path, found[path]) for path in new)
        self._batches.append(start_figures(new, self.target))

    def wait(self) -> None:
        """Until nothing is being drawn into `target` any more."""
        concurrent.futures.wait(self._batches)

    def result(self) -> None:
        """Wait for every drawing; raises the first one's error."""
        for batch in self._batches:
            batch.result()


def write_figures(figure_jsons: list[Path], target: Path) -> None:
    """PNG and SVG of every chart in one batch: on the process's server if started, else on a Chromium started
    for this batch."""
    if "server" in _server:
        start_figures(figure_jsons, target).result()
        return
    jobs = _figure_jobs(figure_jsons, target)
    if jobs:
        server = ImageServer()
        try:
            server.start(jobs, target).result()
        finally:
            server.close()


def _figure_jobs(figure_jsons: list[Path], target: Path) -> list[dict]:
    """kaleido's jobs for the charts' JSON files, as plain dicts: plotly's Figure would only validate them again."""
    target.mkdir(parents=True, exist_ok=True)
    jobs = []
    for path in figure_jsons:
        fig = json.loads(path.read_text(encoding="utf-8"))
        height = fig.get("layout", {}).get("height") or 560
        for fmt in FORMATS:
            jobs.append({"fig": fig, "path": str(target / f"{path.stem}.{fmt}"),
                         "opts": {"format": fmt, "width": 1000, "height": height, "scale": 1}})
    return jobs


def sorted_attributes(svg: str) -> str:
    """Every element's attributes in name order. On a page kept between images plotly.js sets some attributes
    (the root's `viewBox` and `style`, a legend box's) in an order that depends on what the page drew before;
    XML gives attribute order no meaning, and the files must be byte-identical whichever worker drew them."""

    def in_name_order(tag: re.Match) -> str:
        attributes = sorted(re.finditer(ATTRIBUTE, tag.group(2)), key=lambda attribute: attribute.group(1))
        return f"<{tag.group(1)}{''.join(' ' + attribute.group(0) for attribute in attributes)}{tag.group(3)}>"

    return START_TAG.sub(in_name_order, svg)


def stable_svg_ids(svg: str) -> str:
    """Renumber plotly.js's random ids in order of appearance, so that rebuilt SVG files are byte-identical.

    An id is never replaced inside a number (a coordinate or a size), so drawing data stays as drawn."""
    found = []
    for value in ID_OR_CLASS.findall(svg):
        for token in value.split():
            found += RANDOM_SVG_ID.findall(token)
    numbers = {token: f"{number:06x}" for number, token in enumerate(dict.fromkeys(found), start=1)}
    if not numbers:
        return svg
    # one pass over the file for all ids (a pass per id took a quarter of a second on a 1 MB chart)
    any_id = re.compile(rf"(?<![0-9.])({'|'.join(numbers)})(?![0-9])")
    return any_id.sub(lambda match: numbers[match.group(1)], svg)
