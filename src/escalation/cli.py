"""The `escalation` command: validate the data, build the reports.

Exit codes a scheduler can act on: 0 success; 1 a notebook failed (previous reports kept);
2 bad command line or parameters (nothing ran); 3 data files missing or invalid;
75 another build holds the lock (try again later).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from escalation import paths
from escalation.jobs import CELL_TIMEOUT, REPORT_TIMEOUT

EXIT_FAILED, EXIT_USAGE, EXIT_DATA, EXIT_LOCKED = 1, 2, 3, 75


@click.group()
@click.version_option(package_name="escalation")
def main() -> None:
    """Analytical reports on conflict escalation; each case is a data folder with a case.yaml."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    for chatty in ("kaleido", "choreographer", "logistro", "papermill", "traitlets"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


@main.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=paths.DATA_DIR, show_default=True,
              help="Folder holding the CSV tables (and their datapackage.json).")
@click.option("--quarantine", "quarantine_csv", type=click.Path(path_type=Path),
              help="Also write the rows kept aside, with their reasons, to this CSV.")
def validate(data_dir: Path, quarantine_csv: Path | None) -> None:
    """Check case.yaml and every table against datapackage.json; exit 3 on any problem (rows kept aside included)."""
    from escalation import validated
    from escalation.csvsafe import write_csv
    from escalation.data import DataError

    if quarantine_csv and not quarantine_csv.parent.is_dir():
        click.echo(f"error: --quarantine {quarantine_csv}: no such folder {quarantine_csv.parent}", err=True)
        sys.exit(EXIT_USAGE)
    try:
        tables = validated.load(data_dir, refresh=True)  # checked now, and kept for the reports' kernels
    except DataError as error:
        click.echo("error: " + "\n  ".join(str(p) for p in error.problems), err=True)
        sys.exit(EXIT_DATA)
    click.echo(tables.summary())
    if quarantine_csv:
        try:
            write_csv(tables.quarantine, quarantine_csv)
        except OSError as error:
            click.echo(f"error: --quarantine {quarantine_csv}: cannot write it ({error.strerror or error})", err=True)
            sys.exit(EXIT_USAGE)
    if tables.problems:
        sys.exit(EXIT_DATA)


@main.command("data-dictionary")
@click.option("--data-dir", type=click.Path(path_type=Path), default=paths.DATA_DIR, show_default=True)
def data_dictionary(data_dir: Path) -> None:
    """Print the data dictionary (Markdown) generated from datapackage.json, for data/README.md."""
    from escalation.data import data_dictionary as generate

    click.echo(generate(data_dir), nl=False)


def _common_build_options(function):
    """Options shared by `build` and `backfill`."""
    options = [
        click.option("--param", "-p", "pairs", multiple=True, metavar="KEY=VALUE",
                     help="A notebook parameter (repeatable): data_dir, start, end, as_of, week_start."),
        click.option("--params-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="YAML mapping of parameters; --param values override it."),
        click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
                     default=paths.REPORTS_DIR, show_default=True,
                     help="Where the HTML reports, tables, manifests and index go."),
        click.option("--figures", "figures_dir", type=click.Path(file_okay=False, path_type=Path),
                     help="Where PNG and SVG figures go [default: figures/ for the default --out, else <out>/figures]."
                     ),
        click.option("--notebooks", "notebooks_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
                     default=paths.NOTEBOOKS_DIR, show_default=True, help="Folder of NN_name.ipynb notebooks."),
        click.option("--workers", type=click.IntRange(1, 16),
                     help="Worker processes (each with a kernel and a Chromium) on this machine "
                          "[default: one per two cores]."),
        click.option("--executor", "executor_name", type=click.Choice(["local", "dask"]), default="local",
                     show_default=True, help="Run the reports on this machine or on a Dask cluster (see --scheduler)."),
        click.option("--scheduler", metavar="ADDRESS",
                     help="The Dask scheduler for --executor dask, e.g. tcp://10.0.0.5:8786."),
        click.option("--wait/--no-wait", default=False, show_default=True,
                     help="Wait for another running build instead of exiting with code 75."),
        click.option("--force", is_flag=True, help="Rebuild reports whose inputs have not changed."),
        click.option("--build-time", metavar="ISO-8601",
                     help="Time printed in the reports (default: SOURCE_DATE_EPOCH, else the commit's time)."),
        click.option("--progress/--no-progress", default=None,
                     help="Progress bar (default: only when stderr is a terminal)."),
        click.option("--cell-timeout", type=click.FloatRange(min=1), default=CELL_TIMEOUT, show_default=True,
                     metavar="SECONDS", help="A cell running longer is interrupted and its report fails."),
        click.option("--report-timeout", type=click.FloatRange(min=1), default=REPORT_TIMEOUT, show_default=True,
                     metavar="SECONDS", help="A report (kernel, cells, HTML, figures) taking longer is stopped."),
        click.option("--self-contained", is_flag=True,
                     help="Inline plotly.js in every report (about 5 MB each), for a report that travels alone; "
                          "by default the reports of an output folder share one copy in <out>/_assets/."),
        click.option("--wide-period", is_flag=True,
                     help="Build a period reaching far beyond the data (refused otherwise: it is slow and empty)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _checked_values(pairs, params_file, notebooks, declared_by=None, set_per_report=None) -> dict:
    """Parameters from the file and the command line, checked against the notebooks (exit 2 if wrong)."""
    from escalation import params

    try:
        values = params.read_params_file(params_file) if params_file else {}
        values.update(params.parse_pairs(pairs))
        if not values:
            return {}
        return params.check(values, declared_by or params.declared(notebooks), set_per_report)
    except params.ParameterError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_USAGE)


def _run(jobs, options: dict, all_or_nothing: bool) -> None:
    from escalation import build as builder

    try:
        result = builder.run(jobs, out_dir=options["out_dir"], figures_dir=options["figures_dir"],
                             workers=options["workers"], wait=options["wait"], progress=options["progress"],
                             force=options["force"], all_or_nothing=all_or_nothing,
                             generated_at=options["build_time"], cell_timeout=options["cell_timeout"],
                             report_timeout=options["report_timeout"], wide_period=options["wide_period"],
                             executor_name=options["executor_name"], scheduler=options["scheduler"],
                             self_contained=options["self_contained"])
    except builder.UsageError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    except builder.LockedError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_LOCKED)
    except builder.InputError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_DATA)
    except builder.BuildError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_FAILED)
    for item in result.results:
        click.echo(f"{item.name}: {item.status}, {item.html_bytes / 1e6:.1f} MB, {len(item.figures)} chart(s), "
                   f"{item.seconds}")
    click.echo(f"{len(result.results)} built, {len(result.skipped)} unchanged; index: {result.out_dir / 'index.html'}")


@main.command()
@_common_build_options
def build(pairs, params_file, notebooks_dir, **options) -> None:
    """Execute every report notebook with papermill and publish HTML reports and figures."""
    from escalation import jobs as report_jobs
    from escalation import params

    notebooks = report_jobs.discover(notebooks_dir)
    if not notebooks:
        click.echo(f"error: no report notebooks (NN_name.ipynb) in {notebooks_dir}", err=True)
        sys.exit(EXIT_USAGE)
    declared_by = params.declared(notebooks)
    values = _checked_values(pairs, params_file, notebooks, declared_by)
    _run(report_jobs.report_jobs(values, notebooks, declared_by), options, all_or_nothing=True)


@main.command()
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), required=True, help="First day (ISO date).")
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), required=True, help="Last day (ISO date).")
@_common_build_options
def backfill(first, last, pairs, params_file, notebooks_dir, **options) -> None:
    """One daily situation report per day, as of 23:59 in the case's time zone, into <out>/daily/YYYY-MM-DD/.

    Reports whose inputs did not change are skipped, so a scheduler can run this every day."""
    from escalation import jobs as report_jobs

    notebook = notebooks_dir / report_jobs.DAILY_NOTEBOOK
    if not notebook.is_file():
        click.echo(f"error: {notebook} not found", err=True)
        sys.exit(EXIT_USAGE)
    per_day = "set per day by backfill (--from, --to)"
    values = _checked_values(pairs, params_file, [notebook], set_per_report={"end": per_day, "as_of": per_day})
    if str(values.get("start") or "") > first.date().isoformat():
        click.echo(f"error: invalid parameters:\n  start={values['start']!r} is after the first day, --from "
                   f"{first.date()}", err=True)
        sys.exit(EXIT_USAGE)
    try:
        jobs = report_jobs.daily_jobs(first.date(), last.date(), values, notebook)
    except ValueError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    _run(jobs, options, all_or_nothing=False)


@main.command("import")
@click.argument("source", metavar="acled|ucdp")
@click.argument("export", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The case folder to write (tables, datapackage.json, case.yaml, raw/, quarantine.csv).")
@click.option("--country", "countries", multiple=True, help="Keep only this country (repeatable).")
@click.option("--admin1", multiple=True, help="Keep only this first-level region (repeatable).")
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), help="First event day kept (ISO date).")
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), help="Last event day kept (ISO date).")
@click.option("--timezone", default="UTC", show_default=True, help="IANA zone in which the case's days end.")
@click.option("--reporting-lag-days", type=click.IntRange(0), default=None,
              help="ACLED only: days after the event date from which an event counts as known (default 7).")
@click.option("--force", is_flag=True, help="Replace the folder if it is not empty.")
def import_export(source, export, out_dir, countries, admin1, first, last, timezone, reporting_lag_days,
                  force) -> None:
    """Turn an ACLED export or a UCDP GED file into a case folder that `build --param data_dir=DIR` reads."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from escalation.importers import Filters, ImportInputError, get_importer

    try:
        importer_class = get_importer(source)
    except KeyError as error:
        click.echo(f"error: {error.args[0]}", err=True)
        sys.exit(EXIT_USAGE)
    try:
        ZoneInfo(timezone)
    except (ValueError, ZoneInfoNotFoundError):
        click.echo(f"error: --timezone {timezone!r} is not an IANA time zone (e.g. UTC, Africa/Bamako)", err=True)
        sys.exit(EXIT_USAGE)
    options = {"timezone": timezone}
    if reporting_lag_days is not None:
        if not hasattr(importer_class, "reporting_lag_days"):
            click.echo(f"error: --reporting-lag-days does not apply to {source}", err=True)
            sys.exit(EXIT_USAGE)
        options["reporting_lag_days"] = reporting_lag_days
    filters = Filters(tuple(countries), tuple(admin1), first.date() if first else None, last.date() if last else None)
    try:
        result = importer_class(**options).run(export, out_dir, filters, force=force)
    except ImportInputError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_DATA)
    except FileExistsError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(result.summary())
