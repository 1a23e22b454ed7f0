"""Failure records: a failed report leaves its executed notebook (run up to the error) and a record of the
cause in `<out>/_failed/`; a later success, or a skip because the published report is current, clears them."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from escalation.jobs import NotebookResult

log = logging.getLogger("escalation.build")


def failed_stem(name: str) -> str:
    return name.replace("/", "_")


def clear_failure(out_dir: Path, name: str) -> None:
    for stale in (out_dir / "_failed").glob(f"{failed_stem(name)}.*"):
        stale.unlink()


def keep_failed(failed: list[NotebookResult], payloads: dict[str, dict], out_dir: Path) -> None:
    """For each failed report: the executed notebook and a record of the error. The rest of its work folder is
    dropped first, so that a full disk still has room for the record."""
    target = out_dir / "_failed"
    for result in failed:
        payload = payloads[result.name]
        workdir = Path(payload["workdir"])
        executed = workdir / f"{Path(payload['input']).stem}.ipynb"
        stem = failed_stem(result.name)
        try:
            target.mkdir(exist_ok=True)
            if executed.exists():
                os.replace(executed, target / f"{stem}.ipynb")
            shutil.rmtree(workdir, ignore_errors=True)
            (target / f"{stem}.error.json").write_text(json.dumps({"report": result.name, "error": result.error}),
                                                       encoding="utf-8")
        except OSError as error:
            log.error("could not keep the failure record of %s in %s: %s", result.name, target, error)
