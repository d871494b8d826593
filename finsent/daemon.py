"""`finsent run`: every stage in one supervised process.

Stages are found through the registry (``finsent.registry``: the entry points the stage
packages declare), so this package never imports a stage. Each stage runs in its own
thread; one that crashes is reported and restarted with capped exponential backoff, never
left silently dead. SIGTERM sets the stop event: stages finish their batch, commit and
close within the shutdown deadline.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from finsent import telemetry
from finsent.config import Settings
from finsent.health import Health
from finsent.registry import load_stage, stage_names
from finsent.stage.base import Stage


class Supervisor:
    """Runs stages in threads and restarts the ones that crash."""

    def __init__(
        self, settings: Settings, names: list[str], log: Any, health: Health | None = None
    ) -> None:
        known = stage_names()
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise ValueError(f"unknown stages {unknown}; known: {known}")
        self.settings = settings
        self.names = names
        self.log = log
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.restarts: dict[str, int] = dict.fromkeys(names, 0)
        self.health = health or Health(names)
        self.stage_stops = {name: threading.Event() for name in names}
        self._lock = threading.Lock()

    def _supervise(self, name: str) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            stage: Stage | None = None
            started = time.monotonic()
            with self._lock:
                stage_stop = self.stage_stops[name] = threading.Event()
                settings = self.settings
            reloaded = False
            try:
                self.health.set(name, "starting")
                stage = load_stage(name, settings)
                stage.setup()
                self.health.set(name, "running")
                self.log.info("stage running", stage=name)
                stage.run(stage_stop)
                reloaded = not self.stop.is_set()
            except Exception as exc:  # noqa: BLE001 - reported, then restarted
                self.health.set(name, "crashed")
                telemetry.STAGE_RESTARTS.labels(name).inc()
                self.restarts[name] += 1
                self.log.error("stage crashed", stage=name, error=f"{type(exc).__name__}: {exc}",
                               restarts=self.restarts[name], retry_in_s=backoff)  # fmt: skip
            finally:
                if stage is not None:
                    try:
                        stage.close()
                    except Exception as exc:  # noqa: BLE001 - closing must not kill the loop
                        self.log.warning("stage close failed", stage=name, error=str(exc))
            if self.stop.is_set():
                break
            if reloaded:  # asked to restart with new settings: no backoff
                self.log.info("stage restarting with the reloaded config", stage=name)
                continue
            backoff = 1.0 if time.monotonic() - started > 300 else min(backoff * 2, 60.0)
            self.stop.wait(backoff)

    def start(self) -> None:
        """One thread per stage."""
        for name in self.names:
            thread = threading.Thread(target=self._supervise, args=(name,), name=f"stage-{name}")
            thread.start()
            self.threads.append(thread)

    def reload(self, settings: Settings, names: list[str]) -> None:
        """Restart some stages with new settings (each closes cleanly first: no data lost)."""
        with self._lock:
            self.settings = settings
            for name in names:
                if name in self.stage_stops:
                    self.stage_stops[name].set()

    def shutdown(self, timeout_s: float) -> bool:
        """Stop every stage; True when all finished within the deadline."""
        self.stop.set()
        with self._lock:
            for event in self.stage_stops.values():
                event.set()
        deadline = time.monotonic() + timeout_s
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)
