import functools
from pathlib import Path

import pytest
import torch

from classifier import batcher
from classifier.engine import Engine
from classifier.model import ModelLoadError, load

TEXTS = [
    "$AAPL Apple shares slide after weak iPhone guidance",
    "Fed holds rates steady",
    "Tesla recalls 2 million vehicles over Autopilot concerns, regulators say in a long "
    "statement that goes on and on about the details of the recall and its costs",
    "Gold edges higher",
    "",
    "Oil jumps 5% as OPEC+ agrees to deeper cuts",
]


@pytest.fixture
def engine(tiny_model_dir: Path) -> Engine:
    return Engine.from_folder(tiny_model_dir, device="cpu")


def test_batched_equals_single(engine: Engine) -> None:
    batched = engine.predict(TEXTS, max_items=4, max_tokens=256)
    for text, together in zip(TEXTS, batched, strict=True):
        (alone,) = engine.forward([text])
        for label, p in alone.sentiment.items():
            assert together.sentiment[label] == pytest.approx(p, abs=1e-5)
        for label, p in alone.topic.items():
            assert together.topic[label] == pytest.approx(p, abs=1e-5)


def test_probabilities_and_labels(engine: Engine) -> None:
    (scores,) = engine.forward(["Stocks fall"])
    assert set(scores.sentiment) == {"negative", "neutral", "positive"}
    assert len(scores.topic) == 20
    assert sum(scores.sentiment.values()) == pytest.approx(1.0, abs=1e-5)
    assert sum(scores.topic.values()) == pytest.approx(1.0, abs=1e-5)
    assert scores.sentiment_label == max(scores.sentiment, key=scores.sentiment.__getitem__)


def test_truncation_at_max_length(engine: Engine) -> None:
    assert engine.token_lengths(["word " * 500]) == [engine.max_length]


def test_out_of_memory_batch_is_split_not_fatal(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = engine._forward
    sizes: list[int] = []

    def picky(tensors: dict[str, torch.Tensor]) -> list:  # type: ignore[type-arg]
        sizes.append(len(tensors["ids"]))
        if len(tensors["ids"]) > 2:
            raise torch.OutOfMemoryError("simulated")
        return real(tensors)

    monkeypatch.setattr(engine, "_forward", picky)
    one_batch = functools.partial(batcher.plan_batches, max_padding=float("inf"))
    monkeypatch.setattr("classifier.engine.plan_batches", one_batch)
    expected = [engine.forward([t])[0].sentiment for t in TEXTS[:5]]
    sizes.clear()
    got = engine.predict(TEXTS[:5], max_items=5, max_tokens=10_000)
    for g, e in zip(got, expected, strict=True):
        assert g.sentiment == pytest.approx(e, abs=1e-5)
    assert sizes == [5, 2, 3, 1, 2], "5 fails, halves: 2 ok, 3 fails, then 1 and 2 ok"


def test_warm_up_runs_the_largest_batch(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = engine.forward

    def counting(texts: list[str]) -> list:  # type: ignore[type-arg]
        seen.append(len(texts))
        return real(texts)

    monkeypatch.setattr(engine, "forward", counting)
    engine.warm_up(max_items=16, max_tokens=4096)
    assert seen == [16]
    assert engine.token_lengths(["market " * 200]) == [engine.max_length]


def test_int8_quantisation_keeps_outputs_close(tiny_model_dir: Path) -> None:
    fp32 = Engine.from_folder(tiny_model_dir, device="cpu")
    int8 = Engine.from_folder(tiny_model_dir, device="cpu", precision="int8")
    a = fp32.predict(TEXTS)
    b = int8.predict(TEXTS)
    for x, y in zip(a, b, strict=True):
        assert max(abs(x.sentiment[k] - y.sentiment[k]) for k in x.sentiment) < 0.05


def test_missing_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a finsent model folder"):
        load(tmp_path / "absent")


def test_between_runs_after_every_micro_batch(engine: Engine) -> None:
    seen: list[int] = []
    scores = engine.predict(TEXTS, max_items=2, max_tokens=10_000, between=lambda: seen.append(1))
    assert len(scores) == len(TEXTS)
    planned = batcher.plan_batches(engine.token_lengths(TEXTS), 2, 10_000)
    assert len(seen) == len(planned) >= 3  # six texts, at most two a batch


def test_fp32_is_the_engines_default_and_runs_without_autocast(engine: Engine) -> None:
    assert engine.precision == "fp32" and engine.autocast_dtype is None
