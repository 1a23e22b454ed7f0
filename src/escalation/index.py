"""`<out>/index.html`: where things stand (see `frontpage`), then every report of one publication with its
parameters and status, from the manifests.

The index is rendered from the version being published (see `publish`), so it lists exactly the
reports published with it, and never those of another output folder nested inside this one. Beside it,
`.index-key` keeps a hash of everything it was rendered from, so a build that changed nothing does not
render it again to find out (reading every daily report's tables).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from importlib.resources import files
from pathlib import Path

from escalation.incremental import library_versions, package_digest

KEY_FILE = ".index-key"


def _manifest_paths(tree: Path) -> list[Path]:
    """The manifests of the reports published in `tree`, in path order (hidden and `_` folders are not)."""
    return [path for path in sorted(tree.glob("**/manifest.json"))
            if not any(part.startswith((".", "_")) for part in path.relative_to(tree).parts)]


def manifests(tree: Path) -> list[dict]:
    """Every report manifest below `tree`, in path order, with its link relative to the index."""
    found = []
    for path in _manifest_paths(tree):
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["href"] = (path.parent.relative_to(tree) / manifest["html"]).as_posix()
        found.append(manifest)
    return found


def failed(failed_dir: Path) -> list[dict]:
    """Reports whose last build failed: their name and error, as the build recorded them."""
    records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(failed_dir.glob("*.error.json"))]
    return [{"name": record["report"], "error": record["error"]} for record in records]


def index_key(tree: Path, failed_dir: Path) -> str:
    """A hash of what the index shows: every manifest (a rebuilt report has a new one, and its tables, which the
    front page reads, come with it), the failure records, the package (templates, front page) and the libraries."""
    digest = hashlib.sha256(json.dumps([package_digest(), library_versions()]).encode())
    named = [*((path.relative_to(tree).as_posix(), path) for path in _manifest_paths(tree)),
             *((f"_failed/{path.name}", path) for path in sorted(failed_dir.glob("*.error.json")))]
    for name, path in named:
        content = path.read_bytes()
        digest.update(f"{name}\0{len(content)}\0".encode() + content)
    return digest.hexdigest()


def is_current(tree: Path, failed_dir: Path) -> bool:
    """Whether `tree/index.html` was rendered from what `tree` and `failed_dir` hold now."""
    try:
        kept = (tree / KEY_FILE).read_text(encoding="utf-8")
    except OSError:
        return False
    return (tree / "index.html").is_file() and kept == index_key(tree, failed_dir)


@functools.cache
def _template():
    """The index template, compiled once per process (a backfill renders the index after every day)."""
    from jinja2 import Environment, select_autoescape

    env = Environment(autoescape=select_autoescape(default=True))
    return env.from_string((files("escalation") / "templates" / "index.html.j2").read_text(encoding="utf-8"))


def render_index(tree: Path, failed_dir: Path) -> str:
    from escalation.frontpage import situation  # pandas: imported only when an index is rendered

    template = _template()
    failures = failed(failed_dir)
    found = manifests(tree)
    reports = [m for m in found if not m["report"].startswith("daily/")]
    daily = [m for m in found if m["report"].startswith("daily/")]
    return template.render(reports=reports, daily=daily, failed=failures, failed_names={f["name"] for f in failures},
                           front=situation(tree, reports, daily))


def write_index(tree: Path, failed_dir: Path) -> Path:
    """Write `tree/index.html` and its key as new files (never in place: a version shares unchanged files with the
    last)."""
    target = tree / "index.html"
    for path, text in ((target, render_index(tree, failed_dir)), (tree / KEY_FILE, index_key(tree, failed_dir))):
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    return target
