"""`finsent stack up|down|status`: run the local servers the config points at."""

from __future__ import annotations

import time
from collections.abc import Callable

from finsent.config import Settings
from finsent.stack.elasticsearch_server import LocalElasticsearch
from finsent.stack.kafka_server import LocalKafka
from finsent.stack.server import LocalServer, ServerError, ServerStatus


class StackError(RuntimeError):
    """The stack could not be brought up; the message carries the failing server's log tail."""


class Stack:
    """The local Kafka and Elasticsearch; servers the config places elsewhere are left alone."""

    def __init__(self, settings: Settings, say: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.say = say
        self.servers: list[LocalServer] = [LocalKafka(settings), LocalElasticsearch(settings)]

    def status(self) -> list[ServerStatus]:
        """One probe per server, managed or external."""
        return [server.status() for server in self.servers]

    def up(self) -> list[ServerStatus]:
        """Start what is not running and wait until every managed server is healthy.

        Idempotent: healthy servers are left as they are. Raises ``StackError`` at the
        deadline or as soon as a server's process dies, with the end of its log.
        """
        waiting: list[LocalServer] = []
        for server in self.servers:
            if not server.managed:
                self.say(f"{server.name}: external, not started")
                continue
            current = server.status()
            if current.healthy:
                self.say(f"{server.name}: already running")
                continue
            if current.pid is None:
                self.say(f"{server.name}: starting")
                try:
                    server.start()
                except (ServerError, OSError) as exc:
                    raise StackError(f"{server.name} failed to start: {exc}") from exc
            waiting.append(server)
        deadline = time.monotonic() + self.settings.stack.startup_timeout_s
        started = time.monotonic()
        while waiting:
            for server in list(waiting):
                current = server.status()
                if current.healthy:
                    self.say(f"{server.name}: ready after {time.monotonic() - started:.1f}s")
                    waiting.remove(server)
                elif current.pid is None:
                    raise StackError(
                        f"{server.name} exited during start-up ({current.detail}); "
                        f"end of its log:\n{server.log_tail()}"
                    )
            if waiting and time.monotonic() > deadline:
                names = ", ".join(s.name for s in waiting)
                tails = "\n".join(f"--- {s.name} ---\n{s.log_tail()}" for s in waiting)
                raise StackError(
                    f"{names} not ready within {self.settings.stack.startup_timeout_s:.0f}s "
                    f"(stack.startup_timeout_s); end of log:\n{tails}"
                )
            if waiting:
                time.sleep(0.5)
        return self.status()

    def down(self) -> bool:
        """Stop every managed server; True when all stopped cleanly within the deadline."""
        clean = True
        for server in reversed(self.servers):
            if server.managed:
                ok = server.stop()
                self.say(f"{server.name}: {'stopped' if ok else 'killed after the deadline'}")
                clean = clean and ok
        return clean
