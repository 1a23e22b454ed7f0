"""What a notebook calls to show a chart: one call displays it and files its table and figure.

In JupyterLab the chart is interactive (Plotly's mimetype); in the exported HTML it is a div
drawn by the plotly.js the page inlines once. When the build passes an `output_dir`, the
figure JSON and the table behind it are written there for the build to turn into
`figures/<slug>.png|svg` and `<report>/tables/<slug>.csv`. Headings and prose that belong to
the case come from case.yaml's `text` (`heading`, `prose`), so the notebooks hold none.

JupyterLab shows only the richest mimetype of an output, so the caption and the table behind each
chart also go out in a second, Lab-only output (tagged `LAB_ONLY`) that the HTML export drops: the
report shows each chart once, with its caption and table once.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.io as pio
from IPython.display import HTML, Markdown, display

from escalation import charts, grading, metrics
from escalation.case import Case
from escalation.charts import DAY_MS, Chart
from escalation.csvsafe import write_csv
from escalation.data import Tables, is_web_url
from escalation.lab_only import LAB_ONLY
from escalation.metrics import Window

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

#: Tables in Lab: text left-aligned, colours from Lab's theme (light or dark).
LAB_STYLE = """<style>
.jp-RenderedHTMLCommon .escalation-table td, .jp-RenderedHTMLCommon .escalation-table th,
.jp-RenderedHTMLCommon .escalation-caption td, .jp-RenderedHTMLCommon .escalation-caption th {
  text-align: left; vertical-align: top; }
.jp-RenderedHTMLCommon .escalation-caption { font-size: .9rem; max-width: 1000px; }
.jp-RenderedHTMLCommon .escalation-caption summary { cursor: pointer; }
</style>"""
#: Tables longer than this are folded under a summary line...
FOLD_ROWS = 15
#: ...and longer than this show only their first rows, with a link to the full CSV beside the report.
SHOWN_ROWS = 200


class Report:
    """Collects the charts and tables a notebook shows, for the build to export."""

    def __init__(self, output_dir: str | Path | None, case: Case):
        self.output_dir = Path(output_dir) if output_dir else None
        self.case = case
        self._figures: pd.DataFrame | None = None
        self._figures_for: Window | None = None
        if self.output_dir:
            (self.output_dir / "tables").mkdir(parents=True, exist_ok=True)
            (self.output_dir / "figures").mkdir(parents=True, exist_ok=True)

    def heading(self, key: str, default: str, level: int = 2) -> None:
        """A heading from case.yaml's `text.<key>`, else `default` (generic, with {focal} for the focal
        incident's name, {party} for the focal party's label and {title} for the case title); the HTML
        report's contents list it."""
        display(Markdown(f"{'#' * level} {self.text(key, default)}"))

    def prose(self, key: str, default: str = "") -> None:
        """A paragraph from case.yaml's `text.<key>`, else `default`; nothing when both are empty."""
        text = self.text(key, default)
        if text:
            display(Markdown(text))

    def text(self, key: str, default: str) -> str:
        case = self.case
        return case.text.get(key) or default.format(focal=case.focal.name, title=case.title,
                                                    party=case.party_label(case.focal.party))

    def chart(self, chart: Chart, tables: Tables, window: Window, caption: str = "") -> None:
        """Build, display and file one chart with the table it is drawn from."""
        fig = chart(tables, window)
        for index, trace in enumerate(fig.data):  # plotly.js would draw random ids into SVG exports
            trace.uid = f"{chart.slug}-{index}"
            _days_as_dates(trace)
        table = chart.table(tables, window)
        meta = fig.layout.meta or {}
        alt = meta.get("alt") or fig.layout.title.text or chart.slug
        caption = " ".join(filter(None, [caption, meta.get("caption", "")]))
        details = (f"<details><summary>Data behind this chart ({len(table)} rows)</summary>"
                   f'<div class="escalation-table">{_html_table(table, self.case.timezone, chart.slug)}</div>'
                   "</details>")
        # The figure is turned into plain data once: the page keeps the trace ids, the JSON for Lab and kaleido
        # drops them (as plotly's `to_json` does).
        with_ids = json.loads(pio.to_json(fig, remove_uids=False))
        figure = {**with_ids, "data": [{key: value for key, value in trace.items() if key != "uid"}
                                       for trace in with_ids["data"]]}
        html = (  # a figure named by its caption; no role="img" around Plotly's buttons (nested-interactive)
            f'<figure class="escalation-chart" id="figure-{chart.slug}" data-slug="{chart.slug}">'
            + pio.to_html(with_ids, validate=False, full_html=False, include_plotlyjs=False,
                          div_id=f"chart-{chart.slug}", config=PLOTLY_CONFIG)
            + f"<figcaption><strong>{escape(alt)}</strong> {escape(caption)}</figcaption>{details}</figure>"
        )
        display({"application/vnd.plotly.v1+json": figure, "text/html": html}, raw=True)
        display({"text/html": f'{LAB_STYLE}<div class="escalation-caption"><p><strong>{escape(alt)}</strong> '
                              f"{escape(caption)}</p>{details}</div>"}, raw=True, metadata={LAB_ONLY: True})
        if self.output_dir:
            (self.output_dir / "figures" / f"{chart.slug}.json").write_text(pio.to_json(figure, validate=False),
                                                                            encoding="utf-8")
            write_csv(table, self.output_dir / "tables" / f"{chart.slug}.csv")

    def table(self, table: pd.DataFrame, slug: str, caption: str = "") -> None:
        """Show a table and file it as `tables/<slug>.csv`."""
        shown = _folded(_html_table(table, self.case.timezone, slug), len(table))
        display(HTML(f'<div class="escalation-table"><p>{escape(caption)}</p>{shown}</div>'))
        if self.output_dir:
            write_csv(table, self.output_dir / "tables" / f"{slug}.csv")

    def key_figures(self, tables: Tables, window: Window) -> None:
        """The period's headline numbers as ranges, each linked to the sources behind it."""
        figures = self._key_figures(tables, window)
        shown = figures.head(SHOWN_ROWS)
        publishers = dict(zip(tables.sources["source_id"], tables.sources["publisher"]))
        named = tables.events.loc[tables.events["event_id"].isin(_event_ids(shown, tables))]
        places = {e.event_id: f"{charts.place(e.location, width=60)}, {pd.Timestamp(e.event_date):%d %b}"
                  for e in named.itertuples()}
        rows = []
        for row in shown.itertuples():
            ids = [i for i in str(row.source_ids).split(";") if i]
            links = ", ".join(f'<a href="#{i}">{escape(str(publishers.get(i, i)))}</a>' for i in ids[:12])
            more = f" and {len(ids) - 12} more" if len(ids) > 12 else ""
            span = f"{row.value_low:,}" if row.value_low == row.value_high else f"{row.value_low:,}–{row.value_high:,}"
            label = escape(_figure_label(row.figure, places, tables))
            rows.append(f"<tr><td>{label}</td><td><strong>{span}</strong></td><td>{_weight(row)}</td>"
                        f"<td>{links}{more}</td></tr>")
        display(HTML('<div class="escalation-table"><table class="key-figures"><thead><tr><th>Figure</th>'
                     "<th>Range claimed</th><th>How firm</th><th>Sources</th></tr></thead><tbody>" + "".join(rows)
                     + f"</tbody></table>{_more_rows(len(shown), len(figures), 'key_figures')}"
                     f"<p>{escape(metrics.BEST_RULE)} {escape(grading.GRADE_RULE)}</p></div>"))

    def sources(self, tables: Tables, window: Window) -> None:
        """Every page cited by the events and claims of the period, with an anchor per source id."""
        events = metrics.known_events(tables, window)
        claims = tables.claims  # the pages of the claims known at as_of (known_claims without its copy)
        known = window.known(claims["published_at"]).to_numpy(dtype=bool, na_value=False)
        cited = set(metrics.cited_ids(events["source_ids"])) | set(claims["source_id"][known].dropna().unique())
        cited |= set(metrics.displacement_series(tables, window)["source_id"].dropna().unique())
        listed = tables.sources.loc[tables.sources["source_id"].isin(cited)].sort_values("publisher")
        if self.output_dir:
            write_csv(listed, self.output_dir / "tables" / "sources.csv")
        rows = "".join(
            f'<tr id="{escape(r.source_id)}"><td><code>{escape(r.source_id)}</code></td><td>{escape(r.publisher)}'
            f"{'' if r.originator == r.publisher else ' (from ' + escape(r.originator) + ')'}</td>"
            f"<td>{_link(r.url, r.title)}</td>"
            f"<td>{_moment(r.published_at, r.published_at_precision, window.zone)}</td></tr>"
            for r in listed.head(SHOWN_ROWS).itertuples())
        listing = ('<table class="sources"><thead><tr><th>id</th><th>Publisher (originator)</th><th>Page</th>'
                   f"<th>Published</th></tr></thead><tbody>{rows}</tbody></table>"
                   + _more_rows(min(len(listed), SHOWN_ROWS), len(listed), "sources"))
        display(HTML(f'<div class="escalation-table"><p>{len(listed)} sources.</p>{_folded(listing, len(listed))}'
                     "</div>"))

    def overview(self, tables: Tables, window: Window) -> None:
        """State the moment described and the data used; file `key_figures.csv` for every report."""
        display({"text/html": LAB_STYLE}, raw=True, metadata={LAB_ONLY: True})
        counts = tables.counts()
        read = ", ".join(f"{c.accepted} {c.table}" for c in counts.itertuples())
        case = tables.case
        if case.description:
            display(HTML(f'<p class="case-description">{escape(case.description)}</p>'))
        display(HTML(f"<p><strong>{escape(window.label())}.</strong> Data: {escape(read)} rows accepted "
                     f"from <code>{escape(str(tables.data_dir))}</code>.</p>"))
        quarantined = int(counts["quarantined"].sum())
        if quarantined:
            display(HTML(f'<p class="quarantine-warning">{quarantined} row(s) failed validation and are left '
                         "out of every figure; run <code>escalation validate</code> for the reasons.</p>"))
        if self.output_dir:
            write_csv(self._key_figures(tables, window), self.output_dir / "tables" / "key_figures.csv")

    def _key_figures(self, tables: Tables, window: Window) -> pd.DataFrame:
        """metrics.key_figures, computed once per window for the CSV and the table shown."""
        if self._figures_for is not window:
            self._figures, self._figures_for = metrics.key_figures(tables, window), window
        return self._figures


#: A daily series at least this long is written as its first day and a one-day step, not day by day.
DAILY_STEP_FROM = 400


def _days_as_dates(trace) -> None:
    """Whole days written as '2020-02-01' instead of plotly's '2020-02-01T00:00:00.000000000' (a third of the
    bytes), and a long run of consecutive days as its first day and a step (x0, dx): ten years of daily
    bars then weigh their values only."""
    for axis in ("x", "y"):
        values = getattr(trace, axis, None)
        if not (isinstance(values, np.ndarray) and np.issubdtype(values.dtype, np.datetime64)):
            continue
        days = values.astype("datetime64[D]")
        if not (days == values).all():
            continue
        steps = np.diff(days).astype("int64")
        if axis == "x" and len(days) >= DAILY_STEP_FROM and (steps == 1).all() and "x0" in trace:
            trace.update(x=None, x0=str(days[0]), dx=DAY_MS)
        else:
            setattr(trace, axis, np.datetime_as_string(days, unit="D"))


def _weight(row) -> str:
    """How much of a death range rests on incidents nobody has confirmed, in words."""
    if isinstance(row.grade, str) and row.grade:
        return escape(row.grade)
    parts = [f"{int(value):,} of the high edge rests on {kind} claims"
             for value, kind in ((row.high_single_source, "single-source"), (row.high_contested, "contested"))
             if pd.notna(value) and value]
    if pd.notna(row.high_single_source) and not parts:
        return "all confirmed"
    return escape("; ".join(parts))


def _figure_label(figure: str, places: dict[str, str], tables: Tables) -> str:
    case = tables.case
    focal_prefix = f"killed.{case.focal.party}."
    if figure.startswith(focal_prefix):
        event_id = figure[len(focal_prefix):]
        return f"{charts.deaths_label(tables)}: {places.get(event_id, event_id)}"
    if figure.startswith("killed."):
        return "Killed: " + case.party_label(figure.split(".", 1)[1])
    return {"events": "Events reported", "displaced": case.displacement_label}.get(figure, figure)


def _link(url: str, text: str) -> str:
    """A link for http(s) addresses only (validation quarantines others; a javascript: link must never be shown)."""
    return f'<a href="{escape(url)}">{escape(text)}</a>' if is_web_url(url) else escape(text)


def _moment(value, precision, zone) -> str:
    """A publication moment in the case's local time, as precise as the source allows."""
    if pd.isna(value):
        return ""
    local = pd.Timestamp(value).tz_convert(zone)
    return f"{local:%d %b %Y}" if precision == "day" else f"{local:%d %b %Y %H:%M}"


def _event_ids(figures: pd.DataFrame, tables: Tables) -> set[str]:
    """The events the per-incident key figures name."""
    prefix = f"killed.{tables.case.focal.party}."
    named = figures["figure"].astype(str)
    return set(named.loc[named.str.startswith(prefix)].str.slice(len(prefix)))


def _more_rows(shown: int, total: int, slug: str) -> str:
    """The line under a table cut to its first rows, linking the full CSV beside the report."""
    if shown >= total:
        return ""
    return (f'<p class="table-cut">Showing {shown:,} of {total:,} rows; the full table is in '
            f'<a href="tables/{escape(slug)}.csv">tables/{escape(slug)}.csv</a>.</p>')


def _html_table(table: pd.DataFrame, zone, slug: str) -> str:
    """A table as HTML with empty cells (not <NA>) for unknown values, and date-only moments as dates (their
    day in the case's zone); past SHOWN_ROWS rows, the first ones and a link to the full CSV."""
    total = len(table)
    table = table.head(SHOWN_ROWS)
    shown = table.astype(object).where(table.notna(), "")
    if "published_at_precision" in table:
        day_only = table["published_at_precision"].eq("day")
        for column in table.columns:
            if isinstance(table[column].dtype, pd.DatetimeTZDtype) and column.startswith("published"):
                local = table[column].dt.tz_convert(zone)
                shown.loc[day_only & table[column].notna(), column] = local.dt.strftime("%Y-%m-%d")
    return (shown.to_html(index=False, border=0, classes="data-table", justify="left")
            + _more_rows(len(table), total, slug))


def _folded(html: str, rows: int) -> str:
    """A long table folded under a line that says how long it is; a short one as it is."""
    if rows <= FOLD_ROWS:
        return html
    summary = f"Show all {rows} rows" if rows <= SHOWN_ROWS else f"Show the first {SHOWN_ROWS} of {rows:,} rows"
    return f"<details><summary>{summary}</summary>{html}</details>"


__all__ = ["Report", "LAB_ONLY"]


def __dir__() -> list[str]:
    """Tab completion offers what the module is for, not its imports."""
    return sorted(__all__)
