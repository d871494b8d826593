"""An exponential moving average (EMA) of a model's weights during training.

torch's ``AveragedModel`` keeps the averaged copy; the decay warms up as (1 + n) / (10 + n)
for the first updates (capped at ``decay``), so the random initial heads fade out fast.
Evaluated beside the raw weights after every epoch; the better of the two is kept.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

Tensors = tuple[torch.Tensor, ...] | list[torch.Tensor]
Update = Callable[[Tensors, Tensors, "torch.Tensor | int"], None]


def check_decay(decay: float) -> None:
    """Refuse a decay outside (0, 1) (the one rule for the option and the average)."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"--ema-decay {decay}: the EMA decay must lie in (0, 1)")


def ema_update(decay: float) -> Update:
    """The multi-tensor update: averaged <- averaged + (1 - d) * (current - averaged)."""
    check_decay(decay)

    def update(averaged: Tensors, current: Tensors, updates: torch.Tensor | int) -> None:
        done = int(updates)
        step = 1.0 - min(decay, (1 + done) / (10 + done))
        torch._foreach_lerp_(averaged, current, step)

    return update


def ema_of(model: nn.Module, decay: float) -> AveragedModel:
    """A copy of ``model`` whose weights follow the EMA of ``model``'s (call update_parameters)."""
    return AveragedModel(model, multi_avg_fn=ema_update(decay), use_buffers=False)
