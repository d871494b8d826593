"""Cross-task distillation: a trained model fills in the label each training text lacks.

Every training text has a gold label for one head only: a sentiment tweet has no topic, a
topic tweet no sentiment. With a teacher (a model folder over the same label spaces, such as
the shipped model), each text also learns the teacher's probabilities for the head it has no
gold label for, so the sentiment head sees the ~15k topic tweets too and the topic head the
~8k sentiment tweets. The teacher runs once, before training, on the training texts only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch.nn import functional

from classifier import labels as label_spaces
from classifier.engine import Engine
from classifier.model import load
from classifier.training.data import Example


def teacher_probabilities(
    folder: Path, examples: Sequence[Example], device: str | None = None
) -> torch.Tensor:
    """The teacher's [sentiment | topic] probabilities per example, shape (n, 3 + 20).

    Columns follow this recipe's label order; a teacher over other label spaces is refused.
    """
    model, tokenizer, spec = load(folder)
    label_spaces.require_recipe_spaces(
        spec.sentiment_labels, spec.topic_labels, f"--teacher {folder}"
    )
    engine = Engine(model, tokenizer, spec, device=device)
    scores = engine.predict([e.text for e in examples])
    return torch.tensor(
        [
            [s.sentiment[n] for n in label_spaces.SENTIMENT]
            + [s.topic[n] for n in label_spaces.TOPICS]
            for s in scores
        ],
        dtype=torch.float,
    ).reshape(len(examples), len(label_spaces.SENTIMENT) + len(label_spaces.TOPICS))


def soft_loss(logits: torch.Tensor, targets: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of ``logits`` against the teacher's probabilities on ``rows``.

    Zero (with a gradient of zero) when no row is selected.
    """
    if not bool(rows.any()):
        return logits.sum() * 0.0
    return functional.cross_entropy(logits[rows], targets[rows])
