"""Every project path, resolved from the project root in one place.

The root is found from ESCALATION_ROOT when set (e.g. for a build run from elsewhere),
otherwise by walking up from the current directory, then from this file, to the folder
holding `pyproject.toml` and `data/`.
"""

from __future__ import annotations

import os
from pathlib import Path


def _find_root() -> Path:
    env = os.environ.get("ESCALATION_ROOT")
    if env:
        return Path(env).resolve()
    for start in (Path.cwd(), Path(__file__).resolve()):
        for candidate in (start, *start.parents):
            if (candidate / "pyproject.toml").is_file() and (candidate / "data").is_dir():
                return candidate
    return Path.cwd()


ROOT = _find_root()
DATA_DIR = ROOT / "data"
NOTEBOOKS_DIR = ROOT / "notebooks"
REPORTS_DIR = ROOT / "reports"
FIGURES_DIR = ROOT / "figures"
DATAPACKAGE = DATA_DIR / "datapackage.json"
#: Files the package can rebuild at any time (ignored by git); ESCALATION_CACHE_DIR moves them elsewhere.
CACHE_DIR = Path(os.environ.get("ESCALATION_CACHE_DIR") or ROOT / ".cache")
#: Validated, typed tables (`escalation.validated`), one folder per combination of inputs.
VALIDATED_DIR = CACHE_DIR / "validated"
