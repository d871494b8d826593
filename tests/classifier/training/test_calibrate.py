"""int8 calibration and the precision check: activation maxima, every mode's drops, the record."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from torch import nn
from typer.testing import CliRunner

from classifier.model import INT8_CALIBRATION, MANIFEST, load
from classifier.precision import (
    AGREEMENT,
    RECORD,
    TOLERANCE,
    activation_bits,
    cpu_features,
    passes,
)
from classifier.quantize import Int8Linear, load_calibration, quantize
from classifier.training.calibrate import calibrate, check, measure, record
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


def test_check_measures_every_mode_against_fp32_and_says_where_it_ran(
    tiny_model_dir: Path,
) -> None:
    model, tokenizer, spec = load(tiny_model_dir)
    result = check(model, tokenizer, spec, DEV)
    assert result["tolerance"] == TOLERANCE and result["agreement_required"] == AGREEMENT
    assert result["cpu"] == cpu_features().record() and result["cpu"]["name"]
    assert result["fp32"]["sentiment"]["n"] == 3 and result["fp32"]["topic"]["n"] == 2
    assert set(result["modes"]) == {"bf16", "int8"}
    for mode, entry in result["modes"].items():
        assert entry["items_per_s"] > 0 and entry["how"]
        for task in ("sentiment", "topic"):
            r, base = entry[task], result["fp32"][task]
            assert abs(r["accuracy_drop"] - (base["accuracy"] - r["accuracy"])) < 1e-3, mode
            assert 0.0 <= r["label_agreement"] <= 1.0
        assert entry["within_tolerance"] == passes(entry)
    assert result["modes"]["int8"]["activation_bits"] == activation_bits()
    assert not result["modes"]["int8"]["calibrated"]
    assert result["auto_here"]["mode"] in ("fp32", "bf16", "int8")


def test_check_with_calibration_records_how_int8_ran(tiny_model_dir: Path) -> None:
    model, tokenizer, spec = load(tiny_model_dir)
    train = [Example(t, "neutral", "sentiment") for t in TEXTS]
    result, calibration = measure(model, tokenizer, spec, train, DEV)
    int8 = result["modes"]["int8"]
    assert int8["calibrated"] and "smoothed" in int8["how"] and int8["backend"] == "fbgemm"
    assert set(calibration) == set(calibrate(model, tokenizer, spec, TEXTS))


def test_record_supersedes_an_int8_only_record(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["extra"]["int8"] = {"within_tolerance": True}
    (folder / MANIFEST).write_text(json.dumps(manifest))
    model, tokenizer, spec = load(folder)
    record(folder, check(model, tokenizer, spec, DEV))
    extra = json.loads((folder / MANIFEST).read_text())["extra"]
    assert "int8" not in extra and set(extra[RECORD]["modes"]) == {"bf16", "int8"}
    assert not (folder / INT8_CALIBRATION).exists()


def test_check_precision_command_calibrates_records_and_keeps_the_cards_evaluations(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    out = tmp_path / "model"
    train(config(out, tiny_model_dir / "encoder", epochs=1), say=lambda _: None, command="x")
    assert (out / INT8_CALIBRATION).is_file(), "training calibrates its folder"
    (out / INT8_CALIBRATION).unlink()
    write_model_card(out, {"an earlier evaluation": {"accuracy": 0.5}})
    result = runner.invoke(app, ["model", "check-precision", str(out)])
    assert result.exit_code == 0, result.output
    assert "classifier.precision auto on this CPU:" in result.output
    recorded = json.loads((out / MANIFEST).read_text())["extra"][RECORD]
    assert recorded["modes"]["int8"]["calibrated"] and (out / INT8_CALIBRATION).is_file()
    loaded = load_calibration(out)
    assert loaded is not None and all(v.ndim == 1 for v in loaded.values())
    card = (out / "README.md").read_text()
    assert "## CPU precision" in card and INT8_CALIBRATION in card
    assert other_evaluations(out) == {"an earlier evaluation": {"accuracy": 0.5}}
    assert f"| fp32 | sentiment | {recorded['fp32']['sentiment']['accuracy']:.4f} |" in card
    bf16 = recorded["modes"]["bf16"]["sentiment"]
    assert f"| bf16 | sentiment | {bf16['accuracy']:.4f} |" in card
    again = runner.invoke(app, ["model", "check-int8", str(out)])  # the command's old name
    assert again.exit_code == 0, again.output
