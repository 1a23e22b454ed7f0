"""What a notebook calls to show a chart: one call displays it and files its table and figure.

In JupyterLab the chart is interactive (Plotly's mimetype); in the exported HTML it is a div
drawn by the plotly.js the page inlines once. When the build passes an `output_dir`, the
figure JSON and the table behind it are written there for the build to turn into
`figures/<slug>.png|svg` and `<report>/tables/<slug>.csv`.

JupyterLab shows only the richest mimetype of an output, so the caption and the table behind each
chart also go out in a second, Lab-only output (tagged `LAB_ONLY`) that the HTML export drops: the
report shows each chart once, with its caption and table once.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import pandas as pd
from IPython.display import HTML, display

from escalation import charts, metrics
from escalation.charts import Chart
from escalation.data import LOCAL_TZ, Tables
from escalation.metrics import Window

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

#: Output metadata key of what only JupyterLab needs; `export` drops these outputs.
LAB_ONLY = "escalation/lab-only"
#: Tables in Lab: text left-aligned, colours from Lab's theme (light or dark).
LAB_STYLE = """<style>
.jp-RenderedHTMLCommon .escalation-table td, .jp-RenderedHTMLCommon .escalation-table th,
.jp-RenderedHTMLCommon .escalation-caption td, .jp-RenderedHTMLCommon .escalation-caption th {
  text-align: left; vertical-align: top; }
.jp-RenderedHTMLCommon .escalation-caption { font-size: .9rem; max-width: 1000px; }
.jp-RenderedHTMLCommon .escalation-caption summary { cursor: pointer; }
</style>"""
#: Tables longer than this are folded under a summary line.
FOLD_ROWS = 15


class Report:
    """Collects the charts and tables a notebook shows, for the build to export."""

    def __init__(self, output_dir: str | Path | None = None):
        self.output_dir = Path(output_dir) if output_dir else None
        self._figures: pd.DataFrame | None = None
        self._figures_for: Window | None = None
        if self.output_dir:
            (self.output_dir / "tables").mkdir(parents=True, exist_ok=True)
            (self.output_dir / "figures").mkdir(parents=True, exist_ok=True)

    def chart(self, chart: Chart, tables: Tables, window: Window, caption: str = "") -> None:
        """Build, display and file one chart with the table it is drawn from."""
        fig = chart(tables, window)
        for index, trace in enumerate(fig.data):  # plotly.js would draw random ids into SVG exports
            trace.uid = f"{chart.slug}-{index}"
        table = chart.table(tables, window)
        meta = fig.layout.meta or {}
        alt = meta.get("alt") or fig.layout.title.text or chart.slug
        caption = " ".join(filter(None, [caption, meta.get("caption", "")]))
        details = (f"<details><summary>Data behind this chart ({len(table)} rows)</summary>"
                   f'<div class="escalation-table">{_html_table(table)}</div></details>')
        html = (  # a figure named by its caption; no role="img" around Plotly's buttons (nested-interactive)
            f'<figure class="escalation-chart" id="figure-{chart.slug}" data-slug="{chart.slug}">'
            + fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{chart.slug}",
                          config=PLOTLY_CONFIG)
            + f"<figcaption><strong>{escape(alt)}</strong> {escape(caption)}</figcaption>{details}</figure>"
        )
        display({"application/vnd.plotly.v1+json": json.loads(fig.to_json()), "text/html": html}, raw=True)
        display({"text/html": f'{LAB_STYLE}<div class="escalation-caption"><p><strong>{escape(alt)}</strong> '
                              f"{escape(caption)}</p>{details}</div>"}, raw=True, metadata={LAB_ONLY: True})
        if self.output_dir:
            (self.output_dir / "figures" / f"{chart.slug}.json").write_text(fig.to_json(), encoding="utf-8")
            table.to_csv(self.output_dir / "tables" / f"{chart.slug}.csv", index=False)

    def table(self, table: pd.DataFrame, slug: str, caption: str = "") -> None:
        """Show a table and file it as `tables/<slug>.csv`."""
        display(HTML(f'<div class="escalation-table"><p>{escape(caption)}</p>{_folded(_html_table(table), len(table))}'
                     "</div>"))
        if self.output_dir:
            table.to_csv(self.output_dir / "tables" / f"{slug}.csv", index=False)

    def key_figures(self, tables: Tables, window: Window) -> None:
        """The period's headline numbers as ranges, each linked to the sources behind it."""
        figures = self._key_figures(tables, window)
        publishers = dict(zip(tables.sources["source_id"], tables.sources["publisher"]))
        places = {e.event_id: f"{charts.place(e.location, width=60)}, {pd.Timestamp(e.event_date):%d %b}"
                  for e in tables.events.itertuples()}
        rows = []
        for row in figures.itertuples():
            ids = [i for i in str(row.source_ids).split(";") if i]
            links = ", ".join(f'<a href="#{i}">{escape(str(publishers.get(i, i)))}</a>' for i in ids[:12])
            more = f" and {len(ids) - 12} more" if len(ids) > 12 else ""
            span = f"{row.value_low:,}" if row.value_low == row.value_high else f"{row.value_low:,}–{row.value_high:,}"
            rows.append(f"<tr><td>{escape(_figure_label(row.figure, places))}</td><td><strong>{span}</strong></td>"
                        f"<td>{links}{more}</td></tr>")
        display(HTML('<div class="escalation-table"><table class="key-figures"><thead><tr><th>Figure</th>'
                     "<th>Range claimed</th><th>Sources</th></tr></thead><tbody>" + "".join(rows)
                     + f"</tbody></table><p>{escape(metrics.BEST_RULE)}</p></div>"))

    def sources(self, tables: Tables, window: Window) -> None:
        """Every page cited by the events and claims of the period, with an anchor per source id."""
        events = metrics.known_events(tables, window)
        claims = metrics.known_claims(tables, window)
        cited = set(";".join(events["source_ids"]).split(";")) | set(claims["source_id"])
        cited |= set(metrics.displacement_series(tables, window)["source_id"])
        listed = tables.sources.loc[tables.sources["source_id"].isin(cited)].sort_values("publisher")
        rows = "".join(
            f'<tr id="{escape(r.source_id)}"><td><code>{escape(r.source_id)}</code></td><td>{escape(r.publisher)}'
            f"{'' if r.originator == r.publisher else ' (from ' + escape(r.originator) + ')'}</td>"
            f'<td><a href="{escape(r.url)}">{escape(r.title)}</a></td>'
            f"<td>{_moment(r.published_at, r.published_at_precision)}</td></tr>"
            for r in listed.itertuples())
        listing = ('<table class="sources"><thead><tr><th>id</th><th>Publisher (originator)</th><th>Page</th>'
                   f"<th>Published</th></tr></thead><tbody>{rows}</tbody></table>")
        display(HTML(f'<div class="escalation-table"><p>{len(listed)} sources.</p>{_folded(listing, len(listed))}'
                     "</div>"))

    def overview(self, tables: Tables, window: Window) -> None:
        """State the moment described and the data used; file `key_figures.csv` for every report."""
        display({"text/html": LAB_STYLE}, raw=True, metadata={LAB_ONLY: True})
        counts = tables.counts()
        read = ", ".join(f"{c.accepted} {c.table}" for c in counts.itertuples())
        display(HTML(f"<p><strong>{escape(window.label())}.</strong> Data: {escape(read)} rows accepted "
                     f"from <code>{escape(str(tables.data_dir))}</code>.</p>"))
        quarantined = int(counts["quarantined"].sum())
        if quarantined:
            display(HTML(f'<p class="quarantine-warning">{quarantined} row(s) failed validation and are left '
                         "out of every figure; run <code>escalation validate</code> for the reasons.</p>"))
        if self.output_dir:
            self._key_figures(tables, window).to_csv(self.output_dir / "tables" / "key_figures.csv", index=False)

    def _key_figures(self, tables: Tables, window: Window) -> pd.DataFrame:
        """metrics.key_figures, computed once per window for the CSV and the table shown."""
        if self._figures_for is not window:
            self._figures, self._figures_for = metrics.key_figures(tables, window), window
        return self._figures


def _figure_label(figure: str, places: dict[str, str]) -> str:
    if figure.startswith("killed.turkish_military.EV-"):
        event_id = figure.split(".", 2)[2]
        return f"Turkish soldiers killed: {places.get(event_id, event_id)}"
    if figure.startswith("killed."):
        return "Killed: " + metrics.PARTY_LABELS.get(figure.split(".", 1)[1], figure)
    return {"events": "Events reported", "displaced": "Displaced since 1 Dec 2019"}.get(figure, figure)


def _moment(value, precision) -> str:
    """A publication moment in local time, as precise as the source allows."""
    if pd.isna(value):
        return ""
    local = pd.Timestamp(value).tz_convert(LOCAL_TZ)
    return f"{local:%d %b %Y}" if precision == "day" else f"{local:%d %b %Y %H:%M}"


def _html_table(table: pd.DataFrame) -> str:
    """A table as HTML with empty cells (not <NA>) for unknown values, and date-only moments as dates."""
    shown = table.astype(object).where(table.notna(), "")
    if "published_at_precision" in table:
        day_only = table["published_at_precision"].eq("day")
        for column in table.columns:
            if isinstance(table[column].dtype, pd.DatetimeTZDtype) and column.startswith("published"):
                local = table[column].dt.tz_convert(LOCAL_TZ)
                shown.loc[day_only & table[column].notna(), column] = local.dt.strftime("%Y-%m-%d")
    return shown.to_html(index=False, border=0, classes="data-table", justify="left")


def _folded(html: str, rows: int) -> str:
    """A long table folded under a line that says how long it is; a short one as it is."""
    return html if rows <= FOLD_ROWS else f"<details><summary>Show all {rows} rows</summary>{html}</details>"


__all__ = ["Report", "LAB_ONLY"]


def __dir__() -> list[str]:
    """Tab completion offers what the module is for, not its imports."""
    return sorted(__all__)
