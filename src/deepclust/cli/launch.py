"""``deepclust fit ... --nproc N``: the same command in N processes, through torchrun's launcher.

The launcher is PyTorch's own (``torch.distributed.launcher``, what ``torchrun --standalone``
runs): it starts N copies of ``python -m deepclust fit ...`` on this machine with the
environment of a torchrun job, watches them, and when one fails stops the others. Here its
report is one line naming the process that failed.
"""
from __future__ import annotations

import logging
import os
import sys
import uuid
from typing import TYPE_CHECKING

import typer

from ..exceptions import DeepclustError

if TYPE_CHECKING:
    from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

OPTION = "--nproc"


def split_nproc(args: list[str]) -> tuple[int | None, list[str]]:
    """``--nproc N`` (or ``--nproc=N``) taken out of ``args``: ``(N or None, the other args)``."""
    rest, value = [], None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == OPTION:
            if i + 1 >= len(args):
                raise DeepclustError(f"{OPTION} needs a number of processes, e.g. {OPTION} 2")
            value, i = args[i + 1], i + 2
            continue
        if arg.startswith(OPTION + "="):
            value, i = arg.split("=", 1)[1], i + 1
            continue
        rest.append(arg)
        i += 1
    if value is None:
        return None, rest
    if not value.isdigit() or int(value) < 1:
        raise DeepclustError(f"{OPTION} must be a positive number of processes, got {value!r}")
    return int(value), rest


def _cause(failures: dict[int, ProcessFailure]) -> tuple[int, ProcessFailure]:
    """The failure that stopped the job, of torchrun's ``{rank: ProcessFailure}``: a process
    killed by a signal first, then one that exited with a status (how a process whose peer died
    ends), then one stopped by SIGTERM (how the launcher stops the rest); among equals the
    earliest, then the lowest rank (the launcher times failures to the second, so several often
    share one)."""
    def order(rank: int) -> tuple[int, int, int]:
        failure = failures[rank]
        kind = 1 if failure.exitcode >= 0 else 2 if failure.signal_name() == "SIGTERM" else 0
        return kind, failure.timestamp, rank
    rank = min(failures, key=order)
    return rank, failures[rank]


def launch(nproc: int, args: list[str]) -> int:
    """Run ``deepclust <args>`` in ``nproc`` processes of one torchrun job on this machine; the
    exit status: 0, the workers' own 2 for a user error (which they reported), else 1 with a
    line saying which process failed and how."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # its report is ours
    # the cores shared between the processes, as torchrun does (unless the caller chose)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0)
    try:
        elastic_launch(config, sys.executable)("-m", "deepclust", *args)
    except ChildFailedError as exc:
        rank, failure = _cause(exc.failures)
        if failure.exitcode == 2:
            return 2
        how = (f"was killed by {failure.signal_name()}" if failure.exitcode < 0 else
               f"exited with status {failure.exitcode}")
        typer.echo(f"error: process {rank} of {nproc} {how}, so the job stopped; nothing was written "
                   "(with --checkpoint-dir, --resume continues from the last checkpoint)", err=True)
        return 1
    return 0
