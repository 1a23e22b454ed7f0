"""The repository keeps its promises: pinned dependencies agree, notebooks are committed clean."""

from __future__ import annotations

import json
import tomllib

import yaml

from escalation import jobs, paths


def test_environment_yml_and_pyproject_pin_the_same_versions():
    project = tomllib.loads((paths.ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pinned = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
    environment = yaml.safe_load((paths.ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    conda_pins = {d for d in pip_section if "==" in d}
    assert conda_pins == pinned
    assert all("==" in d for d in pinned), "every dependency is pinned"


def test_report_notebooks_are_committed_without_outputs_and_with_one_parameters_cell():
    notebooks = jobs.discover()
    assert [n.stem for n in notebooks][:3] == ["01_events_overview", "02_casualty_claims", "03_escalation_summary"]
    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(not c["outputs"] and c["execution_count"] is None for c in code), path.name
        tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, path.name


def test_the_explore_notebook_is_committed_clean_and_is_not_built_as_a_report():
    path = paths.NOTEBOOKS_DIR / jobs.EXPLORE_NOTEBOOK
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c["outputs"] and c["execution_count"] is None for c in code)
    assert len([c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]) == 1
    assert nb["metadata"]["kernelspec"]["name"] == "escalation"
    assert path not in jobs.discover() and path.is_file()
