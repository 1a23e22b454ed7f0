"""What a notebook calls to show a chart: one call displays it and files its table and figure.

In JupyterLab the chart is interactive (Plotly's mimetype); in the exported HTML it is a div
drawn by the plotly.js the page inlines once. When the build passes an `output_dir`, the
figure JSON and the table behind it are written there for the build to turn into
`figures/<slug>.png|svg` and `<report>/tables/<slug>.csv`.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from IPython.display import HTML, display

from escalation import metrics
from escalation.charts import Chart
from escalation.data import Tables
from escalation.metrics import Window

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


class Report:
    """Collects the charts and tables a notebook shows, for the build to export."""

    def __init__(self, output_dir: str | Path | None = None):
        self.output_dir = Path(output_dir) if output_dir else None
        if self.output_dir:
            (self.output_dir / "tables").mkdir(parents=True, exist_ok=True)
            (self.output_dir / "figures").mkdir(parents=True, exist_ok=True)

    def chart(self, chart: Chart, tables: Tables, window: Window, caption: str = "") -> go.Figure:
        """Build, display and file one chart with the table it is drawn from."""
        fig = chart(tables, window)
        table = chart.table(tables, window)
        alt = alt_text(fig)
        html = (
            f'<figure class="escalation-chart" id="figure-{chart.slug}" data-slug="{chart.slug}">'
            f'<div role="img" aria-label="{escape(alt)}">'
            + fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{chart.slug}",
                          config=PLOTLY_CONFIG)
            + f"</div><figcaption>{escape(caption or alt)}</figcaption>"
            + f"<details><summary>Data behind this chart ({len(table)} rows)</summary>"
            + f'<div class="escalation-table">{table.to_html(index=False, na_rep="", border=0)}</div>'
            + "</details></figure>"
        )
        display({"application/vnd.plotly.v1+json": json.loads(fig.to_json()), "text/html": html}, raw=True)
        if self.output_dir:
            (self.output_dir / "figures" / f"{chart.slug}.json").write_text(fig.to_json(), encoding="utf-8")
            table.to_csv(self.output_dir / "tables" / f"{chart.slug}.csv", index=False)
        return fig

    def table(self, table: pd.DataFrame, slug: str, caption: str = "") -> None:
        """Show a table and file it as `tables/<slug>.csv`."""
        display(HTML(f'<div class="escalation-table"><p>{escape(caption)}</p>'
                     f'{table.to_html(index=False, na_rep="", border=0)}</div>'))
        if self.output_dir:
            table.to_csv(self.output_dir / "tables" / f"{slug}.csv", index=False)

    def overview(self, tables: Tables, window: Window) -> None:
        """State the moment described and the data used; file `key_figures.csv` for every report."""
        counts = tables.counts()
        read = ", ".join(f"{c.accepted} {c.table}" for c in counts.itertuples())
        display(HTML(f"<p><strong>{escape(window.label())}.</strong> Data: {escape(read)} rows accepted "
                     f"from <code>{escape(str(tables.data_dir))}</code>.</p>"))
        quarantined = int(counts["quarantined"].sum())
        if quarantined:
            display(HTML(f'<p class="quarantine-warning">{quarantined} row(s) failed validation and are left '
                         "out of every figure; run <code>escalation validate</code> for the reasons.</p>"))
        if self.output_dir:
            metrics.key_figures(tables, window).to_csv(self.output_dir / "tables" / "key_figures.csv", index=False)


def alt_text(fig: go.Figure) -> str:
    """A one-sentence description of a chart from its own title and traces."""
    title = fig.layout.title.text or "Chart"
    names = [t.name for t in fig.data if t.name]
    series = f" Series: {', '.join(names)}." if names else ""
    return f"{title}.{series}"
