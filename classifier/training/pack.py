"""Packing a full fine-tune as 4-bit weight deltas over its base (``classifier.delta`` loads them).

Each 2-D weight delta becomes 4-bit integers in groups of ``GROUP`` values with one fp16
scale per group (symmetric, round to nearest), each 1-D delta fp16; unchanged tensors are
left out.
"""

from __future__ import annotations

import torch
from safetensors.torch import save_file

from classifier.delta import GROUP, LEVELS, Weights


def _quantise(delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = delta.float().reshape(-1)
    pad = (-flat.numel()) % GROUP
    groups = torch.nn.functional.pad(flat, (0, pad)).reshape(-1, GROUP)
    scale = groups.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / LEVELS
    q = torch.round(groups / scale).clamp(-LEVELS, LEVELS).to(torch.int8) + 8  # 1..15
    packed = (q[:, 0::2] | (q[:, 1::2] << 4)).to(torch.uint8)
    return packed, scale.squeeze(1).to(torch.float16)


def pack(tuned: Weights, base: Weights) -> Weights:
    """The compressed deltas of every tensor that changed."""
    out: dict[str, torch.Tensor] = {}
    for name, weight in tuned.items():
        if name not in base:
            raise KeyError(f"{name}: not in the base model")
        delta = weight.float() - base[name].float()
        if not torch.any(delta):
            continue
        if weight.dim() >= 2:
            packed, scale = _quantise(delta)
            out[f"{name}.q4"], out[f"{name}.scale"] = packed, scale
        else:
            out[f"{name}.f16"] = delta.to(torch.float16)
    return out


def save_deltas(path: str, deltas: Weights) -> None:
    """Write the deltas (safetensors)."""
    save_file({k: v.contiguous() for k, v in deltas.items()}, path)
