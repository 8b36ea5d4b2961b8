"""The one training loop: every method's training is a list of phases run through ``run_phase``.

Data is one scaled tensor on the device, sliced by index (no host↔device copy inside the loop),
or read from files a window at a time (:mod:`deepclust.training.data`); either way an epoch is
one shuffled pass in batches, with no per-sample Python.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch

from ..exceptions import DeepclustError, TrainingDiverged
from .callbacks import ProgressBar
from .checkpoint import PhaseCheckpoint
from .data import InMemoryData, StreamedData, as_training_data
from .distributed import all_sum, data_parallel, is_writer, world
from .engine import autocast_dtype

#: steps between the host's looks at the on-device record of a non-finite loss, by device type:
#: on a CPU looking costs nothing, so every step is checked before its update; on an accelerator
#: each look waits for the device, so it looks every 64 steps and at every epoch's end
FINITE_CHECK_EVERY = {"cpu": 1}
FINITE_CHECK_EVERY_ACCELERATOR = 64

#: ``step(batch, index) -> {"loss": scalar tensor, other named parts...}``
StepFn = Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]


@dataclass
class Phase:
    """One stage of training: what to minimise, over which parameters, for how long.

    ``on_epoch_end(epoch)`` may return a dict of extra values for the history; a true value under
    ``"stop"`` ends the phase early (e.g. a tolerance on changed labels).
    ``on_batch_start(step)`` runs before every batch with the phase-wide batch counter (e.g. DEC
    recomputing its target distribution every few batches); a true return value ends the phase
    before that batch.
    ``augment(batch)``, when given, transforms every training batch before ``step`` sees it
    (random shifts and rotations of images).
    ``max_grad_norm``, when given, clips the gradient of each optimiser's parameters (the
    adversary's too) to that total L2 norm before every step.
    ``state`` names the tensors outside ``modules`` that the phase trains or its hooks keep
    (cluster centres, a target distribution): a checkpoint saves them and restores them in place,
    so hooks must update them in place or through this dict.
    ``precision`` is the number format of ``step``'s forward computation (the adversary's too):
    ``"32"`` (or ``None``) float32; ``"bf16"`` bfloat16 autocast (matrix products in bfloat16, reductions and
    losses in float32; weights, gradients and optimiser state stay float32); ``"auto"`` bfloat16
    where the device computes it natively (:func:`~deepclust.training.engine.native_bf16`).
    ``compile=True`` runs ``step`` (and the adversary's) through ``torch.compile``.
    """

    name: str
    step: StepFn
    parameters: Iterable[torch.nn.Parameter]
    epochs: int
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str | None = None
    modules: list[torch.nn.Module] = field(default_factory=list)
    on_epoch_end: Callable[[int], dict | None] | None = None
    on_batch_start: Callable[[int], bool | None] | None = None
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None
    betas: tuple[float, float] = (0.9, 0.999)
    adversary: Adversary | None = None
    max_grad_norm: float | None = None
    state: dict[str, torch.Tensor] = field(default_factory=dict)
    precision: str | None = "32"
    compile: bool = False

    @property
    def all_modules(self) -> list[torch.nn.Module]:
        """The phase's modules and its adversary's: everything the phase trains."""
        return self.modules + (self.adversary.modules if self.adversary is not None else [])


@dataclass
class Adversary:
    """A second player trained against a phase's ``step``: a GAN's discriminator or critic.

    ``step(batch, index)`` returns the adversary's own ``{"loss": ..., ...}``; it is minimised over
    ``parameters`` with a second optimiser (the phase's kind, learning rate and betas) on every
    batch, while the phase's own ``step`` runs only on every ``steps``-th batch (WGAN-GP's five
    critic updates per generator update use five different real batches this way). Its history
    entries are prefixed with ``name``.
    """

    name: str
    step: StepFn
    parameters: Iterable[torch.nn.Parameter]
    modules: list[torch.nn.Module] = field(default_factory=list)
    steps: int = 1


def make_optimizer(
    name: str, params, lr: float, weight_decay: float, betas: tuple[float, float] = (0.9, 0.999)
) -> torch.optim.Optimizer:
    """Adam, AdamW (with ``betas``) or SGD with Nesterov momentum 0.9, by name.

    On the CPU and CUDA the fused kernels are used: the same update in one pass over the
    parameters, which cut Adam's step on the d-500-500-2000-10 autoencoder from about 9 ms to
    2–4 ms on a 2-core CPU (``benchmarks/step_time.py``).
    """
    params = list(params)
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params) or None
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay,
                               fused=fused)
    raise DeepclustError(f"unknown optimizer {name!r}; choose 'adam', 'adamw' or 'sgd'")


@contextlib.contextmanager
def flushing_denormals() -> Iterator[None]:
    """Inside the block the CPU treats subnormal floats (below 1.2e-38) as zero; the setting is
    restored after it, and a caller who already flushes them keeps that.

    After a few epochs some of the numbers a network trains with fall into that range, and the CPU
    computes with them many times more slowly: epochs of the demo's pretraining took 2.6 times as
    long from the fifth on, for the same loss to four digits. The setting is per thread and
    torch's worker threads copy it when they start, so only a block entered before the process's
    first parallel torch operation speeds them up too (the CLI does that); later, it covers the
    calling thread's share of the work.
    """
    switched = (torch.full((1,), 1e-38) / 100).item() != 0.0 and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if switched:
            torch.set_flush_denormal(False)


@flushing_denormals()
def run_phase(
    phase: Phase,
    X: torch.Tensor | InMemoryData | StreamedData,
    batch_size: int,
    generator: torch.Generator,
    history: list[dict],
    verbose: int = 0,
    checkpoint: PhaseCheckpoint | None = None,
) -> int:
    """Train ``phase`` on ``X``: a scaled tensor ``(n, ...)`` or the loop's data
(:mod:`deepclust.training.data`); append one dict per epoch to ``history``.

    With a ``checkpoint``, the phase starts from the epoch that checkpoint reached (weights,
    optimisers, schedule, batch order, RNG, ``state`` and history restored) and saves one every
    ``checkpoint.every`` epochs and where it ends (its last epoch or an early stop, which a resumed
    run then respects); every trained parameter must belong to
    ``modules`` (the adversary's included) or ``state``. Returns the number of epochs run, those
    restored included.
    """
    if phase.max_grad_norm is not None and not phase.max_grad_norm > 0:
        raise DeepclustError(f"max_grad_norm must be a positive number or None, got {phase.max_grad_norm!r}")
    if phase.epochs <= 0:
        return 0

    def optimizer_for(parameters) -> torch.optim.Optimizer:
        params = [p for p in parameters if p.requires_grad]
        return make_optimizer(phase.optimizer, params, phase.lr, phase.weight_decay, phase.betas)

    parameters = list(phase.parameters)
    optimizer = optimizer_for(parameters)
    adversary = phase.adversary
    adversary_parameters = list(adversary.parameters) if adversary is not None else []
    adversary_optimizer = optimizer_for(adversary_parameters) if adversary is not None else None
    main_every = adversary.steps if adversary is not None else 1
    data = as_training_data(X)
    # under torchrun each step runs through DistributedDataParallel (identity otherwise)
    step = data_parallel(phase.step, phase.modules, parameters, data.device)
    adversary_step = data_parallel(adversary.step, adversary.modules, adversary_parameters, data.device) \
        if adversary is not None else None
    if phase.compile:
        step = torch.compile(step)
        adversary_step = torch.compile(adversary_step) if adversary_step is not None else None
    if world().active:  # every process draws its own augmentations and noise
        torch.manual_seed(torch.initial_seed() + world().rank)
    dtype = autocast_dtype(phase.precision, data.device)
    batch_size = max(1, min(int(batch_size), data.n))
    batches_per_epoch = data.num_batches(batch_size)
    scheduler = None
    if phase.schedule == "cosine":
        main_steps = phase.epochs * batches_per_epoch // main_every
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, main_steps))
    elif phase.schedule is not None:
        raise DeepclustError(f"unknown schedule {phase.schedule!r}; use None or 'cosine'")
    modules = phase.all_modules
    for module in modules:
        module.train()
    optimizers = [optimizer] + ([adversary_optimizer] if adversary is not None else [])
    first_record = len(history)  # a checkpoint holds this phase's records only

    def save(epochs_done: int, finished: bool) -> None:
        if not is_writer():  # rank 0 writes; every rank holds the same state
            return
        checkpoint.save(modules, optimizers, scheduler, generator, history[first_record:], epochs_done,
                        phase.state, finished)

    start, finished = 0, False
    if checkpoint is not None:
        _check_checkpointable(phase.name, optimizers, modules, phase.state)
        start, finished = checkpoint.restore(modules, optimizers, scheduler, generator, history, phase.state)
    bar = ProgressBar(verbose)
    bar.start(phase.name, (phase.epochs - start) * batches_per_epoch, batch_size, data.n)
    batches = start * batches_per_epoch  # batches drawn, across epochs: the adversary's updates
    step_count = batches // main_every  # updates of the phase's own step
    epochs_run = start
    stopped = False
    watch = _FiniteWatch(data.device)
    try:
        for epoch in range(start, start if finished else phase.epochs):
            started = time.perf_counter()
            totals: dict[str, torch.Tensor] = {}
            adversary_totals: dict[str, torch.Tensor] = {}
            seen = adversary_seen = 0
            for batch_number, (batch, index) in enumerate(data.epoch(batch_size, generator), start=1):
                where = (phase.name, epoch + 1, batch_number)
                if phase.on_batch_start is not None and phase.on_batch_start(step_count):
                    stopped = True
                    break
                if phase.augment is not None:
                    batch = phase.augment(batch)
                weight = index.numel()
                batches += 1
                bar.advance()
                if adversary is not None:
                    with _autocast(data.device, dtype):
                        parts = adversary_step(batch, index)
                    _update(adversary_optimizer, parts, adversary_totals, weight, watch, (*where, adversary.name),
                            phase.max_grad_norm)
                    adversary_seen += weight
                    if batches % main_every:
                        continue
                with _autocast(data.device, dtype):
                    parts = step(batch, index)
                _update(optimizer, parts, totals, weight, watch, (*where, "training"), phase.max_grad_norm)
                if scheduler is not None:
                    scheduler.step()
                step_count += 1
                seen += weight
            watch.check()  # before the epoch's record, its callbacks or its checkpoint
            if seen == 0 and adversary_seen == 0:  # stopped before the first batch of this epoch
                if checkpoint is not None:
                    save(epoch, finished=True)
                break
            epochs_run += 1
            seen, adversary_seen = _job_totals(totals, seen), _job_totals(adversary_totals, adversary_seen)
            record = {"phase": phase.name, "epoch": epoch + 1}
            record.update({k: float(v) / max(seen, 1) for k, v in totals.items()})
            if adversary is not None:
                record.update({
                    f"{adversary.name}" if k == "loss" else f"{adversary.name}_{k}": float(v) / adversary_seen
                    for k, v in adversary_totals.items()
                })
            extra = phase.on_epoch_end(epoch) if phase.on_epoch_end is not None else None
            for module in modules:  # on_epoch_end may have switched to eval mode
                module.train()
            record.update({k: v for k, v in (extra or {}).items() if k != "stop"})
            record["seconds"] = time.perf_counter() - started
            history.append(record)
            finished = stopped or bool(extra and extra.get("stop")) or epoch + 1 == phase.epochs
            if checkpoint is not None and (finished or (epoch + 1) % checkpoint.every == 0):
                save(epoch + 1, finished)
            bar.epoch_done(epoch + 1, phase.epochs, record.get("loss", float("nan")), record["seconds"])
            if finished:
                break
    except TrainingDiverged as exc:
        if checkpoint is None or not checkpoint.path.exists():
            raise
        raise TrainingDiverged(
            f"{exc}; the last good checkpoint, {checkpoint.path}, is kept"
        ) from None
    finally:
        bar.stop()
        for module in modules:
            module.eval()
    return epochs_run


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast to ``dtype`` on ``device``'s type for the block; nothing when ``dtype`` is ``None``."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def _check_checkpointable(name: str, optimizers: list[torch.optim.Optimizer],
                          modules: list[torch.nn.Module], state: dict[str, torch.Tensor]) -> None:
    """Refuse to checkpoint a phase that trains a parameter its checkpoint would not hold."""
    held = {id(p) for module in modules for p in module.parameters()} | {id(t) for t in state.values()}
    if any(id(p) not in held for opt in optimizers for group in opt.param_groups for p in group["params"]):
        raise DeepclustError(f"phase {name!r} trains parameters outside its modules and state; "
                             "it cannot be checkpointed")


def _job_totals(totals: dict[str, torch.Tensor], seen: int) -> int:
    """The epoch's loss totals (in place) and sample count summed over the job's ranks."""
    if not totals:
        return seen
    keys = sorted(totals)
    summed = all_sum(torch.stack([torch.as_tensor(totals[k], dtype=torch.float64) for k in keys] +
                                 [torch.tensor(float(seen), dtype=torch.float64, device=totals[keys[0]].device)]))
    totals.update({k: summed[i] for i, k in enumerate(keys)})
    return int(summed[-1])


class _FiniteWatch:
    """The first non-finite loss of a phase, recorded on the loss's device without waiting for
    it: :meth:`observe` keeps the step's number and value there, and the host looks (one wait
    for the device) every :data:`FINITE_CHECK_EVERY` steps and at the end of every epoch, then
    raises :class:`TrainingDiverged` naming the phase, epoch, batch and loss of the first bad
    step. On a CPU every step is looked at before its update, so a bad loss never reaches the
    weights; on an accelerator up to 63 updates may follow it, and the epoch ends there, before
    its record, its callbacks and its checkpoint."""

    def __init__(self, device: torch.device):
        self.every = FINITE_CHECK_EVERY.get(device.type, FINITE_CHECK_EVERY_ACCELERATOR)
        self.first = torch.full((), -1, dtype=torch.int64, device=device)
        self.value = torch.zeros((), dtype=torch.float32, device=device)
        self.wheres: list[tuple[str, int, int, str]] = []

    def observe(self, loss: torch.Tensor, where: tuple[str, int, int, str]) -> None:
        bad = ~torch.isfinite(loss.detach()) & (self.first < 0)
        self.first = torch.where(bad, len(self.wheres), self.first)
        self.value = torch.where(bad, loss.detach().float(), self.value)
        self.wheres.append(where)
        if len(self.wheres) >= self.every:
            self.check()

    def check(self) -> None:
        first = int(self.first)  # the one wait for the device
        if first >= 0:
            phase, epoch, batch, whose = self.wheres[first]
            raise TrainingDiverged(
                f"training diverged: the {whose} loss is {float(self.value)} in phase {phase!r}, epoch "
                f"{epoch}, batch {batch}; try a lower learning rate (lr), gradient clipping "
                "(max_grad_norm=1.0) or standardised input (input_scaling='standard')"
            )
        self.wheres.clear()


def _update(
    optimizer: torch.optim.Optimizer,
    parts: dict[str, torch.Tensor],
    totals: dict,
    weight: int,
    watch: _FiniteWatch,
    where: tuple[str, int, int, str],
    max_grad_norm: float | None = None,
) -> None:
    """One gradient step on ``parts["loss"]``; adds every part, times ``weight``, to ``totals``.

    A NaN or infinite loss stops training with a message naming ``where``: (phase, epoch,
    batch, whose loss); see :class:`_FiniteWatch` for when.
    """
    watch.observe(parts["loss"], where)
    optimizer.zero_grad(set_to_none=True)
    parts["loss"].backward()
    if max_grad_norm is not None:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    optimizer.step()
    for key, value in parts.items():
        totals[key] = totals.get(key, 0.0) + value.detach().float() * weight
