"""The incremental key without running a notebook: what each report could see, read from the schema, from CSV or
Parquet, with library versions, and whether the published outputs are all still there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet
import pytest
from conftest import read_rows, write_rows

from escalation import incremental, known_order, paths
from escalation.moments import end_of_day, parse_moment, parse_moments

DAYS = [date(2020, 2, 1) + timedelta(days=i) for i in range(35)]


def day_digests(data_dir: Path) -> list[str]:
    zone = incremental.case_zone(data_dir)
    return [incremental.visible_data_digest(data_dir, end_of_day(day, zone)) for day in DAYS]


def visible_counts(data_dir: Path, day: date | None) -> dict[str, int]:
    """Rows each table shows a report of `day` (None: every row that ever becomes known)."""
    moment = incremental.NEVER - 1 if day is None else incremental.microseconds(
        end_of_day(day, incremental.case_zone(data_dir)))
    return {name: order.digest_at(moment)[1] for name, order in incremental.known_orders(data_dir).items()}


def edit_descriptor(data_dir: Path, edit) -> None:
    path = data_dir / "datapackage.json"
    package = json.loads(path.read_text(encoding="utf-8"))
    edit({r["name"]: r for r in package["resources"]})
    path.write_text(json.dumps(package, indent=2), encoding="utf-8")


def add_claim(data_dir: Path, published_at: str, source_id: str | None = None) -> None:
    """A copy of the first claim, published at another moment (and citing another source)."""
    header, rows = read_rows(data_dir / "claims.csv")
    row = list(rows[0])
    row[header.index("claim_id")] = row[header.index("claim_id")] + "-added"
    row[header.index("published_at")] = published_at
    if source_id:
        row[header.index("source_id")] = source_id
    write_rows(data_dir / "claims.csv", header, [*rows, row])


def test_a_claim_added_for_3_march_changes_the_keys_from_3_march_on_only(data_copy):
    before = day_digests(data_copy)
    add_claim(data_copy, "2020-03-03T10:00:00+03:00")
    after = day_digests(data_copy)
    changed = [day for day, old, new in zip(DAYS, before, after, strict=True) if old != new]
    assert changed == [day for day in DAYS if day >= date(2020, 3, 3)]


def test_a_source_counts_from_the_first_row_that_cites_it(data_copy):
    header, rows = read_rows(data_copy / "sources.csv")
    cited = visible_counts(data_copy, None)["sources"]
    write_rows(data_copy / "sources.csv", header, [*rows, ["SRC-added", *rows[0][1:]]])
    assert visible_counts(data_copy, None)["sources"] == cited, "a source nobody cites is seen by no report"
    on_19 = visible_counts(data_copy, date(2020, 2, 19))["sources"]
    before = day_digests(data_copy)
    add_claim(data_copy, "2020-02-20", source_id="SRC-added")
    assert visible_counts(data_copy, date(2020, 2, 19))["sources"] == on_19
    assert visible_counts(data_copy, None)["sources"] == cited + 1
    after = day_digests(data_copy)
    changed = [day for day, old, new in zip(DAYS, before, after, strict=True) if old != new]
    assert changed == [day for day in DAYS if day >= date(2020, 2, 20)]
    header, rows = read_rows(data_copy / "sources.csv")
    rows[-1][header.index("title")] = "a corrected title"
    write_rows(data_copy / "sources.csv", header, rows)
    again = day_digests(data_copy)
    assert [day for day, old, new in zip(DAYS, after, again, strict=True) if old != new] == changed


def test_a_later_run_reads_the_known_orders_kept_on_disk_and_sees_a_changed_file(data_copy, key_cache, monkeypatch):
    before = day_digests(data_copy)
    incremental._orders_cache.clear()
    assert sorted(key_cache.glob("*.orders")), "nothing kept on disk"
    with monkeypatch.context() as patched:
        patched.setattr(known_order, "compute", lambda data_dir: pytest.fail("the kept orders were computed again"))
        assert day_digests(data_copy) == before
    add_claim(data_copy, "2020-03-01")
    incremental._orders_cache.clear()
    assert day_digests(data_copy) != before


NO_CHANGE_KEYS = """
import sys
from datetime import date
from pathlib import Path
from escalation import build, paths
from escalation.jobs import DAILY_NOTEBOOK, daily_jobs
jobs = daily_jobs(date(2020, 2, 1), date(2020, 3, 6), {"data_dir": sys.argv[1]}, paths.NOTEBOOKS_DIR / DAILY_NOTEBOOK)
keys = build._input_keys(jobs, {job.name: job.data_dir for job in jobs}, False)
heavy = ("numpy", "pandas", "pyarrow", "papermill", "jinja2")
print(len(set(keys.values())), *sorted(name for name in heavy if name in sys.modules))
"""


def test_keys_after_no_change_import_no_table_reader_and_no_papermill(data_copy, tmp_path):
    """What a no-change backfill does before it skips every report: the notebook's parameters and the tables' known
    orders come from the key cache (numpy, pandas, pyarrow and papermill cost seconds to import)."""
    environment = {**os.environ, "ESCALATION_CACHE": str(tmp_path / "key-cache")}

    def keys_in_a_new_process() -> list[str]:
        done = subprocess.run([sys.executable, "-c", NO_CHANGE_KEYS, str(data_copy)], capture_output=True, text=True,
                              check=True, stdin=subprocess.DEVNULL, env=environment)
        return done.stdout.split()

    first = keys_in_a_new_process()
    assert first[0] == "35" and "papermill" in first and "pyarrow" in first, first
    assert keys_in_a_new_process() == ["35"]


def test_unchanged_data_gives_unchanged_keys_and_a_rewritten_identical_file_too(data_copy):
    before = day_digests(data_copy)
    header, rows = read_rows(data_copy / "events.csv")
    write_rows(data_copy / "events.csv", header, rows)
    assert day_digests(data_copy) == before


def test_table_paths_and_references_come_from_the_schema(data_copy):
    before = day_digests(data_copy)
    counts = visible_counts(data_copy, date(2020, 2, 27))
    (data_copy / "claims.csv").rename(data_copy / "claims-2020.csv")
    header, rows = read_rows(data_copy / "claims-2020.csv")
    header[header.index("source_id")] = "cited_source"
    write_rows(data_copy / "claims-2020.csv", header, rows)

    def rename(resources):
        claims = resources["claims"]
        claims["path"] = "claims-2020.csv"
        next(f for f in claims["schema"]["fields"] if f["name"] == "source_id")["name"] = "cited_source"
        next(k for k in claims["schema"]["foreignKeys"] if k["fields"] == ["source_id"])["fields"] = ["cited_source"]

    edit_descriptor(data_copy, rename)
    assert visible_counts(data_copy, date(2020, 2, 27)) == counts, "the renamed file and column are followed"
    assert day_digests(data_copy) != before, "the schema is part of the key"
    renamed = day_digests(data_copy)
    header, rows = read_rows(data_copy / "claims-2020.csv")
    rows[0][header.index("published_at")] = "2020-03-05T09:00:00+03:00"
    write_rows(data_copy / "claims-2020.csv", header, rows)
    assert day_digests(data_copy)[-1] != renamed[-1]


def test_a_parquet_table_sees_the_same_rows_as_its_csv(data_copy):
    counts = {day: visible_counts(data_copy, day) for day in DAYS[::5]}
    header, _ = read_rows(data_copy / "claims.csv")
    table = pyarrow.csv.read_csv(data_copy / "claims.csv", convert_options=pyarrow.csv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.string())))
    pyarrow.parquet.write_table(table, data_copy / "claims.parquet", compression="zstd")
    (data_copy / "claims.csv").unlink()
    edit_descriptor(data_copy, lambda resources: resources["claims"].update(path="claims.parquet", format="parquet"))
    assert {day: visible_counts(data_copy, day) for day in DAYS[::5]} == counts
    before = day_digests(data_copy)
    frame = pyarrow.parquet.read_table(data_copy / "claims.parquet").to_pandas()
    frame.loc[frame["published_at"].str.startswith("2020-02-29"), "notes"] = "edited"
    pyarrow.parquet.write_table(pa.Table.from_pandas(frame, preserve_index=False), data_copy / "claims.parquet")
    after = day_digests(data_copy)
    assert [day for day, old, new in zip(DAYS, before, after, strict=True) if old != new] == [
        day for day in DAYS if day >= date(2020, 2, 29)]


def test_typed_parquet_moments_follow_the_rule_for_text():
    zone = incremental.case_zone(paths.DATA_DIR)
    typed = pa.table({"at": pa.array([date(2020, 2, 3), None], pa.date32())})
    text = pa.table({"at": ["2020-02-03", ""]})
    expected = [incremental.microseconds(end_of_day(date(2020, 2, 3), zone)), incremental.ALWAYS]
    assert known_order._column_moments(typed, ("at",), "at", zone).tolist() == expected
    assert known_order._column_moments(text, ("at",), "at", zone).tolist() == expected


@pytest.mark.parametrize("impossible", ["", "2020-02-30T10:00+03:00"], ids=["usual batch", "batch with 30 February"])
def test_moments_read_in_one_go_agree_with_the_rule_row_by_row(impossible):
    zone = incremental.case_zone(paths.DATA_DIR)
    cells = ["2020-02-27T22:15+03:00", "2020-02-27T22:15:30-05:00", "2020-02-27", "2020-02-27T25:00+03:00",
             "2020-02-27T22:15", "9999-12-31T23:59+00:00", "", "27/02/2020", "2020-02-27T23:30:15.5-02:30",
             "1969-12-31T23:59:59+00:00", None, impossible]
    one_by_one = [parse_moment(cell, zone) for cell in cells]
    together = parse_moments(cells, zone)
    assert together.precision.tolist() == [m[1] if m else None for m in one_by_one]
    assert [int(us) if m else None for us, m in zip(together.utc_microseconds, one_by_one)] == [
        incremental.microseconds(m[0]) if m else None for m in one_by_one]
    assert [str(day) if m else None for day, m in zip(together.written_day, one_by_one)] == [
        m[0].date().isoformat() if m else None for m in one_by_one]
    assert together.precision.tolist()[:6] == ["minute", "minute", "day", None, None, "minute"]
    kept = known_order._moments_of(cells, zone).tolist()
    assert kept == [incremental.microseconds(m[0]) if m else incremental.ALWAYS for m in one_by_one]


def test_a_new_library_version_changes_every_key(monkeypatch):
    notebook = paths.NOTEBOOKS_DIR / "04_daily_situation_report.ipynb"
    parameters = {"end": "2020-02-27"}

    def key() -> str:
        return incremental.input_key(notebook, parameters, parameters, paths.DATA_DIR, {})

    before = key()
    assert key() == before
    installed = incremental.library_versions()
    monkeypatch.setattr(incremental, "library_versions", lambda: {**installed, "plotly": "0.0"})
    assert key() != before


def published(tmp_path: Path) -> tuple[Path, Path]:
    """A report folder as a build publishes it: manifest, HTML, tables, shared plotly.js, and its figures."""
    report, figures = tmp_path / "out" / "daily" / "2020-02-27", tmp_path / "figures"
    (report / "tables").mkdir(parents=True)
    figures.mkdir()
    (report / "day.html").write_text("<html></html>")
    (report / "tables" / "key_figures.csv").write_text("figure\n")
    (tmp_path / "out" / "_assets").mkdir()
    (tmp_path / "out" / "_assets" / "plotly-3.min.js").write_text("/* plotly */")
    for kind in ("png", "svg"):
        (figures / f"event-map.{kind}").write_text("image")
    (report / "manifest.json").write_text(json.dumps({
        "status": "ok", "input_key": "k", "html": "day.html", "tables": ["key_figures.csv"],
        "figures": ["event-map"], "plotly_js": "../../_assets/plotly-3.min.js"}))
    return report, figures


@pytest.mark.parametrize("deleted", ["day.html", "tables/key_figures.csv", "../../_assets/plotly-3.min.js",
                                     "figures:event-map.png", "figures:event-map.svg", "manifest.json"])
def test_a_report_missing_any_of_its_outputs_has_no_published_key(tmp_path, deleted):
    report, figures = published(tmp_path)
    assert incremental.published_key(report, figures) == "k"
    target = figures / deleted.split(":")[1] if deleted.startswith("figures:") else report / deleted
    target.unlink()
    assert incremental.published_key(report, figures) is None


def test_library_versions_are_asked_again_when_a_package_is_installed(tmp_path, monkeypatch):
    """The versions are kept between runs; a package installed ahead on the path (a new dist-info folder) is seen."""
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    incremental.library_versions.cache_clear()
    try:
        installed = incremental.library_versions()
        assert installed["ruptures"] != "99.0"
        metadata = site / "ruptures-99.0.dist-info" / "METADATA"
        metadata.parent.mkdir()
        metadata.write_text("Metadata-Version: 2.1\nName: ruptures\nVersion: 99.0\n", encoding="utf-8")
        incremental.library_versions.cache_clear()
        assert incremental.library_versions() == {**installed, "ruptures": "99.0"}
    finally:
        incremental.library_versions.cache_clear()


def test_rows_hashed_in_batches_hash_as_they_do_all_at_once(monkeypatch):
    table = pa.table({"id": [f"row-{i}" for i in range(7)], "n": pa.array([1, None, 3, 4, 5, 6, 7], pa.int64())})
    whole = known_order._row_hashes(table)
    assert len(set(whole.tolist())) == 7
    monkeypatch.setattr(known_order, "HASH_BATCH_ROWS", 3)
    assert known_order._row_hashes(table).tolist() == whole.tolist()
