"""Parameters are checked against the notebooks' `parameters` cells before any kernel starts."""

from __future__ import annotations

import pytest

from escalation import jobs, params

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
