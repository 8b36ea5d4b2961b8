"""Progress reporting for the training loop (Rich, on stderr; silent at ``verbose=0``)."""
from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class ProgressBar:
    """One bar per phase that advances per batch and shows the running loss."""

    def __init__(self, verbose: int):
        self.verbose = verbose
        self._progress: Progress | None = None
        self._task = None

    def start(self, phase: str, total_batches: int) -> None:
        if not self.verbose:
            return
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=Console(file=sys.stderr),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(phase, total=total_batches, status="")

    def advance(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)

    def status(self, text: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, status=text)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
