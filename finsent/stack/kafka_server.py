"""A single-node Apache Kafka 4.x in KRaft combined mode, built from Maven Central jars."""

from __future__ import annotations

import base64
import os
import subprocess
import uuid

from kafka import KafkaAdminClient

from finsent.config import Settings
from finsent.stack.artifacts import fetch, kafka_artifacts
from finsent.stack.endpoints import local_kafka, port_open, require_free
from finsent.stack.jdk import pick
from finsent.stack.process import ManagedProcess
from finsent.stack.server import ServerError, ServerStatus

LOG4J2 = """\
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
"""


def _cluster_id() -> str:
    while True:  # Kafka's own generator rejects ids that start with '-'
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


class LocalKafka:
    """Kafka on 127.0.0.1; the port comes from ``kafka.bootstrap_servers``."""

    name = "kafka"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.endpoint = local_kafka(settings.kafka.bootstrap_servers)
        self.root = settings.stack.dir.resolve() / "kafka"
        self.process = ManagedProcess(
            "kafka", self.root / "kafka.pid", self.root / "logs" / "server.log", str(self.root)
        )

    @property
    def managed(self) -> bool:
        """False when the config points at an external cluster: nothing to start."""
        return self.endpoint is not None

    def describe(self) -> str:
        """Where clients connect."""
        return ",".join(self.settings.kafka.bootstrap_servers)

    def _properties(self) -> str:
        assert self.endpoint is not None
        host, port = self.endpoint
        controller = self.settings.stack.kafka_controller_port
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@{host}:{controller}",
                f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller}",
                f"advertised.listeners=PLAINTEXT://{host}:{port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={self.root / 'data'}",
                f"num.partitions={self.settings.kafka.topic_partitions}",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=8",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=false",
                "log.retention.hours=168",
                "",
            ]
        )

    def start(self) -> None:
        """Fetch, configure, format storage on first start and launch (returns at once)."""
        assert self.endpoint is not None
        require_free(self.endpoint, "kafka.bootstrap_servers")
        stack = self.settings.stack
        jars = [
            fetch(a, stack.maven_url, stack.cache_dir.expanduser())
            for a in kafka_artifacts(stack.kafka_version)
        ]
        jdk = pick(17, 24, stack.java_home)
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        config = self.root / "server.properties"
        config.write_text(self._properties())
        log4j = self.root / "log4j2.properties"
        log4j.write_text(LOG4J2)
        classpath = os.pathsep.join(str(j) for j in jars)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "JAVA_HOME": str(jdk.home)}
        if not (self.root / "data" / "meta.properties").exists():
            formatted = subprocess.run(
                [str(jdk.java), "-cp", classpath, "kafka.tools.StorageTool", "format",
                 "-t", _cluster_id(), "-c", str(config), "--ignore-formatted"],
                env=env, capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            if formatted.returncode != 0:
                output = formatted.stdout + formatted.stderr
                raise ServerError(f"kafka storage format failed:\n{output}")
        heap = f"{stack.kafka_heap_mb}m"
        self.process.start(
            [str(jdk.java), f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC",
             "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
             f"-Dkafka.logs.dir={self.root / 'logs'}", "-cp", classpath,
             "kafka.Kafka", str(config)],
            env=env, cwd=self.root,
        )  # fmt: skip

    def status(self) -> ServerStatus:
        """Whether our process runs and the broker answers metadata requests."""
        pid = self.process.pid() if self.managed else None
        healthy = False
        detail = ""
        if self.endpoint is not None and not port_open(*self.endpoint):
            detail = "port closed" if pid else f"port closed, {self.process.last_exit}"
            return ServerStatus(self.name, self.describe(), True, pid, False, detail)
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.settings.kafka.bootstrap_servers,
                request_timeout_ms=3000,
                bootstrap_timeout_ms=3000,
                client_id="finsent-stack",
            )
            try:
                brokers = admin.describe_cluster()["brokers"]
                healthy = len(brokers) > 0
                detail = f"{len(brokers)} broker(s)"
            finally:
                admin.close()
        except Exception as exc:  # noqa: BLE001 - any failure means "not healthy", with why
            detail = f"{type(exc).__name__}: {exc}"
        return ServerStatus(self.name, self.describe(), self.managed, pid, healthy, detail)

    def log_tail(self) -> str:
        """End of the broker log for failure reports."""
        return self.process.tail()

    def stop(self) -> bool:
        """Stop the broker cleanly (controlled shutdown on SIGTERM)."""
        return self.process.stop(self.settings.stack.shutdown_timeout_s)
