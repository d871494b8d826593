"""CPU int8 at inference: smoothed per-channel dynamic quantisation of a loaded model.

Each output channel of a linear layer gets its own int8 scale, and activations are quantised
with one scale per batch, at 8 bits where the CPU has AVX-512 VNNI (7 elsewhere, as fbgemm
needs). A BERT's activations carry a few outlier channels that stretch that one scale, so
before quantising, with activation maxima calibrated on training texts and stored in the model
folder (``INT8_CALIBRATION``, written by ``classifier.training.calibrate``):

- each layer's input channels are smoothed (SmoothQuant, Xiao et al. 2023): input channel j
  is divided by s_j = max|x_j|^a / max|W_j|^(1-a) and the weight's column j multiplied by it,
  which leaves the float output unchanged and moves the range into the per-channel weight
  scales;
- the feed-forward down-projections (inputs after GELU, where the [CLS] token puts 10-17x the
  median channel's range into one channel) are split by input channel instead (LLM.int8(),
  Dettmers et al. 2022): the few channels over ``OUTLIER`` x the median range run in float,
  the rest in int8. Smoothing them moved more labels.

Without a calibration the layers are quantised as they are and the down-projections stay fp32;
the heads always do. Whether a model qualifies is measured, not assumed, when it is trained or
checked (``finsent model check-precision``), and recorded in ``finsent_model.json``;
``classifier.precision`` says when ``auto`` runs it (on a CPU with VNNI but no native bf16,
with the recorded activation width and calibration). The kernels are fbgemm's (what torch's
default ``x86`` engine packs dynamic linears for); oneDNN's (``torch.backends.quantized.engine =
"onednn"``) measured no faster, alternated with them in one process on an AVX-512 VNNI CPU.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors.torch import load_file
from torch import nn
from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

from classifier.model import INT8_CALIBRATION
from classifier.precision import activation_bits

ALPHA = 0.85  # smoothing strength: the share of an input channel's range moved to the weights
OUTLIER = 4.0  # a down-projection input channel over this many times the median range: float
M = TypeVar("M", bound=nn.Module)


class Int8Linear(DynamicLinear):
    """fbgemm's dynamic int8 linear, with the activation width this CPU allows."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Quantise ``x`` with one scale for the batch, multiply in int8, return floats."""
        y = torch.ops.quantized.linear_dynamic(
            x, self._packed_params._packed_params, reduce_range=activation_bits() < 8
        )
        return y.to(x.dtype)  # type: ignore[no-any-return]


class Smoothed(nn.Module):
    """A linear layer whose weight columns were multiplied by ``scale``; divides its input."""

    def __init__(self, linear: nn.Module, scale: torch.Tensor) -> None:
        super().__init__()
        self.linear = linear
        self.inverse: torch.Tensor
        self.register_buffer("inverse", 1 / scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The original layer's output, computed from the smoothed weight."""
        return self.linear(x * self.inverse)  # type: ignore[no-any-return]


class Decomposed(nn.Module):
    """A linear layer split by input channel: ``outliers`` in float, the others through ``rest``.

    Its float output equals the original's; ``quantize`` makes ``rest`` int8, so the outlier
    channels no longer set the batch's one activation scale.
    """

    def __init__(self, linear: nn.Linear, outliers: torch.Tensor) -> None:
        super().__init__()
        weight = linear.weight.detach()
        keep = torch.ones(weight.shape[1], dtype=weight.dtype)
        keep[outliers] = 0
        self.rest = nn.Linear(linear.in_features, linear.out_features, linear.bias is not None)
        with torch.no_grad():
            self.rest.weight.copy_(weight * keep)
            if linear.bias is not None:
                self.rest.bias.copy_(linear.bias)
        self.outliers: torch.Tensor
        self.outlier_weight: torch.Tensor
        self.keep: torch.Tensor
        self.register_buffer("outliers", outliers)
        self.register_buffer("outlier_weight", weight[:, outliers].t().contiguous())
        self.register_buffer("keep", keep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``rest`` on the other channels plus the outlier channels' float product."""
        if not self.outliers.numel():
            return self.rest(x)  # type: ignore[no-any-return]
        inlier = self.rest(x * self.keep)
        return inlier + x.index_select(-1, self.outliers) @ self.outlier_weight  # type: ignore[no-any-return]


def _down_projection(layer: nn.Linear, config: Any) -> bool:
    """The FFN's second layer (intermediate -> hidden), whose inputs come out of GELU."""
    return (layer.in_features, layer.out_features) == (
        int(config.intermediate_size),
        int(config.hidden_size),
    )


def encoder_linears(model: nn.Module) -> dict[str, nn.Linear]:
    """Every linear layer of the encoder, by name (the heads are outside it)."""
    encoder = model.get_submodule("encoder")
    return {
        f"encoder.{name}": layer
        for name, layer in encoder.named_modules()
        if isinstance(layer, nn.Linear)
    }


def _int8_layers(model: nn.Module) -> list[str]:
    """The encoder layers ``quantize`` makes int8: all but down-projections not decomposed."""
    config = model.get_submodule("encoder").config
    return [
        name
        for name, layer in encoder_linears(model).items()
        if not _down_projection(layer, config)
        or isinstance(model.get_submodule(name.rpartition(".")[0]), Decomposed)
    ]


def prepare(model: M, calibration: dict[str, torch.Tensor], alpha: float = ALPHA) -> M:
    """A float copy ready for int8 whose outputs equal the original's.

    Calibrated layers get smoothed inputs, and calibrated down-projections are decomposed.
    """
    prepared = copy.deepcopy(model).cpu()
    config = prepared.get_submodule("encoder").config
    for name, layer in encoder_linears(prepared).items():
        if name not in calibration:
            continue
        maxima = calibration[name]
        wrapped: nn.Module
        if _down_projection(layer, config):
            outliers = torch.nonzero(maxima > OUTLIER * maxima.median()).flatten()
            wrapped = Decomposed(layer, outliers)
        else:
            weight = layer.weight.detach().abs().amax(0).clamp(min=1e-5)
            scale = (maxima.clamp(min=1e-5) ** alpha / weight ** (1 - alpha)).clamp(min=1e-5)
            with torch.no_grad():
                layer.weight.mul_(scale)
            wrapped = Smoothed(layer, scale)
        parent, _, attribute = name.rpartition(".")
        setattr(prepared.get_submodule(parent), attribute, wrapped)
    return prepared


def quantize(model: M, calibration: dict[str, torch.Tensor] | None = None) -> M:
    """A copy whose encoder layers run int8, per output channel (``prepare``d if calibrated)."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    net = prepare(model, calibration) if calibration is not None else copy.deepcopy(model).cpu()
    spec = {name: per_channel_dynamic_qconfig for name in _int8_layers(net)}
    with warnings.catch_warnings():  # eager-mode quantisation is deprecated, not removed
        warnings.simplefilter("ignore")
        return quantize_dynamic(  # type: ignore[no-untyped-call, no-any-return]
            net, spec, mapping={nn.Linear: Int8Linear}, inplace=True
        )


def load_calibration(folder: Path) -> dict[str, torch.Tensor] | None:
    """The folder's activation maxima, or None where it was never calibrated."""
    path = folder / INT8_CALIBRATION
    return load_file(str(path)) if path.is_file() else None
