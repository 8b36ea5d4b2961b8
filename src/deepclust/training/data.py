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
the array it holds.

Under torchrun (:mod:`deepclust.training.distributed`) each process holds or reads only its
*share*: the contiguous rows ``shard(n)``. Full passes (:meth:`blocks`) cover the share and
:meth:`gather` joins the ranks' results in row order. An epoch shuffles the first ``n // size``
rows of the share (so that every rank runs the same number of steps; at most one row per rank
sits out an epoch) in batches of ``batch_size / size`` rows, so the job's batch is the one
asked for; batches carry the rows' numbers in the whole data.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ..data.source import CHUNK_ROWS, Chunk
from .distributed import gather_rows, shard, world

#: bytes (as stored) of the rows a streamed epoch holds at a time
WINDOW_BYTES = 256 << 20


def _chunk_ids(chunks: list[Chunk], device) -> torch.Tensor:
    """Row numbers of the chunks, concatenated."""
    return torch.cat([torch.arange(c.first, c.first + c.rows, device=device) for c in chunks])


class _Data:
    """What both kinds share: the whole data's ``n`` rows, this rank's share and its batches."""

    def _share(self, n: int) -> None:
        here = world()
        self.n, self.size = n, here.size
        self.first, stop = shard(n, here)
        self.rows = stop - self.first  # passed over
        self.train_rows = self.rows if here.size == 1 else n // here.size  # shuffled each epoch

    def batch_rows(self, batch_size: int) -> int:
        """This rank's rows per batch (the job's ``batch_size`` split between the ranks)."""
        return max(1, min(-(-int(batch_size) // self.size), self.train_rows))

    def num_batches(self, batch_size: int) -> int:
        return -(-self.train_rows // self.batch_rows(batch_size))

    def gather(self, result: torch.Tensor) -> torch.Tensor:
        """A pass's result over this rank's share, ``(rows, ...)``, joined with the other
        ranks': ``(n, ...)`` in row order (itself in one process)."""
        return gather_rows(result, self.n)


class InMemoryData(_Data):
    """Scaled samples ``X`` ``(rows, *shape)``, already on the device: all ``n`` rows, or this
    rank's share of them (then ``n`` gives their total)."""

    def __init__(self, X: torch.Tensor, chunk_rows: int = CHUNK_ROWS, n: int | None = None):
        self._share(X.shape[0] if n is None else n)
        self.X = X
        self.device = X.device
        self.chunks = [Chunk(0, first, min(first + chunk_rows, self.train_rows), first)
                       for first in range(0, self.train_rows, chunk_rows)]

    def epoch(self, batch_size: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(batch, row numbers)`` for one epoch in shuffled order."""
        order = torch.randperm(len(self.chunks), generator=generator, device=generator.device).tolist()
        ids = _chunk_ids([self.chunks[i] for i in order], generator.device)
        ids = ids[torch.randperm(self.train_rows, generator=generator, device=generator.device)].to(self.device)
        for index in ids.split(self.batch_rows(batch_size)):
            yield self.X[index], (index + self.first) if self.first else index

    def blocks(self) -> Iterator[torch.Tensor]:
        """Every sample of the share, in order, in blocks (here: one)."""
        yield self.X


class StreamedData(_Data):
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
        self._share(len(source))
        self.chunk_rows = int(chunk_rows)
        self._chunks = source.chunks(self.chunk_rows, self.first, self.first + self.train_rows)
        row_bytes = int(np.prod(source.sample_shape)) * source.dtype.itemsize
        self.window_rows = int(window_rows) if window_rows is not None else max(1, WINDOW_BYTES // row_bytes)

    def _scaled(self, raw: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(raw.reshape(len(raw), *self.sample_shape))
        if self.device.type == "cuda":  # from page-locked memory the copy runs beside the GPU's work
            x = x.pin_memory()
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
        batch_size = self.batch_rows(batch_size)
        order = torch.randperm(len(self._chunks), generator=generator, device=generator.device).tolist()
        carry_raw, carry_ids = None, None
        for window in self._windows(order):
            raw = self._read_window(window)
            ids = _chunk_ids(window, "cpu")
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
        """Every sample of the share, in order, ``chunk_rows`` at a time, each row checked as it
        is read."""
        for _, block in self.source.blocks(self.chunk_rows, self.first, self.first + self.rows):
            yield self._scaled(block)


def as_training_data(X) -> InMemoryData | StreamedData:
    """``X`` as the loop's data: a tensor ``(n, ...)`` is wrapped in :class:`InMemoryData`
    (under torchrun, this rank's share of it)."""
    if not isinstance(X, torch.Tensor):
        return X
    start, stop = shard(X.shape[0])
    return InMemoryData(X[start:stop], n=X.shape[0])
