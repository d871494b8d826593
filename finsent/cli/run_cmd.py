"""`finsent run`: the daemon. Stages (ingest, classify, alert) plug in as they are built."""

from __future__ import annotations

from kafka.errors import KafkaError

from finsent.cli.common import ConfigOption, fail, settings_or_exit
from finsent.es import install_templates, make_client
from finsent.kafka import ensure_topics
from finsent.logs import configure, get_logger
from finsent.signals import stop_on_signals

STAGES: dict[str, object] = {}
"""name -> stage class; empty until the ingest, classifier and alerting stages land."""


def run(config: ConfigOption = None, heartbeat_s: float = 60.0) -> None:
    """Prepare topics and index templates, then run every available stage until SIGTERM."""
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
    log.info("running", stages=sorted(STAGES) or "none built yet")
    while not stop.wait(heartbeat_s):
        log.info("heartbeat", stages=sorted(STAGES))
    log.info("stopped")
