"""Turn a conflict-data export into a case folder: read → map → validate → write.

The base class does the bookkeeping every source shares: it reads the export once as text (one
vectorised pandas pass, each row with the line it starts on), applies the analyst's filters, asks
the source's two hooks to name its columns (`prepare`) and to map its rows onto events and claims
(`map`), keeps every row it cannot map in `quarantine.csv` with file, line, column and reason, and
writes the case folder: the tables (Parquet with zstd, each column typed as the schema says), their
`datapackage.json`, `case.yaml`, and the export byte for byte in `raw/` with a `.meta.yml` of its origin.
The folder is then checked by the package's own validator; a row the validator refuses joins the
quarantine, so the folder validates clean and rows read = imported + quarantined + filtered out, always.
That clean validation is kept in the validated-tables cache (`escalation.validated`), so the first report on
the new case reads it instead of validating the folder again.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import pickle
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import yaml

from escalation import validated
from escalation.csvsafe import write_csv

BASE_DATAPACKAGE = Path(__file__).with_name("base-datapackage.json")
QUARANTINE_FILE = "quarantine.csv"
QUARANTINE_COLUMNS = ["file", "line", "column", "value", "reason"]
KEY_COLUMNS = {"events": "event_id", "claims": "claim_id"}
#: Where a workbook saved by a spreadsheet program starts: an export that is not a CSV.
SPREADSHEET_MAGIC = {b"PK\x03\x04": "an Excel (.xlsx) or zip file", b"\xd0\xcf\x11\xe0": "an Excel (.xls) file"}
#: Colourless parties of an import: the loader gives them the default palette by position.
TABLES = ("events", "claims", "displacement", "sources")


class ImportInputError(Exception):
    """The export cannot be read at all; the message names file, line and column (no traceback)."""

    def __init__(self, file: str, message: str, line: int | None = None, column: str | None = None):
        self.file, self.line, self.column, self.detail = file, line, column, message
        where = file + (f", line {line}" if line is not None else "") + (f", column {column}" if column else "")
        super().__init__(f"{where}: {message}")

    def __reduce__(self):
        return type(self), (self.file, self.detail, self.line, self.column)


@dataclass(frozen=True)
class Filters:
    """The part of an export an analyst wants: countries, first-level regions, a period (all inclusive)."""

    countries: tuple[str, ...] = ()
    admin1: tuple[str, ...] = ()
    first: date | None = None
    last: date | None = None

    def describe(self) -> dict:
        return {key: value for key, value in {
            "country": list(self.countries), "admin1": list(self.admin1),
            "from": self.first.isoformat() if self.first else None,
            "to": self.last.isoformat() if self.last else None}.items() if value}


@dataclass
class ImportResult:
    """What an import did: the counts a user checks (read = imported + quarantined + filtered out)."""

    out_dir: Path
    rows_read: int
    imported: int
    quarantined: int
    filtered_out: int
    events: int
    claims: int
    reasons: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"{self.rows_read} rows read: {self.imported} imported, {self.quarantined} quarantined, "
                 f"{self.filtered_out} outside the filters",
                 f"{self.events} events and {self.claims} claims written to {self.out_dir}"]
        if self.quarantined:
            lines.append(f"quarantined rows, by reason (see {self.out_dir / QUARANTINE_FILE}):")
            lines.extend(f"  {count} × {reason}" for reason, count in self.reasons.items())
        return "\n".join(lines)


@dataclass
class Mapped:
    """A source's rows as case tables, each row keeping `_line`, the export line it came from."""

    events: pd.DataFrame
    claims: pd.DataFrame
    #: The case's parties, from the rows finally imported: (events, claims) -> [{id, label, ...}].
    parties: Callable[[pd.DataFrame, pd.DataFrame], list[dict]]
    known_at: str
    #: How the total party's dead are named on the focal charts.
    deaths_label: str
    #: What the import assumed beyond the export (e.g. ACLED's reporting lag), kept in raw/<file>.meta.yml.
    assumptions: dict = field(default_factory=dict)


class Importer:
    """Read → map → validate → write. A source sets the class attributes and fills two hooks."""

    #: Registry name and the publisher cited for the export (its public page, http(s) only).
    name = ""
    publisher = ""
    publisher_url = ""
    claimant = ""
    #: Two capital letters of this source's claim ids (CL-XX-000001).
    claim_prefix = ""
    #: Columns (after `prepare`) the filters read.
    country_column = "country"
    admin1_column = "admin1"

    def __init__(self, timezone: str = "UTC", imported_at: datetime | None = None):
        self.timezone = timezone
        self.imported_at = (imported_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        self._rejections: list[pd.DataFrame] = []
        self.file_label = ""

    # --- the two hooks a source fills -------------------------------------------------------------

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Name the export's columns as this source's current format (aliases, case, index column);
        raise ImportInputError when the header is not this source's."""
        raise NotImplementedError

    def map(self, frame: pd.DataFrame) -> Mapped:
        """Events and claims from the prepared rows; rows that cannot be mapped go through `reject`."""
        raise NotImplementedError

    # --- helpers for the hooks --------------------------------------------------------------------

    def reject(self, frame: pd.DataFrame, mask: pd.Series, column: str, reason: str | pd.Series) -> None:
        """Quarantine the rows of `frame` where `mask` holds, naming the column and the reason."""
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        values = frame.loc[mask, column] if column in frame else pd.Series("", index=frame.index[mask])
        reasons = reason.loc[mask] if isinstance(reason, pd.Series) else reason
        self._rejections.append(pd.DataFrame({
            "file": self.file_label, "line": frame.loc[mask, "_line"], "column": column,
            "value": values.astype(str), "reason": reasons}))

    @property
    def source_id(self) -> str:
        """The project's rule: 'src-' and the first 10 hex digits of the SHA-1 of the URL."""
        return "src-" + hashlib.sha1(self.publisher_url.encode("utf-8")).hexdigest()[:10]

    # --- the pipeline -----------------------------------------------------------------------------

    def run(self, export: Path, out_dir: Path, filters: Filters = Filters(), force: bool = False) -> ImportResult:
        """Import `export` into a new case folder `out_dir` (replaced only with `force`)."""
        export, out_dir = Path(export), Path(out_dir)
        self.file_label = str(export)
        if out_dir.exists() and any(out_dir.iterdir()) and not force:
            raise FileExistsError(f"{out_dir} is not empty; choose a new folder or pass --force to replace it")
        digest, newlines = _scan(export)
        frame = self.prepare(_read_csv(export, newlines))
        rows_read = len(frame)
        blank = (frame.drop(columns="_line") == "").all(axis=1)
        self.reject(frame, blank, "", "blank line")
        outside = self._outside_place_filters(frame, filters) & ~blank
        wanted = ~outside & ~blank
        mapped = self.map(frame if wanted.all() else frame.loc[wanted])
        outside_period = self._outside_period(mapped.events, filters)
        filtered_lines = set(frame.loc[outside, "_line"]) | outside_period
        del frame  # the export as text, the largest frame of an import: not needed once mapped
        if len(filtered_lines) == rows_read:  # every row has a line of its own
            raise ImportInputError(self.file_label, f"no row matches the filters {filters.describe()}")
        meta = {"file": export.name, "source": self.publisher, "url": self.publisher_url, "sha256": digest,
                "size_bytes": export.stat().st_size, "rows": rows_read,
                "imported_at": self.imported_at.isoformat().replace("+00:00", "Z"), "filters": filters.describe(),
                **mapped.assumptions}
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
        try:
            written, quarantine, tables = self._settle(mapped, filtered_lines, staging, meta)
            (staging / "raw").mkdir()
            shutil.copyfile(export, staging / "raw" / export.name)
            (staging / "raw" / f"{export.name}.meta.yml").write_text(
                yaml.safe_dump(meta, sort_keys=False, allow_unicode=True), encoding="utf-8")
            quarantined = quarantine["line"].nunique()
            imported = rows_read - quarantined - len(filtered_lines)
            assert imported == written["events"]["_line"].nunique(), \
                "rows read must equal imported + quarantined + filtered"
            del mapped  # only the validated tables are kept from here
            if out_dir.exists():
                shutil.rmtree(out_dir)
            staging.rename(out_dir)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        validated.store(out_dir, tables)  # the reports' first load reads this validation instead of repeating it
        reasons = quarantine.drop_duplicates("line")["reason"].value_counts()
        return ImportResult(out_dir, rows_read, imported, quarantined, len(filtered_lines), len(written["events"]),
                            len(written["claims"]), {str(k): int(v) for k, v in reasons.items()})

    def _outside_place_filters(self, frame: pd.DataFrame, filters: Filters) -> pd.Series:
        """Rows outside the country/admin1 filters (compared case-insensitively, before any mapping)."""
        outside = pd.Series(False, index=frame.index)
        for column, wanted in ((self.country_column, filters.countries), (self.admin1_column, filters.admin1)):
            if wanted:
                outside |= ~frame[column].str.strip().str.lower().isin({w.strip().lower() for w in wanted})
        return outside

    @staticmethod
    def _outside_period(events: pd.DataFrame, filters: Filters) -> set[int]:
        days = pd.to_datetime(events["event_date"], errors="coerce").dt.date
        outside = pd.Series(False, index=events.index)
        if filters.first:
            outside |= days < filters.first
        if filters.last:
            outside |= days > filters.last
        return set(events.loc[outside.fillna(False), "_line"])

    def _settle(self, mapped: Mapped, filtered: set[int], staging: Path, meta: dict):
        """Write the folder and validate it; rows the validator refuses join the quarantine, and the
        folder is written again, which must then validate clean. Returns the rows written (their export line and
        id), the quarantine and the validation. While the validator reads the folder back, the mapped rows wait on
        disk: holding both put a million-row import above 3 GB."""
        from escalation.data import rows_where, validate_tables

        with tempfile.TemporaryDirectory(prefix=".mapped-", dir=staging.parent) as spill:
            for attempt in (1, 2):
                quarantine = self._quarantine(filtered)
                bad = set(quarantine["line"]) | filtered
                events, claims = (rows_where(frame, ~frame["_line"].isin(bad))
                                  for frame in (mapped.events, mapped.claims))
                self._write(staging, events, claims, quarantine, mapped, meta)
                written = {table: frame[["_line", KEY_COLUMNS[table]]]
                           for table, frame in (("events", events), ("claims", claims))}
                del events, claims
                _spill(mapped, Path(spill) / "mapped.pickle")
                tables = validate_tables(staging)
                if tables.fatal:
                    raise RuntimeError(f"the case folder written for {self.file_label} is unreadable: {tables.fatal}")
                if not tables.problems:
                    return written, quarantine, tables
                if attempt == 2:
                    raise RuntimeError(f"the validator still refuses rows after quarantine: {tables.problems[:5]}")
                self._reject_refused(tables.quarantine, written)
                del tables
                _unspill(mapped, Path(spill) / "mapped.pickle")

    def _reject_refused(self, refused: pd.DataFrame, frames: dict[str, pd.DataFrame]) -> None:
        """Rows the validator refused, traced back to the export line they came from."""
        for table, problems in refused.groupby("table"):
            if table not in frames:
                raise RuntimeError(f"the validator refused the {table} table written for {self.file_label}: "
                                   f"{problems['problem'].tolist()[:3]}")
            written = frames[table]
            # the validator names the line the row starts on (notes may span lines): find the row by its id
            key = KEY_COLUMNS[table]
            ids = [json.loads(record)[key] for record in problems["record"]]
            lines = written.set_index(key)["_line"]
            self._rejections.append(pd.DataFrame({
                "file": self.file_label, "line": lines.loc[ids].to_numpy(),
                "column": (table + "." + problems["column"]).to_numpy(),
                "value": "", "reason": ("refused by the validator: " + problems["problem"]).to_numpy()}))

    def _quarantine(self, filtered: set[int]) -> pd.DataFrame:
        if not self._rejections:
            return pd.DataFrame(columns=QUARANTINE_COLUMNS)
        rejected = pd.concat(self._rejections, ignore_index=True)
        rejected = rejected.loc[~rejected["line"].isin(filtered)]
        return rejected.sort_values("line", kind="stable").reset_index(drop=True)[QUARANTINE_COLUMNS]

    def _write(self, folder: Path, events, claims, quarantine, mapped: Mapped, meta: dict) -> None:
        package = json.loads(BASE_DATAPACKAGE.read_text(encoding="utf-8"))
        countries = sorted(events["country"].unique())
        parties = mapped.parties(events, claims)
        party_ids = [party["id"] for party in parties]
        _set_enum(package, "events", "country", countries)
        _set_enum(package, "claims", "party", party_ids)
        package["name"] = _slug(Path(meta["file"]).stem, "-") or "imported-case"
        package["title"] = self._title(events, countries)
        for resource in package["resources"]:
            resource.update(path=f"{resource['name']}.parquet", format="parquet")
            resource.pop("encoding", None)
        (folder / "datapackage.json").write_text(json.dumps(package, indent=2, ensure_ascii=False) + "\n",
                                                 encoding="utf-8")
        schemas = {r["name"]: r["schema"] for r in package["resources"]}
        sources = pd.DataFrame([{
            "source_id": self.source_id, "url": self.publisher_url, "publisher": self.publisher,
            "originator": self.publisher, "affiliation": "data_publisher",
            "title": (f"{self.publisher} export {meta['file']} (sha256 {meta['sha256']}, {meta['rows']} rows, "
                      f"imported {meta['imported_at']}); the file itself is kept in raw/"),
            "published_at": "", "accessed_on": self.imported_at.date().isoformat()}])
        frames = {"events": events, "claims": claims, "sources": sources, "displacement": pd.DataFrame()}
        for table in TABLES:
            _write_parquet(frames[table], schemas[table], folder / f"{table}.parquet")
        write_csv(quarantine, folder / QUARANTINE_FILE)  # a rejected cell may be a formula
        (folder / "case.yaml").write_text(self._case_yaml(events, claims, countries, parties, mapped, meta),
                                          encoding="utf-8")

    def _title(self, events: pd.DataFrame, countries: list[str]) -> str:
        days = pd.to_datetime(events["event_date"])
        if not len(days):
            return f"No events ({self.publisher})"
        period = " – ".join(f"{day.day} {day:%B %Y}" for day in (days.min(), days.max()))
        return f"{', '.join(countries) or 'No country'}, {period} ({self.publisher})"

    def _case_yaml(self, events: pd.DataFrame, claims: pd.DataFrame, countries: list[str], parties: list[dict],
                   mapped: Mapped, meta: dict) -> str:
        located = events.loc[events["latitude"] != "", ["country", "latitude", "longitude"]].assign(
            lat=lambda f: f["latitude"].astype(float), lon=lambda f: f["longitude"].astype(float))
        boxes = {country: [_down(g["lat"].min()), _up(g["lat"].max()), _down(g["lon"].min()), _up(g["lon"].max())]
                 for country, g in located.groupby("country")}
        region: dict = {"countries": countries, "boxes": boxes}
        if len(located):
            region["map_extent"] = [_down(located["lon"].min()), _up(located["lon"].max()),
                                    _down(located["lat"].min()), _up(located["lat"].max())]
        total = next(p["id"] for p in parties if p.get("x-total"))
        focal = {"party": total, "measure": "killed", "name": "no event", "deaths_label": mapped.deaths_label}
        totals = claims.loc[claims["party"] == total, [c for c in ("event_id", "value_low", "value_best")
                                                       if c in claims]]
        if len(totals):
            best = totals["value_best"] if "value_best" in totals else pd.Series(pd.NA, index=totals.index)
            deadliest = pd.to_numeric(best).fillna(pd.to_numeric(totals["value_low"])).astype(float).idxmax()
            event = events.loc[events["event_id"] == totals.loc[deadliest, "event_id"]].iloc[0]
            day = pd.Timestamp(event["event_date"])
            focal = {"event_id": event["event_id"], **focal, "name": f"{event['location']}, {day.day} {day:%B %Y}"}
        case = {
            "name": _slug(Path(meta["file"]).stem, "-") or "imported-case",
            "title": self._title(events, countries),
            "description": (f"{len(events)} events imported from the {self.publisher} export {meta['file']} "
                            f"({meta['rows']} rows read; filters: {meta['filters'] or 'none'}). "
                            f"Every figure is {self.publisher}'s, kept as a claim by {self.claimant}."),
            "timezone": self.timezone,
            "known_at": mapped.known_at,
            "region": region,
            "parties": [{k: v for k, v in p.items() if not k.startswith("x-")} for p in parties],
            "focal": focal,
            "key_events": {},
        }
        assumed = "".join(f"# {key}: {value}\n" for key, value in mapped.assumptions.items()) \
            or "# nothing beyond the export\n"
        header = (f"# Case description written by `escalation import {self.name}` from {meta['file']}\n"
                  f"# ({meta['rows']} rows, imported {meta['imported_at']}, sha256 {meta['sha256'][:16]}...;\n"
                  f"# origin, filters and assumptions in raw/{meta['file']}.meta.yml).\n"
                  "# Assumed at import (re-import to change):\n"
                  f"{assumed}"
                  "# Edit the rest freely: titles, parties (labels, colours, which actors belong to which party),\n"
                  "# key_events to annotate, the focal incident (the deadliest event until you choose another).\n")
        return header + yaml.dump(case, Dumper=_CaseDumper, sort_keys=False, allow_unicode=True, width=100)


class _CaseDumper(yaml.SafeDumper):
    """case.yaml for people: no anchors, short lists of plain values on one line."""

    def ignore_aliases(self, data) -> bool:
        return True


_CaseDumper.add_representer(list, lambda dumper, items: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", items, flow_style=all(not isinstance(i, dict | list) for i in items)))


def _write_parquet(frame: pd.DataFrame, schema: dict, path: Path) -> None:
    """A table as Parquet (zstd), each column typed as the schema says (a column with a cell that does not
    convert is stored as text, so the validator names that cell and the row is quarantined)."""
    from escalation.data import stored_column

    columns = {}
    for spec in schema["fields"]:
        values = frame[spec["name"]] if spec["name"] in frame else pd.Series("", index=frame.index)
        if spec.get("type") == "integer" and pd.api.types.is_float_dtype(values):
            values = values.astype("Int64")  # whole numbers held as floats beside missing ones
        columns[spec["name"]] = stored_column(spec, _text_of(values))
    pq.write_table(pa.table(columns), path, compression="zstd")


def _text_of(values: pd.Series) -> pa.Array:
    """A column's cells as text, blank where missing: text and whole numbers cast by Arrow (pandas' own "string"
    made a Python object of each of a million cells), anything else as pandas writes it."""
    kind = values.dtype
    is_text = isinstance(kind, pd.StringDtype) or (isinstance(kind, pd.ArrowDtype)
                                                  and pa.types.is_string(kind.pyarrow_dtype))
    if not (is_text or pd.api.types.is_integer_dtype(kind)):
        return pa.array(values.astype("string").fillna(""), pa.string())
    arrow = pa.array(values)
    arrow = arrow.combine_chunks() if isinstance(arrow, pa.ChunkedArray) else arrow
    return arrow.cast(pa.string()).fill_null("")


def _spill(mapped: Mapped, path: Path) -> None:
    """Move the mapped events and claims to `path` (pickle keeps every dtype exactly), freeing their memory."""
    with path.open("wb") as handle:
        pickle.dump((mapped.events, mapped.claims), handle, protocol=pickle.HIGHEST_PROTOCOL)
    mapped.events = mapped.claims = None


def _unspill(mapped: Mapped, path: Path) -> None:
    """Bring back what `_spill` moved to `path`."""
    with path.open("rb") as handle:
        mapped.events, mapped.claims = pickle.load(handle)


def _set_enum(package: dict, table: str, column: str, values: list[str]) -> None:
    resource = next(r for r in package["resources"] if r["name"] == table)
    spec = next(f for f in resource["schema"]["fields"] if f["name"] == column)
    spec["constraints"]["enum"] = values


def _down(value: float) -> float:
    """Box edges rounded outwards to 3 decimals, so every point stays inside."""
    return math.floor(value * 1000) / 1000


def _up(value: float) -> float:
    return math.ceil(value * 1000) / 1000


def _slug(text: str, joiner: str = "_") -> str:
    return re.sub(r"[^a-z0-9]+", joiner, text.casefold()).strip(joiner)[:60].strip(joiner)


def _scan(export: Path) -> tuple[str, int]:
    """SHA-256 and newline count in one streaming pass; refuses what is missing or not a CSV."""
    label = str(export)
    if not export.exists():
        raise ImportInputError(label, "file not found")
    if not export.is_file():
        raise ImportInputError(label, "not a file")
    digest, newlines = hashlib.sha256(), 0
    with export.open("rb") as handle:
        head = handle.read(4)
        for magic, kind in SPREADSHEET_MAGIC.items():
            if head.startswith(magic):
                raise ImportInputError(label, f"{kind}, not a CSV: save the sheet as CSV (UTF-8) and import that")
        handle.seek(0)
        while chunk := handle.read(1 << 23):
            digest.update(chunk)
            newlines += chunk.count(b"\n")
    if export.stat().st_size == 0:
        raise ImportInputError(label, "empty file")
    return digest.hexdigest(), newlines


def _read_csv(export: Path, newlines: int) -> pd.DataFrame:
    """Every cell as text, in one pass, with `_line`: the line each row starts on (header = 1)."""
    label = str(export)
    try:
        frame = _read_well_formed_csv(export)
        if frame is None:  # pandas reads (or words the fault of) anything out of the ordinary
            frame = pd.read_csv(export, dtype="string[pyarrow]", keep_default_na=False, na_filter=False,
                                encoding="utf-8-sig", skip_blank_lines=False, engine="c")
    except UnicodeDecodeError:
        line, offset = _first_undecodable(export)
        raise ImportInputError(label, f"not UTF-8 text (undecodable byte at character {offset}); "
                               "save the export as CSV UTF-8", line=line) from None
    except pd.errors.EmptyDataError:
        raise ImportInputError(label, "no header and no rows") from None
    except pd.errors.ParserError as error:
        found = re.search(r"line (\d+)|row (\d+)", str(error))
        line = int(next(g for g in found.groups() if g)) if found else None
        detail = str(error).replace("Error tokenizing data. C error: ", "")
        raise ImportInputError(label, f"not a well-formed CSV: {detail}", line=line) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise ImportInputError(label, "a header but no data rows", line=1)
    rows_without_embedded_newlines = newlines - 1 in (len(frame), len(frame) - 1)
    if rows_without_embedded_newlines:
        lines = pd.Series(range(2, len(frame) + 2), index=frame.index)
    else:
        embedded = sum(frame[c].str.count("\n") for c in frame.columns)
        lines = 2 + (1 + embedded).cumsum().shift(fill_value=0)
    frame.insert(0, "_line", lines.astype(int))
    return frame


def _read_well_formed_csv(export: Path) -> pd.DataFrame | None:
    """Every cell as text, read by Arrow's CSV reader (in C, on every core: pandas takes a minute for a million
    rows), when the file is well-formed UTF-8 with one distinct name per column and as many cells on every line;
    else None."""
    try:
        with export.open(encoding="utf-8-sig", newline="") as handle:
            names = next(csv.reader(handle))
        if len(set(names)) < len(names):
            return None
        table = pa_csv.read_csv(export, parse_options=pa_csv.ParseOptions(newlines_in_values=True,
                                                                          ignore_empty_lines=False),
                                convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                                      strings_can_be_null=False))
    except (OSError, UnicodeDecodeError, csv.Error, StopIteration, pa.ArrowException):
        return None
    if table.column_names != names:
        return None
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)


def _first_undecodable(export: Path) -> tuple[int, int]:
    """Line and column (character) of the first byte that is not UTF-8."""
    with export.open("rb") as handle:
        data_line = 1
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                return number, error.start + 1
            data_line = number
    return data_line, 0


def require_columns(label: str, columns, required: list[str], source: str, hint: str = "") -> None:
    """Refuse a header that lacks the columns a source always has, naming them."""
    missing = [c for c in required if c not in columns]
    if missing:
        raise ImportInputError(label, f"{source} columns missing from the header: {', '.join(missing)}{hint}",
                               line=1, column=missing[0])


def stripped(text: pd.Series) -> pd.Series:
    """`text.str.strip()`, or the column itself when no cell has surrounding spaces: the stripped copies of every
    column of a million-row export (its notes above all) were held at once while mapping."""
    trimmed = text.str.strip()
    return text if bool((trimmed.str.len() == text.str.len()).all()) else trimmed


def per_distinct(values: pd.Series, function) -> pd.Series:
    """`function` applied to the distinct values only, spread back: dates, codes and counts repeat a lot."""
    codes, distinct = pd.factorize(values, use_na_sentinel=False)  # a missing value is one of them, not code -1
    result = function(pd.Series(distinct))
    return pd.Series(result.array.take(codes), index=values.index, name=values.name)


def integers(text: pd.Series) -> pd.Series:
    """Whole numbers written as text ('3', '3.0' from a spreadsheet); anything else is missing."""
    def parse(distinct: pd.Series) -> pd.Series:
        cleaned = distinct.astype(str).str.strip()
        whole = cleaned.str.fullmatch(r"-?\d+(\.0+)?")
        return pd.to_numeric(cleaned.where(whole), errors="coerce").astype("Int64")
    return per_distinct(text, parse)


def iso_days(days: pd.Series, form: str = "%Y-%m-%d") -> pd.Series:
    """Days as text (blank where unknown), formatted once per distinct day."""
    return per_distinct(days, lambda d: d.dt.strftime(form).fillna("").astype("string[pyarrow]"))


def numbered(prefix: str, count: int) -> pd.Series:
    """Ids prefix000001, prefix000002, ..."""
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, count + 1)), pa.string()), 6, "0")
    return pd.Series(pd.array(pc.binary_join_element_wise(prefix, digits, ""), dtype="string[pyarrow]"))


def coordinates(frame: pd.DataFrame, importer: Importer) -> None:
    """Quarantine coordinates that are not numbers, out of range, or only half given."""
    for column, limit in (("latitude", 90), ("longitude", 180)):
        text = frame[column].str.strip()
        number = pd.to_numeric(text, errors="coerce")
        importer.reject(frame, (text != "") & number.isna(), column, f"{column} is not a number")
        importer.reject(frame, number.abs() > limit, column, f"{column} is beyond ±{limit}")
    half = (frame["latitude"].str.strip() == "") != (frame["longitude"].str.strip() == "")
    importer.reject(frame, half, "longitude", "latitude and longitude must both be given or both be blank")


def duplicates(frame: pd.DataFrame, column: str, importer: Importer, key: pd.Series | None = None) -> None:
    """Quarantine every repeat of an id (or of `key`, the id as compared) after its first row,
    naming that first line."""
    key = frame[column] if key is None else key
    repeated = key.duplicated(keep="first") & (key != "")
    if repeated.any():
        first_line = pd.Series(frame["_line"].to_numpy(), index=key.to_numpy())
        first_line = first_line[~first_line.index.duplicated()]
        reason = "duplicate id (first on line " + key.map(first_line).astype(str) + ")"
        importer.reject(frame, repeated, column, reason)
