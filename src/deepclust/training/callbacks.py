"""Progress reporting for the training loop, on stderr; silent at ``verbose=0``.

On a terminal a Rich bar advances per batch; elsewhere (logs, CI, pipes) one plain line is
printed per epoch, so a long run never looks stalled.
"""
from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class ProgressBar:
    """One bar (or one line per epoch) per training phase."""

    def __init__(self, verbose: int):
        self.verbose = verbose
        self._console = Console(file=sys.stderr) if verbose else None
        self._progress: Progress | None = None
        self._task = None
        self._phase = ""

    def start(self, phase: str, total_batches: int) -> None:
        self._phase = phase
        if not self.verbose or not self._console.is_terminal:
            return
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=self._console,
        )
        self._progress.start()
        self._task = self._progress.add_task(phase, total=total_batches, status="")

    def advance(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)

    def epoch_done(self, epoch: int, epochs: int, loss: float, seconds: float) -> None:
        text = f"epoch {epoch}/{epochs} loss {loss:.4g}"
        if self._progress is not None:
            self._progress.update(self._task, status=text)
        elif self.verbose:
            print(f"{self._phase} {text} ({seconds:.1f} s)", file=sys.stderr, flush=True)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
