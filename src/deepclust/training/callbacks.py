"""Progress reporting for the training loop, on stderr; silent at ``verbose=0``.

On a terminal a Rich bar advances per batch, with the rows per second and the time left in the
phase; elsewhere (logs, CI, pipes) plain lines: one for the first and the last epoch of a phase
and for every epoch that ends :data:`EPOCH_LINE_SECONDS` or more after the last line (so hundreds
of short epochs on small data take a few lines), and on long epochs one every
:data:`LINE_SECONDS` seconds in between, so a long run never looks stalled.
"""
from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

#: seconds between two progress lines within an epoch, when not on a terminal
LINE_SECONDS = 30.0
#: the least seconds between two epoch lines, when not on a terminal (first and last epoch aside)
EPOCH_LINE_SECONDS = 5.0


def duration(seconds: float) -> str:
    """``95`` → ``"1 min 35 s"``; under a minute, ``"42 s"``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    return f"{minutes // 60} h {minutes % 60} min"


class ProgressBar:
    """One bar (or one line per epoch, more on long ones) per training phase."""

    def __init__(self, verbose: int):
        self.verbose = verbose
        self._console = Console(file=sys.stderr) if verbose else None
        self._progress: Progress | None = None
        self._task = None
        self._phase = ""

    def start(self, phase: str, total_batches: int, batch_size: int = 1, n_samples: int = 0) -> None:
        self._phase, self._total, self._done = phase, total_batches, 0
        self._batch_size, self._n = batch_size, n_samples
        self._started = self._last_line = time.perf_counter()
        if not self.verbose or not self._console.is_terminal:
            return
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[rate]} {task.fields[status]}"),
            console=self._console,
        )
        self._progress.start()
        self._task = self._progress.add_task(phase, total=total_batches, status="", rate="")

    def _rate(self) -> float:
        """Rows per second so far in this phase."""
        return self._done * self._batch_size / max(time.perf_counter() - self._started, 1e-9)

    def _left(self) -> float:
        """Seconds left in the phase at the rate so far."""
        return (self._total - self._done) * self._batch_size / max(self._rate(), 1e-9)

    def advance(self) -> None:
        self._done += 1
        if self._progress is not None:
            self._progress.update(self._task, advance=1, rate=f"{self._rate():,.0f} rows/s")
        elif self.verbose and time.perf_counter() - self._last_line > LINE_SECONDS:
            self._last_line = time.perf_counter()
            per_epoch = max(1, -(-self._n // self._batch_size))
            rows = min((self._done - 1) % per_epoch + 1, per_epoch) * self._batch_size
            print(f"{self._phase}: {min(rows, self._n):,} of {self._n:,} rows of this epoch, "
                  f"{self._rate():,.0f} rows/s, {duration(self._left())} left in the phase",
                  file=sys.stderr, flush=True)

    def epoch_done(self, epoch: int, epochs: int, loss: float, seconds: float) -> None:
        text = f"epoch {epoch}/{epochs} loss {loss:.4g}"
        if self._progress is not None:
            self._progress.update(self._task, status=text)
        elif self.verbose and (epoch in (1, epochs) or time.perf_counter() - self._last_line >= EPOCH_LINE_SECONDS):
            self._last_line = time.perf_counter()
            left = f", {duration(self._left())} left" if epoch < epochs else ""
            print(f"{self._phase} {text} ({seconds:.1f} s, {self._rate():,.0f} rows/s{left})",
                  file=sys.stderr, flush=True)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
