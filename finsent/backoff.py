"""Capped exponential backoff with jitter, shared by every retry loop."""

from __future__ import annotations

import random


def backoff_s(failures: int, initial_s: float, max_s: float, floor: float = 0.0) -> float:
    """Delay after ``failures`` consecutive failures (>= 1).

    ``min(max_s, initial_s * 2 ** (failures - 1))`` scaled by a uniform factor in
    ``[floor, 1]``: ``floor=0`` is full jitter (retries of many clients spread out),
    ``floor=0.5`` keeps at least half the delay.
    """
    delay = min(max_s, initial_s * 2 ** max(0, failures - 1))
    return float(delay) * random.uniform(floor, 1.0)  # jitter, not crypto
