"""Training one model in many processes: torchrun and ``torch.distributed``.

Under ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` for every process),
an estimator's ``fit`` called in every process trains one model together:

- the process group is joined on first use (gloo on the CPU, NCCL on GPUs), with collective
  operations that give up after :data:`COLLECTIVE_TIMEOUT` seconds (environment variable
  ``DEEPCLUST_COLLECTIVE_TIMEOUT``), so a job whose process died ends instead of hanging;
- every rank trains on its own contiguous share of the rows (:func:`shard`) and each phase's
  step runs inside ``DistributedDataParallel``, which averages the gradients;
- every full pass over the data (encoding for the clustering, targets, statistics) runs on each
  rank's share and is gathered (:func:`gather_rows`), so every rank then holds the same codes and
  takes the same decisions (cluster initialisation, DEC's target, stopping) without more messages.

Without torchrun (``WORLD_SIZE`` unset or 1) every function here is the identity.
"""
from __future__ import annotations

import atexit
import os
import sys
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from ..exceptions import DeepclustError

#: seconds a collective operation waits for the other processes before the job fails
COLLECTIVE_TIMEOUT = 60


@dataclass(frozen=True)
class World:
    """This process's place in the job: ``rank`` of ``size`` processes, ``local_rank`` on its machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        """Whether more than one process trains."""
        return self.size > 1


def world() -> World:
    """The job as torchrun describes it in the environment (one process without torchrun)."""
    try:
        return World(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                     int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError:
        raise DeepclustError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them)") from None


def join(device: torch.device) -> World:
    """Join the job's process group once (gloo for the CPU, NCCL for CUDA); the world."""
    here = world()
    if here.active and not dist.is_initialized():
        seconds = float(os.environ.get("DEEPCLUST_COLLECTIVE_TIMEOUT", COLLECTIVE_TIMEOUT))
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timedelta(seconds=seconds))
        atexit.register(_leave)
    return here


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def end_process(code: int = 0) -> None:
    """End this process with exit status ``code``, safely also inside a torchrun job.

    Outside a job this is ``sys.exit(code)``. Inside one, the exit handlers run and the output is
    flushed, then the process ends through :func:`os._exit`: DistributedDataParallel keeps the
    gloo process group's threads alive after the group is destroyed, and tearing the interpreter
    down under them aborts the process now and then (``terminate called without an active
    exception``) after its work is done. A script run under torchrun can end with it too."""
    try:
        worker = world().active
    except DeepclustError:  # a malformed torchrun environment: reported where it was read
        worker = False
    if not worker:
        sys.exit(code)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def is_writer() -> bool:
    """Whether this process writes files (outputs, checkpoints, saved models): rank 0 only."""
    return world().rank == 0


def shard(n: int, here: World | None = None) -> tuple[int, int]:
    """Rows ``[start, stop)`` of ``n`` that this rank passes over: contiguous, sizes differing by
    at most one, in rank order."""
    here = here or world()
    return n * here.rank // here.size, n * (here.rank + 1) // here.size


def all_sum(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` summed over every rank, in place (itself without torchrun)."""
    if world().active:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def gather_rows(tensor: torch.Tensor, n: int) -> torch.Tensor:
    """The ranks' row blocks ``(rows of shard(n), ...)`` concatenated in rank order: ``(n, ...)``
    on every rank."""
    here = world()
    if not here.active:
        return tensor
    sizes = [stop - start for start, stop in (shard(n, World(r, here.size)) for r in range(here.size))]
    padded = tensor.new_zeros((max(sizes), *tensor.shape[1:]))
    padded[:tensor.shape[0]] = tensor
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([part[:size] for part, size in zip(parts, sizes)])


def from_rank_0(value):
    """``value`` (any picklable value) as rank 0 has it, on every rank: a choice drawn from a
    rank's own random stream that all must share."""
    if not world().active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def same_everywhere(value, what: str) -> None:
    """Refuse a job whose ranks disagree on ``value`` (any JSON-like value, e.g. the data's shape):
    ``what`` names it in the message."""
    here = world()
    if not here.active:
        return
    values: list = [None] * here.size
    dist.all_gather_object(values, value)
    if any(v != values[0] for v in values):
        seen = "; ".join(f"rank {rank}: {v}" for rank, v in enumerate(values))
        raise DeepclustError(f"the processes of this job were given different {what} ({seen}); "
                             "every process must read the same data")


def is_collective_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective operation that failed because another process of the
    job died or stopped answering (gloo's and NCCL's errors, torch.distributed's timeouts)."""
    if isinstance(exc, dist.DistError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(
        mark in text for mark in ("gloo", "NCCL", "Connection reset", "Connection closed", "timed out"))


class _Step(torch.nn.Module):
    """A phase's step as a module, so that DistributedDataParallel runs it: its parameters are
    the phase's modules' and the trained tensors outside them (cluster centres...)."""

    def __init__(self, step, modules: list[torch.nn.Module], parameters: list[torch.nn.Parameter]):
        super().__init__()
        self.step = step
        self.held = torch.nn.ModuleList(modules)
        inside = {id(p) for m in modules for p in m.parameters()}
        self.extra = torch.nn.ParameterList([p for p in parameters if id(p) not in inside])

    def forward(self, batch: torch.Tensor, index: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.step(batch, index)


def data_parallel(step, modules: list[torch.nn.Module], parameters, device: torch.device):
    """``step`` (``(batch, index) -> losses``) run through DistributedDataParallel over
    ``modules`` and the other trained ``parameters``, whose gradients it averages across ranks;
    ``step`` itself without torchrun. The graph is declared static (a phase's step uses the same
    parameters at every batch; DEC's leaves the decoder out), so DistributedDataParallel finds the
    unused ones once instead of searching the graph at every step."""
    if not world().active:
        return step
    wrapped = _Step(step, modules, [p for p in parameters if p.requires_grad])
    device_ids = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(wrapped, device_ids=device_ids, static_graph=True)
