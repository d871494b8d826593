"""A full fine-tune shipped as 4-bit deltas over its base: small, and scores like the original."""

from pathlib import Path

import torch

from classifier.delta import unpack
from classifier.engine import Engine
from classifier.model import DELTAS, load
from classifier.training.pack import pack
from classifier.training.save import save
from tests.cli import finsent

TEXTS = [
    "Shares of the lender slump after a surprise loss",
    "Fed holds rates steady",
    "Apple rallies",
]


def test_pack_unpack_is_close_and_skips_unchanged_tensors() -> None:
    torch.manual_seed(1)
    base = {"w": torch.randn(96, 40), "b": torch.randn(96), "frozen": torch.randn(10, 4)}
    tuned = {
        "w": base["w"] + 0.01 * torch.randn(96, 40),
        "b": base["b"] + 0.01,
        "frozen": base["frozen"],
    }
    deltas = pack(tuned, base)
    assert "frozen.q4" not in deltas and "frozen.f16" not in deltas
    assert deltas["w.q4"].dtype == torch.uint8 and deltas["w.q4"].numel() == 96 * 40 // 2
    restored = unpack(deltas, base)
    error = (restored["w"] - tuned["w"]).abs().max().item()
    change = (tuned["w"] - base["w"]).abs().max().item()
    assert error <= change / 7 / 2 + 1e-6, "at most half a 4-bit step of the group's range"
    assert torch.allclose(restored["b"], tuned["b"], atol=1e-3)
    assert torch.equal(restored["frozen"], base["frozen"])


def test_packed_model_scores_like_the_full_fine_tune(tiny_model_dir: Path, tmp_path: Path) -> None:
    model, tokenizer, spec = load(tiny_model_dir)
    torch.manual_seed(2)
    with torch.no_grad():  # "fine-tune": move every layer weight, keep the embeddings
        for name, parameter in model.encoder.named_parameters():
            if not name.startswith("embeddings."):
                parameter.add_(0.02 * torch.randn_like(parameter))
    spec.base_model = str(tiny_model_dir / "encoder")
    full = tmp_path / "full"
    save(model, spec, full, tokenizer)
    result = finsent("model", "pack", str(full), "-o", str(tmp_path / "packed"))
    assert result.returncode == 0, result.stderr
    packed = tmp_path / "packed"
    full_size = sum(p.stat().st_size for p in (full / "encoder").glob("*.safetensors"))
    assert (packed / DELTAS).stat().st_size < full_size / 4
    a = Engine(*load(full)).predict(TEXTS)
    b = Engine(*load(packed)).predict(TEXTS)
    for x, y in zip(a, b, strict=True):
        assert x.sentiment_label == y.sentiment_label and x.topic_label == y.topic_label
        assert max(abs(x.sentiment[k] - y.sentiment[k]) for k in x.sentiment) < 0.02
    assert "finsent model pack" in (packed / "COMMAND").read_text()
