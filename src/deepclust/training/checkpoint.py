"""Checkpoints of a training phase, so that a killed run resumes where it stopped.

One checkpoint per phase (pretraining, a clustering phase, a GAN game) is one safetensors file,
replaced atomically: the modules' weights, the optimisers' tensors, the phase's extra tensors,
the batch-order generator and torch's global (and GPU) RNG as tensors; the epoch, the phase's history, the
optimisers' hyperparameters, the learning-rate schedule and a *fingerprint* of the data,
settings and starting state as JSON in the file's metadata. Nothing is pickled. A checkpoint whose
fingerprint differs from the run's is refused rather than silently continued.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as save_safetensors

from .. import files
from ..exceptions import DeepclustError

META_KEY = "deepclust-checkpoint"


def state_digest(modules: list[torch.nn.Module], state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the modules' weights and the phase's extra tensors: the state a phase starts from."""
    digest = hashlib.sha256()
    named = [(f"module{i}.{name}", value) for i, module in enumerate(modules)
             for name, value in module.state_dict().items()]
    for name, value in named + sorted((f"state.{k}", v) for k, v in state.items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class PhaseCheckpoint:
    """Save and restore one phase's training state at ``path`` every ``every`` epochs.

    ``fingerprint`` (JSON-ready) names the data, settings and starting state the checkpoint
    belongs to. The state is: the weights of ``modules``; every optimiser's tensors and
    hyperparameters (a GAN's second player too); the learning-rate schedule; the batch-order
    generator, torch's global RNG and, on a GPU, its RNG; the phase's extra tensors ``state`` (cluster centres,
    target distributions, ...), restored in place; the epochs done and the phase's history.
    """

    def __init__(self, path: Path, every: int, fingerprint: dict[str, Any]) -> None:
        if not isinstance(every, int) or every < 1:
            raise DeepclustError(f"checkpoint_every must be a positive integer, got {every!r}")
        self.path = Path(path)
        self.every = every
        self.fingerprint = json.loads(json.dumps(fingerprint))

    def save(self, modules: list[torch.nn.Module], optimizers: list[torch.optim.Optimizer], scheduler,
             generator: torch.Generator, history: list[dict], epochs_done: int,
             state: dict[str, torch.Tensor] | None = None, finished: bool = False) -> None:
        """Write the state after ``epochs_done`` epochs; ``finished``: the phase ended there
        (its last epoch, or an early stop such as DEC's tolerance)."""
        tensors: dict[str, torch.Tensor] = {}
        for i, module in enumerate(modules):
            for name, value in module.state_dict().items():
                tensors[f"module{i}.{name}"] = value
        for name, value in (state or {}).items():
            tensors[f"state.{name}"] = value
        param_groups, scalars = [], []
        for i, optimizer in enumerate(optimizers):
            optimizer_state = optimizer.state_dict()
            param_groups.append(optimizer_state["param_groups"])
            scalars.append({})
            for pid, entries in optimizer_state["state"].items():
                for name, value in entries.items():
                    if isinstance(value, torch.Tensor):
                        tensors[f"optimizer{i}.{pid}.{name}"] = value
                    else:
                        scalars[i].setdefault(str(pid), {})[name] = value
        tensors = {k: v.detach().cpu().clone().contiguous() for k, v in tensors.items()}
        tensors["rng.generator"] = generator.get_state()
        tensors["rng.torch"] = torch.get_rng_state()
        if generator.device.type == "cuda":  # draws on the GPU (noise, augmentation) use its RNG
            tensors["rng.cuda"] = torch.cuda.get_rng_state(generator.device)
        meta = {
            "fingerprint": self.fingerprint,
            "epochs_done": epochs_done,
            "finished": finished,
            "history": history,
            "param_groups": param_groups,
            "optimizer_scalars": scalars,
            "scheduler": None if scheduler is None else scheduler.state_dict(),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):  # left by a killed run
            stale.unlink(missing_ok=True)
        data = save_safetensors(tensors, metadata={META_KEY: json.dumps(meta)})
        files.atomic_write_bytes(self.path, data)

    def restore(self, modules: list[torch.nn.Module], optimizers: list[torch.optim.Optimizer], scheduler,
                generator: torch.Generator, history: list[dict],
                state: dict[str, torch.Tensor] | None = None) -> tuple[int, bool]:
        """Load the checkpoint if there is one; returns the epochs it had done and whether the
        phase had finished (``(0, False)`` without one)."""
        if not self.path.exists():
            return 0, False
        try:
            with safe_open(str(self.path), framework="pt") as handle:
                meta = json.loads((handle.metadata() or {})[META_KEY])
                tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        except Exception as exc:  # noqa: BLE001  safetensors raises its own types for bad files
            raise DeepclustError(f"cannot read the checkpoint {self.path}: {exc}") from None
        if meta.get("fingerprint") != self.fingerprint:
            raise DeepclustError(
                f"the checkpoint {self.path} belongs to other data or settings (or another starting "
                "state, such as other pretrained weights); remove it or use "
                "another checkpoint folder (random_state=None draws a new seed every fit: set it to resume)"
            )
        try:
            for i, module in enumerate(modules):
                prefix = f"module{i}."
                module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
            state = {} if state is None else state
            saved_state = {k[len("state."):]: v for k, v in tensors.items() if k.startswith("state.")}
            if saved_state.keys() != state.keys():
                raise ValueError(f"phase state {sorted(saved_state)} != {sorted(state)}")
            with torch.no_grad():
                for name, value in saved_state.items():
                    if value.shape != state[name].shape or value.dtype != state[name].dtype:
                        raise ValueError(f"phase state {name!r} is {tuple(value.shape)} {value.dtype}, "
                                         f"expected {tuple(state[name].shape)} {state[name].dtype}")
                    state[name].copy_(value)
            for i, optimizer in enumerate(optimizers):
                optimizer_state: dict[str, Any] = {"state": {}, "param_groups": meta["param_groups"][i]}
                prefix = f"optimizer{i}."
                for key, value in tensors.items():
                    if key.startswith(prefix):
                        pid, name = key[len(prefix):].split(".", 1)
                        optimizer_state["state"].setdefault(int(pid), {})[name] = value
                for pid, entries in meta["optimizer_scalars"][i].items():
                    optimizer_state["state"].setdefault(int(pid), {}).update(entries)
                optimizer.load_state_dict(optimizer_state)
            if scheduler is not None:
                scheduler.load_state_dict(meta["scheduler"])
            generator.set_state(tensors["rng.generator"])
            torch.set_rng_state(tensors["rng.torch"])
            if generator.device.type == "cuda":
                torch.cuda.set_rng_state(tensors["rng.cuda"], generator.device)
        except (KeyError, IndexError, ValueError, RuntimeError, TypeError) as exc:
            raise DeepclustError(f"the checkpoint {self.path} does not fit this model: {exc}") from None
        history.extend(meta["history"])
        return int(meta["epochs_done"]), bool(meta.get("finished"))
