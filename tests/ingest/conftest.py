"""A real HTTP server on loopback that serves recorded payloads, for the source tests."""

from __future__ import annotations

import contextlib
import gzip
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from finsent.datadir import data_dir

DATA = data_dir()


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    gzip: bool = False
    trickle_s: float = 0.0  # send the body a byte at a time, this long apart


@dataclass
class FeedServer:
    url: str
    routes: dict[str, Route | Callable[[dict[str, str]], Route]]
    requests: list[tuple[str, dict[str, str]]]

    def serve(self, path: str, body: bytes = b"", **options: object) -> str:
        self.routes[path] = Route(body=body, **options)  # type: ignore[arg-type]
        return self.url + path


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with serve_feeds() as server:
        yield server


@contextlib.contextmanager
def serve_feeds() -> Iterator[FeedServer]:
    """The loopback server, for fixtures of any scope."""
    routes: dict[str, Route | Callable[[dict[str, str]], Route]] = {}
    requests: list[tuple[str, dict[str, str]]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            requests.append((self.path, headers))
            route = routes.get(self.path) or routes.get(self.path.split("?")[0])
            if callable(route):
                route = route(headers | {"path": self.path})
            if route is None:
                route = Route(404, b"not found")
            if route.delay_s:
                time.sleep(route.delay_s)
            body = gzip.compress(route.body) if route.gzip else route.body
            self.send_response(route.status)
            for key, value in route.headers.items():
                self.send_header(key, value)
            if route.gzip:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not route.trickle_s:
                self.wfile.write(body)
                return
            try:
                for i in range(len(body)):
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    time.sleep(route.trickle_s)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up on the trickle: what these routes are for

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            self.do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield FeedServer(f"http://127.0.0.1:{server.server_address[1]}", routes, requests)
    server.shutdown()
    server.server_close()
