"""JupyterLab as an analyst uses it: each notebook opened and run through Lab's menus in headless chromium.

One Lab server (localhost, a token, its own settings and workspace folders) serves a copy of the
notebooks and data; Playwright drives Debian's chromium (its headless shell: `browser.chromium`). Screenshots of
Lab light and dark go to $LAB_SCREENSHOTS when set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest
from accessibility import launch
from jupyter_client.kernelspec import KernelSpecManager

from escalation import paths

pytestmark = pytest.mark.slow

TOKEN = "escalation-lab-test"
KERNEL = "escalation"
LOCAL_HOSTS = {"localhost", "127.0.0.1"}
RUN_TIMEOUT_MS = 300_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api(base: str, path: str, method: str = "GET"):
    request = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
    return json.loads(body) if body else None


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a free localhost port, serving a copy of notebooks/ beside a copy of data/."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(paths.NOTEBOOKS_DIR, root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(paths.DATA_DIR, root / "data")
    settings = root / "settings" / "@jupyterlab"
    (settings / "notebook-extension").mkdir(parents=True)
    (settings / "apputils-extension").mkdir(parents=True)
    # every cell in the DOM, so every chart can be counted (Lab otherwise renders only what is on screen)
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"), "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
           "JUPYTER_CONFIG_DIR": str(root / "config"), "JUPYTER_DATA_DIR": str(root / "data_dir")}
    port = free_port()
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--ServerApp.root_dir={root / 'notebooks'}", f"--IdentityProvider.token={TOKEN}",
               f"--MappingKernelManager.default_kernel_name={KERNEL}",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabServerApp.announcements_url=''", "--LabServerApp.news_url=''"]
    if os.getuid() == 0:
        command.append("--allow-root")
    log = (root / "lab.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            api(base, "/api/status")
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start:\n{(root / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield base, root / "notebooks"
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


ACTIVE = ".jp-NotebookPanel:not(.lm-mod-hidden)"
CURRENT_TAB = ".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current"


def menu(page, menu_name: str, item: str) -> None:
    """Click a menu of Lab's menu bar, then one of its items."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{menu_name}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$")).click()


def open_notebook(page, base: str, name: str, first: bool) -> None:
    """The first notebook by its address, in a fresh workspace; the next ones through File → Open from Path…, as an
    analyst opens one after the other in the same Lab (a page load of Lab takes seconds)."""
    if first:
        page.goto(f"{base}/lab/tree/{name}?reset&token={TOKEN}", wait_until="domcontentloaded")
    else:
        menu(page, "File", "Open from Path…")
        page.locator(".jp-Dialog input").fill(name)
        page.locator(".jp-Dialog").get_by_role("button", name="Open").click()
    page.locator(f"{ACTIVE} .jp-Cell").first.wait_for(timeout=120_000)
    page.wait_for_function("(name) => document.querySelector('" + CURRENT_TAB + "')?.textContent.includes(name)",
                           arg=name, timeout=60_000)


def run_all_cells(page) -> None:
    """Wait for the open notebook's kernel, Run → Run All Cells, wait until every cell has run and the kernel is
    idle, then File → Save (Ctrl+S) and wait until the notebook is saved."""
    page.wait_for_function("""() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
        .some(item => /\\| Idle$/.test(item.textContent.trim()))""", timeout=120_000, polling=250)
    menu(page, "Run", "Run All Cells")
    page.wait_for_function(
        """(active) => {
            const prompts = [...document.querySelectorAll(active + ' .jp-CodeCell .jp-InputPrompt')];
            const idle = [...document.querySelectorAll('.jp-StatusBar-TextItem')]
                .some(item => /\\| Idle$/.test(item.textContent.trim()));
            return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent)) && idle;
        }""", arg=ACTIVE, timeout=RUN_TIMEOUT_MS, polling=500)
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !document.querySelector('" + CURRENT_TAB + "').classList.contains('jp-mod-dirty')",
                           timeout=60_000, polling=100)


def close_and_shut_down(page) -> None:
    """File → Close and Shut Down Notebook…, confirmed: the notebook's tab closes and its kernel ends."""
    menu(page, "File", "Close and Shut Down Notebook…")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    page.locator(".jp-NotebookPanel").first.wait_for(state="detached", timeout=60_000)


def plots_drawn(page) -> int:
    return page.evaluate("""(active) => [...document.querySelectorAll(active + ' .js-plotly-plot')]
        .filter(plot => plot.querySelector('.main-svg')).length""", ACTIVE)


def key_figure(page, figure: str) -> str:
    return page.locator(f".explore-key-figures tr[data-figure='{figure}'] td.value").inner_text()


def test_every_notebook_runs_in_lab_with_the_project_kernel_and_draws_every_chart(lab, browser):
    base, folder = lab
    requests: list[str] = []
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("request", lambda request: requests.append(request.url))
    shots = Path(os.environ["LAB_SCREENSHOTS"]) if os.environ.get("LAB_SCREENSHOTS") else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    display_name = KernelSpecManager().get_kernel_spec(KERNEL).display_name  # as `jupyter kernelspec list` finds it
    for number, notebook in enumerate(sorted(folder.glob("*.ipynb"))):
        open_notebook(page, base, notebook.name, first=number == 0)
        run_all_cells(page)
        source = notebook.read_text(encoding="utf-8")
        charts_expected = source.count("report.chart(") + source.count("explore.replay(")
        assert page.locator(f"{ACTIVE} .jp-KernelName").first.inner_text() == display_name
        saved = nbformat.read(notebook, as_version=4)
        assert saved.metadata.kernelspec.name == KERNEL
        errors = [o for c in saved.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        assert errors == [], f"{notebook.name}: {[(e.ename, e.evalue) for e in errors]}"
        assert plots_drawn(page) >= charts_expected, notebook.name
        captions = page.locator(f"{ACTIVE} .escalation-caption")
        assert captions.count() == source.count("report.chart("), notebook.name
        if captions.count():
            captions.first.scroll_into_view_if_needed()
            assert captions.first.is_visible() and "Data behind this chart" in captions.first.inner_text()
            if shots:
                page.screenshot(path=shots / f"lab-{notebook.stem}.png")
        if "explore.replay(" in source:
            before = key_figure(page, "events")
            page.get_by_role("button", name="one day back").click()
            page.wait_for_function(
                """([selector, before]) => document.querySelector(selector)?.textContent !== before""",
                arg=[".explore-key-figures tr[data-figure='events'] td.value", before], timeout=60_000)
            assert key_figure(page, "events") != before
            if shots:
                page.screenshot(path=shots / "lab-light.png")
                page.keyboard.press("Control+Shift+c")  # the command palette
                page.locator(".lm-CommandPalette-input").fill("JupyterLab Dark")
                page.keyboard.press("Enter")
                page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
                page.wait_for_timeout(1000)
                page.screenshot(path=shots / "lab-dark.png")
        close_and_shut_down(page)
        assert api(base, "/api/kernels") == [], f"{notebook.name}: its kernel outlived the notebook"
    outside = sorted({url for url in requests if urlparse(url).scheme in ("http", "https", "ws", "wss")
                      and urlparse(url).hostname not in LOCAL_HOSTS})
    assert outside == []
