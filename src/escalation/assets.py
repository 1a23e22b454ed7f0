"""The files the reports of an output folder share: one plotly.js instead of one per report.

Each report's HTML loads `<out>/_assets/plotly-<version>.min.js` by a relative address, so the
folder still opens offline once zipped and mailed, and 38 reports carry one 4.6 MB copy instead of
38. The file is written into the version being published, so it goes live with the reports that
load it (see `publish`); its version is in its name, so a new plotly.js never replaces the file
that reports built before it still load.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path, PurePosixPath

#: The folder, inside an output folder, of the files its reports share.
ASSETS_DIR = "_assets"


def plotly_js() -> tuple[str, str]:
    """The plotly.js bundle shipped inside the plotly package, and its version (plotly.js's own)."""
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    return get_plotlyjs(), get_plotlyjs_version()


def plotly_asset_name() -> str:
    """Where the shared plotly.js sits in an output folder, relative to it."""
    from plotly.offline import get_plotlyjs_version

    return f"{ASSETS_DIR}/plotly-{get_plotlyjs_version()}.min.js"


def plotly_href(report_name: str) -> str:
    """The shared plotly.js as seen from the HTML of report `report_name` (e.g. "daily/2020-02-27")."""
    depth = len(PurePosixPath(report_name).parts)
    return "../" * depth + plotly_asset_name()


def share_assets(version: Path, manifests: list[dict]) -> None:
    """Leave in `version/_assets` exactly the plotly.js files its reports load (each manifest's `plotly_js`,
    relative to its report): the current one written when missing, older ones no report loads removed. A version
    starts as hard links to the last one, so an unchanged file is neither copied nor rewritten."""
    wanted = {posixpath.normpath(posixpath.join(m["report"], m["plotly_js"]))
              for m in manifests if m.get("plotly_js")}
    current = version / plotly_asset_name()
    if plotly_asset_name() in wanted and not current.is_file():
        current.parent.mkdir(parents=True, exist_ok=True)
        temporary = current.with_suffix(".tmp")
        temporary.write_text(plotly_js()[0], encoding="utf-8")
        os.replace(temporary, current)
    assets = version / ASSETS_DIR
    for existing in assets.glob("plotly-*"):
        if existing.relative_to(version).as_posix() not in wanted:
            existing.unlink()
    if assets.is_dir() and not any(assets.iterdir()):
        assets.rmdir()
