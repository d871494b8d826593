"""The console script as a user calls it, for every test that runs `finsent`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FINSENT = str(Path(sys.executable).with_name("finsent"))


def finsent(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``finsent ARGS`` and capture its output (never raises on a non-zero exit)."""
    return subprocess.run(
        [FINSENT, *args], capture_output=True, text=True, timeout=timeout, env=env,
        input=stdin, check=False,
    )  # fmt: skip
