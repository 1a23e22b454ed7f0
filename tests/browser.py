"""Headless Chromium (Debian's package) for render checks: the DOM after scripts ran, and every URL asked for.

The checks run Debian's chromium-headless-shell: the same Chromium (engine, version and flags) without the browser's
interface, which a check does not look at. Measured in a cgroup (every process of the browser counted), a report page
took 3.5 CPU-s to render against 6 in the full browser, and the JupyterLab test's browser ~20 % less."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    # No network at all: every host name fails to resolve, so a CDN reference could never load.
    "--host-resolver-rules=MAP * ~NOTFOUND",
]


def chromium() -> str:
    found = shutil.which("chromium-headless-shell")
    if not found:
        raise RuntimeError("Debian's chromium-headless-shell is required for render checks (`make chromium`, or "
                           "apt-get install chromium-headless-shell)")
    return found


def render(page: Path, screenshot: Path | None = None, width: int = 1200, height: int = 3000) -> tuple[str, list[str]]:
    """Load a local page; return its DOM after scripts ran and the non-file URLs the browser requested."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        netlog = Path(profile) / "netlog.json"
        action = [f"--screenshot={screenshot}", f"--window-size={width},{height}"] if screenshot else ["--dump-dom"]
        result = subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}/user", f"--log-net-log={netlog}",
             "--virtual-time-budget=15000", *action, page.resolve().as_uri()],
            capture_output=True, text=True, timeout=180, check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"chromium failed on {page}: {result.stderr[-2000:]}")
        requested = network_urls(netlog.read_text(encoding="utf-8", errors="replace"))
    return result.stdout, requested


def network_urls(netlog_text: str) -> list[str]:
    """Network URLs the page itself asked for, from a Chromium net-log.

    Chromium's own background calls (update checks, clock sync) carry the initiator
    "not an origin"; a request made by the page carries the page's (file://) origin.
    """
    log = json.loads(netlog_text)
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = set()
    for event in log.get("events", []):
        params = event.get("params", {})
        if event.get("type") != start_job or not re.match(r"(https?|wss?|ftp)://", params.get("url", "")):
            continue
        if params.get("initiator") != "not an origin" or "file://" in params.get("network_isolation_key", ""):
            urls.add(params["url"])
    return sorted(urls)
