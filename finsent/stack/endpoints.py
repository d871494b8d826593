"""Which configured servers are local (started by the stack) and whether a port answers."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from finsent.stack.server import ServerError

LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def local_kafka(bootstrap_servers: list[str]) -> tuple[str, int] | None:
    """(host, port) when Kafka is a single loopback broker, else None (an external cluster)."""
    if len(bootstrap_servers) != 1:
        return None
    host, _, port = bootstrap_servers[0].rpartition(":")
    if not host or not port.isdigit() or not _is_loopback(host):
        return None
    return host.strip("[]"), int(port)


def local_elasticsearch(hosts: list[str]) -> tuple[str, int] | None:
    """(host, port) when Elasticsearch is one plain-HTTP loopback node, else None."""
    if len(hosts) != 1:
        return None
    parts = urlsplit(hosts[0] if "://" in hosts[0] else f"http://{hosts[0]}")
    if parts.scheme != "http" or parts.hostname is None or not _is_loopback(parts.hostname):
        return None
    return parts.hostname, parts.port or 9200


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def require_free(endpoint: tuple[str, int], setting: str) -> None:
    """Refuse to start a server on a port something else already holds."""
    if port_open(*endpoint):
        raise ServerError(
            f"port {endpoint[1]} is taken by another process; stop it or set "
            f"{setting} to a free loopback port"
        )
