"""Which precisions keep a model's labels: calibrate int8, measure every mode, record it.

``finsent model check-precision`` (also run by train and pack) scores the model's own dev
split in fp32 and in every cheaper mode the engine can run on a CPU (bf16 autocast, the
calibrated int8), and ``record`` writes, per mode, the accuracy drops, the label agreement
with fp32 and the dev items/s, with the CPU features it ran on, into ``finsent_model.json``
(``extra.precision``). The int8 activation maxima that ``classifier.quantize`` smooths and
splits by are observed here first, in fp32, on a fixed sample of the training texts, and stored
beside the record. ``classifier.precision`` reads the record: ``auto`` runs a mode only where
no task loses more than ``TOLERANCE`` accuracy and at least ``AGREEMENT`` of the labels stay.
bf16 is measured on any CPU (one without native bf16 emulates it, slowly, with the same
rounding); int8 with this CPU's activation width.
"""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from classifier.engine import Engine
from classifier.model import INT8_CALIBRATION, MANIFEST, ModelSpec, SentimentTopicModel, load
from classifier.precision import (
    AGREEMENT,
    LEGACY_INT8,
    RECORD,
    TASKS,
    TOLERANCE,
    Precision,
    activation_bits,
    choose,
    cpu_features,
    passes,
)
from classifier.quantize import ALPHA, OUTLIER, encoder_linears, load_calibration
from classifier.training.data import Example, folder_examples
from classifier.training.evaluation import report

CALIBRATION_TEXTS = 1024
MODES: tuple[Precision, ...] = ("bf16", "int8")
"""The modes checked against fp32 (fp16 is a GPU stand-in for bf16, not checked on a CPU)."""


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


def _how(mode: str, calibration: dict[str, torch.Tensor] | None) -> dict[str, Any]:
    if mode == "bf16":
        return {"how": "torch.autocast bf16 (linear weights stored in bf16; LayerNorm, softmax "
                       "and embeddings fp32)"}  # fmt: skip
    return {
        "how": (
            f"dynamic, per-channel, smoothed (alpha {ALPHA}); FFN down-projections int8 but for "
            f"input channels over {OUTLIER:g}x the median range; heads fp32"
            if calibration is not None
            else "dynamic, per-channel; FFN down-projections and heads fp32"
        ),
        "backend": "fbgemm",
        "activation_bits": activation_bits(),
        "calibrated": calibration is not None,
    }


def _labels(engine: Engine, dev: Sequence[Example]) -> tuple[dict[str, list[str]], float]:
    """Each task's predicted dev labels, and the items/s of scoring them all."""
    out: dict[str, list[str]] = {}
    started, count = time.perf_counter(), 0
    for task in TASKS:
        texts = [e.text for e in dev if e.task == task]
        if texts:
            field = f"{task}_label"
            out[task] = [str(getattr(s, field)) for s in engine.predict(texts)]
            count += len(texts)
    return out, count / max(time.perf_counter() - started, 1e-9)


def check(
    model: SentimentTopicModel,
    tokenizer: Any,
    spec: ModelSpec,
    dev: Sequence[Example],
    calibration: dict[str, torch.Tensor] | None = None,
    modes: Sequence[Precision] = MODES,
) -> dict[str, Any]:
    """fp32's dev accuracy and macro-F1 per task; per mode, its own, the drop, the agreement."""
    gold = {task: [e.label for e in dev if e.task == task] for task in TASKS}
    names = {"sentiment": spec.sentiment_labels, "topic": spec.topic_labels}
    fp32 = Engine(copy.deepcopy(model).cpu(), tokenizer, spec, device="cpu")
    reference, rate = _labels(fp32, dev)
    accuracy: dict[str, float] = {}
    result: dict[str, Any] = {
        "tolerance": TOLERANCE,
        "agreement_required": AGREEMENT,
        "cpu": cpu_features().record(),
        "torch": torch.__version__.split("+")[0],
        "fp32": {"items_per_s": round(rate, 1)},
        "modes": {},
    }
    for task, predicted in reference.items():
        r = report(gold[task], predicted, names[task])
        accuracy[task] = r["accuracy"]
        result["fp32"][task] = {
            "n": len(predicted),
            "accuracy": round(r["accuracy"], 4),
            "macro_f1": round(r["macro_f1"], 4),
        }
    for mode in modes:
        net = copy.deepcopy(model).cpu()
        engine = Engine(net, tokenizer, spec, device="cpu", precision=mode,
                        int8_calibration=calibration)  # fmt: skip
        labels, rate = _labels(engine, dev)
        entry: dict[str, Any] = _how(mode, calibration) | {"items_per_s": round(rate, 1)}
        for task, predicted in labels.items():
            r = report(gold[task], predicted, names[task])
            base = reference[task]
            entry[task] = {
                "accuracy": round(r["accuracy"], 4),
                "macro_f1": round(r["macro_f1"], 4),
                "accuracy_drop": round(accuracy[task] - r["accuracy"], 4),
                "label_agreement": round(
                    sum(a == b for a, b in zip(base, predicted, strict=True)) / len(base), 4
                ),
            }
        entry["within_tolerance"] = passes(entry)
        result["modes"][mode] = entry
    auto = choose("auto", "cpu", result, calibrated=calibration is not None)
    result["auto_here"] = {"mode": auto.mode, "reason": auto.reason}
    return result


def record(
    folder: Path, result: dict[str, Any], calibration: dict[str, torch.Tensor] | None = None
) -> None:
    """Store the check in the folder's manifest (``extra.precision``), with its calibration.

    An int8-only record of an earlier check is dropped: this one supersedes it.
    """
    path = folder / MANIFEST
    manifest = json.loads(path.read_text())
    extra = manifest.setdefault("extra", {})
    extra.pop(LEGACY_INT8, None)
    extra[RECORD] = result
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
    """``measure`` on the split the folder's model was trained with (``train_config.json``).

    A calibration the folder already holds is checked as it is (saving new weights deletes
    it, so it belongs to these weights); a folder without one is calibrated first.
    """
    train, dev = folder_examples(folder, sentiment_csv, topic_csv)
    model, tokenizer, spec = load(folder)
    calibration = load_calibration(folder)
    if calibration is None:
        return measure(model, tokenizer, spec, train, dev)
    return check(model, tokenizer, spec, dev, calibration), calibration
