import threading
import time
from typing import Any

import pytest

from finsent import daemon
from finsent.config import Settings


class Events:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **kw: Any) -> None:
        self.lines.append((event, kw))

    error = warning = info


class Flaky:
    """Crashes on its first two runs, then works until stopped."""

    runs = 0
    closed = 0

    def __init__(self, settings: Settings) -> None:
        self.name = "flaky"

    def setup(self) -> None:
        pass

    def run(self, stop: threading.Event) -> None:
        Flaky.runs += 1
        if Flaky.runs <= 2:
            raise RuntimeError(f"boom {Flaky.runs}")
        stop.wait()

    def close(self) -> None:
        Flaky.closed += 1


def test_crashed_stage_is_reported_and_restarted(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    module = types.ModuleType("flaky_stage")
    module.Flaky = Flaky  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "flaky_stage", module)
    monkeypatch.setitem(daemon.STAGES, "flaky", "flaky_stage:Flaky")
    log = Events()
    supervisor = daemon.Supervisor(Settings(), ["flaky"], log)
    supervisor.start()
    deadline = time.monotonic() + 10
    while Flaky.runs < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert Flaky.runs == 3
    assert supervisor.shutdown(timeout_s=5)
    crashes = [kw for event, kw in log.lines if event == "stage crashed"]
    assert [c["error"] for c in crashes] == ["RuntimeError: boom 1", "RuntimeError: boom 2"]
    assert crashes[1]["retry_in_s"] == 2.0, "backoff doubles"
    assert Flaky.closed == 3, "every run is closed, crashed or not"


def test_unknown_stage_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown stages"):
        daemon.Supervisor(Settings(), ["nope"], Events())
