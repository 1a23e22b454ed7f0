"""`reports/index.html`: where things stand (see `frontpage`), then every published report with its parameters
and status, from the manifests."""

from __future__ import annotations

import json
import os
from importlib.resources import files
from pathlib import Path

from jinja2 import Environment, select_autoescape

from escalation.frontpage import situation


def manifests(out_dir: Path) -> list[dict]:
    """Every report manifest below `out_dir`, in path order, with its link relative to the index."""
    found = []
    for path in sorted(out_dir.glob("**/manifest.json")):
        if any(part.startswith((".", "_")) for part in path.relative_to(out_dir).parts):
            continue
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["href"] = (path.parent.relative_to(out_dir) / manifest["html"]).as_posix()
        found.append(manifest)
    return found


def failed(out_dir: Path) -> list[dict]:
    """Reports whose last build failed: their name and error, as the build recorded them."""
    records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(out_dir.glob("_failed/*.error.json"))]
    return [{"name": record["report"], "error": record["error"]} for record in records]


def write_index(out_dir: Path) -> Path:
    env = Environment(autoescape=select_autoescape(default=True))
    template = env.from_string((files("escalation") / "templates" / "index.html.j2").read_text(encoding="utf-8"))
    failures = failed(out_dir)
    found = manifests(out_dir)
    reports = [m for m in found if not m["report"].startswith("daily/")]
    daily = [m for m in found if m["report"].startswith("daily/")]
    html = template.render(reports=reports, daily=daily, failed=failures, failed_names={f["name"] for f in failures},
                           front=situation(out_dir, reports, daily))
    target = out_dir / "index.html"
    if target.is_file() and target.read_text(encoding="utf-8") == html:
        return target
    temporary = target.with_suffix(".html.tmp")
    temporary.write_text(html, encoding="utf-8")
    os.replace(temporary, target)
    return target
