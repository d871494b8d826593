"""classifier.precision: which mode auto runs given the CPU and the record; bf16 on the engine."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from structlog.testing import capture_logs
from torch import nn

from classifier import stage as classify_stage
from classifier.engine import Engine
from classifier.model import MANIFEST
from classifier.precision import (
    AGREEMENT,
    TOLERANCE,
    CpuFeatures,
    PrecisionError,
    choose,
    cpu_candidates,
    passes,
    read_record,
)
from finsent.config import ClassifierSettings, ConfigError, Settings, load_settings
from tests.classifier.test_engine import TEXTS

AMX = CpuFeatures(amx=True, avx512_bf16=True, vnni=True, avx512=True)
ZEN4 = CpuFeatures(amx=False, avx512_bf16=True, vnni=True, avx512=True)
CASCADE_LAKE = CpuFeatures(amx=False, avx512_bf16=False, vnni=True, avx512=True)
AVX2 = CpuFeatures(amx=False, avx512_bf16=False, vnni=False, avx512=False)


def entry(agreement: float = 0.999, drop: float = 0.001, **more: Any) -> dict[str, Any]:
    figures = {"accuracy_drop": drop, "label_agreement": agreement}
    return {"sentiment": figures, "topic": dict(figures)} | more


def int8(agreement: float = 0.999, bits: int = 8, calibrated: bool = True) -> dict[str, Any]:
    return entry(agreement, activation_bits=bits, calibrated=calibrated)


def record(**modes: dict[str, Any]) -> dict[str, Any]:
    return {"cpu": {"name": "Test CPU"}, "modes": modes}


BOTH_PASS = record(bf16=entry(), int8=int8())


def test_the_bar_is_half_a_point_and_995_per_mille_of_labels_on_every_task() -> None:
    assert (TOLERANCE, AGREEMENT) == (0.005, 0.995)
    assert passes(entry(agreement=0.995, drop=0.005))
    assert not passes(entry(agreement=0.9949))
    assert not passes(entry(drop=0.0051))
    one_task_off = entry()
    one_task_off["topic"] = {"accuracy_drop": 0.0, "label_agreement": 0.99}
    assert not passes(one_task_off)
    assert not passes({}), "nothing measured is not a pass"
    assert passes({"sentiment": {"accuracy_drop": -0.01, "label_agreement": 1.0}})


@pytest.mark.parametrize(
    ("features", "expected"),
    [(AMX, ["bf16", "int8"]), (ZEN4, ["bf16", "int8"]), (CASCADE_LAKE, ["int8"]), (AVX2, [])],
    ids=["amx", "avx512-bf16", "vnni-only", "avx2"],
)
def test_the_candidates_follow_the_matrix_instructions(
    features: CpuFeatures, expected: list[str]
) -> None:
    assert cpu_candidates(features) == expected


@pytest.mark.parametrize(
    ("features", "mode"),
    [(AMX, "bf16"), (ZEN4, "bf16"), (CASCADE_LAKE, "int8"), (AVX2, "fp32")],
    ids=["amx", "avx512-bf16", "vnni-only", "avx2"],
)
def test_auto_runs_the_fastest_recorded_mode_of_each_cpu(features: CpuFeatures, mode: str) -> None:
    choice = choose("auto", "cpu", BOTH_PASS, features, calibrated=True)
    assert choice.mode == mode
    assert choice.reason.startswith("auto")
    if mode == "bf16":
        assert features.bf16_unit in choice.reason and "Test CPU" in choice.reason


def test_auto_falls_back_mode_by_mode_and_says_why() -> None:
    bf16_off = record(bf16=entry(agreement=0.99), int8=int8())
    choice = choose("auto", "cpu", bf16_off, ZEN4, calibrated=True)
    assert choice.mode == "int8" and "VNNI" in choice.reason
    both_off = record(bf16=entry(agreement=0.99), int8=int8(agreement=0.99))
    choice = choose("auto", "cpu", both_off, ZEN4, calibrated=True)
    assert choice.mode == "fp32"
    assert "bf16 outside tolerance" in choice.reason and "int8 outside tolerance" in choice.reason
    assert "99.00% sentiment" in choice.reason


def test_auto_stays_fp32_without_a_record() -> None:
    choice = choose("auto", "cpu", None, ZEN4)
    assert choice.mode == "fp32" and "bf16 not recorded" in choice.reason
    assert "neither" in choose("auto", "cpu", BOTH_PASS, AVX2).reason


def test_int8_runs_only_as_it_was_measured() -> None:
    assert choose("auto", "cpu", BOTH_PASS, CASCADE_LAKE, calibrated=True).mode == "int8"
    lost = choose("auto", "cpu", BOTH_PASS, CASCADE_LAKE, calibrated=False)
    assert lost.mode == "fp32" and "no longer holds" in lost.reason
    plain = record(int8=int8(calibrated=False))
    assert choose("auto", "cpu", plain, CASCADE_LAKE, calibrated=False).mode == "int8"
    assert choose("auto", "cpu", plain, CASCADE_LAKE, calibrated=True).mode == "fp32"
    seven = record(int8=int8(bits=7))
    assert "7-bit" in choose("auto", "cpu", seven, CASCADE_LAKE, calibrated=True).reason


def test_explicit_modes_run_as_configured() -> None:
    assert choose("fp32", "cpu", BOTH_PASS, ZEN4).mode == "fp32"
    emulated = choose("bf16", "cpu", None, CASCADE_LAKE)
    assert emulated.mode == "bf16" and "emulated" in emulated.reason
    assert "AMX" in choose("bf16", "cpu", None, AMX).reason
    assert choose("int8", "cpu", None, AVX2).mode == "int8", "an explicit int8 is not checked"
    with pytest.raises(PrecisionError, match="one of"):
        choose("fp8", "cpu", None, AMX)  # type: ignore[arg-type]


def test_on_cuda_auto_is_half_precision_unless_the_record_says_bf16_fails() -> None:
    assert choose("auto", "cuda", None).mode == "bf16"
    assert choose("auto", "cuda", None, cuda_bf16=False).mode == "fp16"
    assert choose("bf16", "cuda", None, cuda_bf16=False).mode == "fp16"
    failing = choose("auto", "cuda", record(bf16=entry(agreement=0.98)))
    assert failing.mode == "fp32" and "outside tolerance" in failing.reason
    assert choose("fp32", "cuda", BOTH_PASS).mode == "fp32"
    with pytest.raises(PrecisionError, match="CPU-only"):
        choose("int8", "cuda", BOTH_PASS)


def test_an_int8_only_record_of_an_older_folder_is_read_at_todays_bar() -> None:
    legacy = {
        "int8": {
            "quantisation": "dynamic, per-channel, smoothed",
            "activation_bits": 8,
            "calibrated": True,
            "within_tolerance": True,  # under the old 99% bar
            "sentiment": {
                "n": 930,
                "fp32_accuracy": 0.85,
                "int8_accuracy": 0.849,
                "fp32_macro_f1": 0.82,
                "int8_macro_f1": 0.81,
                "accuracy_drop": 0.001,
                "label_agreement": 0.9935,
            },
        }
    }
    mapped = read_record(legacy)
    assert mapped is not None and mapped["legacy"]
    assert mapped["fp32"]["sentiment"] == {"n": 930, "accuracy": 0.85, "macro_f1": 0.82}
    assert mapped["modes"]["int8"]["sentiment"]["label_agreement"] == 0.9935
    assert not mapped["modes"]["int8"]["within_tolerance"], "99.35% < 99.5%"
    assert choose("auto", "cpu", mapped, CASCADE_LAKE, calibrated=True).mode == "fp32"
    legacy["int8"]["sentiment"]["label_agreement"] = 0.998  # type: ignore[index]
    mapped = read_record(legacy)
    assert choose("auto", "cpu", mapped, CASCADE_LAKE, calibrated=True).mode == "int8"
    assert read_record({"precision": BOTH_PASS, **legacy}) is BOTH_PASS, "the new record wins"
    assert read_record({}) is None


def test_bf16_engine_keeps_the_fp32_labels_on_the_tiny_model(tiny_model_dir: Path) -> None:
    fp32 = Engine.from_folder(tiny_model_dir, device="cpu", precision="fp32")
    bf16 = Engine.from_folder(tiny_model_dir, device="cpu", precision="bf16")
    assert bf16.precision == "bf16" and bf16.autocast_dtype == torch.bfloat16
    linears = [m for m in bf16.model.modules() if isinstance(m, nn.Linear)]
    assert linears and all(m.weight.dtype == torch.bfloat16 for m in linears)
    layer_norms = [m for m in bf16.model.modules() if isinstance(m, nn.LayerNorm)]
    assert all(m.weight.dtype == torch.float32 for m in layer_norms)
    for a, b in zip(fp32.predict(TEXTS), bf16.predict(TEXTS), strict=True):
        assert max(abs(a.sentiment[k] - b.sentiment[k]) for k in a.sentiment) < 0.02
        assert max(abs(a.topic[k] - b.topic[k]) for k in a.topic) < 0.02
        assert sum(b.sentiment.values()) == pytest.approx(1.0, abs=1e-4), "softmax in fp32"


def test_bf16_batched_equals_single_within_bf16_rounding(tiny_model_dir: Path) -> None:
    engine = Engine.from_folder(tiny_model_dir, device="cpu", precision="bf16")
    batched = engine.predict(TEXTS, max_items=4, max_tokens=256)
    for text, together in zip(TEXTS, batched, strict=True):
        (alone,) = engine.forward([text])
        for label, p in alone.sentiment.items():
            assert together.sentiment[label] == pytest.approx(p, abs=1e-2)


def test_an_fp32_engine_is_fp32_inside_a_callers_autocast(tiny_model_dir: Path) -> None:
    engine = Engine.from_folder(tiny_model_dir, device="cpu", precision="fp32")
    plain = engine.predict(TEXTS)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = engine.predict(TEXTS)
    for a, b in zip(plain, inside, strict=True):
        assert b.sentiment == pytest.approx(a.sentiment, abs=1e-6)


@pytest.mark.usefixtures("bf16_cpu")
def test_auto_on_a_folder_without_a_record_is_fp32(tiny_model_dir: Path) -> None:
    engine = Engine.from_folder(tiny_model_dir, device="cpu", precision="auto")
    assert engine.precision == "fp32" and "not recorded" in engine.precision_reason


def test_auto_on_a_recorded_folder_runs_what_choose_says(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    import json

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["extra"]["precision"] = record(bf16=entry())
    (folder / MANIFEST).write_text(json.dumps(manifest))
    engine = Engine.from_folder(folder, device="cpu", precision="auto")
    expected = choose("auto", "cpu", record(bf16=entry()))
    assert (engine.precision, engine.precision_reason) == (expected.mode, expected.reason)


def test_config_defaults_to_auto_and_refuses_what_cannot_run(tmp_path: Path) -> None:
    assert Settings().classifier.precision == "auto"
    assert ClassifierSettings(precision="bf16").precision == "bf16"
    path = tmp_path / "finsent.yaml"
    path.write_text("classifier:\n  quantize_int8: true\n")
    with pytest.raises(ConfigError, match="quantize_int8 was replaced by precision") as err:
        load_settings(path)
    assert "int8 for true" in str(err.value) and "FINSENT_CLASSIFIER__PRECISION" in str(err.value)
    path.write_text("classifier:\n  device: cuda\n  precision: int8\n")
    with pytest.raises(ConfigError, match="int8 is CPU-only: set device: cpu"):
        load_settings(path)
    path.write_text("classifier:\n  precision: fp16\n")
    with pytest.raises(ConfigError, match=r"classifier\.precision"):
        load_settings(path)


def test_quantize_int8_in_the_environment_is_refused_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINSENT_CLASSIFIER__QUANTIZE_INT8", "auto")
    with pytest.raises(ConfigError, match="quantize_int8 was replaced by precision"):
        load_settings()


@pytest.mark.usefixtures("bf16_cpu")
def test_model_ready_names_the_mode_and_why(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class NoKafka:
        def __init__(self, *_: object) -> None:
            pass

        def setup(self) -> None:
            pass

        def run(self, stop: threading.Event) -> None:
            pass

        def close(self) -> None:
            pass

    monkeypatch.setattr(classify_stage, "ClassifyConsumer", NoKafka)
    settings = Settings()
    settings.classifier.model_dir = tiny_model_dir
    settings.classifier.device = "cpu"
    settings.classifier.max_batch_items = 2
    with capture_logs() as logs:
        classify_stage.ClassifyStage(settings).setup()
    (ready,) = [line for line in logs if line["event"] == "model ready"]
    assert ready["precision"] == "fp32" and "not recorded" in ready["why"]
