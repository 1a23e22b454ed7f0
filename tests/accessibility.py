"""axe-core (npm, pinned) run in Debian's chromium through Playwright: the accessibility violations of a page."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from browser import chromium
from filelock import FileLock

AXE_VERSION = "4.14.1"
AXE_DIR = Path(__file__).parent / ".axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def axe_script() -> str:
    """axe-core's browser bundle, installed with npm into tests/.axe/ on first use (under a lock: the test
    workers of `pytest -n` may ask for it at once)."""
    AXE_DIR.mkdir(exist_ok=True)
    with FileLock(str(AXE_DIR / "install.lock")):
        installed = AXE_DIR / "node_modules" / "axe-core" / "package.json"
        if not AXE_JS.is_file() or f'"version": "{AXE_VERSION}"' not in installed.read_text(encoding="utf-8"):
            npm = shutil.which("npm")
            if not npm:
                raise RuntimeError("npm is needed to install axe-core for the accessibility tests "
                                   "(apt-get install npm)")
            subprocess.run([npm, "install", "--prefix", str(AXE_DIR), "--no-audit", "--no-fund", "--silent",
                            f"axe-core@{AXE_VERSION}"], check=True, timeout=300, capture_output=True)
        return AXE_JS.read_text(encoding="utf-8")


def launch(playwright):
    """Debian's chromium (its headless shell, as `browser.chromium`), never a downloaded browser."""
    return playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)


def violations(page, url: str) -> list[dict]:
    """axe-core's violations on the page at `url` after its scripts drew the charts."""
    page.goto(url, wait_until="load", timeout=180_000)  # a 5 MB page on a busy machine
    page.wait_for_timeout(500)
    page.add_script_tag(content=axe_script())
    return page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ['violations']});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                             nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
                                             count: v.nodes.length}));
    }""")
