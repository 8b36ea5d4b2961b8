"""Training: the one loop, progress reporting, devices and seeding."""
from .engine import draw_seed, resolve_device, seeded
from .loop import BatchSampler, Phase, run_phase

__all__ = ["BatchSampler", "Phase", "draw_seed", "resolve_device", "run_phase", "seeded"]
