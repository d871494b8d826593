"""Inference: texts in, per-label probabilities of both heads out, in bounded micro-batches.

Batches are planned by length (see ``batcher``) so the padded cost stays low; results come
back in input order, and a batched result equals the single-item result (int8 aside: its
activations share one scale per batch). The number format is ``classifier.precision``
(``precision``): bf16 (or fp16) autocast with the linear weights stored in it once, on a
GPU with pinned, non-blocking copies while the next batch is tokenised on a worker thread,
and on a CPU with native bf16 on every core; or smoothed per-channel dynamic int8
(``quantize``); or fp32. ``auto`` runs what the model folder's record says keeps its labels
on this machine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from classifier.batcher import plan_batches
from classifier.model import ModelSpec, SentimentTopicModel, load
from classifier.precision import Precision, choose, read_record
from classifier.quantize import load_calibration, quantize
from finsent import telemetry


@dataclass(frozen=True)
class Scores:
    """Both heads' probabilities for one text."""

    sentiment: dict[str, float]
    topic: dict[str, float]

    @property
    def sentiment_label(self) -> str:
        """Arg-max sentiment label."""
        return max(self.sentiment, key=self.sentiment.__getitem__)

    @property
    def topic_label(self) -> str:
        """Arg-max topic label."""
        return max(self.topic, key=self.topic.__getitem__)


class Engine:
    """A loaded model on one device, with its tokeniser and label spaces.

    The engine owns the model it is given: it may store its weights in another format.
    ``precision`` and ``precision_reason`` say what it runs and why.
    """

    def __init__(
        self,
        model: SentimentTopicModel,
        tokenizer: PreTrainedTokenizerBase,
        spec: ModelSpec,
        device: str | None = None,
        max_length: int | None = None,
        precision: Precision = "fp32",
        threads: int | None = None,
        int8_calibration: dict[str, torch.Tensor] | None = None,
    ) -> None:
        if device in (None, "auto"):
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        on_cpu = self.device.type == "cpu"
        if on_cpu:
            torch.set_num_threads(threads or os.cpu_count() or 1)
        choice = choose(
            precision,
            self.device.type,
            read_record(spec.extra),
            calibrated=int8_calibration is not None,
            cuda_bf16=not on_cpu and torch.cuda.is_bf16_supported(),
        )
        self.precision = choice.mode
        self.precision_reason = choice.reason
        half = {"bf16": torch.bfloat16, "fp16": torch.float16}
        self.autocast_dtype: torch.dtype | None = half.get(self.precision)
        if self.precision == "int8":
            model = quantize(model, int8_calibration)
        elif self.autocast_dtype is not None:
            _store_linears_as(model, self.autocast_dtype)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.spec = spec
        self.max_length = max_length or spec.max_length
        self._tokenise_ahead = ThreadPoolExecutor(1, thread_name_prefix="finsent-tokenise")

    @classmethod
    def from_folder(cls, folder: Path, device: str | None = None, **options: Any) -> Engine:
        """Load a model folder written by `finsent train`."""
        model, tokenizer, spec = load(folder)
        calibration = load_calibration(folder)
        return cls(model, tokenizer, spec, device=device, int8_calibration=calibration, **options)

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        """Token count of each text after truncation (for sorting and token budgets)."""
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        return [len(ids) for ids in encoded["input_ids"]]

    def _tokenise(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer(
            list(texts),
            truncation=True,
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
        )
        tensors = {"ids": batch["input_ids"], "mask": batch["attention_mask"]}
        if self.device.type == "cuda":
            tensors = {k: v.pin_memory() for k, v in tensors.items()}
        return tensors

    @torch.inference_mode()
    def _forward(self, tensors: dict[str, torch.Tensor]) -> list[Scores]:
        started = time.perf_counter()
        ids = tensors["ids"].to(self.device, non_blocking=True)
        mask = tensors["mask"].to(self.device, non_blocking=True)
        # disabled, an autocast region also switches off any autocast of the caller's
        with torch.autocast(
            self.device.type,
            dtype=self.autocast_dtype or torch.bfloat16,
            enabled=self.autocast_dtype is not None,
        ):
            sentiment_logits, topic_logits = self.model(ids, mask)
        sentiment = torch.softmax(sentiment_logits.float(), -1).cpu().tolist()
        topic = torch.softmax(topic_logits.float(), -1).cpu().tolist()
        telemetry.INFERENCE_SECONDS.observe(time.perf_counter() - started)
        telemetry.BATCH_ITEMS.observe(ids.shape[0])
        telemetry.BATCH_TOKENS.observe(ids.numel())
        return [
            Scores(
                dict(zip(self.spec.sentiment_labels, s, strict=True)),
                dict(zip(self.spec.topic_labels, t, strict=True)),
            )
            for s, t in zip(sentiment, topic, strict=True)
        ]

    def forward(self, texts: Sequence[str]) -> list[Scores]:
        """One padded forward pass; an out-of-memory batch is split in two and retried."""
        if not texts:
            return []
        try:
            return self._forward(self._tokenise(texts))
        except torch.OutOfMemoryError:
            return self._halves(texts)

    def _halves(self, texts: Sequence[str]) -> list[Scores]:
        if len(texts) == 1:
            raise torch.OutOfMemoryError(
                "one item does not fit: lower classifier.max_length or use a smaller model"
            )
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        middle = len(texts) // 2
        return self.forward(texts[:middle]) + self.forward(texts[middle:])

    def predict(
        self,
        texts: Sequence[str],
        max_items: int = 64,
        max_tokens: int = 8192,
        between: Callable[[], None] | None = None,
    ) -> list[Scores]:
        """Score any number of texts in planned batches, returned in input order.

        The next batch is tokenised on a worker thread while the current one runs.
        ``between`` is called after each batch (a consumer keeps its group membership alive).
        """
        batches = plan_batches(self.token_lengths(texts), max_items, max_tokens)
        results: list[Scores | None] = [None] * len(texts)
        upcoming = (
            self._tokenise_ahead.submit(self._tokenise, [texts[i] for i in batches[0]])
            if batches
            else None
        )
        for number, batch in enumerate(batches):
            assert upcoming is not None
            tensors = upcoming.result()
            if number + 1 < len(batches):
                upcoming = self._tokenise_ahead.submit(
                    self._tokenise, [texts[i] for i in batches[number + 1]]
                )
            try:
                scores = self._forward(tensors)
            except torch.OutOfMemoryError:
                scores = self._halves([texts[i] for i in batch])
            for index, score in zip(batch, scores, strict=True):
                results[index] = score
            if between is not None:
                between()
        return [r for r in results if r is not None]

    def warm_up(self, max_items: int, max_tokens: int) -> None:
        """Run the largest batch the bounds allow, so an out-of-memory happens at boot."""
        length = self.max_length
        items = max(1, min(max_items, max_tokens // length))
        self.forward([" ".join(["market"] * length)] * items)


def _store_linears_as(model: nn.Module, dtype: torch.dtype) -> None:
    """Keep every linear layer's weight in ``dtype``, so autocast does not cast it per batch.

    Under autocast a linear layer computes in ``dtype`` either way (fp32 accumulation);
    LayerNorm, softmax and the embeddings stay fp32.
    """
    for module in model.modules():
        if isinstance(module, nn.Linear):
            module.to(dtype)
