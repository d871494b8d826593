"""Where the CLI and the daemon find stages and commands: Python entry points.

Stage packages declare themselves in ``pyproject.toml``::

    [project.entry-points."finsent.stages"]
    classify = "classifier.stage:ClassifyStage"

    [project.entry-points."finsent.commands"]
    classifier = "classifier.cli:register"

so this package never imports a stage, not even lazily: like pytest's plugins, the stages
fill the registry and ``finsent`` reads it. A ``finsent.stages`` entry is a ``StageFactory``
(the stage class); a ``finsent.commands`` entry is a function that adds its commands to the
root Typer app. ``register_stage`` adds one in-process (tests, embedding applications).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from finsent.config import Settings
from finsent.stage.base import Stage, StageFactory

STAGE_GROUP = "finsent.stages"
COMMAND_GROUP = "finsent.commands"

_registered: dict[str, StageFactory] = {}


class RegistryError(LookupError):
    """A stage or command is not registered, or its entry point does not load."""


def register_stage(name: str, factory: StageFactory) -> None:
    """Add (or replace) a stage in this process, beside the installed entry points."""
    _registered[name] = factory


def unregister_stage(name: str) -> None:
    """Remove a stage added with ``register_stage`` (no-op when absent)."""
    _registered.pop(name, None)


def stage_names() -> list[str]:
    """Every stage known: installed entry points and in-process registrations."""
    return sorted({ep.name for ep in entry_points(group=STAGE_GROUP)} | set(_registered))


def stage_factory(name: str) -> StageFactory:
    """The factory of one stage (its module is imported now, not before)."""
    if name in _registered:
        return _registered[name]
    for ep in entry_points(group=STAGE_GROUP, name=name):
        factory: StageFactory = _load(ep)
        return factory
    raise RegistryError(f"unknown stage {name!r}; known: {stage_names()}")


def load_stage(name: str, settings: Settings) -> Stage:
    """Build one stage from the settings (no I/O: that is ``setup``)."""
    return stage_factory(name)(settings)


def command_registrars() -> list[Callable[[Any], None]]:
    """Every installed ``register(app)`` function, in entry-point name order."""
    found = sorted(entry_points(group=COMMAND_GROUP), key=lambda ep: ep.name)
    return [_load(ep) for ep in found]


def _load(ep: Any) -> Any:
    try:
        return ep.load()
    except (ImportError, AttributeError) as exc:
        raise RegistryError(
            f"entry point {ep.group}:{ep.name} = {ep.value!r} does not load: {exc} "
            "(reinstall the package: pip install -e .)"
        ) from exc
