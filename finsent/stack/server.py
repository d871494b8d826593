"""What the stack manager needs from each local server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class ServerError(RuntimeError):
    """A local server could not be started or did not become ready."""


@dataclass(frozen=True)
class ServerStatus:
    """One line of `finsent stack status`."""

    name: str
    endpoint: str
    managed: bool
    pid: int | None
    healthy: bool
    detail: str = ""

    def render(self) -> str:
        """Human-readable status line."""
        owner = (
            f"local, pid {self.pid}"
            if self.pid
            else ("local, stopped" if self.managed else "external, not managed")
        )
        state = "healthy" if self.healthy else "NOT healthy"
        return f"{self.name:<14} {state:<12} {self.endpoint} ({owner}) {self.detail}".rstrip()


class LocalServer(Protocol):
    """Lifecycle of a server the stack runs: start (non-blocking), status, stop."""

    name: str

    @property
    def managed(self) -> bool:
        """Whether the config makes this server ours to run."""
        ...

    def start(self) -> None:
        """Fetch, configure and launch; return without waiting for readiness."""
        ...

    def status(self) -> ServerStatus:
        """Probe the process and the service."""
        ...

    def log_tail(self) -> str:
        """The end of the server's log, shown when it fails."""
        ...

    def stop(self) -> bool:
        """Stop cleanly within the shutdown deadline; False if it had to be killed."""
        ...
