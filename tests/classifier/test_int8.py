"""CPU int8: per-channel, measured per model, and only used where the model folder says so."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from torch import nn

from classifier import int8
from classifier.data import Example
from classifier.engine import Engine
from classifier.model import load

DEV = [
    Example("Stocks tumble as recession fears grow", "negative", "sentiment"),
    Example("Shares jump after record quarterly profit", "positive", "sentiment"),
    Example("Company to report earnings on Tuesday", "neutral", "sentiment"),
    Example("Fed holds rates steady", "Fed | Central Banks", "topic"),
    Example("Oil prices climb on supply cuts", "Energy | Oil", "topic"),
]


def test_quantize_makes_every_linear_layer_int8_per_channel(tiny_model_dir: Path) -> None:
    model, _, _ = load(tiny_model_dir)
    quantised = int8.quantize(model)
    dynamic = [
        m for m in quantised.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)
    ]
    floats = [m for m in quantised.modules() if type(m) is nn.Linear]
    assert dynamic and not floats, "every linear layer, heads included"
    for layer in dynamic:
        weight = layer.weight()  # type: ignore[no-untyped-call]
        assert weight.qscheme() == torch.per_channel_affine
        assert weight.q_per_channel_scales().numel() == weight.shape[0]
    assert any(isinstance(m, nn.Linear) for m in model.modules()), "the original is untouched"


def test_check_reports_both_tasks_and_the_drop(tiny_model_dir: Path) -> None:
    model, tokenizer, spec = load(tiny_model_dir)
    result = int8.check(model, tokenizer, spec, DEV)
    assert set(result) >= {"sentiment", "topic", "within_tolerance", "tolerance"}
    assert result["sentiment"]["n"] == 3 and result["topic"]["n"] == 2
    for task in ("sentiment", "topic"):
        r = result[task]
        assert r["accuracy_drop"] == round(r["fp32_accuracy"] - r["int8_accuracy"], 4)
        assert 0.0 <= r["label_agreement"] <= 1.0
    passed = [
        result[t]["accuracy_drop"] <= int8.TOLERANCE
        and result[t]["label_agreement"] >= int8.AGREEMENT
        for t in ("sentiment", "topic")
    ]
    assert result["within_tolerance"] == all(passed)


def test_auto_uses_int8_on_cpu_only_for_a_model_recorded_within_tolerance(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    assert not Engine.from_folder(tiny_model_dir, device="cpu", quantize_int8="auto").int8
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    int8.record(folder, {"within_tolerance": False, "tolerance": int8.TOLERANCE})
    assert not Engine.from_folder(folder, device="cpu", quantize_int8="auto").int8
    int8.record(folder, {"within_tolerance": True, "tolerance": int8.TOLERANCE})
    engine = Engine.from_folder(folder, device="cpu", quantize_int8="auto")
    assert engine.int8
    assert not Engine.from_folder(folder, device="cpu", quantize_int8=False).int8
    assert [s.sentiment_label for s in engine.predict(["Shares jump"])]  # it runs
