"""`python -m escalation.worker JOB.json RESULT.json`: build one report in a process of its own.

Each report runs in a fresh process (its own kernel and Chromium), started and reaped by the build,
so a stuck or crashed report cannot take the build's bookkeeping down with it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path


def main(job_path: str, result_path: str) -> None:
    from escalation.build import execute_one

    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    result = execute_one(job)
    Path(result_path).write_text(json.dumps(dataclasses.asdict(result)), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:3])
