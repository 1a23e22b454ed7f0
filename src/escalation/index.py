"""`<out>/index.html`: where things stand (see `frontpage`), then every report of one publication with its
parameters and status, from the manifests.

The index is rendered from the version being published (see `publish`), so it lists exactly the
reports published with it, and never those of another output folder nested inside this one.
"""

from __future__ import annotations

import json
import os
from importlib.resources import files
from pathlib import Path

from jinja2 import Environment, select_autoescape

from escalation.frontpage import situation


def manifests(tree: Path) -> list[dict]:
    """Every report manifest below `tree`, in path order, with its link relative to the index."""
    found = []
    for path in sorted(tree.glob("**/manifest.json")):
        if any(part.startswith((".", "_")) for part in path.relative_to(tree).parts):
            continue
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["href"] = (path.parent.relative_to(tree) / manifest["html"]).as_posix()
        found.append(manifest)
    return found


def failed(failed_dir: Path) -> list[dict]:
    """Reports whose last build failed: their name and error, as the build recorded them."""
    records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(failed_dir.glob("*.error.json"))]
    return [{"name": record["report"], "error": record["error"]} for record in records]


def render_index(tree: Path, failed_dir: Path) -> str:
    env = Environment(autoescape=select_autoescape(default=True))
    template = env.from_string((files("escalation") / "templates" / "index.html.j2").read_text(encoding="utf-8"))
    failures = failed(failed_dir)
    found = manifests(tree)
    reports = [m for m in found if not m["report"].startswith("daily/")]
    daily = [m for m in found if m["report"].startswith("daily/")]
    return template.render(reports=reports, daily=daily, failed=failures, failed_names={f["name"] for f in failures},
                           front=situation(tree, reports, daily))


def write_index(tree: Path, failed_dir: Path) -> Path:
    """Write `tree/index.html` as a new file (never in place: a version shares unchanged files with the last)."""
    target = tree / "index.html"
    temporary = target.with_suffix(".html.tmp")
    temporary.write_text(render_index(tree, failed_dir), encoding="utf-8")
    os.replace(temporary, target)
    return target
