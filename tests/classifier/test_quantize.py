"""CPU int8 at inference: per-channel, calibrated layers, and used only where the folder says so."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from classifier.engine import Engine
from classifier.model import INT8_CALIBRATION, load
from classifier.precision import activation_bits, cpu_features
from classifier.quantize import (
    Decomposed,
    Int8Linear,
    Smoothed,
    load_calibration,
    prepare,
    quantize,
)
from classifier.training.calibrate import calibrate, record
from classifier.training.data import Example

DEV = [
    Example("Stocks tumble as recession fears grow", "negative", "sentiment"),
    Example("Shares jump after record quarterly profit", "positive", "sentiment"),
    Example("Company to report earnings on Tuesday", "neutral", "sentiment"),
    Example("Fed holds rates steady", "Fed | Central Banks", "topic"),
    Example("Oil prices climb on supply cuts", "Energy | Oil", "topic"),
]


TEXTS = [e.text for e in DEV] + ["Dollar slips as traders price in rate cuts", "Bank beats"]


DOWN = "encoder.encoder.layer.{}.output.dense"  # the tiny model's FFN down-projections: 64 -> 32


def _per_channel(layers: list[Int8Linear]) -> bool:
    weights = [layer.weight() for layer in layers]  # type: ignore[no-untyped-call]
    return all(
        w.qscheme() == torch.per_channel_affine and w.q_per_channel_scales().numel() == w.shape[0]
        for w in weights
    )


def test_quantize_without_calibration_keeps_down_projections_and_heads_fp32(
    tiny_model_dir: Path,
) -> None:
    model, _, _ = load(tiny_model_dir)
    quantised = quantize(model)
    dynamic = [m for m in quantised.modules() if isinstance(m, Int8Linear)]
    floats = {n for n, m in quantised.named_modules() if type(m) is nn.Linear}
    # per layer: query, key, value, attention output, FFN up (+ the pooler); 2 layers
    assert len(dynamic) == 2 * 5 + 1 and _per_channel(dynamic)
    assert floats == {"sentiment_head", "topic_head", DOWN.format(0), DOWN.format(1)}
    assert any(isinstance(m, nn.Linear) for m in model.modules()), "the original is untouched"


def test_quantize_with_calibration_smooths_and_splits_off_outlier_channels(
    tiny_model_dir: Path,
) -> None:
    model, tokenizer, spec = load(tiny_model_dir)
    calibration = calibrate(model, tokenizer, spec, TEXTS)
    calibration[DOWN.format(1)][[5, 9]] = 100 * calibration[DOWN.format(1)].median()
    quantised = quantize(model, calibration)
    dynamic = [m for m in quantised.modules() if isinstance(m, Int8Linear)]
    assert len(dynamic) == 2 * 6 + 1 and _per_channel(dynamic), "down-projections too"
    floats = {n for n, m in quantised.named_modules() if type(m) is nn.Linear}
    assert floats == {"sentiment_head", "topic_head"}
    split = [quantised.get_submodule(DOWN.format(i)) for i in (0, 1)]
    assert all(isinstance(m, Decomposed) for m in split)
    assert [m.outliers.tolist() for m in split] == [  # type: ignore[operator]
        torch.nonzero(calibration[DOWN.format(0)] > 4 * calibration[DOWN.format(0)].median())
        .flatten()
        .tolist(),
        [5, 9],
    ]
    smoothed = [m for m in quantised.modules() if isinstance(m, Smoothed)]
    assert len(smoothed) == 2 * 5 + 1


def test_decomposition_keeps_the_float_output_and_cuts_the_int8_error() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(64, 16)
    x = torch.randn(200, 64)
    x[:3, 7] = 60.0  # one channel, a few tokens: a [CLS]-like outlier
    split = Decomposed(layer, torch.tensor([7]))
    with torch.no_grad():
        torch.testing.assert_close(split(x), layer(x), rtol=1e-5, atol=1e-5)
        split.rest = Int8Linear.from_float(_with_qconfig(split.rest))  # type: ignore[no-untyped-call]
        plain = Int8Linear.from_float(_with_qconfig(layer))  # type: ignore[no-untyped-call]
        reference = layer(x)[3:]  # the ordinary tokens
        error = float((split(x)[3:] - reference).abs().mean())
        plain_error = float((plain(x)[3:] - reference).abs().mean())
    assert error < 0.5 * plain_error


def test_int8_linear_uses_the_activation_width_of_this_cpu() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(64, 16)
    x = torch.randn(40, 64) * torch.linspace(0.1, 4.0, 64)
    reference = layer(x)
    ours = Int8Linear.from_float(_with_qconfig(layer))(x)  # type: ignore[no-untyped-call]
    stock = torch.ao.nn.quantized.dynamic.Linear.from_float(  # type: ignore[no-untyped-call]
        _with_qconfig(layer)
    )(x)
    error, stock_error = (float((y - reference).abs().mean().detach()) for y in (ours, stock))
    if activation_bits() == 8:  # VNNI: 8-bit activations, half the rounding step
        assert error < 0.75 * stock_error
    else:  # fbgemm's own 7-bit activations
        assert error == stock_error


def _with_qconfig(layer: nn.Linear) -> nn.Linear:
    from torch.ao.quantization import per_channel_dynamic_qconfig

    layer.qconfig = per_channel_dynamic_qconfig  # type: ignore[assignment]
    return layer


def test_prepare_keeps_the_float_outputs_and_narrows_the_activation_range(
    tiny_model_dir: Path,
) -> None:
    model, tokenizer, spec = load(tiny_model_dir)
    calibration = calibrate(model, tokenizer, spec, TEXTS)
    calibration[DOWN.format(0)][3] = 100 * calibration[DOWN.format(0)].median()
    prepared = prepare(model, calibration)
    wrapped = [m for m in prepared.modules() if isinstance(m, Smoothed | Decomposed)]
    assert len(wrapped) == len(calibration)
    batch = tokenizer(TEXTS, truncation=True, max_length=64, padding=True, return_tensors="pt")
    with torch.inference_mode():
        before = model(batch["input_ids"], batch["attention_mask"])
        after = prepared(batch["input_ids"], batch["attention_mask"])
    for a, b in zip(before, after, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    seen = calibrate(prepared, tokenizer, spec, TEXTS)  # inputs as the int8 layers get them
    smoothed = [name for name in calibration if f"{name}.linear" in seen]
    assert len(smoothed) == len(calibration) - 2
    for name in smoothed:
        narrowed, maxima = seen[f"{name}.linear"], calibration[name]
        assert float(narrowed.max() / narrowed.min()) < float(maxima.max() / maxima.min())


def _int8_record(**int8: object) -> dict[str, object]:
    figures = {"accuracy_drop": 0.0, "label_agreement": 0.999}
    entry = {"sentiment": figures, "topic": figures, "activation_bits": activation_bits()}
    return {"modes": {"int8": entry | {"calibrated": True} | int8}}


@pytest.mark.skipif(
    not cpu_features().vnni or cpu_features().native_bf16,
    reason="auto picks int8 only on a CPU with VNNI and no native bf16",
)
def test_auto_uses_int8_on_a_vnni_cpu_only_as_recorded(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    assert Engine.from_folder(tiny_model_dir, device="cpu", precision="auto").precision == "fp32"
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    model, tokenizer, spec = load(folder)
    calibration = calibrate(model, tokenizer, spec, TEXTS)

    def auto() -> str:
        return Engine.from_folder(folder, device="cpu", precision="auto").precision

    record(folder, _int8_record(), calibration)
    assert (folder / INT8_CALIBRATION).is_file() and auto() == "int8"
    (folder / INT8_CALIBRATION).unlink()
    assert auto() == "fp32", "recorded as calibrated, but the calibration is gone"
    record(folder, _int8_record(calibrated=False))
    assert auto() == "int8"


def test_the_calibration_of_a_folder_is_read_back(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    model, tokenizer, spec = load(folder)
    calibration = calibrate(model, tokenizer, spec, TEXTS)
    record(folder, _int8_record(), calibration)
    loaded = load_calibration(folder)
    assert loaded is not None and set(loaded) == set(calibration)
    engine = Engine.from_folder(folder, device="cpu", precision="int8")
    assert engine.precision == "int8" and "calibrated" in engine.precision_reason
    assert [s.sentiment_label for s in engine.predict(["Shares jump"])]  # it runs
