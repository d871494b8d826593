"""A fine-tuned encoder shipped as compressed weight deltas over its base: the loading side.

A full fine-tune of all-MiniLM-L6-v2 is 90 MB of fp32; the difference to the base it started
from is small and quantises well. Each 2-D weight delta is stored as 4-bit integers in groups
of ``GROUP`` values with one fp16 scale per group (symmetric, round to nearest); 1-D tensors
(biases, LayerNorm) as fp16 deltas; tensors that did not change (frozen embeddings) are not
stored. Loading adds the dequantised deltas to the base weights; packing them is training's
work (``classifier.training.pack``).
"""

from __future__ import annotations

import torch
from safetensors.torch import load_file

GROUP = 64
Weights = dict[str, torch.Tensor]
LEVELS = 7  # int4 symmetric: -7..7


def _dequantise(packed: torch.Tensor, scale: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    low = (packed & 0x0F).to(torch.int8) - 8
    high = (packed >> 4).to(torch.int8) - 8
    q = torch.stack((low, high), dim=2).reshape(packed.shape[0], GROUP)
    values = (q.float() * scale.float().unsqueeze(1)).reshape(-1)
    return values[: shape.numel()].reshape(shape)


def unpack(
    deltas: dict[str, torch.Tensor], base: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The base weights with the deltas added (a full state dict)."""
    weights = {name: tensor.clone() for name, tensor in base.items()}
    for key, value in deltas.items():
        name, _, kind = key.rpartition(".")
        if kind == "q4":
            target = weights[name]
            change = _dequantise(value, deltas[f"{name}.scale"], target.shape)
            weights[name] = (target.float() + change).to(target.dtype)
        elif kind == "f16":
            weights[name] = (weights[name].float() + value.float()).to(weights[name].dtype)
        elif kind != "scale":
            raise KeyError(f"{key}: unknown delta kind")
    return weights


def load_deltas(path: str) -> Weights:
    """Read deltas written by ``classifier.training.pack.save_deltas``."""
    return load_file(path)
