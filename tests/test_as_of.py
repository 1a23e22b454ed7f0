"""What was known when: reports built as of a moment show only what had been published by then (the command run in the
test's process, `escalation`, its reports on the session's Dask cluster, `on_cluster`)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from conftest import BALYUN, escalation

from escalation import paths

pytestmark = pytest.mark.slow

BALYUN_FIGURE = f"killed.turkish_military.{BALYUN}"


def build_as_of(out: Path, as_of: str, on_cluster: tuple[str, ...], *reports: str) -> Path:
    """Build the report notebooks as of a moment: every one, or only the `reports` named (copied aside)."""
    notebooks = paths.NOTEBOOKS_DIR
    if reports:
        notebooks = out.parent / "notebooks"
        notebooks.mkdir(parents=True)
        for name in reports:
            shutil.copy(paths.NOTEBOOKS_DIR / f"{name}.ipynb", notebooks)
    result = escalation("build", "--param", f"as_of={as_of}", "--out", str(out), "--figures",
                        str(out.parent / "figures"), "--notebooks", str(notebooks), "--param",
                        f"data_dir={paths.DATA_DIR}", *on_cluster)
    assert result.returncode == 0, result.stderr
    return out


def key_figures(report: Path) -> dict[str, dict]:
    with (report / "tables" / "key_figures.csv").open(encoding="utf-8") as handle:
        return {row["figure"]: row for row in csv.DictReader(handle)}


def timeline(report: Path) -> list[dict]:
    with (report / "tables" / "focal-claim-timeline.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_at_0300_on_28_february_balyun_stands_at_29_to_34(tmp_path, on_cluster):
    reports = build_as_of(tmp_path / "reports", "2020-02-28T03:00:00+03:00", on_cluster, "03_escalation_summary")
    summary = reports / "03_escalation_summary"
    balyun = key_figures(summary)[BALYUN_FIGURE]
    assert (balyun["value_low"], balyun["value_high"]) == ("29", "34")
    assert balyun["as_of"] == "2020-02-28T03:00:00+03:00"
    claims = timeline(summary)
    governor = [int(c["value_low"]) for c in claims if c["claimant"] == "Governor of Hatay"]
    assert governor == [9, 22, 29], "the governor's 33 of the morning must not appear yet"
    assert max(int(c["value_low"]) for c in claims if c["claimant"] == "SOHR") == 34
    assert "Turkish Presidency" not in {c["claimant"] for c in claims}
    assert "as known at 28 Feb 2020 03:00" in (summary / "03_escalation_summary.html").read_text()


def test_at_noon_on_27_february_there_are_no_balyun_deaths(tmp_path, on_cluster):
    reports = build_as_of(tmp_path / "reports", "2020-02-27T12:00:00+03:00", on_cluster, "01_events_overview",
                          "02_casualty_claims", "03_escalation_summary")
    for report in ("02_casualty_claims", "03_escalation_summary"):
        assert BALYUN_FIGURE not in key_figures(reports / report)
        assert timeline(reports / report) == []
    events = (reports / "01_events_overview" / "tables" / "events.csv").read_text()
    assert BALYUN not in events
