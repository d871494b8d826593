"""Whether CPU int8 keeps a model's labels: calibrate, measure, record (``check-int8``).

The activation maxima that ``classifier.quantize`` smooths and splits by are observed here, in
fp32, on a fixed sample of the model's training texts. ``check`` then scores the model's own
dev split in fp32 and in int8, and ``record`` writes the accuracy drops and the label agreement
into ``finsent_model.json`` (``extra.int8``) beside the calibration. The engine's ``auto``
setting follows that record: int8 only where no task loses more than ``TOLERANCE`` accuracy and
at least ``AGREEMENT`` of the labels stay the same.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from classifier.engine import Engine
from classifier.model import INT8_CALIBRATION, MANIFEST, ModelSpec, SentimentTopicModel, load
from classifier.quantize import ALPHA, OUTLIER, activation_bits, encoder_linears
from classifier.training.data import Example, folder_examples
from classifier.training.evaluation import report

TOLERANCE = 0.005  # accuracy, absolute (0.5 points)
AGREEMENT = 0.99  # share of dev labels int8 must leave unchanged
CALIBRATION_TEXTS = 1024


def calibrate(
    model: SentimentTopicModel, tokenizer: Any, spec: ModelSpec, texts: Sequence[str]
) -> dict[str, torch.Tensor]:
    """Per input channel, the largest |activation| each int8 layer sees over ``texts`` (fp32)."""
    maxima: dict[str, torch.Tensor] = {}

    def observe(name: str) -> Any:
        def hook(_: nn.Module, inputs: tuple[torch.Tensor, ...], __: Any) -> None:
            x = inputs[0].detach().float().abs().reshape(-1, inputs[0].shape[-1]).amax(0)
            maxima[name] = torch.maximum(maxima[name], x) if name in maxima else x

        return hook

    net = copy.deepcopy(model).cpu()
    hooks = [
        layer.register_forward_hook(observe(name)) for name, layer in encoder_linears(net).items()
    ]
    try:
        Engine(net, tokenizer, spec, device="cpu").predict(list(texts))
    finally:
        for hook in hooks:
            hook.remove()
    return {name: x.clone() for name, x in maxima.items()}  # plain tensors, not inference ones


def check(
    model: SentimentTopicModel,
    tokenizer: Any,
    spec: ModelSpec,
    dev: Sequence[Example],
    calibration: dict[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Per task: dev accuracy and macro-F1 in fp32 and int8, the drop, the label agreement."""
    fp32 = Engine(copy.deepcopy(model).cpu(), tokenizer, spec, device="cpu")
    quantised = Engine(
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
        b = [str(getattr(s, field)) for s in quantised.predict(texts)]
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


def record(
    folder: Path, result: dict[str, Any], calibration: dict[str, torch.Tensor] | None = None
) -> None:
    """Store the check in the folder's manifest (``extra.int8``), with its calibration."""
    path = folder / MANIFEST
    manifest = json.loads(path.read_text())
    manifest.setdefault("extra", {})["int8"] = result
    if calibration is not None:
        save_file(
            {k: v.contiguous() for k, v in calibration.items()}, str(folder / INT8_CALIBRATION)
        )
    else:
        (folder / INT8_CALIBRATION).unlink(missing_ok=True)
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
    train, dev = folder_examples(folder, sentiment_csv, topic_csv)
    model, tokenizer, spec = load(folder)
    return measure(model, tokenizer, spec, train, dev)
