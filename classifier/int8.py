"""CPU int8: per-channel dynamic quantisation, used only where a model keeps its accuracy.

Each output channel of a linear layer gets its own int8 scale (per-tensor scales cost the
shipped model a point of sentiment accuracy; per-channel costs about 0.1). Whether a model
qualifies is measured, not assumed: ``check`` scores the model's own dev split in fp32 and
in int8 and ``record`` writes the drops into ``finsent_model.json`` (``extra.int8``). The
engine's ``auto`` setting turns int8 on for CPU inference only when that record says both
tasks lose at most ``TOLERANCE`` accuracy.
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
    """True when the model folder records int8 within tolerance on both tasks."""
    record = spec.extra.get("int8")
    return isinstance(record, dict) and bool(record.get("within_tolerance"))


def check(
    model: SentimentTopicModel, tokenizer: Any, spec: ModelSpec, dev: Sequence[Example]
) -> dict[str, Any]:
    """Dev accuracy and macro-F1 of each task in fp32 and int8, and the accuracy drops."""
    from classifier.engine import Engine
    from classifier.train import evaluate

    fp32 = evaluate(Engine(copy.deepcopy(model).cpu(), tokenizer, spec, device="cpu"), dev)
    int8 = evaluate(Engine(model, tokenizer, spec, device="cpu", quantize_int8=True), dev)
    record: dict[str, Any] = {"tolerance": TOLERANCE, "quantisation": "dynamic, per-channel"}
    drops = []
    for task in fp32:
        drop = fp32[task]["accuracy"] - int8[task]["accuracy"]
        drops.append(drop)
        record[task] = {
            "n": fp32[task]["n"],
            "fp32_accuracy": round(fp32[task]["accuracy"], 4),
            "int8_accuracy": round(int8[task]["accuracy"], 4),
            "fp32_macro_f1": round(fp32[task]["macro_f1"], 4),
            "int8_macro_f1": round(int8[task]["macro_f1"], 4),
            "accuracy_drop": round(drop, 4),
        }
    record["within_tolerance"] = bool(drops) and max(drops) <= TOLERANCE
    return record


def record(folder: Path, result: dict[str, Any]) -> None:
    """Store the check in the folder's manifest (``extra.int8``)."""
    path = folder / MANIFEST
    manifest = json.loads(path.read_text())
    manifest.setdefault("extra", {})["int8"] = result
    path.write_text(json.dumps(manifest, indent=2) + "\n")


def check_folder(folder: Path, sentiment_csv: Path, topic_csv: Path) -> dict[str, Any]:
    """``check`` on the dev split the folder's model was trained with (``train_config.json``)."""
    from classifier.model import load
    from classifier.train import TrainConfig, load_examples

    settings = json.loads((folder / "train_config.json").read_text())
    settings |= {"sentiment_csv": sentiment_csv, "topic_csv": topic_csv, "output": folder}
    _, dev = load_examples(TrainConfig(**settings))
    model, tokenizer, spec = load(folder)
    return check(model, tokenizer, spec, dev)
