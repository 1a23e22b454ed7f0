"""What a notebook shows in JupyterLab and what the exported report keeps of it."""

from __future__ import annotations

from html import escape

import nbformat
import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from escalation import charts, metrics
from escalation.export import _reader_copy
from escalation.metrics import Window
from escalation.report import LAB_ONLY, Report


@pytest.fixture(scope="module")
def shell():
    return InteractiveShell.instance()


def shown(shell, call) -> list[dict]:
    """The display outputs a call makes, as notebook outputs."""
    with capture_output() as captured:
        call()
    return [nbformat.v4.new_output("display_data", data=o.data, metadata=o.metadata) for o in captured.outputs]


def test_lab_gets_the_figure_then_its_caption_and_table_and_the_report_keeps_one_of_each(shell, tables):
    window = Window.from_params("2020-02-01", "2020-03-06", zone=tables.case.timezone)
    outputs = shown(shell, lambda: Report(None, tables.case).chart(charts.events_per_day, tables, window))
    figure, caption = outputs
    assert "application/vnd.plotly.v1+json" in figure.data
    assert caption.metadata[LAB_ONLY] and list(caption.data) == ["text/html"]
    expected_caption = charts.events_per_day(tables, window).layout.meta["caption"]
    assert escape(expected_caption) in caption.data["text/html"]
    rows = len(charts.events_per_day.table(tables, window))
    assert f"Data behind this chart ({rows} rows)" in caption.data["text/html"]

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=outputs)])
    kept = _reader_copy(nb).cells[0].outputs
    assert len(kept) == 1 and list(kept[0].data) == ["text/html"]
    html = kept[0].data["text/html"]
    assert html.count("<figcaption>") == 1 and html.count("Data behind this chart") == 1
    assert 'role="img"' not in html


def test_long_tables_are_folded(shell, tables):
    events = metrics.known_events(tables, Window.from_params("2020-02-01", "2020-03-06", zone=tables.case.timezone))
    html = shown(shell, lambda: Report(None, tables.case).table(events, "events"))[0].data["text/html"]
    assert f"<summary>Show all {len(events)} rows</summary>" in html
    short = shown(shell, lambda: Report(None, tables.case).table(events.head(3), "short"))[0].data["text/html"]
    assert "<details>" not in short and short.count("<tr") == 4 and "text-align: right" not in short


def test_date_only_moments_are_shown_as_dates(shell, tables):
    window = Window.from_params("2020-02-01", "2020-03-06", zone=tables.case.timezone)
    history = metrics.claim_history(tables, window)
    html = shown(shell, lambda: Report(None, tables.case).table(history, "history"))[0].data["text/html"]
    by_precision = history.groupby("published_at_precision")["published_local"].first()
    assert f"<td>{by_precision['day']:%Y-%m-%d}</td>" in html
    assert f"{by_precision['day']:%Y-%m-%d} 23:59" not in html
    timed = next(v for k, v in by_precision.items() if k != "day")
    assert f"<td>{pd.Timestamp(timed)}</td>" in html
