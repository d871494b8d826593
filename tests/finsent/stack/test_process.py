import os
import sys
import time
from pathlib import Path

from finsent.stack.process import ManagedProcess

# A parent that ignores nothing and a child that ignores SIGTERM: stop must reach both.
SCRIPT = """
import signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('child ready', flush=True); time.sleep(600)"])
print("started", child.pid, flush=True)
time.sleep(600)
"""


def managed(tmp_path: Path) -> ManagedProcess:
    return ManagedProcess("demo", tmp_path / "demo.pid", tmp_path / "logs" / "demo.log", "MARK")


def start(proc: ManagedProcess, tmp_path: Path) -> int:
    return proc.start([sys.executable, "-c", SCRIPT, "MARK"], env=dict(os.environ), cwd=tmp_path)


def wait_for(predicate: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_start_status_and_log(tmp_path: Path) -> None:
    proc = managed(tmp_path)
    pid = start(proc, tmp_path)
    try:
        assert proc.pid() == pid
        wait_for(lambda: "started" in proc.tail())
    finally:
        proc.stop(timeout_s=1)


def test_stop_reaches_the_whole_group(tmp_path: Path) -> None:
    proc = managed(tmp_path)
    pid = start(proc, tmp_path)
    wait_for(lambda: "child ready" in proc.tail())
    assert proc.group_alive(pid)
    clean = proc.stop(timeout_s=1.5)
    assert clean is False, "the child ignores SIGTERM, so it had to be killed"
    assert not proc.group_alive(pid)
    assert proc.pid() is None
    assert not proc.pid_file.exists()


def test_stale_pid_file_is_ignored(tmp_path: Path) -> None:
    proc = managed(tmp_path)
    proc.pid_file.write_text(f"{os.getpid()}\n")  # alive, but not our server (no marker)
    assert proc.pid() is None
    assert not proc.pid_file.exists()
    assert proc.stop(timeout_s=1) is True


def test_tail_without_log(tmp_path: Path) -> None:
    assert "no log" in managed(tmp_path).tail()
