"""The mark on notebook outputs meant only for JupyterLab (a chart's caption and table, which the exported page
shows inside the chart's figure): `report` sets it, `export` drops those outputs. A module of its own, so that
the build's workers, which export, do not import pandas and Plotly (about 0.8 s of CPU each) to read it."""

#: Output metadata key of what only JupyterLab needs; `export` drops these outputs.
LAB_ONLY = "escalation/lab-only"
