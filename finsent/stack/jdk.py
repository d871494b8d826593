"""Find the installed JDKs and pick one for each server (never assume the default `java`)."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

JVM_ROOTS = (Path("/usr/lib/jvm"), Path("/usr/java"), Path("/opt/java"), Path("/Library/Java"))


class JdkNotFoundError(RuntimeError):
    """No installed JDK fits the requested version range."""


@dataclass(frozen=True, order=True)
class Jdk:
    """An installed Java home and its feature version."""

    major: int
    home: Path

    @property
    def java(self) -> Path:
        """The `java` launcher."""
        return self.home / "bin" / "java"


def read_major(home: Path) -> int | None:
    """Feature version from the JDK's `release` file, or None if this is not a JDK home."""
    try:
        text = (home / "release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = re.search(r'^JAVA_VERSION="(?:1\.)?(\d+)', text, re.MULTILINE)
    if match is None or not (home / "bin" / "java").exists():
        return None
    return int(match.group(1))


def installed_jdks(extra: list[Path] | None = None) -> list[Jdk]:
    """Every distinct JDK found in JAVA_HOME, the usual roots and `java` on PATH."""
    candidates: list[Path] = list(extra or [])
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    for root in JVM_ROOTS:
        if root.is_dir():
            candidates.extend(sorted(root.iterdir()))
            candidates.extend(sorted(root.glob("*/Contents/Home")))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path).resolve().parent.parent)
    found: dict[Path, Jdk] = {}
    for home in candidates:
        real = home.resolve()
        major = read_major(real)
        if major is not None and real not in found:
            found[real] = Jdk(major, real)
    return sorted(found.values(), reverse=True)


def pick(minimum: int, maximum: int | None = None, override: Path | None = None) -> Jdk:
    """The newest JDK within [minimum, maximum]; an explicit override must fit too."""
    if override is not None:
        major = read_major(override.resolve())
        if major is None:
            raise JdkNotFoundError(f"stack.java_home {override} is not a JDK home")
        jdks = [Jdk(major, override.resolve())]
    else:
        jdks = installed_jdks()
    for jdk in jdks:
        if jdk.major >= minimum and (maximum is None or jdk.major <= maximum):
            return jdk
    seen = ", ".join(f"{j.major} at {j.home}" for j in jdks) or "none"
    upper = f"..{maximum}" if maximum is not None else "+"
    raise JdkNotFoundError(f"need Java {minimum}{upper}; found: {seen}")
