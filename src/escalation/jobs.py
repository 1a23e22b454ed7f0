"""Which reports a build makes: one job per report notebook, or one per day for the daily situation report,
each with the parameters it runs with and every declared parameter shown with its value or default; and
what a worker sends back for each."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from escalation import incremental, paths
from escalation.moments import end_of_day
from escalation.params import default_value, for_notebook

DAILY_NOTEBOOK = "04_daily_situation_report.ipynb"
EXPLORE_NOTEBOOK = "00_explore.ipynb"  # interactive quick start for JupyterLab, not a report
#: Default limits in seconds: one cell, and one whole report (kernel reset, execution, HTML, figures).
CELL_TIMEOUT, REPORT_TIMEOUT = 300.0, 1200.0


@dataclass
class ReportJob:
    """One report to build: a notebook, where its report goes, and the parameters it runs with."""

    notebook: Path
    name: str  # folder under the output folder, e.g. "01_events_overview" or "daily/2020-02-27"
    html_name: str
    parameters: dict  # passed to papermill
    shown: dict  # every declared parameter with its value or default, for header, manifest and key
    nav: dict = field(default_factory=dict)  # links to neighbouring reports, relative to the report

    @property
    def figures_subdir(self) -> str:
        """Figures of the main reports go to figures/, those of daily/<day> to figures/daily/<day>/."""
        return self.name if "/" in self.name else ""

    @property
    def data_dir(self) -> Path:
        """The data folder: as given, else the notebook's default (read from the notebook's folder)."""
        given = Path(str(self.parameters.get("data_dir") or self.shown.get("data_dir") or paths.DATA_DIR))
        return given if given.is_absolute() else (self.notebook.parent / given).resolve()


@dataclass
class NotebookResult:
    """What a worker sends back for one report."""

    name: str
    status: str
    seconds: dict[str, float] = field(default_factory=dict)
    error: str = ""
    html_bytes: int = 0
    figures: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)


def label(payload: dict) -> str:
    """How failures name a report: its notebook and report name, e.g. '04_daily.ipynb (daily/2020-02-27)'."""
    return f"{Path(payload['input']).name} ({payload['name']})"


def discover(notebooks_dir: Path = paths.NOTEBOOKS_DIR) -> list[Path]:
    """Report notebooks: numbered, e.g. `01_events_overview.ipynb`; the daily report is built by backfill, the
    explore notebook is not a report."""
    return sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb")
                  if p.is_file() and p.name not in (DAILY_NOTEBOOK, EXPLORE_NOTEBOOK))


def report_jobs(values: dict[str, object], notebooks: list[Path], declared_by: dict[Path, dict]) -> list[ReportJob]:
    """One job per report notebook, with the parameters it declares."""
    jobs = []
    for nb in notebooks:
        declared_params = declared_by[nb]
        params = for_notebook(values, declared_params)
        jobs.append(ReportJob(nb, nb.stem, f"{nb.stem}.html", params, shown(params, declared_params)))
    return jobs


def daily_jobs(first: date, last: date, values: dict[str, object], notebook: Path) -> list[ReportJob]:
    """One situation report per day, as of 23:59 in the case's time zone, linked to the days before and after."""
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    probe = ReportJob(notebook, "", "", values, {})
    fill_shown([probe])
    zone = incremental.case_zone(probe.data_dir)
    jobs = []
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    for index, day in enumerate(days):
        params = {**values, "end": day.isoformat(), "as_of": end_of_day(day, zone).isoformat()}
        nav = {}
        if index > 0:
            nav["previous"] = (f"../{days[index - 1]}/situation_report_{days[index - 1]}.html", f"{days[index - 1]}")
        if index < len(days) - 1:
            nav["next"] = (f"../{days[index + 1]}/situation_report_{days[index + 1]}.html", f"{days[index + 1]}")
        jobs.append(ReportJob(notebook, f"daily/{day}", f"situation_report_{day}.html", params, {}, nav))
    return jobs


def shown(parameters: dict, declared_params: dict[str, dict]) -> dict[str, str]:
    """Every declared parameter with the value given or its default (the build's own output_dir left out)."""
    return {k: str(parameters[k]) if k in parameters else default_value(spec)
            for k, spec in declared_params.items() if k != "output_dir"}


def fill_shown(jobs: list[ReportJob]) -> None:
    """Every declared parameter with its value or default, read from the notebooks only when needed."""
    from escalation.params import declared

    missing = sorted({job.notebook for job in jobs if not job.shown})
    declared_by = declared(missing) if missing else {}
    for job in jobs:
        if not job.shown:
            job.shown = shown(job.parameters, declared_by[job.notebook])


def window_label(job: ReportJob) -> str:
    """The moment the report describes, as its header prints it; empty when its parameters give none."""
    from escalation.metrics import Window

    try:
        return Window.from_params(job.shown["start"], job.shown["end"], job.shown.get("as_of") or None,
                                  zone=incremental.case_zone(job.data_dir)).label()
    except (KeyError, ValueError):
        return ""
