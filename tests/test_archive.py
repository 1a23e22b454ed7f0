"""A small archive and an honest incremental key, through real builds of a two-chart notebook (the event map
among them): reports share one plotly.js or carry their own, open offline in Chromium either way, and a report
whose outputs were deleted, or whose libraries changed, is rebuilt. The reports run on the session's Dask cluster
(`cluster`): the forms and the keys are the command's business whichever executor runs them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from browser import render

from escalation import build, incremental, paths
from escalation.jobs import report_jobs
from escalation.params import declared

pytestmark = pytest.mark.slow

CHARTS = ["events-per-day", "event-map"]


@pytest.fixture(scope="module")
def notebook(tmp_path_factory) -> Path:
    """A report drawing two charts of the shipped data, the map among them."""
    folder = tmp_path_factory.mktemp("notebooks")
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    parameters = nbformat.v4.new_code_cell(f'data_dir = "{paths.DATA_DIR}"\nend = "2020-02-28"\noutput_dir = ""')
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Two charts\n\n## The charts"),
        parameters,
        nbformat.v4.new_code_cell(
            "from escalation import charts\nfrom escalation.data import load_tables\n"
            "from escalation.metrics import Window\nfrom escalation.report import Report\n"
            "tables = load_tables(data_dir)\n"
            "window = Window.from_params('2020-02-01', end, zone=tables.case.timezone)\n"
            "report = Report(output_dir, tables.case)\n"
            "report.chart(charts.events_per_day, tables, window)\n"
            "report.chart(charts.event_map, tables, window)"),
    ]
    path = folder / "60_charts.ipynb"
    nbformat.write(nb, path)
    return path


def run(notebook: Path, out: Path, cluster: str, **options) -> build.BuildResult:
    jobs = report_jobs({}, [notebook], declared([notebook]))
    return build.run(jobs, out_dir=out, figures_dir=out.parent / "figures", executor_name="dask", scheduler=cluster,
                     progress=False, generated_at="2026-01-01T00:00:00+00:00", **options)


@pytest.fixture(scope="module")
def shared(notebook, tmp_path_factory, cluster) -> Path:
    out = tmp_path_factory.mktemp("shared") / "reports"
    assert [r.status for r in run(notebook, out, cluster).results] == ["ok"]
    return out


def drawn(dom: str) -> list[str]:
    """The charts plotly.js drew: their div carries plotly's class and holds a rendered SVG."""
    found = []
    for slug in CHARTS:
        opening = re.search(rf'<div[^>]*\bid="chart-{slug}"[^>]*>', dom)
        if opening and "js-plotly-plot" in opening.group(0) and 'class="main-svg"' in dom[opening.end():]:
            found.append(slug)
    return found


def test_a_copied_folder_shares_one_plotly_and_opens_offline(shared, tmp_path):
    html = (shared / "60_charts" / "60_charts.html").read_text()
    sources = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    assert len(sources) == 1 and sources[0].startswith("../_assets/plotly-"), sources
    assert "* plotly.js v" not in html, "plotly.js is inlined as well"
    assert (shared / "60_charts" / sources[0]).read_text().lstrip().startswith("/**\n* plotly.js v")
    mailed = tmp_path / "mailed"  # what `zip -r` of the folder holds: the published entries, links followed
    shutil.copytree(shared, mailed, ignore=shutil.ignore_patterns(".*"))
    dom, requested = render(mailed / "60_charts" / "60_charts.html")
    assert requested == []
    assert drawn(dom) == CHARTS


def test_switching_to_a_self_contained_report_rebuilds_it_drops_the_unused_plotly_and_it_opens_offline_alone(
        shared, tmp_path, notebook, cluster):
    """On a copy of the shared build (its figures too, so that only the form differs)."""
    out = shutil.copytree(shared.parent, tmp_path / "site", symlinks=True) / "reports"
    assert list((out / "_assets").glob("plotly-*.min.js"))
    result = run(notebook, out, cluster, self_contained=True)
    assert [r.name for r in result.results] == ["60_charts"]
    assert [r.status for r in result.results] == ["ok"]
    assert not (out / "_assets").exists(), "no report loads the shared plotly.js any more"
    alone = tmp_path / "alone" / "report.html"
    alone.parent.mkdir()
    shutil.copyfile(out / "60_charts" / "60_charts.html", alone)
    assert not re.search(r"<script[^>]*\bsrc=", alone.read_text())
    dom, requested = render(alone)
    assert requested == []
    assert drawn(dom) == CHARTS


@pytest.mark.parametrize("deleted", ["60_charts/60_charts.html", "60_charts/tables/event-map.csv",
                                     "_assets", "../figures/event-map.svg"])
def test_a_report_whose_output_was_deleted_is_rebuilt(notebook, shared, cluster, deleted):
    target = shared / deleted
    if target.name == "_assets":
        target = next(target.glob("plotly-*.min.js"))
    target.resolve().unlink()  # the file itself, not the link of the published folder (the next run restores that)
    result = run(notebook, shared, cluster)
    assert [r.name for r in result.results] == ["60_charts"]
    assert target.is_file()
    assert run(notebook, shared, cluster).skipped == ["60_charts"]


def test_a_new_library_version_rebuilds(notebook, shared, cluster, monkeypatch):
    assert run(notebook, shared, cluster).skipped == ["60_charts"]
    installed = incremental.library_versions()
    monkeypatch.setattr(incremental, "library_versions", lambda: {**installed, "pandas": "99.0"})
    assert [r.name for r in run(notebook, shared, cluster).results] == ["60_charts"]
