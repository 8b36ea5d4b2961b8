"""Checkpoints of a training phase, so that a killed run resumes where it stopped.

One checkpoint is one safetensors file, replaced atomically: the modules' weights, the
optimiser's tensors, the batch-order generator and torch's global RNG as tensors; the epoch, the
history, the optimiser's hyperparameters, the learning-rate schedule and a *fingerprint* of the
data and settings as JSON in the file's metadata. Nothing is pickled. A checkpoint whose
fingerprint differs from the run's is refused rather than silently continued.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as save_safetensors

from ..exceptions import DeepclustError

META_KEY = "deepclust-checkpoint"


class PhaseCheckpoint:
    """Save and restore one phase's training state at ``path`` every ``every`` epochs.

    ``fingerprint`` (JSON-ready) names the data and settings the checkpoint belongs to.
    """

    def __init__(self, path: Path, every: int, fingerprint: dict[str, Any]) -> None:
        if not isinstance(every, int) or every < 1:
            raise DeepclustError(f"checkpoint_every must be a positive integer, got {every!r}")
        self.path = Path(path)
        self.every = every
        self.fingerprint = json.loads(json.dumps(fingerprint))

    def save(self, modules: list[torch.nn.Module], optimizer: torch.optim.Optimizer, scheduler,
             generator: torch.Generator, history: list[dict], epochs_done: int) -> None:
        from ..io import atomic_write_bytes

        tensors: dict[str, torch.Tensor] = {}
        for i, module in enumerate(modules):
            for name, value in module.state_dict().items():
                tensors[f"module{i}.{name}"] = value.detach().cpu().clone().contiguous()
        state = optimizer.state_dict()
        scalars: dict[str, dict[str, float]] = {}
        for pid, entries in state["state"].items():
            for name, value in entries.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optimizer.{pid}.{name}"] = value.detach().cpu().clone().contiguous()
                else:
                    scalars.setdefault(str(pid), {})[name] = value
        tensors["rng.generator"] = generator.get_state()
        tensors["rng.torch"] = torch.get_rng_state()
        meta = {
            "fingerprint": self.fingerprint,
            "epochs_done": epochs_done,
            "history": history,
            "param_groups": state["param_groups"],
            "optimizer_scalars": scalars,
            "scheduler": None if scheduler is None else scheduler.state_dict(),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = save_safetensors(tensors, metadata={META_KEY: json.dumps(meta)})
        atomic_write_bytes(self.path, data)

    def restore(self, modules: list[torch.nn.Module], optimizer: torch.optim.Optimizer, scheduler,
                generator: torch.Generator, history: list[dict]) -> int:
        """Load the checkpoint if there is one; returns the epochs it had done (0 without one)."""
        if not self.path.exists():
            return 0
        try:
            with safe_open(str(self.path), framework="pt") as handle:
                meta = json.loads((handle.metadata() or {})[META_KEY])
                tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        except Exception as exc:  # noqa: BLE001  safetensors raises its own types for bad files
            raise DeepclustError(f"cannot read the checkpoint {self.path}: {exc}") from None
        if meta.get("fingerprint") != self.fingerprint:
            raise DeepclustError(
                f"the checkpoint {self.path} belongs to other data or settings; remove it or use "
                "another checkpoint folder (random_state=None draws a new seed every fit: set it to resume)"
            )
        try:
            for i, module in enumerate(modules):
                prefix = f"module{i}."
                module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
            state: dict[str, Any] = {"state": {}, "param_groups": meta["param_groups"]}
            for key, value in tensors.items():
                if key.startswith("optimizer."):
                    _, pid, name = key.split(".", 2)
                    state["state"].setdefault(int(pid), {})[name] = value
            for pid, entries in meta["optimizer_scalars"].items():
                state["state"].setdefault(int(pid), {}).update(entries)
            optimizer.load_state_dict(state)
            if scheduler is not None:
                scheduler.load_state_dict(meta["scheduler"])
            generator.set_state(tensors["rng.generator"])
            torch.set_rng_state(tensors["rng.torch"])
        except (KeyError, ValueError, RuntimeError, TypeError) as exc:
            raise DeepclustError(f"the checkpoint {self.path} does not fit this model: {exc}") from None
        history.extend(meta["history"])
        return int(meta["epochs_done"])
