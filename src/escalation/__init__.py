"""Analytical reports on conflict escalation: claim-level data, metrics, Plotly charts, HTML builds."""

__version__ = "0.1.0"
