"""Accuracy, macro-F1, per-class precision/recall and the confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from classifier import labels as label_spaces

if TYPE_CHECKING:
    from classifier.engine import Engine
    from classifier.training.data import Example


def report(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Every figure `finsent eval` prints, as plain data (JSON-ready)."""
    present = [label for label in labels if label in set(gold) | set(predicted)]
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=present, zero_division=0
    )
    return {
        "n": len(gold),
        "accuracy": float(accuracy_score(gold, predicted)),
        "macro_f1": float(
            f1_score(gold, predicted, labels=present, average="macro", zero_division=0)
        ),
        "per_class": {
            label: {
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
                "support": int(s),
            }
            for label, p, r, f, s in zip(present, precision, recall, f1, support, strict=True)
        },
        "labels": present,
        "confusion_matrix": confusion_matrix(gold, predicted, labels=present).tolist(),
    }


def render(result: dict[str, Any]) -> str:
    """Human-readable report: headline figures, per-class table, confusion matrix."""
    lines = [
        f"n={result['n']}  accuracy={result['accuracy']:.4f}  macro_f1={result['macro_f1']:.4f}",
        "",
        f"{'class':<28} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}",
    ]
    for label, row in result["per_class"].items():
        lines.append(
            f"{label[:28]:<28} {row['precision']:>9.3f} {row['recall']:>7.3f} "
            f"{row['f1']:>7.3f} {row['support']:>8d}"
        )
    labels = result["labels"]
    lines += ["", "confusion matrix (rows = gold, columns = predicted, in class order above):"]
    width = max(5, *(len(str(v)) + 1 for row in result["confusion_matrix"] for v in row))
    for label, row in zip(labels, result["confusion_matrix"], strict=True):
        lines.append(f"{label[:28]:<28} " + "".join(f"{v:>{width}d}" for v in row))
    return "\n".join(lines)


def score(engine: Engine, examples: Sequence[Example]) -> dict[str, dict[str, Any]]:
    """``report`` per task over the examples of that task (a task without any is left out)."""
    results = {}
    for task, names in (("sentiment", label_spaces.SENTIMENT), ("topic", label_spaces.TOPICS)):
        chosen = [e for e in examples if e.task == task]
        if not chosen:
            continue
        scores = engine.predict([e.text for e in chosen])
        predicted = [s.sentiment_label if task == "sentiment" else s.topic_label for s in scores]
        results[task] = report([e.label for e in chosen], predicted, names)
    return results
