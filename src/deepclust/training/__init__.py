"""Training: the one loop, progress reporting, devices, seeding and batch augmentation."""
from .augment import random_shift_rotate
from .engine import draw_seed, resolve_device, seeded
from .loop import Adversary, BatchSampler, Phase, flushing_denormals, run_phase

__all__ = ["Adversary", "BatchSampler", "Phase", "draw_seed", "flushing_denormals", "random_shift_rotate",
           "resolve_device", "run_phase", "seeded"]
