import threading
import time
from typing import Any, ClassVar

import pytest

from finsent import daemon, registry
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
    monkeypatch.setitem(registry._registered, "flaky", Flaky)
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


class Recorder:
    """Remembers the settings each of its runs was started with."""

    seen: ClassVar[list[int]] = []
    closed = 0

    def __init__(self, settings: Settings) -> None:
        self.name = "recorder"
        self.settings = settings

    def setup(self) -> None:
        pass

    def run(self, stop: threading.Event) -> None:
        Recorder.seen.append(self.settings.ingest.seen_max_entries)
        stop.wait()

    def close(self) -> None:
        Recorder.closed += 1


def test_reload_restarts_the_named_stages_with_the_new_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(registry._registered, "recorder", Recorder)
    supervisor = daemon.Supervisor(Settings(), ["recorder"], Events())
    supervisor.start()

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 10
        while len(Recorder.seen) < count and time.monotonic() < deadline:
            time.sleep(0.02)

    wait_for(1)
    new = Settings()
    new.ingest.seen_max_entries = 4242
    supervisor.reload(new, ["recorder"])
    wait_for(2)
    assert Recorder.seen == [1_000_000, 4242], "restarted at once with the new settings"
    assert Recorder.closed == 1, "the old instance closed (committed) before the new one ran"
    assert supervisor.health.states == {"recorder": "running"}
    assert supervisor.shutdown(timeout_s=5)
