"""`escalation import acled|ucdp`: synthetic exports in every layout become valid case folders.

Expected values are computed here from the synthetic rows (tests/synthetic_exports.py) and from the
documented mapping tables (docs/importers.md), never read back from the importer's output.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from synthetic_exports import (
    ACLED_CURRENT,
    COUNTRIES,
    acled_rows,
    ucdp_rows,
    write_acled,
    write_ucdp,
)

from escalation import paths
from escalation.cli import main
from escalation.data import validate_tables

# The documented tables (docs/importers.md), restated as the specification the output must meet.
PRE_2019 = {
    "Battle-No change of territory": ("Battles", "Armed clash"),
    "Battle-Government regains territory": ("Battles", "Government regains territory"),
    "Battle-Non-state actor overtakes territory": ("Battles", "Non-state actor overtakes territory"),
    "Remote violence": ("Explosions/Remote violence", "Unspecified"),
    "Violence against civilians": ("Violence against civilians", "Unspecified"),
    "Strategic development": ("Strategic developments", "Unspecified"),
    "Non-violent transfer of territory": ("Strategic developments", "Non-violent transfer of territory"),
    "Headquarters or base established": ("Strategic developments", "Headquarters or base established"),
}
INTER_PARTY = {1: "state_forces", 2: "rebel_groups", 3: "political_militias", 4: "identity_militias",
               5: "rioters", 6: "protesters", 7: "civilians", 8: "external_other_forces"}
UCDP_EVENT_TYPE = {1: "Battles", 2: "Battles", 3: "Violence against civilians"}
UCDP_TIME_PRECISION = {1: 1, 2: 2, 3: 2, 4: 3, 5: 3}
UCDP_GEO_PRECISION = {1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 6: 3, 7: 3}
#: Case folders (escalation.case, another branch) make the validator and the reports read case.yaml.
CASE_FOLDERS = importlib.util.find_spec("escalation.case") is not None


def run(*args: str):
    result = CliRunner().invoke(main, ["import", *map(str, args)])
    assert "Traceback" not in result.output
    return result


def rows_of(path: Path) -> list[dict]:
    """The rows of a CSV file, or of a case's Parquet table with its cells as text the way the export wrote
    them (blank for unknown, days and whole numbers as text); coordinates stay numbers."""
    if path.suffix == ".parquet":
        return [{column: "" if value is None else value if isinstance(value, float | str) else str(value)
                 for column, value in row.items()} for row in pq.read_table(path).to_pylist()]
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def line_of(export: Path, marker: str) -> int:
    """The line of the export on which the row holding `marker` starts."""
    text = export.read_text(encoding="utf-8-sig")
    return next(number for number, line in enumerate(text.split("\n"), start=1) if marker in line)


def imported(tmp_path: Path, source: str, export: Path, *options: str) -> Path:
    out = tmp_path / "case"
    result = run(source, export, "--out", out, *options)
    assert result.exit_code == 0, result.output
    return out


def counts(result_output: str) -> tuple[int, int, int, int]:
    first = result_output.splitlines()[0]
    read, rest = first.split(" rows read: ")
    numbers = [int(part.split()[0]) for part in rest.split(", ")]
    return int(read), *numbers


def expected_acled_event(row: dict, lag: int = 7) -> dict:
    day = row["event_date"]
    return {
        "event_id": f"EV-{day:%Y%m%d}-{row['event_id_cnty'].lower()}", "event_date": day.isoformat(),
        "time_precision": row["time_precision"], "actor1": row["actor1"], "actor2": row["actor2"],
        "country": row["country"], "admin1": row["admin1"], "admin2": row["admin2"], "admin3": row["admin3"],
        "location": row["location"], "latitude": float(row["latitude"]) if row["latitude"] else "",
        "longitude": float(row["longitude"]) if row["longitude"] else "",
        "geo_precision": row["geo_precision"], "first_reported_at": (day + timedelta(days=lag)).isoformat(),
    }


def test_current_acled_export_maps_row_by_row(tmp_path):
    rows = acled_rows(16)
    export = write_acled(tmp_path / "acled_synthetic.csv", rows)
    out = imported(tmp_path, "acled", export)
    events, claims = rows_of(out / "events.parquet"), rows_of(out / "claims.parquet")
    assert len(events) == len(claims) == len(rows)
    for row, event, claim in zip(rows, events, claims):
        assert {k: event[k] for k in expected_acled_event(row)} == expected_acled_event(row)
        assert (event["event_type"], event["sub_event_type"]) == (row["event_type"], row["sub_event_type"])
        assert event["notes"].startswith(row["notes"])
        assert f"ACLED source: {row['source']}; source scale: {row['source_scale']}" in event["notes"]
        assert (claim["event_id"], claim["party"], claim["measure"], claim["claimant"]) == (
            event["event_id"], "all_sides_unsplit", "killed", "ACLED")
        assert claim["value_low"] == claim["value_high"] == row["fatalities"] and claim["value_best"] == ""
        assert claim["published_at"] == event["first_reported_at"]
    tables = validate_tables(out)
    assert [str(p) for p in tables.problems] == []
    assert len(tables.events) == len(rows)


@pytest.mark.parametrize(("layout", "bom", "index_column"), [
    ("2019", False, False), ("2019", True, True), ("pre2019", False, False), ("pre2019", True, True)])
def test_older_acled_layouts_map_onto_todays_vocabulary(tmp_path, layout, bom, index_column):
    rows = acled_rows(20, old_types=layout == "pre2019")
    export = write_acled(tmp_path / f"acled_{layout}_synthetic.csv", rows, layout=layout, bom=bom,
                         index_column=index_column)
    if index_column:
        assert export.read_text(encoding="utf-8-sig").startswith(",")
    if layout == "pre2019":
        assert "EVENT_ID_CNTY" in export.read_text(encoding="utf-8-sig").splitlines()[0]
    out = imported(tmp_path, "acled", export)
    events = rows_of(out / "events.parquet")
    assert len(events) == len(rows)
    for row, event in zip(rows, events):
        assert {k: event[k] for k in expected_acled_event(row)} == expected_acled_event(row)
        if layout == "pre2019":
            if row["event_type"] == "Riots/Protests":
                rioters = "5" in (row["inter1"], row["inter2"])
                expected = ("Riots" if rioters else "Protests", "Unspecified")
            else:
                expected = PRE_2019[row["event_type"]]
            assert "source scale" not in event["notes"]
        else:
            expected = (row["event_type"], row["sub_event_type"])
        assert (event["event_type"], event["sub_event_type"]) == expected
        if row["assoc_actor_1"]:
            assert f"assoc_actor_1: {row['assoc_actor_1']}" in event["notes"]
    assert validate_tables(out).problems == []


@pytest.mark.parametrize("style", ["iso", "long", "dashed_long", "dashed_short"])
def test_every_acled_date_form_gives_the_same_day(tmp_path, style):
    rows = acled_rows(6)
    out = imported(tmp_path, "acled", write_acled(tmp_path / "dates.csv", rows, date_style=style))
    assert [e["event_date"] for e in rows_of(out / "events.parquet")] == [r["event_date"].isoformat() for r in rows]


def test_bad_and_ambiguous_dates_are_quarantined_on_their_own_line(tmp_path):
    rows = acled_rows(12)
    bad = {3: "02/03/2020", 5: "27/02/2020", 7: "2020-02-30", 9: "", 10: "last Tuesday"}
    for index, text in bad.items():
        rows[index]["event_date"] = text
    export = write_acled(tmp_path / "dates.csv", rows)
    result = run("acled", export, "--out", tmp_path / "case")
    assert result.exit_code == 0, result.output
    assert counts(result.output) == (12, 7, 5, 0)
    quarantine = rows_of(tmp_path / "case" / "quarantine.csv")
    by_line = {int(q["line"]): q for q in quarantine}
    for index, text in bad.items():
        entry = by_line[line_of(export, rows[index]["event_id_cnty"])]
        assert (entry["file"], entry["column"], entry["value"]) == (str(export), "event_date", text)
    reasons = {rows[i]["event_date"]: by_line[line_of(export, rows[i]["event_id_cnty"])]["reason"] for i in bad}
    assert "ambiguous" in reasons["02/03/2020"] and "ambiguous" in reasons["27/02/2020"]
    assert "not a date" in reasons["2020-02-30"] and "not a date" in reasons["last Tuesday"]
    assert reasons[""] == "event_date missing"
    assert len(rows_of(tmp_path / "case" / "events.parquet")) == 7


def test_rows_that_cannot_be_mapped_are_quarantined_and_counted(tmp_path):
    rows = acled_rows(16)
    faults = {
        2: ("event_id_cnty", "", "event_id_cnty missing"),
        3: ("fatalities", "many", "fatalities is not a whole number"),
        4: ("fatalities", "-2", "fatalities is not a whole number"),
        6: ("latitude", "north", "latitude is not a number"),
        7: ("longitude", "", "both be given or both be blank"),
        8: ("event_type", "Skirmish", "not an ACLED event type"),
        9: ("inter1", "9", "not an ACLED actor type"),
        10: ("time_precision", "4", "time_precision must be 1, 2 or 3"),
        11: ("sub_event_type", "Drone swarm", "not an ACLED sub-event type"),
        12: ("latitude", "95", "latitude is beyond ±90"),
    }
    for index, (column, value, _) in faults.items():
        rows[index][column] = value
    rows[13]["event_id_cnty"] = rows[1]["event_id_cnty"].lower()
    export = write_acled(tmp_path / "faults.csv", rows)
    result = run("acled", export, "--out", tmp_path / "case")
    assert result.exit_code == 0, result.output
    read, accepted, quarantined, filtered = counts(result.output)
    assert (read, quarantined, filtered) == (16, len(faults) + 1, 0) and read == accepted + quarantined
    quarantine = rows_of(tmp_path / "case" / "quarantine.csv")
    for index, (column, _, reason) in faults.items():
        marker = f"Synthville {index},"
        line = line_of(export, marker)
        found = [q for q in quarantine if int(q["line"]) == line]
        assert any(q["column"] == column and reason in q["reason"] for q in found), (index, found)
    duplicate = [q for q in quarantine if int(q["line"]) == line_of(export, "Synthville 13,")]
    assert f"first on line {line_of(export, 'Synthville 1,')}" in duplicate[0]["reason"]
    assert len(rows_of(tmp_path / "case" / "events.parquet")) == accepted
    assert validate_tables(tmp_path / "case").problems == []


def test_rows_the_validator_refuses_join_the_quarantine(tmp_path, monkeypatch):
    """A row that maps but breaks the schema (here: one cell spoilt in the first write) is traced back to
    its export line, quarantined with the validator's reason, and the folder is written again, clean."""
    from escalation.importers.base import Importer

    original, calls = Importer._write, []

    def spoil_first_write(self, folder, *args):
        original(self, folder, *args)
        calls.append(folder)
        if len(calls) == 1:
            path = folder / "events.parquet"
            events = pq.read_table(path)
            spoilt = pc.if_else(pc.match_substring(events["event_id"], "syn1002"), 7, events["time_precision"])
            pq.write_table(events.set_column(events.column_names.index("time_precision"), "time_precision",
                                             spoilt), path)

    monkeypatch.setattr(Importer, "_write", spoil_first_write)
    rows = acled_rows(5)
    rows[2]["time_precision"] = "1"
    export = write_acled(tmp_path / "a.csv", rows)
    result = run("acled", export, "--out", tmp_path / "case")
    assert result.exit_code == 0, result.output
    assert len(calls) == 2 and counts(result.output) == (5, 4, 1, 0)
    quarantine = rows_of(tmp_path / "case" / "quarantine.csv")
    line = line_of(export, rows[2]["event_id_cnty"])
    assert {(int(q["line"]), q["column"]) for q in quarantine} == {(line, "events.time_precision"),
                                                                   (line, "claims.event_id")}
    assert all(q["reason"].startswith("refused by the validator: ") for q in quarantine)
    assert validate_tables(tmp_path / "case").problems == []


def test_filters_keep_the_country_region_and_period_asked_for(tmp_path):
    rows = acled_rows(30)
    export = write_acled(tmp_path / "all.csv", rows)
    result = run("acled", export, "--out", tmp_path / "case", "--country", "samplia",
                 "--admin1", "Synthetic Province 1", "--admin1", "Synthetic Province 2",
                 "--from", "2020-02-03", "--to", "2020-02-08")
    assert result.exit_code == 0, result.output
    wanted = [r for r in rows if r["country"] == "Samplia" and r["admin1"] in ("Synthetic Province 1",
              "Synthetic Province 2") and date(2020, 2, 3) <= r["event_date"] <= date(2020, 2, 8)]
    assert 0 < len(wanted) < len(rows)
    events = rows_of(tmp_path / "case" / "events.parquet")
    assert [e["event_id"] for e in events] == [expected_acled_event(r)["event_id"] for r in wanted]
    assert counts(result.output) == (30, len(wanted), 0, 30 - len(wanted))
    case = yaml.safe_load((tmp_path / "case" / "case.yaml").read_text(encoding="utf-8"))
    assert case["region"]["countries"] == ["Samplia"]
    meta = yaml.safe_load((tmp_path / "case" / "raw" / "all.csv.meta.yml").read_text(encoding="utf-8"))
    assert meta["filters"] == {"country": ["samplia"], "admin1": ["Synthetic Province 1", "Synthetic Province 2"],
                               "from": "2020-02-03", "to": "2020-02-08"}


def test_filters_that_match_nothing_are_an_error(tmp_path):
    export = write_acled(tmp_path / "all.csv", acled_rows(4))
    result = run("acled", export, "--out", tmp_path / "case", "--country", "Nowhere")
    assert result.exit_code == 3 and "no row matches the filters" in result.output
    assert not (tmp_path / "case").exists()


def test_the_export_is_kept_byte_for_byte_with_its_origin(tmp_path):
    export = write_acled(tmp_path / "acled_synthetic.csv", acled_rows(5), bom=True)
    out = imported(tmp_path, "acled", export)
    copy = out / "raw" / export.name
    assert copy.read_bytes() == export.read_bytes()
    meta = yaml.safe_load((out / "raw" / f"{export.name}.meta.yml").read_text(encoding="utf-8"))
    sha256 = hashlib.sha256(export.read_bytes()).hexdigest()
    assert (meta["file"], meta["sha256"], meta["rows"], meta["source"]) == (export.name, sha256, 5, "ACLED")
    (source,) = rows_of(out / "sources.parquet")
    assert source["url"] == "https://acleddata.com/"
    assert source["source_id"] == "src-" + hashlib.sha1(b"https://acleddata.com/").hexdigest()[:10]
    assert sha256 in source["title"] and "5 rows" in source["title"] and meta["imported_at"] in source["title"]
    assert all(e["source_ids"] == source["source_id"] for e in rows_of(out / "events.parquet"))


def test_case_yaml_describes_the_import(tmp_path):
    rows = acled_rows(16)
    export = write_acled(tmp_path / "acled_synthetic.csv", rows)
    out = imported(tmp_path, "acled", export, "--timezone", "Africa/Bamako", "--reporting-lag-days", "3")
    text = (out / "case.yaml").read_text(encoding="utf-8")
    case = yaml.safe_load(text)
    assert case["timezone"] == "Africa/Bamako" and "# reporting_lag_days: 3\n" in text
    assert "3 day(s) after the event date" in case["known_at"] and "timestamp" in case["known_at"]
    meta = yaml.safe_load((out / "raw" / f"{export.name}.meta.yml").read_text(encoding="utf-8"))
    assert meta["reporting_lag_days"] == 3
    events = rows_of(out / "events.parquet")
    assert all(e["first_reported_at"] == (date.fromisoformat(e["event_date"]) + timedelta(days=3)).isoformat()
               for e in events)
    assert case["region"]["countries"] == sorted(COUNTRIES)
    for row in rows:
        if row["latitude"]:
            south, north, west, east = case["region"]["boxes"][row["country"]]
            assert south <= float(row["latitude"]) <= north and west <= float(row["longitude"]) <= east
    codes = sorted({int(r[c]) for r in rows for c in ("inter1", "inter2") if r[c] != "0"})
    parties = {p["id"]: p for p in case["parties"]}
    assert list(parties) == [INTER_PARTY[c] for c in codes] + ["all_sides_unsplit"]
    assert "not split" in parties["all_sides_unsplit"]["label"]
    for row in rows:
        assert row["actor1"] in parties[INTER_PARTY[int(row["inter1"])]]["actors"]
    deadliest = max(rows, key=lambda r: int(r["fatalities"]))  # the first of the deadliest
    assert case["focal"] == {
        "event_id": expected_acled_event(deadliest)["event_id"], "party": "all_sides_unsplit", "measure": "killed",
        "name": f"{deadliest['location']}, {deadliest['event_date'].day} {deadliest['event_date']:%B %Y}",
        "deaths_label": "deaths, all sides together (ACLED)"}
    package = json.loads((out / "datapackage.json").read_text(encoding="utf-8"))
    claims = next(r for r in package["resources"] if r["name"] == "claims")
    party_enum = next(f for f in claims["schema"]["fields"] if f["name"] == "party")["constraints"]["enum"]
    assert party_enum == list(parties)


def test_imported_datapackage_keeps_the_columns_of_the_contract(tmp_path):
    out = imported(tmp_path, "acled", write_acled(tmp_path / "a.csv", acled_rows(4)))
    contract = json.loads(paths.DATAPACKAGE.read_text(encoding="utf-8"))
    written = json.loads((out / "datapackage.json").read_text(encoding="utf-8"))

    def columns(package):
        return {r["name"]: [(f["name"], f.get("type"), f.get("constraints", {}).get("required", False))
                            for f in r["schema"]["fields"]] for r in package["resources"]}

    assert columns(written) == columns(contract)
    claim_id = next(f for r in written["resources"] if r["name"] == "claims" for f in r["schema"]["fields"]
                    if f["name"] == "claim_id")
    assert claim_id["constraints"]["pattern"] == "CL-[A-Z]{2}-\\d{3,}"


def test_ucdp_ged_maps_row_by_row(tmp_path):
    rows = ucdp_rows(9)
    export = write_ucdp(tmp_path / "ged_synthetic.csv", rows)
    out = imported(tmp_path, "ucdp", export)
    events, claims = rows_of(out / "events.parquet"), rows_of(out / "claims.parquet")
    case = yaml.safe_load((out / "case.yaml").read_text(encoding="utf-8"))
    party_of = {side: p["id"] for p in case["parties"] for side in p["ucdp_sides"]}
    assert len(events) == len(rows)
    for row, event in zip(rows, events):
        sources = sorted(part.strip()[:10] for part in row["source_date"].split(";"))
        assert event["event_id"] == f"EV-{row['date_start'][:10].replace('-', '')}-ucdp-{row['id']}"
        assert event["event_date"] == row["date_start"][:10]
        assert event["event_type"] == UCDP_EVENT_TYPE[int(row["type_of_violence"])]
        assert event["time_precision"] == str(UCDP_TIME_PRECISION[int(row["date_prec"])])
        assert event["geo_precision"] == str(UCDP_GEO_PRECISION[int(row["where_prec"])])
        assert (event["actor1"], event["actor2"], event["admin1"]) == (row["side_a"], row["side_b"], row["adm_1"])
        assert event["location"] == (row["where_coordinates"] or row["adm_2"])
        assert event["first_reported_at"] == sources[0]
        assert row["source_headline"] in event["notes"] and row["date_end"][:10] in event["notes"]
        mine = [c for c in claims if c["event_id"] == event["event_id"]]
        assert all(c["published_at"] == sources[-1] and c["claimant"] == "UCDP" for c in mine)
        total = [c for c in mine if c["party"] == "all_sides"]
        assert [(c["value_low"], c["value_best"], c["value_high"]) for c in total] == [
            (row["low"], row["best"], row["high"])]
        expected_sides = {}
        for column, party in (("deaths_a", party_of[row["side_a"]]), ("deaths_b", party_of[row["side_b"]]),
                              ("deaths_civilians", "civilians"), ("deaths_unknown", "unknown_side")):
            if int(row[column]):
                expected_sides[party] = expected_sides.get(party, 0) + int(row[column])
        sides = {c["party"]: int(c["value_best"]) for c in mine if c["party"] != "all_sides"}
        assert sides == expected_sides
        assert all(c["value_low"] == c["value_best"] == c["value_high"] for c in mine if c["party"] != "all_sides")
    assert [str(p) for p in validate_tables(out).problems] == []
    assert party_of["Civilians"] == "civilians"
    deadliest = max(rows, key=lambda r: int(r["best"]))
    assert (case["focal"]["party"], case["focal"]["event_id"]) == (
        "all_sides", f"EV-{deadliest['date_start'][:10].replace('-', '')}-ucdp-{deadliest['id']}")


def test_ucdp_rows_that_cannot_be_mapped_are_quarantined(tmp_path):
    rows = ucdp_rows(12)
    faults = {
        1: ("best", "99", "low, best and high are not in order"),
        2: ("deaths_a", "x", "deaths_a is not a whole number"),
        3: ("source_date", "unknown", "source_date has no date"),
        4: ("source_date", "2020-01-01", "dated before the event's earliest possible day"),
        5: ("date_start", "2020-13-01", "date_start is not a date"),
        6: ("type_of_violence", "4", "type_of_violence must be one of 1, 2, 3"),
        7: ("where_prec", "8", "where_prec must be one of"),
        8: ("id", "", "id missing"),
        9: ("source_date", "2020-02-31", "a date that does not exist"),
    }
    for index, (column, value, _) in faults.items():
        rows[index][column] = value
    rows[10]["id"] = rows[0]["id"]
    export = write_ucdp(tmp_path / "ged_candidate_synthetic.csv", rows)
    result = run("ucdp", export, "--out", tmp_path / "case")
    assert result.exit_code == 0, result.output
    assert counts(result.output) == (12, 2, 10, 0)
    quarantine = rows_of(tmp_path / "case" / "quarantine.csv")
    for index, (column, _, reason) in faults.items():
        found = [q for q in quarantine if int(q["line"]) == index + 2]
        assert any(q["column"] == column and reason in q["reason"] for q in found), (index, found)
    assert any(int(q["line"]) == 12 and "duplicate id (first on line 2)" in q["reason"] for q in quarantine)
    assert validate_tables(tmp_path / "case").problems == []


def bad_exports(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """(export, expected message) per kind of unreadable input."""
    ragged = write_acled(tmp_path / "ragged.csv", acled_rows(3))
    ragged.write_text(ragged.read_text(encoding="utf-8") + "a,b,c," + ",".join(["x"] * 40) + "\n", encoding="utf-8")
    latin = write_acled(tmp_path / "latin1.csv", acled_rows(3))
    latin.write_bytes(latin.read_bytes().replace(b"Synthville 2", "Synthvillé 2".encode("latin-1")))
    header_only = tmp_path / "header_only.csv"
    header_only.write_text(",".join(ACLED_CURRENT) + "\n", encoding="utf-8")
    workbook = tmp_path / "export.xlsx"
    workbook.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    return {
        "missing file": (tmp_path / "nowhere.csv", "nowhere.csv: file not found"),
        "spreadsheet": (workbook, "not a CSV: save the sheet as CSV"),
        "empty file": (empty, "empty file"),
        "header only": (header_only, "line 1: a header but no data rows"),
        "ragged row": (ragged, "line 5: not a well-formed CSV: Expected 31 fields in line 5, saw 43"),
        "not UTF-8": (latin, f"line {2 + 2 + 1}: not UTF-8 text"),
        "UCDP file given to acled": (write_ucdp(tmp_path / "ged.csv", ucdp_rows(2)),
                                     "line 1, column event_id_cnty: ACLED columns missing from the header"),
    }


@pytest.mark.parametrize("kind", ["missing file", "spreadsheet", "empty file", "header only", "ragged row",
                                  "not UTF-8", "UCDP file given to acled"])
def test_unreadable_exports_exit_3_with_file_line_and_column(tmp_path, kind):
    export, message = bad_exports(tmp_path)[kind]
    result = run("acled", export, "--out", tmp_path / "case")
    assert result.exit_code == 3, result.output
    assert isinstance(result.exception, SystemExit)
    assert f"error: {export}" in result.output and message in result.output
    assert not (tmp_path / "case").exists()


def test_a_candidate_file_without_header_line_is_named_as_such(tmp_path):
    export = write_ucdp(tmp_path / "ged_candidate_synthetic.csv", ucdp_rows(3))
    export.write_text(export.read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8")
    result = run("ucdp", export, "--out", tmp_path / "case")
    assert result.exit_code == 3
    assert "line 1, column id" in result.output and "have no header line; add this one: id,relid," in result.output


def test_the_wrong_importer_is_named_in_the_message(tmp_path):
    result = run("acled", write_ucdp(tmp_path / "ged.csv", ucdp_rows(2)), "--out", tmp_path / "case")
    assert "use `escalation import ucdp`" in result.output
    acled = write_acled(tmp_path / "acled.csv", acled_rows(2))
    result = run("ucdp", acled, "--out", tmp_path / "case")
    assert result.exit_code == 3 and "use `escalation import acled`" in result.output


@pytest.mark.parametrize(("arguments", "message"), [
    (["gdelt"], "no importer named 'gdelt'; there are: acled, ucdp"),
    (["acled", "--timezone", "Mars/Olympus"], "is not an IANA time zone"),
    (["ucdp", "--reporting-lag-days", "3"], "--reporting-lag-days does not apply to ucdp"),
])
def test_usage_errors_exit_2(tmp_path, arguments, message):
    export = write_acled(tmp_path / "a.csv", acled_rows(2))
    source, *options = arguments
    result = run(source, export, "--out", tmp_path / "case", *options)
    assert result.exit_code == 2 and message in result.output


def test_an_existing_case_folder_is_replaced_only_with_force(tmp_path):
    export = write_acled(tmp_path / "a.csv", acled_rows(3))
    out = imported(tmp_path, "acled", export)
    (out / "case.yaml").write_text("edited: true\n", encoding="utf-8")
    result = run("acled", export, "--out", out)
    assert result.exit_code == 2 and "not empty" in result.output
    assert (out / "case.yaml").read_text(encoding="utf-8") == "edited: true\n"
    assert run("acled", export, "--out", out, "--force").exit_code == 0
    assert "parties" in yaml.safe_load((out / "case.yaml").read_text(encoding="utf-8"))


def test_embedded_newlines_keep_notes_whole_and_lines_right(tmp_path):
    rows = acled_rows(8)
    rows[6]["fatalities"] = "lots"
    export = write_acled(tmp_path / "a.csv", rows)
    assert export.read_text(encoding="utf-8").count("\n") > len(rows) + 1
    out = imported(tmp_path, "acled", export)
    notes = {e["event_id"]: e["notes"] for e in rows_of(out / "events.parquet")}
    assert notes[expected_acled_event(rows[5])["event_id"]].startswith("Synthetic event 5, \"quoted\", with a comma\n"
                                                                       "and a second line [")
    (entry,) = rows_of(out / "quarantine.csv")
    assert int(entry["line"]) == line_of(export, "SYN1006") == 2 + 6 + 2


@pytest.mark.xfail(not CASE_FOLDERS, strict=True,
                   reason="needs case-folder branch: the validator's coordinate boxes come from case.yaml there")
def test_a_case_anywhere_on_earth_validates(tmp_path):
    rows = acled_rows(4)
    for row in rows:
        row["country"], row["latitude"], row["longitude"] = "Farawayland", "-12.5", "18.25"
    out = imported(tmp_path, "acled", write_acled(tmp_path / "far.csv", rows))
    assert len(rows_of(out / "events.parquet")) == 4
    assert rows_of(out / "quarantine.csv") == []


def test_the_mapping_tables_are_documented():
    from escalation.importers import describe_mappings

    docs = (paths.ROOT / "docs" / "importers.md").read_text(encoding="utf-8")
    assert describe_mappings() in docs, "regenerate the tables in docs/importers.md with describe_mappings()"


@pytest.mark.slow
def test_a_report_builds_from_an_imported_folder(tmp_path, on_cluster):
    out = imported(tmp_path, "acled", write_acled(tmp_path / "acled_synthetic.csv", acled_rows(24)))
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    overview = "01_events_overview.ipynb"
    (notebooks / overview).write_bytes((paths.NOTEBOOKS_DIR / overview).read_bytes())
    result = CliRunner().invoke(main, ["build", "--param", f"data_dir={out}", "--param", "start=2020-02-01",
                                       "--param", "end=2020-02-12", "--notebooks", str(notebooks),
                                       "--out", str(tmp_path / "reports"), "--figures", str(tmp_path / "figures"),
                                       *on_cluster])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "reports" / "01_events_overview" / "01_events_overview.html").read_text(encoding="utf-8")
    assert "Synthville" in html
    if not CASE_FOLDERS:
        pytest.xfail("needs case-folder branch: the report's text still comes from the package")
    for idlib_word in ("Idlib", "Balyun", "Hatay", "Saraqib"):
        assert idlib_word not in html


def test_imported_tables_are_typed_parquet_compressed_with_zstd(tmp_path):
    out = imported(tmp_path, "acled", write_acled(tmp_path / "a.csv", acled_rows(6)))
    package = json.loads((out / "datapackage.json").read_text(encoding="utf-8"))
    assert {(r["path"], r["format"]) for r in package["resources"]} == {
        (f"{table}.parquet", "parquet") for table in ("events", "claims", "sources", "displacement")}
    assert not list(out.glob("events.csv"))
    events = pq.ParquetFile(out / "events.parquet")
    assert {events.metadata.row_group(0).column(i).compression for i in range(events.metadata.num_columns)} == {
        "ZSTD"}
    types = {field.name: str(field.type) for field in events.schema_arrow}
    assert (types["event_date"], types["time_precision"], types["latitude"], types["notes"]) == (
        "date32[day]", "int64", "double", "string")
    assert pq.read_table(out / "displacement.parquet").num_rows == 0


def spoil_parquet(path: Path, column: str, row: int, value) -> None:
    """Put `value` into `column` of data row `row` (1 = first) of a Parquet table, keeping the column's type."""
    table = pq.read_table(path)
    values = table[column].to_pylist()
    values[row - 1] = value
    index = table.column_names.index(column)
    pq.write_table(table.set_column(index, column, pa.array(values, table.schema.field(index).type)), path)


def test_a_fault_in_a_parquet_table_names_its_row_and_the_row_is_quarantined(tmp_path):
    out = imported(tmp_path, "acled", write_acled(tmp_path / "a.csv", acled_rows(6)))
    spoil_parquet(out / "events.parquet", "event_type", 3, "Battle")
    spoil_parquet(out / "events.parquet", "event_date", 5, date(1850, 1, 1))
    tables = validate_tables(out)
    found = {str(p).removeprefix(str(out / "events.parquet") + ", ") for p in tables.problems}
    assert any(p.startswith("row 3, column event_type: 'Battle' is not one of the allowed values: Battles,")
               for p in found), found
    assert any(p.startswith("row 5, column event_date: 1850-01-01 is outside the accepted dates") for p in found)
    events = tables.quarantine.loc[tables.quarantine["table"] == "events"]
    assert set(events["line"]) == {3, 5} and "Battle" in events.iloc[0]["record"]
    counts = tables.counts().set_index("table")
    assert (counts["read"] == counts["accepted"] + counts["quarantined"]).all()
    assert counts.loc["events", "read"] == 6 and counts.loc["events", "accepted"] == 4


def test_a_parquet_column_of_the_wrong_type_is_named(tmp_path):
    out = imported(tmp_path, "acled", write_acled(tmp_path / "a.csv", acled_rows(3)))
    table = pq.read_table(out / "claims.parquet")
    index = table.column_names.index("value_low")
    pq.write_table(table.set_column(index, "value_low", pc.cast(table["value_low"], pa.float64())),
                   out / "claims.parquet")
    tables = validate_tables(out)
    assert [str(p) for p in tables.fatal] == [
        f"{out / 'claims.parquet'}, column value_low: stored as double; datapackage.json says integer, which "
        "Parquet stores as int64 (or as text)"]
