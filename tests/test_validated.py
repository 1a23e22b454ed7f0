"""Validate once: the validated-tables cache gives the very frames, quarantine and problems of a fresh
validation, is used while no input changes, is left alone when one does, and never stops a load."""

from __future__ import annotations

import os

import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner
from conftest import read_rows, write_rows
from synthetic_exports import acled_rows, write_acled

from escalation import data, paths, validated
from escalation.cli import main


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache" / "validated"
    monkeypatch.setattr(paths, "VALIDATED_DIR", folder)
    return folder


def no_validation(monkeypatch):
    """Make any validation fail the test: what is loaded next must come from the cache."""
    def refuse(data_dir):
        raise AssertionError(f"validated {data_dir} again")
    monkeypatch.setattr(validated, "validate_tables", refuse)


def assert_same(cached, fresh):
    assert list(cached.frames) == list(fresh.frames)
    for name in fresh.frames:
        pd.testing.assert_frame_equal(cached.frames[name], fresh.frames[name])
    pd.testing.assert_frame_equal(cached.quarantine, fresh.quarantine)
    assert cached.problems == fresh.problems
    assert cached.rows_read == fresh.rows_read
    assert cached.case == fresh.case and cached.data_dir == fresh.data_dir


def break_cells(data_dir):
    """Two faulty rows: a claim with a bad count and an event outside the region (its claims follow it)."""
    header, rows = read_rows(data_dir / "claims.csv")
    rows[3][header.index("value_low")] = "ten"
    write_rows(data_dir / "claims.csv", header, rows)
    header, rows = read_rows(data_dir / "events.csv")
    rows[5][header.index("latitude")] = "3.5"
    write_rows(data_dir / "events.csv", header, rows)


@pytest.mark.parametrize("faulty", [False, True], ids=["clean", "with quarantined rows"])
def test_a_cached_load_equals_a_fresh_validation(data_copy, cache_dir, monkeypatch, faulty):
    if faulty:
        break_cells(data_copy)
    fresh = data.validate_tables(data_copy)
    assert bool(fresh.problems) == faulty
    first = validated.load(data_copy)
    assert_same(first, fresh)
    assert len([p for p in cache_dir.iterdir() if p.is_dir()]) == 1
    no_validation(monkeypatch)
    assert_same(validated.load(data_copy), fresh)


def test_a_changed_input_is_validated_again(data_copy, monkeypatch):
    validated.load(data_copy)
    header, rows = read_rows(data_copy / "claims.csv")
    rows[0][header.index("value_low")] = "-1"
    write_rows(data_copy / "claims.csv", header, rows)
    assert [p.message for p in validated.load(data_copy).problems] == ["'-1' is below the minimum 0"]
    (data_copy / "case.yaml").write_text((data_copy / "case.yaml").read_text(encoding="utf-8")
                                         + "\n# an edit\n", encoding="utf-8")
    calls = []
    monkeypatch.setattr(validated, "validate_tables", lambda d: calls.append(d) or data.validate_tables(d))
    validated.load(data_copy)
    assert calls == [data_copy]


def test_a_touched_file_with_the_same_content_keeps_the_cache(data_copy, cache_dir, monkeypatch):
    validated.load(data_copy)
    claims = data_copy / "claims.csv"
    os.utime(claims, ns=(claims.stat().st_atime_ns, claims.stat().st_mtime_ns + 10**9))
    no_validation(monkeypatch)
    validated.load(data_copy)
    assert str(claims.resolve()) in (cache_dir / validated.DIGESTS).read_text(encoding="utf-8")


def test_an_unwritable_cache_folder_still_loads(data_copy, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    monkeypatch.setattr(paths, "VALIDATED_DIR", blocker / "validated")
    assert_same(validated.load(data_copy), data.validate_tables(data_copy))


def test_escalation_validate_fills_the_cache_the_reports_read(data_copy, monkeypatch):
    result = CliRunner().invoke(main, ["validate", "--data-dir", str(data_copy)])
    assert result.exit_code == 0, result.output
    no_validation(monkeypatch)
    assert len(data.load_tables(data_copy).claims) == len(read_rows(data_copy / "claims.csv")[1])


def test_an_import_keeps_its_validation_for_the_first_report(tmp_path, monkeypatch):
    """The import validates the folder it writes: that validation, under the folder's final path, is what the
    first load reads."""
    export = write_acled(tmp_path / "acled_synthetic.csv", acled_rows(12))
    out = tmp_path / "case"
    result = CliRunner().invoke(main, ["import", "acled", str(export), "--out", str(out)])
    assert result.exit_code == 0, result.output
    fresh = data.validate_tables(out)
    no_validation(monkeypatch)
    assert_same(validated.load(out), fresh)
    assert len(fresh.events) == 12


def test_a_cached_table_comes_back_in_one_chunk_per_column():
    """Parquet gives a column per row group; taking rows from one chunk is many times faster."""
    parts = [pa.table({"id": ["a", "b"], "n": [1, None]}), pa.table({"id": ["c", None], "n": [3, 4]})]
    table = pa.concat_tables(parts)
    assert table.column("id").num_chunks == 2
    joined = validated._one_chunk(table)
    assert [column.num_chunks for column in joined.columns] == [1, 1]
    assert joined.to_pydict() == {"id": ["a", "b", "c", None], "n": [1, None, 3, 4]}
