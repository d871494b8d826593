"""The lifecycle every pipeline stage implements, whatever it consumes or produces.

The daemon (``finsent run``) and the single-stage commands drive a stage only through these
three verbs: ``setup`` once (connect, load models, join groups: fail here, at boot),
``run`` until the stop event is set, ``close`` always (flush, commit, release). Stages are
found through the registry (``finsent.registry``), never imported by this package.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from finsent.config import Settings


class Stage(Protocol):
    """Lifecycle of a pipeline stage."""

    name: str

    def setup(self) -> None:
        """Connect, load models, join consumer groups."""
        ...

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set."""
        ...

    def close(self) -> None:
        """Flush, commit, release."""
        ...


StageFactory = Callable[[Settings], Stage]
"""A stage class (or any callable) that builds a stage from the settings, without I/O."""
