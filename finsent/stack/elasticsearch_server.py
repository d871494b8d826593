"""A single-node Elasticsearch from the Maven Central integ-test-zip, security off on loopback.

Elasticsearch refuses to run as root, so under root it runs as ``stack.run_as_user``
(created as a system user when missing) from a directory that user can reach.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

from finsent.config import Settings
from finsent.es import make_client
from finsent.stack.artifacts import elasticsearch_artifact, fetch
from finsent.stack.endpoints import local_elasticsearch, require_free
from finsent.stack.jdk import pick
from finsent.stack.process import ManagedProcess
from finsent.stack.server import ServerStatus

SHARED_ROOT = Path("/var/lib/finsent-stack")


def _reachable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents] if p.exists())


def _extract(archive: Path, target: Path) -> None:
    """Unzip keeping the executable bits (zipfile alone drops them)."""
    tmp = target.with_name(target.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            extracted = Path(zf.extract(info, tmp))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                extracted.chmod(mode)
    (top,) = list(tmp.iterdir())
    top.rename(target)
    tmp.rmdir()


class LocalElasticsearch:
    """Elasticsearch on 127.0.0.1; the HTTP port comes from ``elasticsearch.hosts``."""

    name = "elasticsearch"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.endpoint = local_elasticsearch(settings.elasticsearch.hosts)
        self.root = settings.stack.dir.resolve() / "elasticsearch"
        self.version = settings.stack.elasticsearch_version
        self.process = ManagedProcess(
            "elasticsearch",
            settings.stack.dir.resolve() / "elasticsearch.pid",
            settings.stack.dir.resolve() / "logs" / "elasticsearch.log",
            marker=str(self.root.resolve()),
        )

    @property
    def managed(self) -> bool:
        """False when the config points at an external cluster: nothing to start."""
        return self.endpoint is not None

    def _user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        user = self.settings.stack.run_as_user
        try:
            pwd.getpwnam(user)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--user-group", "--no-create-home",
                 "--shell", "/usr/sbin/nologin", user],
                check=True, capture_output=True,
            )  # fmt: skip
        return user

    def _home(self, user: str | None) -> Path:
        """The working root; under root, one the unprivileged user can traverse."""
        if user is None or self.root.is_symlink() or _reachable_by_others(self.root.parent):
            return self.root.resolve() if self.root.is_symlink() else self.root
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        shared = SHARED_ROOT / digest
        shared.mkdir(parents=True, exist_ok=True)
        SHARED_ROOT.chmod(0o755)
        self.root.parent.mkdir(parents=True, exist_ok=True)
        self.root.symlink_to(shared, target_is_directory=True)
        return shared

    def _config(self, home: Path) -> str:
        assert self.endpoint is not None
        host, port = self.endpoint
        return "\n".join(
            [
                "cluster.name: finsent-local",
                "node.name: local",
                f"network.host: {host}",
                f"http.port: {port}",
                f"transport.port: {self.settings.stack.elasticsearch_transport_port}",
                "discovery.type: single-node",
                "xpack.security.enabled: false",
                f"path.data: {home / 'data'}",
                f"path.logs: {home / 'logs'}",
                "cluster.routing.allocation.disk.threshold_enabled: false",
                "action.auto_create_index: true",
                "",
            ]
        )

    def start(self) -> None:
        """Fetch, unpack, configure and launch (returns at once)."""
        assert self.endpoint is not None
        require_free(self.endpoint, "elasticsearch.hosts")
        stack = self.settings.stack
        archive = fetch(
            elasticsearch_artifact(self.version), stack.maven_url, stack.cache_dir.expanduser()
        )
        jdk = pick(17, 24, stack.java_home)
        user = self._user()
        home = self._home(user)
        dist = home / f"elasticsearch-{self.version}"
        self.process.marker = str(home)
        if not (dist / "bin" / "elasticsearch").exists():
            home.mkdir(parents=True, exist_ok=True)
            _extract(archive, dist)
        (dist / "config" / "elasticsearch.yml").write_text(self._config(home))
        heap = stack.elasticsearch_heap_mb
        (dist / "config" / "jvm.options.d" / "heap.options").write_text(
            f"-Xms{heap}m\n-Xmx{heap}m\n"
        )
        for sub in ("data", "logs"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        if user is not None:
            info = pwd.getpwnam(user)
            for path in [home, *home.rglob("*")]:
                os.lchown(path, info.pw_uid, info.pw_gid)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "ES_JAVA_HOME": str(jdk.home),
            "HOME": str(home),
        }
        self.process.start([str(dist / "bin" / "elasticsearch")], env=env, cwd=home, user=user)

    def status(self) -> ServerStatus:
        """Whether our process runs and the cluster is at least yellow."""
        pid = self.process.pid() if self.managed else None
        url = self.settings.elasticsearch.hosts[0].rstrip("/")
        try:
            health = dict(
                make_client(self.settings.elasticsearch, request_timeout=3.0).cluster.health()
            )
            healthy = health.get("status") in ("green", "yellow")
            detail = f"status {health.get('status')}"
        except Exception as exc:  # noqa: BLE001 - any failure means "not healthy", with why
            healthy, detail = False, f"{type(exc).__name__}: {exc}"
        return ServerStatus(self.name, url, self.managed, pid, healthy, detail)

    def log_tail(self) -> str:
        """End of the node's output (startup errors land there)."""
        return self.process.tail()

    def stop(self) -> bool:
        """SIGTERM the launcher and node; Elasticsearch shuts down gracefully."""
        return self.process.stop(self.settings.stack.shutdown_timeout_s)
