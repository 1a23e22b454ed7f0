"""case.yaml: the Idlib description loads, and a faulty one stops with a message naming the file and key."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest
import yaml
from conftest import BALYUN, read_rows

from escalation import paths
from escalation.case import CaseError, load_case
from escalation.data import validate_tables
from escalation.moments import end_of_day, parse_moment


def test_the_idlib_case_describes_what_the_package_used_to_hard_wire():
    case = load_case(paths.DATA_DIR)
    assert case.timezone.key == "Europe/Istanbul"
    assert end_of_day(date(2020, 2, 28), case.timezone).isoformat() == "2020-02-28T23:59:00+03:00"
    assert case.focal.event_id == BALYUN and case.focal.party == "turkish_military"
    assert case.party_ids[0] == "turkish_military" and len(case.parties) == 8
    assert "Governor of Hatay" in case.claimants_of("turkish_military")
    assert case.region.boxes["Syria"] == (32.3, 37.4, 35.6, 42.4)


def test_claimants_that_speak_for_no_party_are_left_out():
    case = load_case(paths.DATA_DIR)
    speakers = {c for party in case.parties for c in party.claimants}
    for monitor in ("SOHR", "OCHA", "United Nations", "Reuters", "White Helmets (Syrian Civil Defence)", "SNHR"):
        assert monitor not in speakers


def test_a_bare_date_counts_from_23_59_in_the_case_zone():
    from zoneinfo import ZoneInfo

    moment, precision = parse_moment("2020-02-27", ZoneInfo("Asia/Damascus"))
    assert (moment.isoformat(), precision) == ("2020-02-27T23:59:00+02:00", "day")
    assert parse_moment("2020-02-27T10:00", ZoneInfo("Asia/Damascus")) is None, "a time needs its offset"


def broken(data_copy, edit) -> str:
    """Edit the copy's case.yaml (a function of the parsed mapping) and return the validation messages."""
    path = data_copy / "case.yaml"
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(content)
    path.write_text(yaml.safe_dump(content, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(CaseError) as raised:
        load_case(data_copy)
    return str(raised.value)


@pytest.mark.parametrize(("edit", "key", "message"), [
    (lambda c: c["focal"].update(party="turkish_army"), "focal.party",
     "'turkish_army' is not the id of a party in this file (did you mean turkish_military?)"),
    (lambda c: c.update(timezone="Asia/Idlib"), "timezone", "'Asia/Idlib' is not an IANA time zone name"),
    (lambda c: c.update(timezone="America"), "timezone", "'America' is not an IANA time zone name"),
    (lambda c: c["control_changes"].update({"Armed clash": "x"}), "control_changes.Armed clash",
     "not a change-of-control sub-event type"),
    (lambda c: c.pop("parties"), "parties", "missing (required)"),
    (lambda c: c["region"].pop("boxes"), "region.boxes", "missing (required)"),
    (lambda c: c.update(key_event={}), "key_event", "unknown key (did you mean key_events?)"),
    (lambda c: c["region"]["boxes"].update(Syria=[37.4, 32.3, 35.6, 42.4]), "region.boxes.Syria",
     "south ≤ north"),
    (lambda c: c["parties"][1].update(id="turkish_military"), "parties[1].id", "'turkish_military' appears twice"),
    (lambda c: c["parties"][2]["claimants"].append("Governor of Hatay"), "parties",
     "'Governor of Hatay' speaks for both turkish_military and syrian_government_forces"),
    (lambda c: c["comparisons"][0].update(about=["syrian_forces"]), "comparisons[0].about[0]",
     "'syrian_forces' is not the id of a party"),
])
def test_a_faulty_case_names_file_and_key(data_copy, edit, key, message):
    text = broken(data_copy, edit)
    assert f"{data_copy / 'case.yaml'}, key {key}: " in text
    assert message in text


def test_malformed_yaml_is_reported_with_its_line_and_column(data_copy):
    (data_copy / "case.yaml").write_text("name: x\nparties: [\n  - id: a\n", encoding="utf-8")
    with pytest.raises(CaseError, match=r"case\.yaml: not valid YAML at line \d+, column \d+"):
        load_case(data_copy)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "must be a mapping of keys to values, not nothing"),
    (b"- a list\n", "must be a mapping of keys to values, not a list"),
    (b"name: caf\xe9\n", "not UTF-8 text (invalid continuation byte at byte 9)"),
])
def test_a_case_file_that_is_no_mapping_is_named(data_copy, content, message):
    (data_copy / "case.yaml").write_bytes(content)
    with pytest.raises(CaseError) as raised:
        load_case(data_copy)
    assert str(raised.value) == f"{data_copy / 'case.yaml'}: {message}"


def test_validate_reports_a_broken_case_without_a_traceback(data_copy):
    (data_copy / "case.yaml").write_text("name: idlib\ntimezone: Mars/Olympus\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "escalation", "validate", "--data-dir", str(data_copy)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 3
    assert "Traceback" not in result.stdout + result.stderr
    assert "case.yaml: key timezone: 'Mars/Olympus' is not an IANA time zone name" in result.stdout
    assert "case.yaml: key parties: missing (required)" in result.stdout


def test_a_missing_case_file_is_named(data_copy):
    (data_copy / "case.yaml").unlink()
    tables = validate_tables(data_copy)
    assert [str(p) for p in tables.fatal] == [
        f"{data_copy / 'case.yaml'}: file not found: every case folder needs a case.yaml (see data/README.md)"]


def test_a_focal_event_missing_from_the_events_is_fatal(data_copy):
    path = data_copy / "case.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(f"event_id: {BALYUN}", "event_id: EV-20200227-nowhere"),
                    encoding="utf-8")
    tables = validate_tables(data_copy)
    assert [str(p) for p in tables.fatal] == [
        f"{path}: key focal.event_id: 'EV-20200227-nowhere' is not an event_id in events.csv"]


def test_a_claim_about_a_party_the_case_does_not_describe_is_quarantined(data_copy):
    path = data_copy / "case.yaml"
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    content["parties"] = [p for p in content["parties"] if p["id"] != "allied_militias"]
    content["comparisons"][0]["about"] = ["syrian_government_forces"]
    path.write_text(yaml.safe_dump(content, allow_unicode=True, sort_keys=False), encoding="utf-8")
    header, rows = read_rows(data_copy / "claims.csv")
    allied = [i for i, row in enumerate(rows) if row[header.index("party")] == "allied_militias"]
    tables = validate_tables(data_copy)
    messages = {(p.line, p.column, p.message) for p in tables.problems}
    assert {line for line, _, _ in messages} == {i + 2 for i in allied}
    assert all(column == "party" and message.startswith("not one of the parties in case.yaml (turkish_military,")
               for _, column, message in messages)
    counts = tables.counts().set_index("table")
    assert counts.loc["claims", "quarantined"] == len(allied) == 4
