"""`finsent train`: multi-task fine-tuning (sentiment + topic) of a BERT encoder.

Recipe: fast tokeniser, dynamic padding, AdamW with linear warm-up/decay, an evaluation on the
dev split after every epoch, early stopping on the mean of the two dev macro-F1s, a fixed
seed. The dev split is deterministic and de-duplicated on URL-stripped text.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader
from tqdm import tqdm
from transformers import get_linear_schedule_with_warmup
from transformers.trainer_pt_utils import LengthGroupedSampler

from classifier import labels as label_spaces
from classifier.engine import Engine
from classifier.model import ModelSpec, SentimentTopicModel, load, load_base
from classifier.training import calibrate
from classifier.training.card import write_command, write_model_card
from classifier.training.config import TrainConfig
from classifier.training.data import Data, Example, load_data
from classifier.training.distill import teacher_probabilities
from classifier.training.ema import ema_of
from classifier.training.evaluation import score
from classifier.training.objective import IGNORE, Objective
from classifier.training.save import save


def _targets(examples: Sequence[Example]) -> tuple[list[int], list[int]]:
    sentiment_index = {label: i for i, label in enumerate(label_spaces.SENTIMENT)}
    topic_index = {label: i for i, label in enumerate(label_spaces.TOPICS)}
    sentiment = [sentiment_index[e.label] if e.task == "sentiment" else IGNORE for e in examples]
    topic = [topic_index[e.label] if e.task == "topic" else IGNORE for e in examples]
    return sentiment, topic


def build_model(config: TrainConfig) -> tuple[SentimentTopicModel, Any]:
    """Base encoder (+ LoRA adapters) and fresh heads, or a trained folder to continue from."""
    if config.init_from is not None:
        return _continued(config, config.init_from)
    encoder: Any
    encoder, tokenizer = load_base(config.base_model)
    if config.lora:
        from peft import LoraConfig, get_peft_model

        encoder = get_peft_model(
            encoder,
            LoraConfig(
                r=config.lora_r,
                lora_alpha=config.lora_alpha,
                lora_dropout=config.lora_dropout,
                target_modules=["query", "key", "value", "dense"],
            ),
        )
    elif config.freeze_embeddings:
        _freeze_embeddings(encoder)
    model = SentimentTopicModel(encoder, len(label_spaces.SENTIMENT), len(label_spaces.TOPICS))
    return model, tokenizer


def _continued(config: TrainConfig, folder: Path) -> tuple[SentimentTopicModel, Any]:
    """A trained model folder (encoder and heads) as the starting point of a full fine-tune."""
    if config.lora:
        raise ValueError("--init-from continues a full fine-tune: add --no-lora")
    model, tokenizer, spec = load(folder)
    label_spaces.require_recipe_spaces(
        spec.sentiment_labels, spec.topic_labels, f"--init-from {folder}"
    )
    if spec.base_model != config.base_model:
        raise ValueError(
            f"--init-from {folder}: trained over {spec.base_model}; pass --base-model to match"
        )
    if config.freeze_embeddings:
        _freeze_embeddings(model.encoder)
    return model, tokenizer


def _freeze_embeddings(encoder: Any) -> None:
    """Full fine-tune of the layers only: the embeddings stay the base's (smaller deltas)."""
    for parameter in encoder.embeddings.parameters():
        parameter.requires_grad = False


def sentiment_weights(config: TrainConfig, examples: Sequence[Example]) -> torch.Tensor | None:
    """Per-class loss weights for sentiment (mean 1), or None when not weighting."""
    if config.class_weighting == "none":
        return None
    if config.class_weighting != "sqrt":
        raise ValueError(f"class weighting {config.class_weighting!r}: expected none or sqrt")
    counts = torch.tensor(
        [
            sum(1 for e in examples if e.task == "sentiment" and e.label == name)
            for name in label_spaces.SENTIMENT
        ],
        dtype=torch.float,
    )
    weights = counts.clamp(min=1).rsqrt()
    return weights * len(weights) / weights.sum()


def evaluate(engine: Engine, dev: Sequence[Example]) -> dict[str, dict[str, Any]]:
    """Per-task report on the dev examples."""
    return score(engine, dev)


Row = tuple[list[int], int, int, int]  # token ids, sentiment target, topic target, index


def _loader(config: TrainConfig, tokenizer: Any, examples: Sequence[Example]) -> DataLoader[Row]:
    """Pre-tokenised rows, shuffled with the seed, padded per batch (dynamic padding).

    With `group_by_length`, each batch is drawn from a shuffled window of 50 batches sorted
    by length, so a batch pads to a similar width (tweets: 1.69x padded/real tokens -> 1.02x).
    """
    encoded = tokenizer([e.text for e in examples], truncation=True, max_length=config.max_length)[
        "input_ids"
    ]
    sentiment_y, topic_y = _targets(examples)
    rows: list[Row] = list(zip(encoded, sentiment_y, topic_y, range(len(encoded)), strict=True))
    pad = tokenizer.pad_token_id
    weights = [e.weight for e in examples]
    weighted = any(weight != 1.0 for weight in weights)

    def collate(batch: list[Row]) -> dict[str, torch.Tensor]:
        width = max(len(ids) for ids, _, _, _ in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (tokens, _, _, _) in enumerate(batch):
            ids[row, : len(tokens)] = torch.tensor(tokens)
            mask[row, : len(tokens)] = 1
        tensors = {
            "ids": ids,
            "mask": mask,
            "sentiment": torch.tensor([s for _, s, _, _ in batch]),
            "topic": torch.tensor([t for _, _, t, _ in batch]),
            "index": torch.tensor([i for _, _, _, i in batch]),
        }
        if weighted:  # only then: unweighted runs keep their exact losses
            tensors["weight"] = torch.tensor([weights[i] for _, _, _, i in batch])
        return tensors

    generator = torch.Generator().manual_seed(config.seed)
    lengths = [len(ids) for ids in encoded]
    order: dict[str, Any] = (
        {"sampler": LengthGroupedSampler(config.batch_size, lengths=lengths, generator=generator)}
        if config.group_by_length
        else {"shuffle": True, "generator": generator}
    )
    return DataLoader(
        rows,  # type: ignore[arg-type]  # a list is a valid map-style dataset
        batch_size=config.batch_size,
        collate_fn=collate,
        **order,
    )


def _optimiser(
    config: TrainConfig, model: nn.Module, steps: int
) -> tuple[torch.optim.Optimizer, Any]:
    """AdamW (heads at their own rate) with linear warm-up and decay."""
    heads = [p for n, p in model.named_parameters() if "_head." in n and p.requires_grad]
    body = [p for n, p in model.named_parameters() if "_head." not in n and p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": body, "lr": config.learning_rate},
            {"params": heads, "lr": config.head_learning_rate},
        ],
        weight_decay=config.weight_decay,
    )
    schedule = get_linear_schedule_with_warmup(  # type: ignore[no-untyped-call]
        optimizer, int(steps * config.warmup_ratio), steps
    )
    return optimizer, schedule


def _epoch(
    model: SentimentTopicModel,
    loader: DataLoader[Row],
    optimizer: torch.optim.Optimizer,
    schedule: Any,
    device: torch.device,
    label: str,
    objective: Objective,
    ema: AveragedModel | None = None,
) -> float:
    """One pass over the training data (the EMA, if any, updated per step); the mean loss."""
    model.train()
    running = 0.0
    progress = tqdm(loader, desc=label, file=sys.stderr)
    for step, batch in enumerate(progress, 1):
        sentiment_logits, topic_logits = model(batch["ids"].to(device), batch["mask"].to(device))
        loss = objective(batch, sentiment_logits, topic_logits)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if ema is not None:
            ema.update_parameters(model)
        running += loss.item()
        progress.set_postfix(loss=f"{running / step:.4f}")
    return running / max(len(loader), 1)


def _teacher(
    config: TrainConfig, examples: Sequence[Example], say: Callable[[str], None], device: str
) -> torch.Tensor | None:
    """The teacher's probabilities on the training examples, or None without a teacher."""
    if config.teacher is None:
        return None
    started = time.monotonic()
    with torch.random.fork_rng(devices=[]):  # the student's dropout draws stay the same
        probabilities = teacher_probabilities(config.teacher, examples, device)
    say(f"teacher {config.teacher}: {len(examples)} training texts scored "
        f"in {time.monotonic() - started:.0f} s")  # fmt: skip
    return probabilities


def train(
    config: TrainConfig, say: Callable[[str], None] = print, command: str | None = None
) -> dict[str, Any]:
    """Run the recipe and write the model folder; returns the metrics written."""
    fitted = fit(config, say)
    split = (fitted.data.train, fitted.data.dev)
    model, tokenizer, spec, metrics = fitted.model, fitted.tokenizer, fitted.spec, fitted.metrics
    _write_folder(config, model, tokenizer, spec, split, metrics, say, command)
    return metrics


@dataclass
class Fitted:
    """A trained model in memory, with its data and metrics (``fit``; ``train`` saves it)."""

    model: SentimentTopicModel
    tokenizer: Any
    spec: ModelSpec
    data: Data
    metrics: dict[str, Any]


def fit(config: TrainConfig, say: Callable[[str], None] = print) -> Fitted:
    """Run the recipe and keep the best epoch's weights (by the public dev split) in memory.

    The team's held-back labels, if any, are scored once at the end (``metrics["held_back"]``),
    never used to choose an epoch.
    """
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads or os.cpu_count() or 1)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = load_data(config)
    train_examples, dev_examples = data.train, data.dev
    say(f"train {len(train_examples)} / dev {len(dev_examples)} / held back "
        f"{len(data.held_back)} examples on {device}")  # fmt: skip
    model, tokenizer = build_model(config)
    model.to(device)
    loader = _loader(config, tokenizer, train_examples)
    optimizer, schedule = _optimiser(config, model, len(loader) * config.epochs)
    objective = Objective(
        sentiment_weights(config, train_examples),
        config.sentiment_loss_weight,
        _teacher(config, train_examples, say, str(device)),
        config.distill_weight,
    )
    spec = ModelSpec(
        name=config.name,
        version=config.version,
        base_model=config.base_model,
        adapter="lora" if config.lora else "full",
        sentiment_labels=list(label_spaces.SENTIMENT),
        topic_labels=list(label_spaces.TOPICS),
        max_length=config.max_length,
    )
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"dev_score": -1.0}
    best_state: dict[str, torch.Tensor] = {}
    ema = ema_of(model, config.ema_decay) if config.ema_decay else None
    for epoch in range(1, config.epochs + 1):
        started = time.monotonic()
        label = f"epoch {epoch}/{config.epochs}"
        loss = _epoch(model, loader, optimizer, schedule, device, label, objective, ema)
        entry: dict[str, Any] = {"epoch": epoch, "train_loss": loss}
        candidates = {"raw": model}
        if ema is not None:
            candidates["ema"] = cast(SentimentTopicModel, ema.module)
        for kind, weights_of in candidates.items():
            weights_of.eval()
            dev = evaluate(Engine(weights_of, tokenizer, spec, device=str(device)), dev_examples)
            score = sum(r["macro_f1"] for r in dev.values()) / max(len(dev), 1)
            prefix = "" if kind == "raw" else "ema_"
            entry[f"{prefix}dev_score"] = score
            for task, result in dev.items():
                entry[f"{prefix}{task}_accuracy"] = result["accuracy"]
                entry[f"{prefix}{task}_macro_f1"] = result["macro_f1"]
            if score > best["dev_score"]:
                best = {"epoch": epoch, "dev_score": score, "dev": dev, "weights": kind}
                best_state = {k: v.detach().clone() for k, v in weights_of.state_dict().items()}
        entry["seconds"] = round(time.monotonic() - started, 1)
        history.append(entry)
        say(json.dumps(entry))
        if epoch - best["epoch"] >= config.patience:
            say(f"early stop: no dev improvement for {config.patience} epochs")
            break
    model.load_state_dict(best_state)
    model.eval()
    metrics: dict[str, Any] = {"best": best, "history": history, "model": spec.tag}
    metrics["data"] = data.sources
    if data.held_back:
        metrics["held_back"] = evaluate(Engine(model, tokenizer, spec, device=str(device)),
                                        data.held_back)  # fmt: skip
    earlier = config.init_from / "metrics.json" if config.init_from is not None else None
    if earlier is not None and earlier.is_file():
        metrics["continued_from"] = json.loads(earlier.read_text())["history"]
    return Fitted(model, tokenizer, spec, data, metrics)


def _write_folder(
    config: TrainConfig,
    model: SentimentTopicModel,
    tokenizer: Any,
    spec: ModelSpec,
    split: tuple[Sequence[Example], Sequence[Example]],
    metrics: dict[str, Any],
    say: Callable[[str], None],
    command: str | None,
) -> None:
    """The model folder: weights, precision check, metrics, config, command chain and card."""
    save(model, spec, config.output, tokenizer)
    saved, _, saved_spec = load(config.output)  # as served: LoRA merged
    check, calibration = calibrate.measure(saved, tokenizer, saved_spec, *split)
    calibrate.record(config.output, check, calibration)
    say(f"precision on CPU: {json.dumps(check)}")
    (config.output / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}
    (config.output / "train_config.json").write_text(json.dumps(settings, indent=2) + "\n")
    earlier = [folder for folder in (config.init_from, config.teacher) if folder is not None]
    write_command(config.output, command or " ".join(sys.argv), after=earlier)
    write_model_card(config.output)
