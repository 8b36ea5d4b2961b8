"""What the commands print on stdout: the summary of a fit, the cluster overview, the metrics."""
from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .outputs import EXAMPLES_PER_CLUSTER, REPORT_HTML


def console(stderr: bool = False) -> Console:
    return Console(file=sys.stderr if stderr else sys.stdout, highlight=False)


def print_overview(overview: dict[str, Any]) -> None:
    out = console()
    for c, entry in overview["clusters"].items():
        line = f"cluster {c} ({entry['size']:,})"
        if "terms" in entry:
            line += ": " + ", ".join(entry["terms"])
            out.print(line, markup=False)
            for text in entry["examples"]:
                out.print(f"    - {text if len(text) <= 100 else text[:97] + '...'}", markup=False)
            continue
        members = entry["members"]
        more = f", ... (+{len(members) - EXAMPLES_PER_CLUSTER} more)" if len(members) > EXAMPLES_PER_CLUSTER else ""
        out.print(line + ": " + ", ".join(members[:EXAMPLES_PER_CLUSTER]) + more, markup=False)


def print_summary(summary: dict[str, Any], title: str) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("method", summary["method"])
    table.add_row("data", summary["source"])
    for i, line in enumerate(summary["report"]):
        table.add_row("preprocessing" if i == 0 else "", Text(line))
    table.add_row("samples", f"{summary['n_samples']:,}")
    selection = summary["selection"]
    if selection is not None:
        table.add_row("chosen", Text(selection["reason"]))
    if selection is not None and "k_scores" in selection:
        table.add_row("clusters", f"{summary['n_clusters']} chosen (highest silhouette), {summary['found']} non-empty")
    else:
        table.add_row("clusters", f"{summary['n_clusters']} requested, {summary['found']} non-empty")
    table.add_row("fit time", f"{summary['seconds']:.1f} s")
    metrics = summary["metrics"]
    if metrics is not None:
        for key in ("acc", "nmi", "ari"):
            table.add_row(key.upper(), f"{metrics[key]:.4f}")
    out = console()
    out.print(table)
    if summary["overview"] is not None:
        print_overview(summary["overview"])
    out.print(f"outputs in {summary['out']}/: {', '.join(summary['written'])}")
    if REPORT_HTML in summary["written"]:
        out.print(f"open {summary['out']}/{REPORT_HTML} in a browser to explore the clusters")


def print_metrics(metrics: dict[str, Any]) -> None:
    """``deepclust evaluate``'s table of the metrics."""
    table = Table()
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    for key in ("acc", "nmi", "ari", "purity"):
        table.add_row(key.upper() if key != "purity" else key, f"{metrics[key]:.4f}")
    for key in ("n_samples", "n_clusters", "n_classes"):
        table.add_row(key, f"{metrics[key]:,}")
    console().print(table)
