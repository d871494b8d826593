"""The training loss of the two heads on a mixed batch.

Each head's cross-entropy runs over the rows that carry its gold label (the others hold
``IGNORE``): the sentiment term optionally class-weighted and scaled, the topic term at 1.
A batch's ``weight`` (one per row, e.g. the team's labels at ``--labels-weight``) multiplies
each row's term; the mean is still over the rows (class-weighted), so weights of 1 change
nothing and a weight of 2 counts a row twice.
With a teacher (``distill``), each head also learns the teacher's probabilities on the rows
that lack its gold label, at ``distill_weight``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional

from classifier import labels as label_spaces
from classifier.training.distill import soft_loss

IGNORE = -100
"""The target of a row that has no gold label for a head."""


@dataclass
class Objective:
    """Loss settings of one training run; call it on a batch and the two heads' logits."""

    sentiment_weights: torch.Tensor | None = None  # per-class weights (class weighting)
    sentiment_loss_weight: float = 1.0
    teacher: torch.Tensor | None = None  # (training examples, 3 + 20) probabilities by index
    distill_weight: float = 1.0

    def __call__(
        self,
        batch: dict[str, torch.Tensor],
        sentiment_logits: torch.Tensor,
        topic_logits: torch.Tensor,
    ) -> torch.Tensor:
        """The batch's loss (a scalar on the logits' device)."""
        device = sentiment_logits.device
        weights = None if self.sentiment_weights is None else self.sentiment_weights.to(device)
        gold = {"sentiment": (weights, self.sentiment_loss_weight), "topic": (None, 1.0)}
        split = len(label_spaces.SENTIMENT)
        teacher = None if self.teacher is None else self.teacher[batch["index"]].to(device)
        soft = {"sentiment": slice(0, split), "topic": slice(split, None)}
        loss = torch.zeros((), device=device)
        for logits, key in ((sentiment_logits, "sentiment"), (topic_logits, "topic")):
            target = batch[key].to(device)
            if bool((target != IGNORE).any()):
                class_weights, scale = gold[key]
                loss = loss + scale * _gold_loss(logits, target, class_weights, batch.get("weight"))
            if teacher is not None:
                loss = loss + self.distill_weight * soft_loss(
                    logits, teacher[:, soft[key]], target == IGNORE
                )
        return loss


def _gold_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    class_weights: torch.Tensor | None,
    row_weights: torch.Tensor | None,
) -> torch.Tensor:
    """Cross-entropy over the labelled rows, each row's term times its weight (if any)."""
    if row_weights is None:
        return functional.cross_entropy(logits, target, weight=class_weights, ignore_index=IGNORE)
    terms = functional.cross_entropy(
        logits, target, weight=class_weights, ignore_index=IGNORE, reduction="none"
    )
    labelled = target != IGNORE
    per_class = torch.ones(logits.shape[-1], device=logits.device)
    norm = (per_class if class_weights is None else class_weights)[target[labelled]].sum()
    return (terms * row_weights.to(logits.device)).sum() / norm
