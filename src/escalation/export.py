"""Executed notebook → reader-facing HTML that opens offline.

Code cells are hidden, the notebook's stderr is dropped, every CDN URL nbconvert knows about is
blanked and its blocks are overridden, so the page loads nothing from the network. plotly.js comes
in one of two forms (see `assets`): the output folder's shared file, referenced relatively, or
inlined in the page head for a report that travels alone. The header carries the title,
parameters, generation time and a table of contents; the footer the provenance (input hashes,
versions, commit).
"""

from __future__ import annotations

import functools
import re
from importlib.resources import files
from pathlib import Path

import nbformat

from escalation.assets import plotly_js
from escalation.lab_only import LAB_ONLY

TEMPLATES = files("escalation") / "templates"
HEADING = re.compile(r"^(#{1,3})\s+(.+?)\s*#*\s*$")
HEADING_ID = re.compile(r'id="([^"]+)"')
NETWORK_URL_TRAITS = ("require_js_url", "mathjax_url", "jquery_url", "widget_renderer_url",
                      "mermaid_js_url", "mermaid_layout_elk_js_url", "jupyter_widgets_base_url")


def _markdown_texts(nb: nbformat.NotebookNode) -> list[str]:
    """The Markdown of the notebook in reading order: markdown cells, and the Markdown that code cells
    displayed (the case's headings, shown by `Report.heading`)."""
    texts = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            texts.append(cell.source)
        elif cell.cell_type == "code":
            texts += [output["data"]["text/markdown"] for output in cell.get("outputs", [])
                      if "text/markdown" in output.get("data", {})]
    return texts


def title_and_toc(nb: nbformat.NotebookNode) -> tuple[str, list[dict]]:
    """The notebook's first level-1 heading, and its level-2/3 headings with nbconvert's anchors."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    title, toc = "", []
    for text in _markdown_texts(nb):
        for line in text.splitlines():
            match = HEADING.match(line)
            if not match:
                continue
            level, text = len(match.group(1)), match.group(2)
            if level == 1:
                title = title or text
                continue
            anchor = HEADING_ID.search(markdown2html_mistune(line))
            if anchor:
                toc.append({"level": level, "text": re.sub(r"[*_`]", "", text), "anchor": anchor.group(1)})
    return title, toc


def _reader_copy(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop stderr, the Plotly JSON and the outputs meant only for JupyterLab, papermill's injected cell
    (random id; the header lists the parameters) and the level-1 title, written or displayed (the header
    shows it)."""
    nb = nbformat.from_dict(nb)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")
                            and not o.get("metadata", {}).get(LAB_ONLY)]
            for output in cell.outputs:
                output.get("data", {}).pop("application/vnd.plotly.v1+json", None)
                if "text/markdown" in output.get("data", {}):
                    output["data"]["text/markdown"] = _without_title(output["data"]["text/markdown"])
            cell.outputs = [o for o in cell.outputs if o.get("data", {}).get("text/markdown", True)]
        elif cell.cell_type == "markdown":
            cell.source = _without_title(cell.source)
    return nb


def _without_title(markdown: str) -> str:
    return "\n".join(line for line in markdown.splitlines() if not line.startswith("# "))


#: The start tags nbconvert's HTMLExporter makes focusable (`tabindex="0"`, so that a keyboard can scroll a wide
#: output): markdown cells and output areas, as the lab template writes them.
FOCUSABLE_TAG = re.compile(r'<div class="(?:jp-Cell-inputWrapper|[^"]*\bjp-OutputArea-output\b[^"]*)"[^>]*')
#: A heading's empty anchor link as nbconvert writes it (through ElementTree, as XML: `<a ... />`). HTML has no
#: self-closing `<a>`: a browser keeps the link open and wraps the rest of the page in copies of it, which the
#: theme's `.anchor-link` rule hides. BeautifulSoup's pass used to close it.
SELF_CLOSED_ANCHOR = re.compile(r'(<a class="anchor-link" href="[^"]*")\s*/>')


def _report_exporter_class():
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class ReportExporter(HTMLExporter):
        """nbconvert's HTMLExporter without its last step, which parses the finished page with BeautifulSoup and
        writes it out again, three quarters of an export (0.25 CPU-s for a daily report), only to give images
        without alt text a placeholder (a report has no <img>: its charts are Plotly divs), to make markdown
        cells and output areas focusable and to close the headings' empty anchor links (`FOCUSABLE_TAG` and
        `SELF_CLOSED_ANCHOR` do both on the page as rendered). The rest is
        `HTMLExporter.from_notebook_node` of nbconvert 7.17 (pinned), private members included."""

        def from_notebook_node(self, nb, resources=None, **kw):
            language = nb.metadata.get("language_info", {})
            lexer = language.get("pygments_lexer", language.get("name", None))
            highlight_code = self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self))
            resources = self._init_resources(resources)
            filter_data_type = WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata, parent=self,
                                                     resources=resources)
            self.register_filter("highlight_code", highlight_code)
            self.register_filter("filter_data_type", filter_data_type)
            html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            html = SELF_CLOSED_ANCHOR.sub(r"\1></a>", html)
            return FOCUSABLE_TAG.sub(lambda tag: tag.group(0) + ' tabindex="0"', html), resources

    return ReportExporter


@functools.cache
def _exporter():
    """One exporter per process: each new one would compile its Jinja templates again (about a third of an
    export). The page's own values go in through `resources`, so nothing of one report stays in it."""
    exporter_class = _report_exporter_class()
    return exporter_class(
        template_name="report",
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        anchor_link_text="",
        **{trait: "" for trait in NETWORK_URL_TRAITS if exporter_class.class_traits().get(trait)},
    )


@functools.cache
def _report_css() -> str:
    return (TEMPLATES / "report.css").read_text(encoding="utf-8")


def warm_up() -> None:
    """Import nbconvert and compile the report templates (about 2 s of CPU) by exporting an empty notebook: a
    worker does it while its kernel starts, instead of in its first report."""
    render_html(nbformat.v4.new_notebook(), "warm-up", {"parameters": {}, "nav": {}, "inputs": [], "versions": {}},
                plotly_src="plotly.js")


def render_html(nb: nbformat.NotebookNode, name: str, context: dict, plotly_src: str | None = None) -> str:
    """The report page of an executed notebook (`name` when it has no title). `plotly_src` is the relative address
    of a shared plotly.js (see `assets.plotly_href`); None inlines plotly.js, for a self-contained page."""
    title, toc = title_and_toc(nb)
    js, version = plotly_js() if not plotly_src else (None, "")
    resources = {
        "metadata": {"name": title or name},
        "escalation": {
            **context,
            "title": title or name,
            "toc": toc,
            "plotly_js": js,
            "plotly_src": plotly_src,
            "plotly_version": version,
            "css": _report_css(),
        },
    }
    body, _ = _exporter().from_notebook_node(_reader_copy(nb), resources=resources)
    return body


def export_html(executed: Path, html_path: Path, context: dict, plotly_src: str | None = None) -> int:
    """Write the report HTML for an executed notebook file (see `render_html`); returns its size in bytes."""
    return write_html(nbformat.read(executed, as_version=4), executed.stem, html_path, context, plotly_src)


def write_html(nb: nbformat.NotebookNode, name: str, html_path: Path, context: dict,
               plotly_src: str | None = None) -> int:
    """Write the report HTML for an executed notebook held in memory (the runner has it from papermill, and need not
    read and validate the file again); returns its size in bytes."""
    body = render_html(nb, name, context, plotly_src)
    html_path.write_text(body, encoding="utf-8")
    return len(body.encode("utf-8"))
