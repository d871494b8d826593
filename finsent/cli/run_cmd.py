"""`finsent run`: prepare topics and templates, then supervise every configured stage."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from kafka.errors import KafkaError

from finsent.cli.common import ConfigOption, fail, settings_or_exit
from finsent.config import ConfigError, Settings, load_settings
from finsent.console import ConsoleSummary
from finsent.daemon import Supervisor
from finsent.errors import SetupError
from finsent.es import cluster_problem, install_templates, make_client
from finsent.health import Health, HealthServer, LagMonitor
from finsent.kafka import ensure_topics, make_admin
from finsent.logs import configure, get_logger
from finsent.registry import RegistryError, load_stage
from finsent.signals import stop_on_signals


def run(config: ConfigOption = None) -> None:
    """Run every stage in one supervised process until SIGTERM (SIGHUP: reload)."""
    settings = settings_or_exit(config)
    configure(settings.logging)
    log = get_logger("daemon")
    try:
        created = ensure_topics(settings.kafka)
        es = make_client(settings.elasticsearch)
        templates = install_templates(es, settings.elasticsearch.index_prefix)
    except KafkaError as exc:
        fail(f"Kafka at {settings.kafka.bootstrap_servers} is not usable: {exc}")
    except Exception as exc:  # noqa: BLE001 - elasticsearch transport errors vary by version
        fail(f"Elasticsearch at {settings.elasticsearch.hosts} is not usable: {exc}")
    log.info("prepared", topics_created=created, templates=templates)
    stages: list[str] = list(settings.daemon.stages)
    health = Health(stages, checks=dependency_checks(settings, es))
    stop = stop_on_signals(log)
    background = threading.Event()
    server = start_health_server(settings, health, log)
    lag = LagMonitor(settings, stages, settings.daemon.lag_interval_s)
    threading.Thread(target=lag.run, args=(background,), name="lag", daemon=True).start()
    if settings.daemon.summary_interval_s > 0:
        summary = ConsoleSummary(stages, settings.daemon.summary_interval_s, lag.latest)
        threading.Thread(target=summary.run, args=(background,), daemon=True).start()
    supervisor = Supervisor(settings, stages, log, health)
    reload_on_hangup(config, supervisor, log)
    supervisor.start()
    stop.wait()
    clean = supervisor.shutdown(settings.daemon.shutdown_timeout_s)
    background.set()
    if server is not None:
        server.close()
    log.info("stopped", clean=clean)
    if not clean:
        deadline = settings.daemon.shutdown_timeout_s
        fail(f"stages still running after daemon.shutdown_timeout_s={deadline}")


def dependency_checks(settings: Settings, es: Any) -> dict[str, Callable[[], str | None]]:
    """Readiness checks of the servers the stages need."""

    def kafka() -> str | None:
        admin = make_admin(settings.kafka)
        try:
            admin.list_topics()
        finally:
            admin.close()
        return None

    def elasticsearch() -> str | None:
        return cluster_problem(es)

    return {"kafka": kafka, "elasticsearch": elasticsearch}


def start_health_server(settings: Settings, health: Health, log: Any) -> HealthServer | None:
    """/healthz, /readyz, /metrics on daemon.http_host:http_port (None: disabled)."""
    if settings.daemon.http_port is None:
        return None
    try:
        server = HealthServer(health, settings.daemon.http_host, settings.daemon.http_port)
    except OSError as exc:
        fail(f"daemon.http_port={settings.daemon.http_port}: cannot listen: {exc.strerror}")
    server.start()
    log.info("http endpoint", url=f"http://{settings.daemon.http_host}:{server.port}")
    return server


def reload_on_hangup(config: Path | None, supervisor: Supervisor, log: Any) -> None:
    """SIGHUP: re-read the config; restart ingest and alert with the new sources and rules.

    A bad config or rules file is reported and the running stages keep their settings: each
    stage to restart is built once from the new settings first (construction validates, e.g.
    the alert stage loads its rules, and does no I/O). Each restarted stage closes cleanly
    first (ingest state and detector snapshots are durable), so nothing is lost.
    """

    def _on_hangup(_signum: int, _frame: FrameType | None) -> None:
        names: list[str] = [n for n in ("ingest", "alert") if n in supervisor.names]
        try:
            settings = load_settings(config)
            for name in names:
                load_stage(name, settings)
        except (ConfigError, ValueError, SetupError) as exc:
            log.error("reload refused, keeping the running config", error=str(exc))
            return
        log.info("reloading", stages=names)
        supervisor.reload(settings, names)

    signal.signal(signal.SIGHUP, _on_hangup)


def run_single(name: str, config: ConfigOption) -> None:
    """Run one stage in the foreground (scale-out: one process per stage and replica)."""
    settings = settings_or_exit(config)
    configure(settings.logging)
    log = get_logger(name)
    try:
        stage = load_stage(name, settings)
        stage.setup()
    except (ValueError, SetupError, RegistryError) as exc:  # bad rules, a missing model
        fail(str(exc), code=2)
    except KafkaError as exc:
        fail(f"Kafka at {settings.kafka.bootstrap_servers} is not usable: {exc}")
    stop = stop_on_signals(log)
    try:
        stage.run(stop)
    finally:
        stage.close()
    log.info("stopped")
