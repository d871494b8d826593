"""`finsent run`: prepare topics and templates, then supervise every configured stage."""

from __future__ import annotations

from kafka.errors import KafkaError

from finsent.cli.common import ConfigOption, fail, settings_or_exit
from finsent.daemon import Supervisor, load_stage
from finsent.es import install_templates, make_client
from finsent.kafka import ensure_topics
from finsent.logs import configure, get_logger
from finsent.signals import stop_on_signals


def run(config: ConfigOption = None) -> None:
    """Run every stage in one supervised process until SIGTERM."""
    settings = settings_or_exit(config)
    configure(settings.logging)
    log = get_logger("daemon")
    try:
        created = ensure_topics(settings.kafka)
        templates = install_templates(
            make_client(settings.elasticsearch), settings.elasticsearch.index_prefix
        )
    except KafkaError as exc:
        fail(f"Kafka at {settings.kafka.bootstrap_servers} is not usable: {exc}")
    except Exception as exc:  # noqa: BLE001 - elasticsearch transport errors vary by version
        fail(f"Elasticsearch at {settings.elasticsearch.hosts} is not usable: {exc}")
    log.info("prepared", topics_created=created, templates=templates)
    stop = stop_on_signals(log)
    supervisor = Supervisor(settings, list(settings.daemon.stages), log)
    supervisor.start()
    stop.wait()
    clean = supervisor.shutdown(settings.daemon.shutdown_timeout_s)
    log.info("stopped", clean=clean)
    if not clean:
        deadline = settings.daemon.shutdown_timeout_s
        fail(f"stages still running after daemon.shutdown_timeout_s={deadline}")


def run_single(name: str, config: ConfigOption) -> None:
    """Run one stage in the foreground (scale-out: one process per stage and replica)."""
    settings = settings_or_exit(config)
    configure(settings.logging)
    log = get_logger(name)
    try:
        stage = load_stage(name, settings)
        stage.setup()
    except ValueError as exc:  # bad rules or config combinations: the message names the fix
        fail(str(exc), code=2)
    except KafkaError as exc:
        fail(f"Kafka at {settings.kafka.bootstrap_servers} is not usable: {exc}")
    stop = stop_on_signals(log)
    try:
        stage.run(stop)
    finally:
        stage.close()
    log.info("stopped")


def alert(config: ConfigOption = None) -> None:
    """Run the alert stage: scored -> keyed by alert key -> surge detectors -> alert events."""
    run_single("alert", config)


def deliver(config: ConfigOption = None) -> None:
    """Run the deliver stage: alert events -> Elasticsearch and signed webhooks."""
    run_single("deliver", config)
