"""Parameters are checked against the notebooks' `parameters` cells before any kernel starts."""

from __future__ import annotations

import pytest

from escalation import jobs, params, paths

NOTEBOOKS = jobs.discover()


@pytest.fixture(scope="module")
def declared():
    return params.declared(NOTEBOOKS)


def test_every_report_notebook_declares_the_common_parameters(declared):
    assert len(NOTEBOOKS) >= 3
    for notebook, found in declared.items():
        assert {"data_dir", "start", "end", "as_of", "output_dir"} <= set(found), notebook.name


def test_defaults_are_the_idlib_february_2020_case(declared):
    found = next(iter(declared.values()))
    assert found["start"]["default"].strip("'\"") == "2020-02-01"
    assert found["end"]["default"].strip("'\"") == "2020-03-06"


def test_unknown_parameter_is_an_error_with_a_suggestion(declared):
    with pytest.raises(params.ParameterError) as raised:
        params.check({"asof": "2020-02-28T03:00:00+03:00"}, declared)
    message = str(raised.value)
    assert "asof: no notebook declares this parameter" in message
    assert "did you mean 'as_of'" in message


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("start", "2020-02-31", "start='2020-02-31'"),
        ("end", "next tuesday", "end='next tuesday'"),
        ("as_of", "2020-02-28T03:00:00", "needs a UTC offset"),
        ("data_dir", "/no/such/folder", "no such directory"),
    ],
)
def test_malformed_values_are_errors(declared, key, value, fragment):
    with pytest.raises(params.ParameterError) as raised:
        params.check({key: value}, declared)
    assert fragment in str(raised.value)


def test_end_before_start_is_an_error(declared):
    with pytest.raises(params.ParameterError, match="end='2020-01-01' is before start"):
        params.check({"end": "2020-01-01"}, declared)


def test_output_dir_is_reserved_for_the_build(declared):
    with pytest.raises(params.ParameterError, match="set by the build"):
        params.check({"output_dir": "/tmp"}, declared)


def test_valid_values_pass_through(declared, tmp_path):
    checked = params.check({"as_of": "2020-02-28T03:00:00+03:00", "data_dir": str(tmp_path)}, declared)
    assert checked == {"as_of": "2020-02-28T03:00:00+03:00", "data_dir": str(tmp_path.resolve())}


def test_params_file_and_pairs(tmp_path):
    file = tmp_path / "p.yaml"
    file.write_text("start: 2020-02-10\nas_of: '2020-02-28T03:00:00+03:00'\n", encoding="utf-8")
    assert params.read_params_file(file) == {"start": "2020-02-10", "as_of": "2020-02-28T03:00:00+03:00"}
    assert params.parse_pairs(["end=2020-02-29"]) == {"end": "2020-02-29"}
    with pytest.raises(params.ParameterError, match="expected KEY=VALUE"):
        params.parse_pairs(["end"])


def test_declared_parameters_are_read_again_only_when_the_notebook_changes(tmp_path, monkeypatch):
    import papermill

    notebook = tmp_path / "04_daily_situation_report.ipynb"
    notebook.write_text((paths.NOTEBOOKS_DIR / notebook.name).read_text(encoding="utf-8"), encoding="utf-8")
    inspected, inspect = [], papermill.inspect_notebook

    def inspect_notebook(path):
        inspected.append(path)
        return inspect(path)

    monkeypatch.setattr(papermill, "inspect_notebook", inspect_notebook)
    monkeypatch.setattr("escalation.incremental.cache_dir", lambda: tmp_path / "key-cache")
    first = params.declared([notebook])[notebook]
    assert params.declared([notebook])[notebook] == first
    assert len(inspected) == 1, "an unchanged notebook is read from the key cache"
    text = notebook.read_text(encoding="utf-8")
    assert '\\"2020-02-01\\"' in text
    notebook.write_text(text.replace('\\"2020-02-01\\"', '\\"2020-01-15\\"', 1), encoding="utf-8")
    changed = params.declared([notebook])[notebook]
    assert len(inspected) == 2
    assert params.default_value(first["start"]) == "2020-02-01"
    assert params.default_value(changed["start"]) == "2020-01-15"


def test_parameters_set_per_report_are_refused_and_their_defaults_not_compared(declared):
    per_day = {"end": "set per day by backfill (--from, --to)"}
    with pytest.raises(params.ParameterError, match=r"end: set per day by backfill \(--from, --to\)"):
        params.check({"end": "2020-02-10"}, declared, per_day)
    with pytest.raises(params.ParameterError, match="end='2020-03-06' is before start='2024-11-27'"):
        params.check({"start": "2024-11-27"}, declared)
    assert params.check({"start": "2024-11-27"}, declared, per_day) == {"start": "2024-11-27"}


@pytest.mark.parametrize(("given", "message"), [
    (["--param", "start=2020-02-10"], "start='2020-02-10' is after the first day, --from 2020-02-01"),
    (["--param", "as_of=2020-02-28T03:00:00+03:00"], "as_of: set per day by backfill (--from, --to)"),
])
def test_backfill_refuses_a_start_after_its_first_day_and_a_moment_of_its_own(given, message, tmp_path):
    from click.testing import CliRunner

    from escalation.cli import main

    result = CliRunner().invoke(main, ["backfill", "--from", "2020-02-01", "--to", "2020-02-03", "--out",
                                       str(tmp_path / "reports"), *given])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "reports").exists(), "nothing ran"
