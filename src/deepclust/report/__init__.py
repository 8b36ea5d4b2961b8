"""One self-contained HTML page of a fitted clustering (``report.html``).

:func:`render_report` gathers what a user wants to see — a 2-D map of the samples where the
method separates its clusters, one card per cluster with its typical members, the training
curves, cluster sizes and, with known labels, the matched confusion matrix — and renders it with
Jinja2 and Plotly into one HTML file that opens offline: Plotly's JavaScript, the thumbnails
and the audio clips are embedded, nothing is fetched. :class:`ReportMixin` gives every clusterer
its ``report(X, path)`` method.
"""
from .page import MAP_POINTS, ReportMixin, render_report, write_report

__all__ = ["MAP_POINTS", "ReportMixin", "render_report", "write_report"]
