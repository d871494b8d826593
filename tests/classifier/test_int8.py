"""CPU int8: per-channel, measured per model, and only used where the model folder says so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from torch import nn
from typer.testing import CliRunner

from classifier import int8
from classifier.card import other_evaluations, write_model_card
from classifier.data import Example
from classifier.engine import Engine
from classifier.model import MANIFEST, load, save
from classifier.train import train
from finsent.cli import app
from tests.classifier.test_train import config

runner = CliRunner()

DEV = [
    Example("Stocks tumble as recession fears grow", "negative", "sentiment"),
    Example("Shares jump after record quarterly profit", "positive", "sentiment"),
    Example("Company to report earnings on Tuesday", "neutral", "sentiment"),
    Example("Fed holds rates steady", "Fed | Central Banks", "topic"),
    Example("Oil prices climb on supply cuts", "Energy | Oil", "topic"),
]


TEXTS = [e.text for e in DEV] + ["Dollar slips as traders price in rate cuts", "Bank beats"]


def _is_down_projection(layer: nn.Module) -> bool:
    return (getattr(layer, "in_features", 0), getattr(layer, "out_features", 0)) == (64, 32)


DOWN = "encoder.encoder.layer.{}.output.dense"  # the tiny model's FFN down-projections: 64 -> 32


def _per_channel(layers: list[int8.Int8Linear]) -> bool:
    weights = [layer.weight() for layer in layers]  # type: ignore[no-untyped-call]
    return all(
        w.qscheme() == torch.per_channel_affine and w.q_per_channel_scales().numel() == w.shape[0]
        for w in weights
    )


def test_quantize_without_calibration_keeps_down_projections_and_heads_fp32(
    tiny_model_dir: Path,
) -> None:
    model, _, _ = load(tiny_model_dir)
    quantised = int8.quantize(model)
    dynamic = [m for m in quantised.modules() if isinstance(m, int8.Int8Linear)]
    floats = {n for n, m in quantised.named_modules() if type(m) is nn.Linear}
    # per layer: query, key, value, attention output, FFN up (+ the pooler); 2 layers
    assert len(dynamic) == 2 * 5 + 1 and _per_channel(dynamic)
    assert floats == {"sentiment_head", "topic_head", DOWN.format(0), DOWN.format(1)}
    assert any(isinstance(m, nn.Linear) for m in model.modules()), "the original is untouched"


def test_quantize_with_calibration_smooths_and_splits_off_outlier_channels(
    tiny_model_dir: Path,
) -> None:
    model, tokenizer, spec = load(tiny_model_dir)
    calibration = int8.calibrate(model, tokenizer, spec, TEXTS)
    calibration[DOWN.format(1)][[5, 9]] = 100 * calibration[DOWN.format(1)].median()
    quantised = int8.quantize(model, calibration)
    dynamic = [m for m in quantised.modules() if isinstance(m, int8.Int8Linear)]
    assert len(dynamic) == 2 * 6 + 1 and _per_channel(dynamic), "down-projections too"
    floats = {n for n, m in quantised.named_modules() if type(m) is nn.Linear}
    assert floats == {"sentiment_head", "topic_head"}
    split = [quantised.get_submodule(DOWN.format(i)) for i in (0, 1)]
    assert all(isinstance(m, int8.Decomposed) for m in split)
    assert [m.outliers.tolist() for m in split] == [  # type: ignore[operator]
        torch.nonzero(calibration[DOWN.format(0)] > 4 * calibration[DOWN.format(0)].median())
        .flatten()
        .tolist(),
        [5, 9],
    ]
    smoothed = [m for m in quantised.modules() if isinstance(m, int8.Smoothed)]
    assert len(smoothed) == 2 * 5 + 1


def test_decomposition_keeps_the_float_output_and_cuts_the_int8_error() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(64, 16)
    x = torch.randn(200, 64)
    x[:3, 7] = 60.0  # one channel, a few tokens: a [CLS]-like outlier
    split = int8.Decomposed(layer, torch.tensor([7]))
    with torch.no_grad():
        torch.testing.assert_close(split(x), layer(x), rtol=1e-5, atol=1e-5)
        split.rest = int8.Int8Linear.from_float(_with_qconfig(split.rest))  # type: ignore[no-untyped-call]
        plain = int8.Int8Linear.from_float(_with_qconfig(layer))  # type: ignore[no-untyped-call]
        reference = layer(x)[3:]  # the ordinary tokens
        error = float((split(x)[3:] - reference).abs().mean())
        plain_error = float((plain(x)[3:] - reference).abs().mean())
    assert error < 0.5 * plain_error


def test_int8_linear_uses_the_activation_width_of_this_cpu() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(64, 16)
    x = torch.randn(40, 64) * torch.linspace(0.1, 4.0, 64)
    reference = layer(x)
    ours = int8.Int8Linear.from_float(_with_qconfig(layer))(x)  # type: ignore[no-untyped-call]
    stock = torch.ao.nn.quantized.dynamic.Linear.from_float(  # type: ignore[no-untyped-call]
        _with_qconfig(layer)
    )(x)
    error, stock_error = (float((y - reference).abs().mean().detach()) for y in (ours, stock))
    if int8.activation_bits() == 8:  # VNNI: 8-bit activations, half the rounding step
        assert error < 0.75 * stock_error
    else:  # fbgemm's own 7-bit activations
        assert error == stock_error


def _with_qconfig(layer: nn.Linear) -> nn.Linear:
    from torch.ao.quantization import per_channel_dynamic_qconfig

    layer.qconfig = per_channel_dynamic_qconfig  # type: ignore[assignment]
    return layer


def test_calibration_observes_every_int8_layer_input(tiny_model_dir: Path) -> None:
    model, tokenizer, spec = load(tiny_model_dir)
    calibration = int8.calibrate(model, tokenizer, spec, TEXTS)
    quantised_names = {
        n.removesuffix(".linear").removesuffix(".rest")
        for n, m in int8.quantize(model, calibration).named_modules()
        if isinstance(m, int8.Int8Linear)
    }
    assert set(calibration) == quantised_names
    for name, maxima in calibration.items():
        layer = model.get_submodule(name)
        assert isinstance(layer, nn.Linear) and maxima.shape == (layer.in_features,)
        assert bool((maxima > 0).all())
    # the first query layer's input is the embeddings' LayerNorm output (one text: no padding)
    alone = int8.calibrate(model, tokenizer, spec, TEXTS[:1])
    with torch.inference_mode():
        ids = tokenizer(TEXTS[:1], truncation=True, max_length=64, return_tensors="pt")["input_ids"]
        real = model.encoder.get_submodule("embeddings")(input_ids=ids)[0].abs().amax(0)
    first = "encoder.encoder.layer.0.attention.self.query"
    torch.testing.assert_close(alone[first], real, rtol=1e-4, atol=1e-5)
    assert all(bool((calibration[n] >= alone[n]).all()) for n in calibration), "a running max"


def test_prepare_keeps_the_float_outputs_and_narrows_the_activation_range(
    tiny_model_dir: Path,
) -> None:
    model, tokenizer, spec = load(tiny_model_dir)
    calibration = int8.calibrate(model, tokenizer, spec, TEXTS)
    calibration[DOWN.format(0)][3] = 100 * calibration[DOWN.format(0)].median()
    prepared = int8.prepare(model, calibration)
    wrapped = [m for m in prepared.modules() if isinstance(m, int8.Smoothed | int8.Decomposed)]
    assert len(wrapped) == len(calibration)
    batch = tokenizer(TEXTS, truncation=True, max_length=64, padding=True, return_tensors="pt")
    with torch.inference_mode():
        before = model(batch["input_ids"], batch["attention_mask"])
        after = prepared(batch["input_ids"], batch["attention_mask"])
    for a, b in zip(before, after, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    seen = int8.calibrate(prepared, tokenizer, spec, TEXTS)  # inputs as the int8 layers get them
    smoothed = [name for name in calibration if f"{name}.linear" in seen]
    assert len(smoothed) == len(calibration) - 2
    for name in smoothed:
        narrowed, maxima = seen[f"{name}.linear"], calibration[name]
        assert float(narrowed.max() / narrowed.min()) < float(maxima.max() / maxima.min())


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


def test_check_with_calibration_records_how_int8_ran(tiny_model_dir: Path) -> None:
    model, tokenizer, spec = load(tiny_model_dir)
    train = [Example(t, "neutral", "sentiment") for t in TEXTS]
    result, calibration = int8.measure(model, tokenizer, spec, train, DEV)
    assert result["calibrated"] and "smoothed" in result["quantisation"]
    assert result["activation_bits"] == int8.activation_bits()
    assert set(calibration) == set(int8.calibrate(model, tokenizer, spec, TEXTS))


def test_auto_uses_int8_on_cpu_only_for_a_model_recorded_within_tolerance(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    assert not Engine.from_folder(tiny_model_dir, device="cpu", quantize_int8="auto").int8
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    model, tokenizer, spec = load(folder)
    calibration = int8.calibrate(model, tokenizer, spec, TEXTS)
    ran = {"activation_bits": int8.activation_bits(), "calibrated": True}

    def auto() -> bool:
        return Engine.from_folder(folder, device="cpu", quantize_int8="auto").int8

    int8.record(folder, {"within_tolerance": False, **ran}, calibration)
    assert not auto()
    int8.record(folder, {"within_tolerance": True, **ran}, calibration)
    assert (folder / int8.CALIBRATION).is_file() and auto()
    loaded = int8.load_calibration(folder)
    assert loaded is not None and set(loaded) == set(calibration)
    (folder / int8.CALIBRATION).unlink()
    assert not auto(), "recorded as calibrated, but the calibration is gone"
    int8.record(folder, {"within_tolerance": True, **ran, "activation_bits": 7 + 8}, calibration)
    assert not auto(), "measured with another activation width"
    int8.record(folder, {"within_tolerance": True, **ran, "calibrated": False})
    assert not (folder / int8.CALIBRATION).exists() and auto()
    engine = Engine.from_folder(folder, device="cpu", quantize_int8="auto")
    assert not Engine.from_folder(folder, device="cpu", quantize_int8=False).int8
    assert [s.sentiment_label for s in engine.predict(["Shares jump"])]  # it runs


def test_check_int8_command_calibrates_records_and_keeps_the_cards_evaluations(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    out = tmp_path / "model"
    train(config(out, tiny_model_dir / "encoder", epochs=1), say=lambda _: None, command="x")
    assert (out / int8.CALIBRATION).is_file(), "training calibrates its folder"
    (out / int8.CALIBRATION).unlink()
    write_model_card(out, {"an earlier evaluation": {"accuracy": 0.5}})
    result = runner.invoke(app, ["model", "check-int8", str(out)])
    assert result.exit_code == 0, result.output
    recorded = json.loads((out / MANIFEST).read_text())["extra"]["int8"]
    assert recorded["calibrated"] and (out / int8.CALIBRATION).is_file()
    loaded = int8.load_calibration(out)
    assert loaded is not None and all(v.ndim == 1 for v in loaded.values())
    card = (out / "README.md").read_text()
    assert "## CPU int8" in card and int8.CALIBRATION in card
    assert other_evaluations(out) == {"an earlier evaluation": {"accuracy": 0.5}}
    assert f"| sentiment | {recorded['sentiment']['fp32_accuracy']:.4f} |" in card


def test_saving_new_weights_voids_the_int8_record_and_calibration(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    model, tokenizer, spec = load(folder)
    calibration = int8.calibrate(model, tokenizer, spec, TEXTS)
    ran = {"activation_bits": int8.activation_bits(), "calibrated": True}
    int8.record(folder, {"within_tolerance": True, **ran}, calibration)
    measured = load(folder)[2]
    assert int8.validated(measured, int8.load_calibration(folder))
    save(model, measured, folder, tokenizer)  # e.g. a soup or a re-pack into the same folder
    assert not (folder / int8.CALIBRATION).exists()
    assert "int8" not in load(folder)[2].extra and "int8" in measured.extra
    assert not Engine.from_folder(folder, device="cpu", quantize_int8="auto").int8
