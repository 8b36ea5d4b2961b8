"""What the training loop reads: shuffled batches of scaled samples, and passes over all of them.

Two kinds, with the same batch order for the same seed:

- :class:`InMemoryData`: the samples as one scaled tensor on the device; a batch is a slice by
  index, with no host↔device copy inside the loop;
- :class:`StreamedData`: the samples stay in an :class:`~deepclust.data.source.ArraySource`
  (files); an epoch shuffles the source's chunks, reads a *window* of them at a time (a few
  large reads), shuffles the rows within the window and converts, scales and moves each batch
  to the device as it is drawn. Memory holds one window, whatever the number of rows.

The order of an epoch: a random permutation of the chunks, then the chunks grouped in that
order into windows of at least ``window_rows`` rows, then a random permutation of each window's
rows (a partial batch at a window's end is completed from the next window). In memory the
whole data is one window, so a file small enough for one window gives exactly the batches of
the array it holds. A rank-aware version of these classes is where data is split between
processes.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ..data.source import CHUNK_ROWS

#: bytes (as stored) of the rows a streamed epoch holds at a time
WINDOW_BYTES = 256 << 20


def _chunk_ids(chunks: list[tuple[int, int]], device) -> torch.Tensor:
    """Row numbers of the chunks ``(first, rows)``, concatenated."""
    return torch.cat([torch.arange(first, first + rows, device=device) for first, rows in chunks])


class InMemoryData:
    """Scaled samples ``X`` ``(n, *shape)``, already on the device."""

    def __init__(self, X: torch.Tensor, chunk_rows: int = CHUNK_ROWS):
        self.X = X
        self.n = X.shape[0]
        self.device = X.device
        self.chunks = [(first, min(chunk_rows, self.n - first)) for first in range(0, self.n, chunk_rows)]

    def num_batches(self, batch_size: int) -> int:
        return -(-self.n // batch_size)

    def epoch(self, batch_size: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(batch, row numbers)`` for one epoch in shuffled order."""
        order = torch.randperm(len(self.chunks), generator=generator, device=generator.device).tolist()
        ids = _chunk_ids([self.chunks[i] for i in order], generator.device)
        ids = ids[torch.randperm(self.n, generator=generator, device=generator.device)].to(self.device)
        for index in ids.split(batch_size):
            yield self.X[index], index

    def blocks(self) -> Iterator[torch.Tensor]:
        """Every sample, in order, in blocks (here: one)."""
        yield self.X


class StreamedData:
    """Samples read from ``source`` and scaled as ``(x - offset) / scale`` on ``device``.

    ``chunk_rows`` rows per read, ``window_rows`` (default: :data:`WINDOW_BYTES` worth, at least
    one chunk) rows shuffled together; samples are reshaped to ``sample_shape`` (default: as
    stored).
    """

    def __init__(self, source, offset: torch.Tensor, scale: torch.Tensor, device: torch.device,
                 chunk_rows: int = CHUNK_ROWS, window_rows: int | None = None,
                 sample_shape: tuple[int, ...] | None = None):
        self.source, self.offset, self.scale, self.device = source, offset, scale, torch.device(device)
        self.sample_shape = tuple(sample_shape or source.sample_shape)
        self.n = len(source)
        self.chunk_rows = int(chunk_rows)
        self._chunks = source.chunks(self.chunk_rows)
        row_bytes = int(np.prod(source.sample_shape)) * source.dtype.itemsize
        self.window_rows = int(window_rows) if window_rows is not None else max(1, WINDOW_BYTES // row_bytes)

    def num_batches(self, batch_size: int) -> int:
        return -(-self.n // batch_size)

    def _scaled(self, raw: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(raw.reshape(len(raw), *self.sample_shape))
        x = x.to(self.device, non_blocking=True).to(torch.float32)
        return (x - self.offset) / self.scale

    def _windows(self, order: list[int]) -> Iterator[list]:
        window, rows = [], 0
        for i in order:
            window.append(self._chunks[i])
            rows += self._chunks[i].rows
            if rows >= self.window_rows:
                yield window
                window, rows = [], 0
        if window:
            yield window

    def _read_window(self, chunks: list) -> np.ndarray:
        raw = np.empty((sum(c.rows for c in chunks), *self.source.sample_shape), self.source.dtype)
        at = 0
        for chunk in chunks:
            raw[at:at + chunk.rows] = self.source.read(chunk)
            at += chunk.rows
        return raw

    def epoch(self, batch_size: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(batch, row numbers)`` for one epoch in shuffled order (see the module)."""
        order = torch.randperm(len(self._chunks), generator=generator, device=generator.device).tolist()
        carry_raw, carry_ids = None, None
        for window in self._windows(order):
            raw = self._read_window(window)
            ids = _chunk_ids([(c.first, c.rows) for c in window], "cpu")
            perm = torch.randperm(len(ids), generator=generator, device=generator.device).cpu()
            start = 0
            if carry_ids is not None:
                take = perm[:batch_size - len(carry_ids)]
                carry_raw = np.concatenate([carry_raw, raw[take.numpy()]])
                carry_ids = torch.cat([carry_ids, ids[take]])
                start = len(take)
                if len(carry_ids) < batch_size:
                    continue
                yield self._scaled(carry_raw), carry_ids.to(self.device, non_blocking=True)
                carry_raw = carry_ids = None
            for s in range(start, len(perm), batch_size):
                take = perm[s:s + batch_size]
                if len(take) < batch_size:
                    carry_raw, carry_ids = raw[take.numpy()], ids[take]
                    break
                yield self._scaled(raw[take.numpy()]), ids[take].to(self.device, non_blocking=True)
        if carry_ids is not None:
            yield self._scaled(carry_raw), carry_ids.to(self.device, non_blocking=True)

    def blocks(self) -> Iterator[torch.Tensor]:
        """Every sample, in order, ``chunk_rows`` at a time, each row checked as it is read."""
        for _, block in self.source.blocks(self.chunk_rows):
            yield self._scaled(block)


def as_training_data(X) -> InMemoryData | StreamedData:
    """``X`` as the loop's data: a tensor is wrapped in :class:`InMemoryData`."""
    return InMemoryData(X) if isinstance(X, torch.Tensor) else X
