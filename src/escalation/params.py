"""Report parameters: read from the notebooks' `parameters` cells, checked before any kernel starts.

papermill only warns about a parameter no notebook declares and passes any value through; a
scheduled build must instead stop at once on a misspelt name or a malformed value.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path

import yaml

from escalation.incremental import kept_json, library_versions

#: Parameters the build sets itself; a user cannot override them.
INTERNAL = {"output_dir"}


class ParameterError(ValueError):
    """A parameter that no notebook declares, or a value of the wrong form."""


def _iso_date(value: str) -> str:
    date.fromisoformat(value)
    return value


def _moment(value: str) -> str:
    if value == "":
        return value
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("needs a UTC offset, e.g. 2020-02-28T03:00:00+03:00")
    return value


def _directory(value: str) -> str:
    if not Path(value).expanduser().is_dir():
        raise ValueError(f"no such directory: {value}")
    return str(Path(value).expanduser().resolve())


def _week_start(value: str) -> str:
    if value not in ("monday", "saturday"):
        raise ValueError("expected 'monday' (ISO weeks) or 'saturday' (ACLED's weeks)")
    return value


#: How each known parameter is checked; the value returned is what the notebook receives.
CHECKS: dict[str, Callable[[str], str]] = {
    "start": _iso_date,
    "end": _iso_date,
    "as_of": _moment,
    "data_dir": _directory,
    "week_start": _week_start,
}


def declared(notebooks: Iterable[Path]) -> dict[Path, dict[str, dict]]:
    """The parameters each notebook declares in its cell tagged `parameters`, as papermill reads them."""
    return {nb: _declared(nb) for nb in notebooks}


def _declared(notebook: Path) -> dict[str, dict]:
    """papermill's reading of one notebook, kept in the key cache under the notebook's content and papermill's
    version: a run after no change does not import papermill (over a second) to read the same cell again."""
    key = hashlib.sha256(notebook.read_bytes() + b"\0papermill " + library_versions()["papermill"].encode())

    def inspect() -> dict[str, dict]:
        import papermill

        return papermill.inspect_notebook(str(notebook))

    return kept_json(f"parameters/{key.hexdigest()}.json", inspect)


def parse_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """`KEY=VALUE` strings from the command line."""
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--param {pair!r}: expected KEY=VALUE")
        values[key.strip()] = value
    return values


def read_params_file(path: Path) -> dict[str, str]:
    """A YAML mapping of parameters; values are kept as the text the user wrote."""
    try:
        content = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ParameterError(f"{path}: cannot read parameters: {error}") from error
    if not isinstance(content, dict):
        raise ParameterError(f"{path}: expected a mapping of parameter names to values")
    return {str(k): v.isoformat() if isinstance(v, date | datetime) else str(v) for k, v in content.items()}


def check(values: dict[str, str], declared_by: dict[Path, dict[str, dict]],
          set_per_report: dict[str, str] | None = None) -> dict[str, object]:
    """Reject unknown names and malformed values; returns the values converted for the notebooks.
    `set_per_report` names the parameters the command sets for each report itself (with why), e.g. a backfill's
    `end`: a user may not give them, and their defaults do not apply."""
    set_per_report = set_per_report or {}
    known: dict[str, dict] = {}
    for params in declared_by.values():
        known.update(params)
    errors, checked = [], {}
    for key, value in values.items():
        if key in INTERNAL:
            errors.append(f"{key}: set by the build, not a user parameter")
            continue
        if key in set_per_report:
            errors.append(f"{key}: {set_per_report[key]}")
            continue
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            errors.append(f"{key}: no notebook declares this parameter{suggestion}; "
                          f"known: {', '.join(sorted(set(known) - INTERNAL))}")
            continue
        try:
            checked[key] = _convert(key, value, known[key])
        except (ValueError, TypeError) as error:
            errors.append(f"{key}={value!r}: {error}")
    if errors:
        raise ParameterError("invalid parameters:\n  " + "\n  ".join(errors))
    if ("start" in checked or "end" in checked) and "end" not in set_per_report:
        start = checked.get("start", default_value(known["start"]) if "start" in known else None)
        end = checked.get("end", default_value(known["end"]) if "end" in known else None)
        if start and end and str(end) < str(start):
            raise ParameterError(f"invalid parameters:\n  end={end!r} is before start={start!r}")
    return checked


def default_value(spec: dict) -> str:
    """A declared parameter's default as the text the notebook assigns (papermill keeps the quotes)."""
    return str(spec.get("default", "")).strip("'\"")


def _convert(key: str, value: str, spec: dict) -> object:
    if key in CHECKS:
        return CHECKS[key](str(value))
    kind = spec.get("inferred_type_name", "None")
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        lowered = str(value).lower()
        if lowered not in {"true", "false"}:
            raise ValueError("expected true or false")
        return lowered == "true"
    return str(value)


def for_notebook(checked: dict[str, object], declared_params: dict[str, dict]) -> dict[str, object]:
    """The subset of parameters a notebook declares (others would only draw papermill warnings)."""
    return {k: v for k, v in checked.items() if k in declared_params}
