"""A build under hostile conditions: kills during publishing, full and foreign filesystems, odd windows, bad
options (hung cells and killed builds: test_timeouts_and_kills.py).

Most tests run the command on tiny notebooks: the committed ones under tests/notebooks and
copies made here (a chart drawn by a generated notebook, two reports to catch a mixed publish),
their reports on the session's Dask cluster (`on_cluster`) but for the build killed while it publishes. The
command runs in a subprocess where its own process is under test (its exit code and messages for bad options and
full disks, a kill), else in the test's process (`escalation`).
Tests that need a second filesystem mount a tmpfs (possible as root); they are skipped, saying so,
where mounting is impossible.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import ONE_WORKER, TEST_NOTEBOOKS, escalation

from escalation import charts, images, metrics, paths
from escalation.build import default_figures_dir
from escalation.images import sorted_attributes, stable_svg_ids, write_figures
from escalation.metrics import Window
from escalation.period import too_wide
from escalation.publish import KILL_FOR_TESTS

#: Windows that once crashed a notebook: a moment before most of the data, and periods without any event.
ODD_WINDOWS = {
    "early as_of": ("2020-02-01", "2020-03-06", "2020-02-10T00:00+03:00"),
    "empty period before the data": ("2019-06-01", "2019-06-30", None),
    "empty period after the data": ("2021-06-01", "2021-06-30", None),
    "first day only": ("2020-02-01", "2020-02-01", "2020-02-01T23:59+03:00"),
}


def run_cli(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "escalation", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=env)


def build_args(notebooks: Path, out: Path, *extra: str) -> list[str]:
    return ["build", "--notebooks", str(notebooks), "--out", str(out), *extra]


def build_command(notebooks: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "escalation", *build_args(notebooks, out, *extra)]


def tiny_notebook(folder: Path, name: str, body: str) -> Path:
    """A report notebook with the build's parameters and one code cell, written by code for one test."""
    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell(f'data_dir = "{paths.DATA_DIR}"\noutput_dir = ""\nlabel = "tiny"')
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# Tiny report {name}"), parameters, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


HEATMAP_BODY = """\
import pathlib
import plotly.graph_objects as go

fig = go.Figure(go.Heatmap(z=[[1, 2], [3, 4]]), layout={"title": {"text": f"tiny heatmap {label}"}})
folder = pathlib.Path(output_dir) / "figures"
folder.mkdir(parents=True, exist_ok=True)
(folder / "tiny-heatmap.json").write_text(fig.to_json())
print(f"report {label}")"""


def visible_files(root: Path) -> dict[str, str]:
    """SHA-256 of every file a reader of `root` sees (links followed, hidden entries left out)."""
    found = {}
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if not name.startswith("."):
                path = Path(folder) / name
                found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a tmpfs of the given size at a new folder; unmounted after the test."""
    mounted = []

    def mount(name: str, options: str = "size=200m") -> Path:
        point = tmp_path / name
        point.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True,
                                text=True, check=False)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], check=False)


# Early and empty windows -------------------------------------------------------------------------------


def notebook_calls(pattern: str) -> set[str]:
    found = set()
    for path in sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                found |= set(re.findall(pattern, cell.source))
    return found


@pytest.mark.parametrize("window_name", ODD_WINDOWS)
def test_every_chart_and_report_part_works_for_early_and_empty_windows(tables, tmp_path, monkeypatch, window_name):
    from escalation import report as report_module

    monkeypatch.setattr(report_module, "display", lambda *args, **kwargs: None)
    start, end, as_of = ODD_WINDOWS[window_name]
    window = Window.from_params(start, end, as_of, zone=tables.case.timezone)
    report = report_module.Report(tmp_path, tables.case)
    parts = {
        "heading": lambda: report.heading("focal_summary_heading", "A heading"),
        "prose": lambda: report.prose("daily_intro", "Some prose."),
        "overview": lambda: report.overview(tables, window),
        "key_figures": lambda: report.key_figures(tables, window),
        "sources": lambda: report.sources(tables, window),
        "table": lambda: report.table(metrics.known_events(tables, window), "events"),
        "chart": lambda: [report.chart(chart, tables, window) for chart in charts.ALL_CHARTS],
    }
    tables_shown = {
        "known_events": lambda: metrics.known_events(tables, window),
        "claim_history": lambda: metrics.claim_history(tables, window),
        "known_claims": lambda: metrics.known_claims(tables, window),
        "daily_event_counts": lambda: metrics.daily_event_counts(tables, window),
        "find_events": lambda: metrics.find_events(tables, "strike"),
        "focal_event": lambda: metrics.focal_event(tables),
        "event_ranges": lambda: metrics.event_ranges(tables, window),
        "changes_since": lambda: metrics.changes_since(tables, window),
    }
    assert notebook_calls(r"\breport\.(\w+)\(") <= set(parts), "a notebook calls a Report method not tried here"
    assert notebook_calls(r"\bmetrics\.(\w+)\(") <= set(tables_shown)
    chart_names = {name for name, value in vars(charts).items() if any(value is c for c in charts.ALL_CHARTS)}
    assert notebook_calls(r"\bcharts\.(\w+),") <= chart_names, "a notebook draws a chart not tried here"
    for part in parts.values():
        part()
    for table in tables_shown.values():
        table()
    for chart in charts.ALL_CHARTS:
        figure = json.loads((tmp_path / "figures" / f"{chart.slug}.json").read_text())
        assert figure["layout"]["title"]["text"], chart.slug
        notes = " ".join(a.get("text", "") for a in figure["layout"].get("annotations", []))
        assert window.label() in notes, f"{chart.slug} does not say which moment it describes"
        assert (tmp_path / "tables" / f"{chart.slug}.csv").is_file()
    if window_name.startswith("empty"):
        assert metrics.known_events(tables, window).empty


# Stable SVG files --------------------------------------------------------------------------------------


def colour_bar_svg(uid: str, colour_bar: str) -> str:
    """A fragment shaped like plotly.js's SVG output for a heatmap's colour bar, with the given random ids."""
    return (f'<svg><defs><clipPath id="clip{uid}xyplot"/><g class="gradients"><linearGradient '
            f'id="g{uid}-cb{colour_bar}"/></g></defs><g class="cb{colour_bar} colorbar">'
            f"<rect style=\"fill: url('#g{uid}-cb{colour_bar}');\" x=\"731.{colour_bar}\" y=\"0\"/>"
            f'<g class="ycb{colour_bar}tick"/><text class="ycb{colour_bar}title"/></g></svg>')


def test_random_svg_ids_are_renumbered_and_numbers_left_alone():
    first = stable_svg_ids(colour_bar_svg("a1b2c3", "123456"))
    second = stable_svg_ids(colour_bar_svg("d4e5f6", "9abcde"))
    assert first.replace('x="731.123456"', "") == second.replace('x="731.9abcde"', "")
    assert "123456" not in first.replace('x="731.123456"', ""), "a random id was left in the SVG"
    assert 'x="731.123456"' in first, "a number that looks like an id was changed"


def test_svg_attributes_set_in_another_order_give_the_same_bytes_and_keep_every_value():
    # the two orders plotly.js wrote for the same root on one page (a Dask and a local build, February 2020)
    first = ('<svg class="main-svg" xmlns="http://www.w3.org/2000/svg" width="1000" height="560" '
             'viewBox="0 0 1000 560" style=""><rect x="0" y="0" style="fill: rgb(255, 255, 255);"/><text '
             'class="gtitle" x="10">a &lt; b</text></svg>')
    second = ('<svg class="main-svg" xmlns="http://www.w3.org/2000/svg" width="1000" height="560" style="" '
              'viewBox="0 0 1000 560"><rect style="fill: rgb(255, 255, 255);" y="0" x="0"/><text x="10" '
              'class="gtitle">a &lt; b</text></svg>')
    assert first != second
    assert sorted_attributes(first) == sorted_attributes(second)
    assert sorted_attributes(first).startswith('<svg class="main-svg" height="560" style="" viewBox="0 0 1000 560" '
                                               'width="1000" xmlns="http://www.w3.org/2000/svg"><rect style=')
    assert sorted_attributes(first).endswith('<text class="gtitle" x="10">a &lt; b</text></svg>')


@pytest.fixture(scope="module")
def image_server():
    """One Chromium for this module's figures (`write_figures` uses the process's server when there is one), as a
    worker keeps one for all its reports: each batch is drawn on a page that drew other figures before."""
    images.start_server()
    yield
    images.stop_server()


@pytest.mark.slow
def test_the_same_heatmap_exported_twice_gives_identical_svg_bytes(tables, tmp_path, image_server):
    figure = charts.who_fought_whom(tables, Window.from_params("2020-02-01", "2020-03-06", zone=tables.case.timezone))
    source = tmp_path / "who-fought-whom.json"
    source.write_text(figure.to_json(), encoding="utf-8")
    write_figures([source], tmp_path / "first")
    write_figures([source], tmp_path / "second")
    svg = (tmp_path / "first" / "who-fought-whom.svg").read_bytes()
    assert b"linearGradient" in svg, "the colour bar's gradient (the random id) is not in the figure"
    assert svg == (tmp_path / "second" / "who-fought-whom.svg").read_bytes()


@pytest.mark.slow
def test_a_chart_drawn_after_another_gives_the_svg_bytes_it_gives_alone(tables, tmp_path, image_server):
    """Chromium's page is kept from one image to the next: a chart's SVG must not depend on what the page drew
    before it (plotly.js, for one, orders a legend's attributes differently on a page's first drawing)."""
    window = Window.from_params("2020-02-01", "2020-03-06", zone=tables.case.timezone)
    sources = []
    for chart in (charts.claim_timeline, charts.events_per_day):
        source = tmp_path / f"{chart.slug}.json"
        source.write_text(chart(tables, window).to_json(), encoding="utf-8")
        sources.append(source)
    write_figures(sources[1:], tmp_path / "alone")
    write_figures(sources, tmp_path / "after-another")
    svg = (tmp_path / "alone" / "events-per-day.svg").read_bytes()
    assert b'class="legend"' in svg, "the chart has no legend (whose attributes plotly.js orders)"
    assert svg == (tmp_path / "after-another" / "events-per-day.svg").read_bytes()


# Parameters of the build itself ------------------------------------------------------------------------


def test_a_period_far_wider_than_the_data_is_refused_with_a_reason():
    assert too_wide("2020-02-01", "2020-03-06", paths.DATA_DIR) is None
    assert too_wide("2019-06-01", "2019-06-30", paths.DATA_DIR) is None
    problem = too_wide("2005-01-01", "2025-12-31", paths.DATA_DIR)
    assert "2005-01-01 – 2025-12-31 (7670 days)" in problem
    assert "--wide-period" in problem


def test_the_build_refuses_a_20_year_period_with_exit_2_before_any_kernel(tmp_path):
    result = run_cli("build", "--out", str(tmp_path / "reports"), "--param", "start=2005-01-01",
                     "--param", "end=2025-12-31")
    assert result.returncode == 2, result.stderr
    assert "the period 2005-01-01 – 2025-12-31" in result.stderr and "--wide-period" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "reports").glob("*/manifest.json"))


def test_figures_of_another_output_folder_go_inside_it():
    assert default_figures_dir(paths.REPORTS_DIR) == paths.FIGURES_DIR
    nested = paths.REPORTS_DIR / "as-of-0300"
    assert default_figures_dir(nested) == nested / "figures"


@pytest.mark.parametrize(("args", "message"), [
    (["--out", "/etc/hostname/reports"], "--out /etc/hostname/reports: cannot write there (Not a directory)"),
    (["--build-time", "yesterday"], "--build-time 'yesterday': expected an ISO 8601 moment"),
])
def test_bad_build_options_exit_2_with_a_message(tmp_path, args, message):
    result = run_cli("build", "--notebooks", str(TEST_NOTEBOOKS / "passing"), "--out", str(tmp_path / "r"), *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_read_only_out_folder_exits_2_with_a_message(tmpfs):
    read_only = tmpfs("read-only", "ro,size=1m")
    result = run_cli("build", "--notebooks", str(TEST_NOTEBOOKS / "passing"), "--out", str(read_only / "reports"))
    assert result.returncode == 2, result.stderr
    assert f"--out {read_only / 'reports'}: cannot write there (Read-only file system)" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_with_a_quarantine_file_in_a_missing_folder_exits_2():
    result = run_cli("validate", "--quarantine", "/nonexistent/q.csv")
    assert result.returncode == 2, result.stderr
    assert "--quarantine /nonexistent/q.csv: no such folder /nonexistent" in result.stderr
    assert "Traceback" not in result.stderr


# Packaging ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_wheel_carries_every_runtime_file_of_the_package(tmp_path):
    project = tmp_path / "project"  # a copy, so that the build leaves nothing in the working tree
    shutil.copytree(paths.ROOT / "src", project / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(paths.ROOT / name, project / name)
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                             str(project)], capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    (wheel,) = (tmp_path / "dist").glob("escalation-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    package = paths.ROOT / "src" / "escalation"
    needed = {f"escalation/{p.relative_to(package).as_posix()}" for p in package.rglob("*")
              if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
              and p.relative_to(package).as_posix() != "geodata/extract_borders.py"}  # a maintainer's script
    assert "escalation/geodata/borders.geojson" in needed
    assert needed <= shipped, f"missing from the wheel: {sorted(needed - shipped)}"


# Publishing --------------------------------------------------------------------------------------------


@pytest.fixture
def two_reports(tmp_path) -> Path:
    folder = tmp_path / "notebooks"
    for name in ("50_first", "51_second"):
        tiny_notebook(folder, name, 'print(f"report {label}")')
    return folder


def labels(out: Path) -> dict[str, str]:
    manifests = sorted(out.glob("*/manifest.json"))
    return {m.parent.name: json.loads(m.read_text())["parameters"]["label"] for m in manifests}


@pytest.mark.slow
def test_a_kill_during_publish_leaves_the_previous_build_whole_until_the_next_run(two_reports, tmp_path, on_cluster):
    """The killed build runs its reports on a local worker, which dies with it; the builds before and after it run
    on the cluster."""
    out = tmp_path / "reports"
    first = escalation(*build_args(two_reports, out, "--param", "label=one", *on_cluster))
    assert first.returncode == 0, first.stderr
    before = visible_files(out)
    assert labels(out) == {"50_first": "one", "51_second": "one"}
    killed = subprocess.run(build_command(two_reports, out, "--param", "label=two", *ONE_WORKER), capture_output=True,
                            text=True, timeout=600, stdin=subprocess.DEVNULL,
                            env={**os.environ, KILL_FOR_TESTS: "after-first-report"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert visible_files(out) == before, "a reader sees part of the killed build"
    assert labels(out) == {"50_first": "one", "51_second": "one"}
    again = escalation(*build_args(two_reports, out, "--param", "label=two", *on_cluster))
    assert again.returncode == 0, again.stderr
    assert labels(out) == {"50_first": "two", "51_second": "two"}
    index = (out / "index.html").read_text()
    assert index.count("<code>label=two</code>") == 2 and "label=one" not in index
    assert len(list((out / ".versions").iterdir())) == 1 and not list(out.glob(".staging-*"))


@pytest.mark.slow
def test_a_full_disk_fails_the_report_with_the_cause_in_its_record(tmpfs, on_cluster):
    full = tmpfs("full", "size=1m")
    out = full / "reports"
    result = run_cli("build", "--notebooks", str(TEST_NOTEBOOKS / "passing"), "--out", str(out), *on_cluster)
    assert result.returncode == 1, result.stderr
    assert "No space left on device" in result.stderr
    assert "Traceback" not in result.stderr
    record = json.loads((out / "_failed" / "50_tiny.error.json").read_text())
    assert record["report"] == "50_tiny" and "No space left on device" in record["error"]


@pytest.mark.slow
def test_reports_on_another_filesystem_than_their_figures(tmpfs, tmp_path, on_cluster):
    other = tmpfs("other")
    notebooks = tmp_path / "notebooks"
    tiny_notebook(notebooks, "50_heatmap", HEATMAP_BODY)
    out, figures = other / "reports", tmp_path / "figures"
    figures.mkdir()
    assert os.stat(other).st_dev != os.stat(figures).st_dev
    result = escalation("build", "--notebooks", str(notebooks), "--out", str(out), "--figures", str(figures),
                        *on_cluster)
    assert result.returncode == 0, result.stderr
    assert (out / "50_heatmap" / "50_heatmap.html").is_file()
    assert (figures / "tiny-heatmap.svg").read_text().lstrip().startswith("<svg")
    assert (figures / "tiny-heatmap.png").stat().st_size > 1000


@pytest.mark.slow
def test_a_nested_output_folder_keeps_its_figures_and_stays_out_of_the_main_index(tmp_path, on_cluster):
    notebooks = tmp_path / "notebooks"
    tiny_notebook(notebooks, "50_heatmap", HEATMAP_BODY)
    main, main_figures = tmp_path / "reports", tmp_path / "figures"
    nested = main / "as-of-0300"
    first = escalation("build", "--notebooks", str(notebooks), "--out", str(main), "--figures", str(main_figures),
                       *on_cluster)
    assert first.returncode == 0, first.stderr
    main_svg = (main_figures / "tiny-heatmap.svg").read_bytes()
    second = escalation("build", "--notebooks", str(notebooks), "--out", str(nested), "--param", "label=nested",
                        *on_cluster)
    assert second.returncode == 0, second.stderr
    assert "tiny heatmap nested" in (nested / "figures" / "tiny-heatmap.svg").read_text()
    assert (main_figures / "tiny-heatmap.svg").read_bytes() == main_svg, "the nested build overwrote main figures"
    rebuilt = escalation("build", "--notebooks", str(notebooks), "--out", str(main), "--figures", str(main_figures),
                         "--force", *on_cluster)
    assert rebuilt.returncode == 0, rebuilt.stderr
    index = (main / "index.html").read_text()
    assert 'href="50_heatmap/50_heatmap.html"' in index
    assert "as-of-0300" not in index
    assert (nested / "50_heatmap" / "manifest.json").is_file(), "the main build touched the nested folder"


@pytest.mark.slow
def test_every_notebook_builds_for_an_early_as_of(tmp_path, on_cluster):
    out = tmp_path / "reports"
    built = escalation("build", "--out", str(out), "--param", "as_of=2020-02-10T00:00+03:00", *on_cluster)
    assert built.returncode == 0, built.stderr
    assert sorted(m.parent.name for m in out.glob("*/manifest.json")) == [
        "01_events_overview", "02_casualty_claims", "03_escalation_summary"]
    reconciliation = (out / "02_casualty_claims" / "tables" / "reconciliation.csv").read_text().splitlines()
    assert len(reconciliation) == 1, "no running total was published by 10 February"
    daily = escalation("backfill", "--from", "2020-02-01", "--to", "2020-02-01", "--out", str(out), *on_cluster)
    assert daily.returncode == 0, daily.stderr
    assert (out / "daily" / "2020-02-01" / "situation_report_2020-02-01.html").is_file()


def test_a_publication_takes_over_a_folder_written_in_place_and_leaves_what_is_not_its_own(tmp_path):
    from escalation.publish import Publication, replace_entry

    (tmp_path / "index.html").write_text("old index")
    (tmp_path / "01_report").mkdir()
    (tmp_path / "01_report" / "manifest.json").write_text("old report")
    (tmp_path / "02_report").mkdir()
    (tmp_path / "02_report" / "manifest.json").write_text("kept report")
    (tmp_path / "as-of-0300").mkdir()  # another build's output folder, nested
    (tmp_path / "as-of-0300" / ".build.lock").write_text("")
    (tmp_path / "_failed").mkdir()
    staged = tmp_path / ".staging" / "01_report"
    staged.mkdir(parents=True)
    (staged / "manifest.json").write_text("new report")
    publication = Publication(tmp_path)
    with publication.next_version() as version:
        replace_entry(version, "01_report", staged)
        (version / "index.html").unlink()
        (version / "index.html").write_text("new index")
    assert (tmp_path / "01_report" / "manifest.json").read_text() == "new report"
    assert (tmp_path / "02_report" / "manifest.json").read_text() == "kept report"
    assert (tmp_path / "index.html").read_text() == "new index"
    assert all((tmp_path / name).is_symlink() for name in ("index.html", "01_report", "02_report"))
    assert not any((tmp_path / name).is_symlink() for name in ("as-of-0300", "_failed"))
    assert sorted(p.name for p in (publication.current() or tmp_path).iterdir()) == [
        "01_report", "02_report", "index.html"]


def test_a_publish_that_fails_midway_leaves_the_previous_version_and_nothing_else(tmp_path):
    from escalation.publish import Publication

    publication = Publication(tmp_path)
    with publication.next_version() as version:
        (version / "report.txt").write_text("first")
    with pytest.raises(OSError, match="No space left"), publication.next_version() as version:
        (version / "report.txt").unlink()
        (version / "report.txt").write_text("second")
        raise OSError(28, "No space left on device")
    assert (tmp_path / "report.txt").read_text() == "first"
    assert [p.name for p in (tmp_path / ".versions").iterdir()] == [publication.current().name]


def test_figures_inside_a_published_folder_are_placed_by_path_not_through_its_links(tmp_path):
    from escalation.publish import Destination, Publication

    with Publication(tmp_path).next_version() as version:
        (version / "figures").mkdir()
    assert (tmp_path / "figures").is_symlink()
    destination = Destination(tmp_path, tmp_path / "figures")
    assert destination.figures_in_reports == Path("figures") and destination.figures is None
