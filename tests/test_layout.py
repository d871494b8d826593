"""The shape of the house: imports flow one way, serving never loads training, one Kafka loop.

Every import of the project's own modules is read from the source (module level and inside
functions alike), so a lazy import cannot hide a back-edge or a cycle.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("finsent", "ingest", "classifier", "alerting")
STAGES = ("ingest", "classifier", "alerting")


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = modules()


def imported(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """(project module, line) for every import in one file, resolved to modules."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _resolve(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield from _resolve(full if full in MODULES else base, node.lineno)


def _resolve(target: str, line: int) -> Iterator[tuple[str, int]]:
    """The module imported and the packages above it (importing a.b.c runs a and a.b)."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    while target:
        if target in MODULES:
            yield target, line
        target = target.rpartition(".")[0]


GRAPH = {name: sorted(set(imported(name, path))) for name, path in MODULES.items()}


def test_the_contract_imports_no_stage() -> None:
    offending = [
        f"{name}:{line} imports {target}"
        for name, edges in GRAPH.items()
        if name.split(".")[0] == "finsent"
        for target, line in edges
        if target.split(".")[0] in STAGES
    ]
    assert offending == []


def test_no_stage_imports_a_later_stage() -> None:
    order = {"ingest": 0, "classifier": 1, "alerting": 2}
    offending = [
        f"{name}:{line} imports {target}"
        for name, edges in GRAPH.items()
        for target, line in edges
        if name.split(".")[0] in order
        and target.split(".")[0] in order
        and order[target.split(".")[0]] > order[name.split(".")[0]]
    ]
    assert offending == []


def test_there_is_no_import_cycle() -> None:
    # a module's own parent packages always run first (not a cycle); any other path through a
    # package __init__ counts
    edges = {
        name: {t for t, _ in targets if t != name and not name.startswith(t + ".")}
        for name, targets in GRAPH.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name)
    assert cycles == []


def test_serving_never_imports_training() -> None:
    offending = [
        f"{name}:{line} imports {target}"
        for name, edges in GRAPH.items()
        if name.startswith("classifier")
        and not name.startswith("classifier.training")
        and name != "classifier.cli"  # command wiring, lazily inside the commands
        for target, line in edges
        if target.startswith("classifier.training")
    ]
    assert offending == []


def test_the_command_wiring_imports_training_only_inside_the_commands() -> None:
    tree = ast.parse(MODULES["classifier.cli"].read_text(encoding="utf-8"))
    top = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if n.startswith("classifier.training")]


def test_the_contract_loads_stages_only_through_entry_points() -> None:
    offending = []
    for name, path in MODULES.items():
        if name.split(".")[0] != "finsent":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] in (
                "import_module",
                "__import__",
                "find_spec",
            ):
                offending.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    assert offending == []


def test_serving_loads_no_training_module_at_run_time() -> None:
    code = (
        "import sys, classifier.stage, classifier.engine, classifier.consumer, classifier.cli;"
        "print(sorted(m for m in sys.modules if m.startswith('classifier.training')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


SOURCE_POLLS = {"source", "self.ingestor", "ingestor", "self"}
"""In ingest, ``poll`` is also the Source protocol's verb (``source.poll()``): allowed there."""


def test_no_stage_module_polls_a_kafka_consumer_itself() -> None:
    offending = []
    for name, path in MODULES.items():
        package = name.split(".")[0]
        if package not in STAGES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                receiver = ast.unparse(node.func.value)
                if node.func.attr == "poll" and not (
                    package == "ingest" and receiver in SOURCE_POLLS
                ):
                    offending.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
            if isinstance(node, ast.For | ast.comprehension):
                iterated = ast.unparse(node.iter).lower()
                if "consumer" in iterated:  # iterating a KafkaConsumer polls it
                    offending.append(f"{name}: iterates {iterated}")
    assert offending == []


def test_alerting_is_laid_out_by_stage() -> None:
    for part in ("index", "detect", "deliver", "tools"):
        assert (ROOT / "alerting" / part / "__init__.py").is_file(), part


@pytest.mark.parametrize("first", ["ingest.cli", "classifier.cli", "alerting.cli", "finsent.cli"])
def test_any_import_order_works(first: str) -> None:
    code = f"import {first}; import finsent.cli; finsent.cli.build_app()"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_wheel_ships_templates_kibana_objects_and_rules(tmp_path: Path) -> None:
    source = tmp_path / "src"  # a copy: setuptools writes build/ beside the sources
    skip = shutil.ignore_patterns(".venv", ".git", ".stack", "build", "*.egg-info", "__pycache__",
                                  ".*_cache")  # fmt: skip
    shutil.copytree(ROOT, source, ignore=skip)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("finsent-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert sum(n.endswith(".template.json") for n in names) == 2, names
    assert any(n.endswith("finsent.ndjson") for n in names)
    assert any(n.endswith("default_rules.yaml") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[finsent.stages]" in text and "[finsent.commands]" in text
