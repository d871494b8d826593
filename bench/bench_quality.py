"""Model quality: the shipped model vs a plain Hugging Face fine-tune trained in the same run.

.venv/bin/python bench/bench_quality.py [--json] [--seeds 13,14] [--model DIR]
.venv/bin/finsent bench quality --json

The measurements are ``classifier.training.quality``'s; this script picks the files and prints.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from classifier.paths import SHIPPED
from classifier.training import quality
from finsent.datadir import data_dir


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Print the model's and the baselines' dev figures, the difference and the projection."""
    data = data_dir()
    parser = argparse.ArgumentParser(description=quality.__doc__)
    parser.add_argument("--model", type=Path, default=SHIPPED)
    parser.add_argument(
        "--sentiment-csv",
        type=Path,
        default=data / "twitter_financial_news_sentiment" / "sent_train.csv",
    )
    parser.add_argument(
        "--topic-csv", type=Path, default=data / "twitter_financial_news_topic" / "topic_train.csv"
    )
    parser.add_argument(
        "--seeds", default="13,14", help="Baseline seeds, comma-separated; empty: no baseline."
    )
    parser.add_argument("--epochs", type=int, default=3, help="The plain recipe's epochs.")
    parser.add_argument("--base", help="The baseline's base model (default: the model's own).")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    say = (lambda _line: None) if args.json else print
    files = (args.sentiment_csv, args.topic_csv)
    result: dict[str, Any] = {}
    if seeds:
        result = quality.compare(args.model, *files, seeds, args.base, args.epochs, say)
        say(
            f"difference (model - plain mean): {json.dumps(result['difference'])}; "
            f"plain errors per model error: {result['error_ratio']}\n"
            f"projected held-out (anchor {json.dumps(quality.ANCHOR)} + difference): "
            f"{json.dumps(result['projected_held_out'])}"
        )
    result["reposts"] = quality.reposts(args.model, *files)
    for task, figures in result["reposts"].items():
        say(
            f"{task}: dev accuracy {figures['dev_accuracy']} ({figures['dev']} texts, no "
            f"re-posts); re-posts of trained headlines {figures['reposts_accuracy']} "
            f"({figures['reposts']} rows); rows whose text recurs in the file: "
            f"{figures['recurring_share']:.1%}"
        )
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
