"""CPU int8 calibration and checks: activation maxima, dev-split drops, the recorded verdict."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from typer.testing import CliRunner

from classifier.model import INT8_CALIBRATION, MANIFEST, load
from classifier.quantize import Int8Linear, activation_bits, load_calibration, quantize
from classifier.training.calibrate import AGREEMENT, TOLERANCE, calibrate, check, measure
from classifier.training.card import other_evaluations, write_model_card
from classifier.training.data import Example
from classifier.training.train import train
from finsent.cli import app
from tests.classifier.test_quantize import DEV, TEXTS
from tests.classifier.training.test_train import config

runner = CliRunner()


def test_calibration_observes_every_int8_layer_input(tiny_model_dir: Path) -> None:
    model, tokenizer, spec = load(tiny_model_dir)
    calibration = calibrate(model, tokenizer, spec, TEXTS)
    quantised_names = {
        n.removesuffix(".linear").removesuffix(".rest")
        for n, m in quantize(model, calibration).named_modules()
        if isinstance(m, Int8Linear)
    }
    assert set(calibration) == quantised_names
    for name, maxima in calibration.items():
        layer = model.get_submodule(name)
        assert isinstance(layer, nn.Linear) and maxima.shape == (layer.in_features,)
        assert bool((maxima > 0).all())
    # the first query layer's input is the embeddings' LayerNorm output (one text: no padding)
    alone = calibrate(model, tokenizer, spec, TEXTS[:1])
    with torch.inference_mode():
        ids = tokenizer(TEXTS[:1], truncation=True, max_length=64, return_tensors="pt")["input_ids"]
        real = model.encoder.get_submodule("embeddings")(input_ids=ids)[0].abs().amax(0)
    first = "encoder.encoder.layer.0.attention.self.query"
    torch.testing.assert_close(alone[first], real, rtol=1e-4, atol=1e-5)
    assert all(bool((calibration[n] >= alone[n]).all()) for n in calibration), "a running max"


def test_check_reports_both_tasks_and_the_drop(tiny_model_dir: Path) -> None:
    model, tokenizer, spec = load(tiny_model_dir)
    result = check(model, tokenizer, spec, DEV)
    assert set(result) >= {"sentiment", "topic", "within_tolerance", "tolerance"}
    assert result["sentiment"]["n"] == 3 and result["topic"]["n"] == 2
    for task in ("sentiment", "topic"):
        r = result[task]
        assert r["accuracy_drop"] == round(r["fp32_accuracy"] - r["int8_accuracy"], 4)
        assert 0.0 <= r["label_agreement"] <= 1.0
    passed = [
        result[t]["accuracy_drop"] <= TOLERANCE and result[t]["label_agreement"] >= AGREEMENT
        for t in ("sentiment", "topic")
    ]
    assert result["within_tolerance"] == all(passed)


def test_check_with_calibration_records_how_int8_ran(tiny_model_dir: Path) -> None:
    model, tokenizer, spec = load(tiny_model_dir)
    train = [Example(t, "neutral", "sentiment") for t in TEXTS]
    result, calibration = measure(model, tokenizer, spec, train, DEV)
    assert result["calibrated"] and "smoothed" in result["quantisation"]
    assert result["activation_bits"] == activation_bits()
    assert set(calibration) == set(calibrate(model, tokenizer, spec, TEXTS))


def test_check_int8_command_calibrates_records_and_keeps_the_cards_evaluations(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    out = tmp_path / "model"
    train(config(out, tiny_model_dir / "encoder", epochs=1), say=lambda _: None, command="x")
    assert (out / INT8_CALIBRATION).is_file(), "training calibrates its folder"
    (out / INT8_CALIBRATION).unlink()
    write_model_card(out, {"an earlier evaluation": {"accuracy": 0.5}})
    result = runner.invoke(app, ["model", "check-int8", str(out)])
    assert result.exit_code == 0, result.output
    recorded = json.loads((out / MANIFEST).read_text())["extra"]["int8"]
    assert recorded["calibrated"] and (out / INT8_CALIBRATION).is_file()
    loaded = load_calibration(out)
    assert loaded is not None and all(v.ndim == 1 for v in loaded.values())
    card = (out / "README.md").read_text()
    assert "## CPU int8" in card and INT8_CALIBRATION in card
    assert other_evaluations(out) == {"an earlier evaluation": {"accuracy": 0.5}}
    assert f"| sentiment | {recorded['sentiment']['fp32_accuracy']:.4f} |" in card
