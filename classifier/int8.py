"""CPU int8: per-channel dynamic quantisation, used only where a model keeps its predictions.

Each output channel of a linear layer gets its own int8 scale (per-tensor scales cost the
shipped model a point of sentiment accuracy; per-channel about 0.1). Activations are quantised
with one scale per batch, so a text's scores depend on the texts it is batched with: accuracy
can hold while individual labels change. Whether a model qualifies is measured, not assumed:
``check`` scores the model's own dev split in fp32 and in int8 and ``record`` writes the
accuracy drops and the label agreement into ``finsent_model.json`` (``extra.int8``). The
engine's ``auto`` setting uses int8 for CPU inference only when that record says no task
loses more than ``TOLERANCE`` accuracy and at least ``AGREEMENT`` of the labels stay the same.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from torch import nn

from classifier.data import Example
from classifier.model import MANIFEST, ModelSpec

if TYPE_CHECKING:
    from classifier.model import SentimentTopicModel

TOLERANCE = 0.005  # accuracy, absolute (0.5 points)
AGREEMENT = 0.99  # share of dev labels int8 must leave unchanged
M = TypeVar("M", bound=nn.Module)


def quantize(model: M) -> M:
    """A copy of the model whose linear layers run int8 with per-output-channel scales."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():  # eager-mode quantisation is deprecated, not removed
        warnings.simplefilter("ignore")
        return quantize_dynamic(  # type: ignore[no-untyped-call, no-any-return]
            copy.deepcopy(model).cpu(), {nn.Linear: per_channel_dynamic_qconfig}
        )


def validated(spec: ModelSpec) -> bool:
    """True when the model folder records int8 within tolerance on every task."""
    record = spec.extra.get("int8")
    return isinstance(record, dict) and bool(record.get("within_tolerance"))


def check(
    model: SentimentTopicModel, tokenizer: Any, spec: ModelSpec, dev: Sequence[Example]
) -> dict[str, Any]:
    """Per task: dev accuracy and macro-F1 in fp32 and int8, the drop, the label agreement."""
    from classifier.engine import Engine
    from classifier.metrics import report

    fp32 = Engine(copy.deepcopy(model).cpu(), tokenizer, spec, device="cpu")
    int8 = Engine(model, tokenizer, spec, device="cpu", quantize_int8=True)
    result: dict[str, Any] = {
        "tolerance": TOLERANCE,
        "agreement_required": AGREEMENT,
        "quantisation": "dynamic, per-channel",
    }
    passed = []
    for task, labels in (("sentiment", spec.sentiment_labels), ("topic", spec.topic_labels)):
        examples = [e for e in dev if e.task == task]
        if not examples:
            continue
        texts, gold = [e.text for e in examples], [e.label for e in examples]
        field = "sentiment_label" if task == "sentiment" else "topic_label"
        a = [str(getattr(s, field)) for s in fp32.predict(texts)]
        b = [str(getattr(s, field)) for s in int8.predict(texts)]
        ra, rb = report(gold, a, labels), report(gold, b, labels)
        drop = ra["accuracy"] - rb["accuracy"]
        agreement = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
        passed.append(drop <= TOLERANCE and agreement >= AGREEMENT)
        result[task] = {
            "n": len(examples),
            "fp32_accuracy": round(ra["accuracy"], 4),
            "int8_accuracy": round(rb["accuracy"], 4),
            "fp32_macro_f1": round(ra["macro_f1"], 4),
            "int8_macro_f1": round(rb["macro_f1"], 4),
            "accuracy_drop": round(drop, 4),
            "label_agreement": round(agreement, 4),
        }
    result["within_tolerance"] = bool(passed) and all(passed)
    return result


def record(folder: Path, result: dict[str, Any]) -> None:
    """Store the check in the folder's manifest (``extra.int8``)."""
    path = folder / MANIFEST
    manifest = json.loads(path.read_text())
    manifest.setdefault("extra", {})["int8"] = result
    path.write_text(json.dumps(manifest, indent=2) + "\n")


def check_folder(folder: Path, sentiment_csv: Path, topic_csv: Path) -> dict[str, Any]:
    """``check`` on the dev split the folder's model was trained with (``train_config.json``)."""
    from classifier.model import load
    from classifier.train import folder_examples

    _, dev = folder_examples(folder, sentiment_csv, topic_csv)
    model, tokenizer, spec = load(folder)
    return check(model, tokenizer, spec, dev)
