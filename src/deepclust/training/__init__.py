"""Training: the one loop, its data, progress reporting, devices, seeding and batch augmentation."""
from .augment import random_shift_rotate
from .data import InMemoryData, StreamedData
from .engine import draw_seed, resolve_device, seeded
from .loop import Adversary, Phase, flushing_denormals, run_phase

__all__ = ["Adversary", "InMemoryData", "Phase", "StreamedData", "draw_seed", "flushing_denormals",
           "random_shift_rotate", "resolve_device", "run_phase", "seeded"]
