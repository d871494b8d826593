"""CPU int8: smoothed per-channel dynamic quantisation, used only where a model keeps its labels.

Each output channel of a linear layer gets its own int8 scale, and activations are quantised
with one scale per batch, at 8 bits where the CPU has AVX-512 VNNI (7 elsewhere, as fbgemm
needs). A BERT's activations carry a few outlier channels that stretch that one scale, so
before quantising, with activation maxima calibrated on training texts and stored in the model
folder (``CALIBRATION``):

- each layer's input channels are smoothed (SmoothQuant, Xiao et al. 2023): input channel j
  is divided by s_j = max|x_j|^a / max|W_j|^(1-a) and the weight's column j multiplied by it,
  which leaves the float output unchanged and moves the range into the per-channel weight
  scales;
- the feed-forward down-projections (inputs after GELU, where the [CLS] token puts 10-17x the
  median channel's range into one channel) are split by input channel instead (LLM.int8(),
  Dettmers et al. 2022): the few channels over ``OUTLIER`` x the median range run in float,
  the rest in int8. Smoothing them moved more labels.

Without a calibration the layers are quantised as they are and the down-projections stay fp32;
the heads always do. Whether a model qualifies is measured, not assumed: ``check`` scores the
model's own dev split in fp32 and in int8 and ``record`` writes the accuracy drops and the label
agreement into ``finsent_model.json`` (``extra.int8``). The engine's ``auto`` setting uses int8
for CPU inference only when that record says no task loses more than ``TOLERANCE`` accuracy and
at least ``AGREEMENT`` of the labels stay the same, on a CPU with the recorded activation width.
"""

from __future__ import annotations

import copy
import functools
import json
import random
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

from classifier.data import Example
from classifier.model import INT8_CALIBRATION, MANIFEST, ModelSpec

if TYPE_CHECKING:
    from classifier.model import SentimentTopicModel

TOLERANCE = 0.005  # accuracy, absolute (0.5 points)
AGREEMENT = 0.99  # share of dev labels int8 must leave unchanged
ALPHA = 0.85  # smoothing strength: the share of an input channel's range moved to the weights
OUTLIER = 4.0  # a down-projection input channel over this many times the median range: float
CALIBRATION = INT8_CALIBRATION
CALIBRATION_TEXTS = 1024
M = TypeVar("M", bound=nn.Module)


@functools.cache
def activation_bits() -> int:
    """8 with VNNI (int32 accumulation); 7 without, where fbgemm's int16 sums could saturate."""
    vnni = getattr(torch.cpu, "_is_vnni_supported", None)
    return 8 if vnni is not None and vnni() else 7


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


def _encoder_linears(model: nn.Module) -> dict[str, nn.Linear]:
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
        for name, layer in _encoder_linears(model).items()
        if not _down_projection(layer, config)
        or isinstance(model.get_submodule(name.rpartition(".")[0]), Decomposed)
    ]


def calibrate(
    model: SentimentTopicModel, tokenizer: Any, spec: ModelSpec, texts: Sequence[str]
) -> dict[str, torch.Tensor]:
    """Per input channel, the largest |activation| each int8 layer sees over ``texts`` (fp32)."""
    from classifier.engine import Engine

    maxima: dict[str, torch.Tensor] = {}

    def observe(name: str) -> Any:
        def hook(_: nn.Module, inputs: tuple[torch.Tensor, ...], __: Any) -> None:
            x = inputs[0].detach().float().abs().reshape(-1, inputs[0].shape[-1]).amax(0)
            maxima[name] = torch.maximum(maxima[name], x) if name in maxima else x

        return hook

    net = copy.deepcopy(model).cpu()
    hooks = [
        layer.register_forward_hook(observe(name)) for name, layer in _encoder_linears(net).items()
    ]
    try:
        Engine(net, tokenizer, spec, device="cpu").predict(list(texts))
    finally:
        for hook in hooks:
            hook.remove()
    return {name: x.clone() for name, x in maxima.items()}  # plain tensors, not inference ones


def prepare(model: M, calibration: dict[str, torch.Tensor], alpha: float = ALPHA) -> M:
    """A float copy ready for int8 whose outputs equal the original's.

    Calibrated layers get smoothed inputs, and calibrated down-projections are decomposed.
    """
    prepared = copy.deepcopy(model).cpu()
    config = prepared.get_submodule("encoder").config
    for name, layer in _encoder_linears(prepared).items():
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


def validated(spec: ModelSpec, calibration: dict[str, torch.Tensor] | None) -> bool:
    """True when the folder records int8 within tolerance, as this CPU and folder would run it."""
    record = spec.extra.get("int8")
    return (
        isinstance(record, dict)
        and bool(record.get("within_tolerance"))
        and record.get("activation_bits") == activation_bits()
        and bool(record.get("calibrated")) == (calibration is not None)
    )


def check(
    model: SentimentTopicModel,
    tokenizer: Any,
    spec: ModelSpec,
    dev: Sequence[Example],
    calibration: dict[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Per task: dev accuracy and macro-F1 in fp32 and int8, the drop, the label agreement."""
    from classifier.engine import Engine
    from classifier.metrics import report

    fp32 = Engine(copy.deepcopy(model).cpu(), tokenizer, spec, device="cpu")
    int8 = Engine(
        model, tokenizer, spec, device="cpu", quantize_int8=True, int8_calibration=calibration
    )
    result: dict[str, Any] = {
        "tolerance": TOLERANCE,
        "agreement_required": AGREEMENT,
        "quantisation": (
            f"dynamic, per-channel, smoothed (alpha {ALPHA}); FFN down-projections int8 but for "
            f"input channels over {OUTLIER:g}x the median range; heads fp32"
            if calibration is not None
            else "dynamic, per-channel; FFN down-projections and heads fp32"
        ),
        "activation_bits": activation_bits(),
        "calibrated": calibration is not None,
    }
    passed = []
    for task, labels in (("sentiment", spec.sentiment_labels), ("topic", spec.topic_labels)):
        examples = [e for e in dev if e.task == task]
        if not examples:
            continue
        texts, gold = [e.text for e in examples], [e.label for e in examples]
        field = "sentiment_label" if task == "sentiment" else "topic_label"
        a = [str(getattr(s, field)) for s in fp32.predict(texts)]
        b = [str(getattr(s, field)) for s in int8.predict(texts)]
        ra, rb = report(gold, a, labels), report(gold, b, labels)
        drop = ra["accuracy"] - rb["accuracy"]
        agreement = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
        passed.append(drop <= TOLERANCE and agreement >= AGREEMENT)
        result[task] = {
            "n": len(examples),
            "fp32_accuracy": round(ra["accuracy"], 4),
            "int8_accuracy": round(rb["accuracy"], 4),
            "fp32_macro_f1": round(ra["macro_f1"], 4),
            "int8_macro_f1": round(rb["macro_f1"], 4),
            "accuracy_drop": round(drop, 4),
            "label_agreement": round(agreement, 4),
        }
    result["within_tolerance"] = bool(passed) and all(passed)
    return result


def load_calibration(folder: Path) -> dict[str, torch.Tensor] | None:
    """The folder's activation maxima, or None where it was never calibrated."""
    path = folder / CALIBRATION
    return load_file(str(path)) if path.is_file() else None


def record(
    folder: Path, result: dict[str, Any], calibration: dict[str, torch.Tensor] | None = None
) -> None:
    """Store the check in the folder's manifest (``extra.int8``), with its calibration."""
    path = folder / MANIFEST
    manifest = json.loads(path.read_text())
    manifest.setdefault("extra", {})["int8"] = result
    if calibration is not None:
        save_file({k: v.contiguous() for k, v in calibration.items()}, str(folder / CALIBRATION))
    else:
        (folder / CALIBRATION).unlink(missing_ok=True)
    path.write_text(json.dumps(manifest, indent=2) + "\n")


def measure(
    model: SentimentTopicModel,
    tokenizer: Any,
    spec: ModelSpec,
    train: Sequence[Example],
    dev: Sequence[Example],
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Calibrate on a fixed sample of the training texts, then ``check`` on the dev split."""
    texts = sorted({e.text for e in train})
    sample = random.Random(0).sample(texts, min(CALIBRATION_TEXTS, len(texts)))
    calibration = calibrate(model, tokenizer, spec, sample)
    return check(model, tokenizer, spec, dev, calibration), calibration


def check_folder(
    folder: Path, sentiment_csv: Path, topic_csv: Path
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``measure`` on the split the folder's model was trained with (``train_config.json``)."""
    from classifier.model import load
    from classifier.train import folder_examples

    train, dev = folder_examples(folder, sentiment_csv, topic_csv)
    model, tokenizer, spec = load(folder)
    return measure(model, tokenizer, spec, train, dev)
