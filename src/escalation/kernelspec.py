"""The kernel a build runs its reports in: this very interpreter, so that a build never picks up another
environment's kernel, started through `lifeline` so that it dies with the worker that started it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

KERNEL_NAME = "escalation-build"


def write_kernelspec(base: Path) -> Path:
    """Write the kernelspec under `base/kernels/`; returns that folder, for a `KernelSpecManager`."""
    spec_dir = base / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "escalation.lifeline", sys.executable, "-m", "ipykernel_launcher",
                 "-f", "{connection_file}", "--IPKernelApp.log_level=ERROR",
                 "--HistoryManager.hist_file=:memory:"],
        "display_name": "escalation (build)",
        "language": "python",
        "env": {"PYTHONWARNINGS": "ignore"},
    }), encoding="utf-8")
    return base / "kernels"
