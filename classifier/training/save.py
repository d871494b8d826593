"""Writing a model folder (``classifier.model.load`` reads it back for serving)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from safetensors.torch import save_file
from transformers import PreTrainedTokenizerBase

from classifier.model import (
    DELTAS,
    HEADS,
    INT8_CALIBRATION,
    MANIFEST,
    ModelSpec,
    SentimentTopicModel,
    load_base,
)
from classifier.precision import LEGACY_INT8, RECORD
from classifier.training.pack import pack, save_deltas


def save(
    model: SentimentTopicModel,
    spec: ModelSpec,
    folder: Path,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> None:
    """Write the model folder (adapters, deltas or full encoder + tokeniser, heads, manifest).

    New weights void an earlier precision check and int8 calibration: whoever saves measures
    again (``calibrate.record``); until then ``auto`` keeps the folder in fp32 on a CPU.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if spec.adapter == "lora":
        model.encoder.save_pretrained(str(folder / "adapter"))  # peft: adapters only
    elif spec.adapter == "delta":
        base, _ = load_base(spec.base_model)
        deltas = pack(dict(model.encoder.state_dict()), dict(base.state_dict()))
        save_deltas(str(folder / DELTAS), deltas)
    else:
        model.encoder.save_pretrained(str(folder / "encoder"))
        if tokenizer is not None:
            tokenizer.save_pretrained(str(folder / "encoder"))
    save_file(model.head_state(), str(folder / HEADS))
    manifest = asdict(spec)
    manifest["extra"] = {k: v for k, v in spec.extra.items() if k not in (RECORD, LEGACY_INT8)}
    (folder / INT8_CALIBRATION).unlink(missing_ok=True)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
