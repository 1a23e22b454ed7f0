"""Malformed tables: every fault is named by file, line and column, and no row is ever lost.

Each case breaks one cell (or one file) of a copy of the shipped data and checks the message,
the quarantine, and that rows read = rows accepted + rows quarantined.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import BALYUN, read_rows, write_rows

from escalation.data import DataError, load_tables, validate_tables

TAFTANAZ_CLAIM = "first Taftanaz claim"


def set_cell(data_dir: Path, table: str, key: str, row_id: str, column: str, value: str) -> int:
    """Change one cell; returns the line number (header = 1) the validator must report."""
    path = data_dir / f"{table}.csv"
    header, rows = read_rows(path)
    index = next(i for i, row in enumerate(rows) if row[header.index(key)] == row_id)
    rows[index][header.index(column)] = value
    write_rows(path, header, rows)
    return index + 2


def first_id(data_dir: Path, table: str, key: str, **where: str) -> str:
    header, rows = read_rows(data_dir / f"{table}.csv")
    for row in rows:
        if all(row[header.index(c)] == v for c, v in where.items()):
            return row[header.index(key)]
    raise LookupError(f"no {table} row with {where}")


KEYS = {"events": "event_id", "claims": "claim_id", "sources": "source_id", "displacement": "displacement_id"}

# (name, table, row selector, column, bad value, expected message fragment)
CELL_FAULTS = [
    ("bad date", "events", {}, "event_date", "2020-02-31", "is not a valid date"),
    ("unknown event type", "events", {}, "event_type", "Battle", "'Battle' is not one of the allowed values: Battles,"),
    ("unknown sub-event type", "events", {}, "sub_event_type", "Drone strike", "is not one of the allowed values"),
    ("bad time precision", "events", {}, "time_precision", "4", "'4' is not one of the allowed values: 1, 2, 3"),
    ("coordinates outside Syria/Turkey", "events", {"event_id": BALYUN}, "latitude", "3.70",
     "outside Syria and Turkey"),
    ("latitude without longitude", "events", {"event_id": BALYUN}, "longitude", "", "both be given"),
    ("reported before it happened", "events", {"event_id": BALYUN}, "first_reported_at",
     "2020-02-26T10:00:00+03:00", "first reported before the event"),
    ("malformed event id", "events", {"event_id": BALYUN}, "event_id", "balyun",
     "'balyun' is not an id like EV-20200227-some-place"),
    ("negative count", "claims", {"scope": "event"}, "value_low", "-3", "'-3' is below the minimum 0"),
    ("count that is not a number", "claims", {"scope": "event"}, "value_low", "ten", "'ten' is not a whole number"),
    ("low greater than high", "claims", {"claimant": "Governor of Hatay"}, "value_high", "1",
     "value_low is greater than value_high"),
    ("best estimate above high", "claims", {"claimant": "Governor of Hatay"}, "value_best", "1000",
     "value_best is not between value_low and value_high"),
    ("unknown party", "claims", {"scope": "event"}, "party", "turkish_army", "is not one of the allowed values"),
    ("unknown measure", "claims", {"scope": "event"}, "measure", "dead",
     "'dead' is not one of the allowed values: killed,"),
    ("published time without offset", "claims", {"scope": "event"}, "published_at", "2020-02-28T02:00",
     "is not a date like 2020-02-27, or a date-time with its UTC offset"),
    ("impossible published date", "claims", {"scope": "event"}, "published_at", "2020-02-30",
     "not a real date"),
    ("running total with no period", "claims", {"scope": "running_total"}, "period_start", "",
     "a running total needs period_start and period_end"),
    ("period ending before it starts", "claims", {"scope": "running_total"}, "period_end", "2019-01-01",
     "period_end is before period_start"),
    ("running total naming an event", "claims", {"scope": "running_total"}, "event_id", BALYUN,
     "a running total must not name an event"),
    ("event claim without event", "claims", {"scope": "event"}, "event_id", "", "an event claim needs an event_id"),
    ("missing claimant", "claims", {"scope": "event"}, "claimant", "", "a value is required"),
    ("dangling event reference", "claims", {"scope": "event"}, "event_id", "EV-20200230-nowhere",
     "refers to EV-20200230-nowhere, not found"),
    ("dangling source reference", "claims", {"scope": "event"}, "source_id", "src-0000000000",
     "refers to src-0000000000, not found"),
    ("dangling source in a list", "events", {"event_id": BALYUN}, "source_ids", "src-0000000000;src-1111111111",
     "refers to src-0000000000, src-1111111111"),
    ("duplicate event id", "events", {"event_id": "EV-20200304-idlib-shelling"}, "event_id", BALYUN,
     "duplicate id"),
    ("url that is not a URL", "sources", {}, "url", "not a url", "is not a web address"),
    ("accessed date in the wrong form", "sources", {}, "accessed_on", "24/11/2026", "is not a valid date"),
]


@pytest.mark.parametrize(("name", "table", "where", "column", "value", "fragment"), CELL_FAULTS,
                         ids=[f[0] for f in CELL_FAULTS])
def test_each_fault_names_file_row_and_column_and_loses_no_row(data_copy, name, table, where, column, value,
                                                              fragment):
    row_id = first_id(data_copy, table, KEYS[table], **where)
    line = set_cell(data_copy, table, KEYS[table], row_id, column, value)
    tables = validate_tables(data_copy)
    path = str(data_copy / f"{table}.csv")
    matching = [p for p in tables.problems if p.file == path and p.line == line and p.column == column]
    assert matching, f"no problem at {path}:{line}:{column}; got {[str(p) for p in tables.problems]}"
    assert any(fragment in p.message for p in matching), [p.message for p in matching]
    assert f"{table}.csv, line {line}, column {column}:" in str(matching[0])
    counts = tables.counts().set_index("table")
    assert (counts["read"] == counts["accepted"] + counts["quarantined"]).all()
    quarantined = tables.quarantine.loc[tables.quarantine["table"] == table]
    assert line in set(quarantined["line"])
    assert row_id in " ".join(quarantined["record"]) or value in " ".join(quarantined["record"])


def test_all_faults_are_reported_at_once(data_copy):
    lines = [
        set_cell(data_copy, "events", "event_id", first_id(data_copy, "events", "event_id"), "event_date", "x"),
        set_cell(data_copy, "claims", "claim_id", first_id(data_copy, "claims", "claim_id"), "value_low", "-1"),
        set_cell(data_copy, "sources", "source_id", first_id(data_copy, "sources", "source_id"), "publisher", ""),
    ]
    tables = validate_tables(data_copy)
    reported = {(Path(p.file).name, p.line) for p in tables.problems}
    assert {("events.csv", lines[0]), ("claims.csv", lines[1]), ("sources.csv", lines[2])} <= reported


def test_a_quarantined_event_takes_its_claims_with_it_and_says_why(data_copy):
    set_cell(data_copy, "events", "event_id", BALYUN, "event_type", "Battle")
    tables = validate_tables(data_copy)
    claims = tables.quarantine.loc[tables.quarantine["table"] == "claims"]
    assert len(claims) >= 5
    assert claims["problem"].str.contains(f"refers to {BALYUN}, not found among the accepted rows").all()
    assert BALYUN not in set(tables.claims["event_id"].dropna())
    counts = tables.counts().set_index("table")
    assert counts.loc["claims", "read"] == counts.loc["claims", "accepted"] + counts.loc["claims", "quarantined"]


def test_extra_and_missing_cells(data_copy):
    path = data_copy / "displacement.csv"
    header, rows = read_rows(path)
    rows[0] = rows[0] + ["surplus"]
    rows[1] = rows[1][:3]
    write_rows(path, header, rows)
    tables = validate_tables(data_copy)
    messages = {(p.line, p.message.split(" ")[0]) for p in tables.problems if p.file == str(path)}
    assert (2, "extra") in messages
    assert any(line == 3 for line, _ in messages)
    assert len(tables.quarantine.loc[tables.quarantine["table"] == "displacement"].drop_duplicates("line")) == 2


@pytest.mark.parametrize(
    ("breakage", "fragment"),
    [
        ("missing file", "file not found"),
        ("renamed column", "value_low"),
        ("not utf-8", "encoding"),
    ],
)
def test_unreadable_files_stop_loading_with_the_file_named(data_copy, breakage, fragment):
    path = data_copy / "claims.csv"
    if breakage == "missing file":
        path.unlink()
    elif breakage == "renamed column":
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("value_low", "low", 1), encoding="utf-8")
    else:
        path.write_bytes(path.read_bytes() + "Şırnak".encode("iso-8859-9") + b"\n")
    with pytest.raises(DataError) as raised:
        load_tables(data_copy)
    assert str(path) in str(raised.value)
    assert fragment in str(raised.value).lower()


def test_blank_lines_are_reported_once_each_and_counted(data_copy):
    path = data_copy / "claims.csv"
    header, rows = read_rows(path)
    write_rows(path, header, rows[:3] + [[], []] + rows[3:])
    tables = validate_tables(data_copy)
    found = [p for p in tables.problems if p.file == str(path)]
    assert [(p.line, p.column, p.message) for p in found] == [(5, None, "blank line"), (6, None, "blank line")]
    counts = tables.counts().set_index("table")
    assert counts.loc["claims", "read"] == len(rows) + 2
    assert counts.loc["claims", "quarantined"] == 2


def test_a_cell_spanning_lines_moves_the_line_numbers_after_it(data_copy):
    path = data_copy / "displacement.csv"
    header, rows = read_rows(path)
    rows[0][header.index("value_text")] = "about\n520,000\n(three lines)"
    rows[1][header.index("value_low")] = "many"
    write_rows(path, header, rows)
    problem = next(p for p in validate_tables(data_copy).problems if p.file == str(path))
    assert (problem.line, problem.column) == (5, "value_low")  # header 1, row 1 on lines 2-4


def test_a_missing_column_is_named_and_not_blamed_on_its_neighbour(data_copy):
    path = data_copy / "events.csv"
    header, rows = read_rows(path)
    position = header.index("admin2")
    write_rows(path, header[:position] + header[position + 1:], [r[:position] + r[position + 1:] for r in rows])
    with pytest.raises(DataError) as raised:
        load_tables(data_copy)
    assert [str(p) for p in raised.value.problems] == [
        f"{path}, line 1, column admin2: column admin2 is missing from the header"]


def test_a_pattern_is_explained_in_words_not_as_a_regular_expression(data_copy):
    line = set_cell(data_copy, "sources", "source_id", first_id(data_copy, "sources", "source_id"), "source_id",
                    "src-XYZ")
    problem = next(p for p in validate_tables(data_copy).problems if p.line == line and p.column == "source_id")
    assert problem.message == "'src-XYZ' is not an id like src-0123456789: 'src-' and 10 lowercase hex digits"


def test_a_table_stored_in_another_format_is_refused_in_the_descriptor(data_copy):
    import json

    descriptor = data_copy / "datapackage.json"
    package = json.loads(descriptor.read_text(encoding="utf-8"))
    claims = next(r for r in package["resources"] if r["name"] == "claims")
    claims["path"] = "claims.xlsx"
    descriptor.write_text(json.dumps(package), encoding="utf-8")
    with pytest.raises(DataError) as raised:
        validate_tables(data_copy)
    assert str(raised.value) == (f"{descriptor}: resource claims: path must end in .csv or .parquet, "
                                 "got 'claims.xlsx'")
