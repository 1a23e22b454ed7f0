"""Hostile input: the generated corpus of malformed data folders, and hostile strings in every text field.

Every malformed folder goes through the real `escalation validate`: exit 3 (0 for the harmless
variants a spreadsheet produces), a message naming file, line and column, never a traceback, and
rows read = accepted + quarantined with no row lost. Hostile strings are either quarantined
(control characters, over-long cells) or shown escaped in the report's HTML and written
neutralised into every exported CSV. The browser test builds one report from hostile data and
clicks every link in Chromium.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from browser import render
from click.testing import CliRunner
from conftest import TEST_NOTEBOOKS, escalation, read_rows, write_rows
from hostile_corpus import HOSTILE_STRINGS, HOSTILE_URLS, VARIANTS, copy_data, line_of, row_count
from synthetic_exports import acled_rows, write_acled

from escalation import charts, paths, report
from escalation.cli import main
from escalation.csvsafe import FORMULA_TRIGGERS
from escalation.data import FORBIDDEN_CHARACTERS, MAX_CELL_CHARACTERS, validate_tables
from escalation.metrics import Window
from escalation.schema import TABLE_ORDER, read_datapackage

COUNTS = re.compile(r"^(\w+): (\d+) read, (\d+) accepted, (\d+) quarantined$", re.MULTILINE)


def test_the_corpus_is_as_large_as_the_issue_asks():
    assert len(VARIANTS) >= 60
    assert len({v.name for v in VARIANTS}) == len(VARIANTS)
    assert len(HOSTILE_STRINGS) >= 10


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_malformed_input_is_named_and_loses_no_row(tmp_path, variant):
    data_dir = copy_data(tmp_path / "data")
    expect = variant.mutate(data_dir)
    result = CliRunner().invoke(main, ["validate", "--data-dir", str(data_dir)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.exit_code == expect.exit_code, result.output
    if expect.exit_code:
        where = str(data_dir / expect.file)
        where += f", line {expect.line}" if expect.line else ""
        where += f", column {expect.column}" if expect.column else ""
        assert re.search(rf"^(\s+|error: ){re.escape(where)}[,:]", result.output, re.MULTILINE), result.output
    counts = {m[0]: [int(n) for n in m[1:]] for m in COUNTS.findall(result.output)}
    if expect.file == "datapackage.json":
        assert not counts, "tables were read with a broken datapackage.json"
        return
    assert set(counts) == set(TABLE_ORDER)
    for table, (read, accepted, quarantined) in counts.items():
        assert read == accepted + quarantined, (table, read, accepted, quarantined)
        if table == Path(expect.file).stem and not expect.readable:
            assert read == 0
        else:
            assert read == row_count(paths.DATA_DIR / f"{table}.csv") + expect.rows_added.get(table, 0), table


@pytest.mark.parametrize("name", ["binary file", "datapackage not JSON", "cell of 1 MB"])
def test_the_real_command_prints_no_traceback(tmp_path, name):
    data_dir = copy_data(tmp_path / "data")
    expect = next(v for v in VARIANTS if v.name == name).mutate(data_dir)
    result = subprocess.run([sys.executable, "-m", "escalation", "validate", "--data-dir", str(data_dir)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 3
    assert "Traceback" not in result.stdout + result.stderr
    assert str(data_dir / expect.file) in result.stdout + result.stderr


def test_an_unwritable_quarantine_file_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["validate", "--quarantine", str(tmp_path / "missing" / "q.csv")])
    assert result.exit_code == 2
    assert f"--quarantine {tmp_path / 'missing' / 'q.csv'}: no such folder" in result.output


def free_text_fields(data_dir: Path) -> dict[str, list[str]]:
    """Per table, the string fields with no enum, pattern or format and no key: where a person types free text."""
    package = read_datapackage(data_dir)
    fields = {}
    for resource in package["resources"]:
        schema = resource["schema"]
        keys = set(schema.get("primaryKey", [])) | {k["fields"][0] for k in schema.get("foreignKeys", [])}
        fields[resource["name"]] = [
            f["name"] for f in schema["fields"] if f.get("type", "string") == "string" and "format" not in f
            and f["name"] not in keys and not {"enum", "pattern"} & set(f.get("constraints", {}))]
    return fields


def plant_hostile_strings(data_dir: Path, texts: list[str] = HOSTILE_STRINGS,
                          urls: bool = False) -> dict[str, dict[int, str]]:
    """Text i into every free-text cell of data row i of every table; returns table → line → text.

    With urls, three sources cited by events that hold no planted text also get the hostile http(s) links
    (so a report of the period lists them)."""
    planted = {}
    _, events = read_rows(data_dir / "events.csv")
    _, sources = read_rows(data_dir / "sources.csv")
    untouched_sources = {row[0] for row in sources[len(texts):]}
    cited_by_untouched = {i for row in events[len(texts):] if set(row[-2].split(";")) <= untouched_sources
                          for i in row[-2].split(";")}
    for table, columns in free_text_fields(data_dir).items():
        path = data_dir / f"{table}.csv"
        header, rows = read_rows(path)
        for index, text in enumerate(texts):
            for column in columns:
                rows[index][header.index(column)] = text
        if urls and table == "sources":
            targets = [r for r in rows[len(texts):] if r[0] in cited_by_untouched][:len(HOSTILE_URLS)]
            for row, url in zip(targets, HOSTILE_URLS, strict=True):
                row[header.index("url")] = url
        write_rows(path, header, rows)
        planted[table] = {line_of(path, rows[index][0]): text for index, text in enumerate(texts)}
    return planted


def must_be_quarantined(text: str) -> bool:
    return bool(FORBIDDEN_CHARACTERS.search(text)) or len(text) > MAX_CELL_CHARACTERS


@pytest.fixture(scope="module")
def hostile_tables(tmp_path_factory):
    """A copy of data/ with the hostile strings planted, validated once for the tests that only read it."""
    data_dir = copy_data(tmp_path_factory.mktemp("hostile") / "data")
    planted = plant_hostile_strings(data_dir, urls=True)
    return validate_tables(data_dir), planted, free_text_fields(data_dir)


def test_hostile_strings_with_control_characters_are_quarantined_the_others_accepted(hostile_tables):
    tables, planted, fields = hostile_tables
    assert any(must_be_quarantined(t) for t in HOSTILE_STRINGS)
    assert any(not must_be_quarantined(t) for t in HOSTILE_STRINGS)
    faulted = {(Path(p.file).stem, p.line, p.column) for p in tables.problems}
    for table, by_line in planted.items():
        for line, text in by_line.items():
            for column in fields[table]:
                assert ((table, line, column) in faulted) == must_be_quarantined(text), (table, line, column, text)
    counts = tables.counts()
    assert (counts["read"] == counts["accepted"] + counts["quarantined"]).all()
    assert set(HOSTILE_URLS) <= set(tables.sources["url"]), "http(s) links with quotes must stay usable"


@pytest.fixture(scope="module")
def shown_and_filed(hostile_tables, tmp_path_factory):
    """Every HTML fragment a report shows for the hostile tables, and the folder of CSVs it files."""
    tables = hostile_tables[0]
    fragments: list[str] = []
    out = tmp_path_factory.mktemp("shown") / "out"
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(report, "display", lambda shown, raw=False, metadata=None: fragments.append(
            shown["text/html"] if isinstance(shown, dict) else shown.data))
        window = Window.from_params("2020-02-01", "2020-03-06", zone=tables.case.timezone)
        filed = report.Report(out, tables.case)
        filed.overview(tables, window)
        filed.key_figures(tables, window)
        for chart in charts.ALL_CHARTS:
            filed.chart(chart, tables, window)
        for name in TABLE_ORDER:
            filed.table(tables.frames[name], name)
        filed.sources(tables, window)
    return "\n".join(fragments), out / "tables"


class Elements(HTMLParser):
    """Every start tag of a page with its attributes."""

    def __init__(self, html: str):
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, attrs))


def test_hostile_strings_are_escaped_in_the_html(shown_and_filed):
    html, _ = shown_and_filed
    markup = [t for t in HOSTILE_STRINGS if not must_be_quarantined(t) and re.search(r"[<>&]", t)]
    for text in markup:
        assert text not in html, f"unescaped in the HTML: {text!r}"
    assert any(escape(text, quote=False) in html for text in markup), "no hostile string reached the HTML"
    assert "-2+3" in html and "'-2+3" not in html, "the HTML must show the text as stored"
    elements = Elements(html).found
    assert not [(tag, name) for tag, attrs in elements for name, _ in attrs if name.startswith("on")]
    assert not [tag for tag, _ in elements if tag in ("iframe", "img", "svg", "object", "embed")]
    hrefs = [value for tag, attrs in elements if tag == "a" for name, value in attrs if name == "href"]
    # the only relative links: a capped table's full CSV, filed beside the report under a chart's slug
    assert all(re.fullmatch(r"(https?://|#).*|tables/[a-z0-9-]+\.csv", href) for href in hrefs), [
        h for h in hrefs if not h.startswith("#")]
    assert set(HOSTILE_URLS) <= set(hrefs)


def test_no_exported_csv_holds_a_live_formula(shown_and_filed, hostile_tables, tmp_path, request):
    _, folder = shown_and_filed
    # the quarantine keeps each refused record whole, over-long cells included: read them as a spreadsheet would
    previous = csv.field_size_limit(1 << 24)
    request.addfinalizer(lambda: csv.field_size_limit(previous))
    quarantine = tmp_path / "quarantine.csv"
    result = CliRunner().invoke(main, ["validate", "--data-dir", str(hostile_tables[0].data_dir),
                                       "--quarantine", str(quarantine)])
    assert result.exit_code == 3
    files = [*sorted(folder.glob("*.csv")), quarantine]
    assert len(files) > len(charts.ALL_CHARTS)
    live, neutralised = [], 0
    for path in files:
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.reader(handle):
                for cell in row:
                    neutralised += cell.startswith("'") and cell[1:].startswith(FORMULA_TRIGGERS)
                    if cell.startswith(FORMULA_TRIGGERS) and not is_number(cell):
                        live.append((path.name, cell[:40]))
    assert not live
    assert neutralised, "no formula payload reached the CSVs: the check above proved nothing"


def test_an_imports_quarantine_holds_no_live_formula(tmp_path):
    """A refused cell is kept as written; in quarantine.csv it must not run when a spreadsheet opens the file."""
    rows = acled_rows(len(FORMULA_TRIGGERS))
    for row, trigger in zip(rows, FORMULA_TRIGGERS):
        row["event_date"] = f'{trigger}HYPERLINK("https://example.org/?leak","open")'
    write_acled(tmp_path / "export.csv", rows)
    result = CliRunner().invoke(main, ["import", "acled", str(tmp_path / "export.csv"),
                                       "--out", str(tmp_path / "case")])
    assert result.exit_code == 0, result.output
    with (tmp_path / "case" / "quarantine.csv").open(encoding="utf-8", newline="") as handle:
        refused = [row["value"] for row in csv.DictReader(handle) if row["column"] == "event_date"]
    assert len(refused) == len(FORMULA_TRIGGERS)
    assert not [value for value in refused if value.startswith(FORMULA_TRIGGERS)]
    # the import trims a cell's blanks (tab, carriage return); every other trigger is kept, behind a quote
    printable = [trigger for trigger in FORMULA_TRIGGERS if trigger.strip()]
    assert [value[:2] for value in refused if value.startswith("'")] == [f"'{t}" for t in printable], refused


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


# --- In the browser -------------------------------------------------------------------------------------------

#: Appended to a copy of the page: clicks every link (http(s) ones are held back, they cannot run script in this
#: page), then writes what it saw into <pre id="hostile-check">. A payload that ran changed document.title; a
#: javascript: link changes it when clicked; a link leaving the page (file:, data:) loses the record altogether.
CLICK_EVERY_LINK = r"""<script>
(function () {
  function target(a) { return a.getAttribute('href') || a.getAttribute('xlink:href') || ''; }
  var TABLE = /^tables\/[a-z0-9-]+\.csv$/;  // a capped table's full CSV, filed beside the report
  document.addEventListener('click', function (event) {
    var link = event.target.closest && event.target.closest('a');
    if (link && (/^https?:/i.test(target(link)) || TABLE.test(target(link)))) { event.preventDefault(); }
  }, true);
  window.addEventListener('load', function () {
    var links = Array.prototype.slice.call(document.querySelectorAll('a'));
    var other = links.map(target).filter(function (h) { return h && !/^(https?:|#)/i.test(h) && !TABLE.test(h); });
    links.forEach(function (a) { a.dispatchEvent(new MouseEvent('click', {bubbles: true, cancelable: true})); });
    setTimeout(function () {
      var handlers = [];
      document.querySelectorAll('*').forEach(function (element) {
        Array.prototype.forEach.call(element.attributes, function (attribute) {
          if (/^on/i.test(attribute.name)) { handlers.push(element.tagName + ' ' + attribute.name); }
        });
      });
      var record = document.createElement('pre');
      record.id = 'hostile-check';
      var web = links.map(target).filter(function (h) { return /^https?:/i.test(h); });
      record.textContent = JSON.stringify({title: document.title, links: links.length, other: other, web: web,
                                           handlers: handlers, frames: document.querySelectorAll('iframe').length});
      document.body.appendChild(record);
    }, 2000);
  });
})();
</script>"""


def clicked_through(page: Path, copy: Path) -> dict | None:
    """Open a copy of the page with the click script; what the script recorded (None: a click left the page)."""
    html = page.read_text(encoding="utf-8")
    copy.write_text(html.replace("</body>", CLICK_EVERY_LINK + "</body>"), encoding="utf-8")
    dom, _ = render(copy)
    found = re.search(r'<pre id="hostile-check">(.*?)</pre>', dom, re.DOTALL)
    return found and json.loads(found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                      .replace("&amp;", "&"))


@pytest.mark.slow
def test_the_click_script_sees_a_payload_that_runs(tmp_path):
    page = tmp_path / "live.html"
    links = ("<a href=\"javascript:void(document.title='PWNED-click')\">x</a>"
             "<a href=\"https://example.org/\">y</a><a href=\"#top\">z</a>")
    page.write_text(f"<html><head><title>clean</title></head><body>{links}</body></html>", encoding="utf-8")
    record = clicked_through(page, tmp_path / "checked.html")
    assert record["title"] == "PWNED-click"
    assert record["links"] == 3 and record["other"] == ["javascript:void(document.title='PWNED-click')"]
    page.write_text("<html><body><a href=\"javascript:'replaced'\">x</a></body></html>", encoding="utf-8")
    assert clicked_through(page, tmp_path / "checked.html") is None, "a link replacing the page went unseen"


@pytest.mark.slow
def test_a_report_built_from_hostile_data_runs_no_script_even_when_every_link_is_clicked(data_copy, tmp_path,
                                                                                         on_cluster):
    # Cells over the limit are quarantined before any report; the build's own reading of them is tested below.
    plant_hostile_strings(data_copy, [t for t in HOSTILE_STRINGS if len(t) <= MAX_CELL_CHARACTERS], urls=True)
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    shutil.copy(paths.NOTEBOOKS_DIR / "03_escalation_summary.ipynb", notebooks)
    out = tmp_path / "reports"
    result = escalation("build", "--notebooks", str(notebooks), "--out", str(out), "--figures",
                        str(tmp_path / "figures"), "--param", f"data_dir={data_copy}", *on_cluster)
    assert result.returncode == 0, result.stderr
    page = out / "03_escalation_summary" / "03_escalation_summary.html"
    html = page.read_text(encoding="utf-8")
    assert escape(HOSTILE_STRINGS[0], quote=False) in html, "the hostile strings did not reach the report"
    record = clicked_through(page, page.parent / "checked.html")  # beside it: the shared plotly.js loads
    assert record is not None, "a click left or replaced the page"
    assert "PWNED" not in record["title"]
    assert set(HOSTILE_URLS) <= set(record["web"]), "the hostile links were not on the page to be clicked"
    assert record["other"] == [] and record["frames"] == 0
    assert record["handlers"] == [], "inline event handlers in the page"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["binary file", "UTF-16 file", "cell of 1 MB"])
def test_build_on_an_unreadable_table_is_a_data_error_not_a_traceback(data_copy, tmp_path, name, on_cluster):
    expect = next(v for v in VARIANTS if v.name == name).mutate(data_copy)
    result = subprocess.run(
        [sys.executable, "-m", "escalation", "build", "--notebooks", str(TEST_NOTEBOOKS / "passing"),
         "--out", str(tmp_path / "reports"), "--figures", str(tmp_path / "figures"),
         "--param", f"data_dir={data_copy}", *on_cluster], capture_output=True, text=True, timeout=600,
        stdin=subprocess.DEVNULL)
    assert "Traceback" not in result.stderr
    if expect.readable:  # the row is quarantined and the report says so
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 3
        assert f"{data_copy / expect.file}, line {expect.line or 1}" in result.stderr
