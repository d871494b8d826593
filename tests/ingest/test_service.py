"""Exactly once per item across overlapping polls, restarts and producer failures."""

from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from finsent.config import Settings
from finsent.config_sources import ReplaySourceConfig, RssSourceConfig
from ingest.service import Ingestor
from ingest.testing import ListProducer

from .conftest import DATA, FeedServer

CNBC = DATA / "feeds" / "real_captures" / "cnbc_international_top_news_2026-03.xml"


def settings(tmp_path: Path, url: str) -> Settings:
    return Settings(
        ingest={
            "state_path": tmp_path / "state.sqlite3",
            "failing_after_intervals": 2,
            "sources": [RssSourceConfig(name="cnbc", url=url, allow_private_network=True)],
        }
    )


def test_overlapping_polls_and_restarts_produce_each_item_once(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    url = feed_server.serve("/feed", CNBC.read_bytes())
    producer = ListProducer()
    ingestor = Ingestor(settings(tmp_path, url), producer)  # type: ignore[arg-type]
    ingestor.setup()
    assert ingestor.poll("cnbc").new == 30
    second = ingestor.poll("cnbc")
    assert (second.new, second.duplicates) == (0, 30)
    ingestor.close()
    restarted = Ingestor(settings(tmp_path, url), producer)  # type: ignore[arg-type]
    restarted.setup()
    assert restarted.poll("cnbc").new == 0
    assert len(producer.items) == 30
    assert len({i.id for i in producer.items}) == 30
    restarted.close()


def test_unacknowledged_items_are_not_marked_seen(feed_server: FeedServer, tmp_path: Path) -> None:
    url = feed_server.serve("/feed", CNBC.read_bytes())
    producer = ListProducer()
    ingestor = Ingestor(settings(tmp_path, url), producer)  # type: ignore[arg-type]
    ingestor.setup()
    producer.fail = True
    failed = ingestor.poll("cnbc")
    assert failed.error == "kafka" and failed.new == 0
    producer.fail = False
    assert ingestor.poll("cnbc").new == 30, "nothing lost: the items are produced on the next poll"
    ingestor.close()


def test_failing_source_does_not_stop_the_others(feed_server: FeedServer, tmp_path: Path) -> None:
    good = feed_server.serve("/good", CNBC.read_bytes())
    bad = feed_server.serve("/bad", b"oops", status=500)
    config = Settings(
        ingest={
            "state_path": tmp_path / "state.sqlite3",
            "failing_after_intervals": 2,
            "sources": [
                RssSourceConfig(name="bad", url=bad, allow_private_network=True),
                RssSourceConfig(name="good", url=good, allow_private_network=True),
            ],
        }
    )
    producer = ListProducer()
    ingestor = Ingestor(config, producer)  # type: ignore[arg-type]
    ingestor.setup()
    runs = {r.source: r for r in ingestor.poll_all()}
    assert runs["bad"].error == "http_5xx"
    assert runs["good"].new == 30
    ingestor.poll("bad")
    assert ingestor.health["bad"].failures == 2
    from ingest import telemetry

    assert telemetry.UNHEALTHY.labels("bad", "failing")._value.get() == 1
    assert telemetry.ERRORS.labels("bad", "http_5xx")._value.get() >= 2
    ingestor.close()


def test_silent_source_is_reported(feed_server: FeedServer, tmp_path: Path) -> None:
    from ingest import telemetry

    url = feed_server.serve("/feed", CNBC.read_bytes())
    ingestor = Ingestor(settings(tmp_path, url), ListProducer())  # type: ignore[arg-type]
    ingestor.setup()
    assert ingestor.poll("cnbc").new == 30
    ingestor.poll("cnbc")
    assert telemetry.UNHEALTHY.labels("cnbc", "silent")._value.get() == 0
    ingestor.poll("cnbc")  # second poll in a row with nothing new: failing_after_intervals=2
    assert telemetry.UNHEALTHY.labels("cnbc", "silent")._value.get() == 1
    ingestor.close()


def test_replayed_items_kafka_refused_are_offered_again(tmp_path: Path) -> None:
    """A replay cannot fetch its items twice: refused ones go back to the source."""
    config = ReplaySourceConfig(name="replay", paths=[CNBC], speed=0)
    options = settings(tmp_path, "http://unused").ingest.model_copy(update={"sources": [config]})
    producer = ListProducer()
    ingestor = Ingestor(Settings(ingest=options), producer)  # type: ignore[arg-type]
    ingestor.setup()
    producer.fail = True
    assert ingestor.poll("replay").error == "kafka"
    producer.fail = False
    assert ingestor.poll("replay").new == 30, "nothing lost"
    assert ingestor.poll("replay").new == 0
    assert len({i.id for i in producer.items}) == len(producer.items) == 30
    ingestor.close()


def test_a_replay_already_ingested_says_so_once(tmp_path: Path) -> None:
    """A second `make run`: every replayed item is a duplicate, and the operator is told why."""
    from structlog.testing import capture_logs

    config = ReplaySourceConfig(name="replay", paths=[CNBC], speed=0)
    options = settings(tmp_path, "http://unused").ingest.model_copy(update={"sources": [config]})

    def notices(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
        return [e for e in logs if str(e["event"]).startswith("replay already ingested")]

    for attempt in ("first", "second"):
        ingestor = Ingestor(Settings(ingest=options), ListProducer())  # type: ignore[arg-type]
        ingestor.setup()
        with capture_logs() as logs:
            runs = [ingestor.poll("replay") for _ in range(3)]
        ingestor.close()
        if attempt == "first":
            assert runs[0].new == 30
            assert notices(logs) == [], "a replay that produced items has nothing to explain"
    assert [(r.new, r.duplicates) for r in runs] == [(0, 30), (0, 0), (0, 0)]
    [notice] = notices(logs)  # once, not at every poll
    assert notice["log_level"] == "warning"
    assert notice["source"] == "replay" and notice["already_ingested"] == 30
    assert notice["state_path"] == str(tmp_path / "state.sqlite3")
    assert f"delete {tmp_path / 'state.sqlite3'}" in str(notice["to_replay_again"])


def test_a_list_source_through_the_service_dedupes_and_backs_off(tmp_path: Path) -> None:
    from finsent.config_sources import JsonSourceConfig
    from ingest.errors import SourceError
    from ingest.testing import ListSource

    producer = ListProducer()
    ingestor = Ingestor(settings(tmp_path, "https://unused.example/feed"), producer)  # type: ignore[arg-type]
    ingestor.setup(sources=[])
    entry = {"guid": "a", "title": "Oil jumps", "text": "OPEC+ cuts"}
    source = ListSource(
        JsonSourceConfig(name="vendor", url="https://vendor.example/api", fields={"title": "t"}),
        [[entry, {"guid": "b", "title": "Gold slips"}], [entry], [SourceError("http_5xx", "503")],
         [{"guid": "c", "title": "", "text": ""}]],
    )  # fmt: skip
    ingestor.add_source(source.config, source)
    first = ingestor.poll("vendor")
    assert (first.new, first.duplicates) == (2, 0)
    assert (ingestor.poll("vendor").new, ingestor.failures("vendor")) == (0, 0)
    assert ingestor.poll("vendor").error == "http_5xx" and ingestor.failures("vendor") == 1
    assert ingestor.poll("vendor").new == 0 and ingestor.failures("vendor") == 0
    assert [i.title for i in producer.items] == ["Oil jumps", "Gold slips"]
    ingestor.close()
    assert source.closed


def test_an_oversized_item_is_refused_alone_and_the_rest_of_the_poll_produced(
    tmp_path: Path,
) -> None:
    from finsent.config_sources import JsonSourceConfig
    from ingest.testing import ListSource

    producer = ListProducer()
    config = settings(tmp_path, "https://unused.example/feed")
    ingestor = Ingestor(config, producer)  # type: ignore[arg-type]
    ingestor.setup(sources=[])
    huge = {"guid": "huge", "title": "Oil " * 300_000}  # a 1.2 MB title
    entries = [{"guid": "a", "title": "Gold slips"}, huge, {"guid": "b", "title": "Oil jumps"}]
    source = ListSource(
        JsonSourceConfig(name="vendor", url="https://vendor.example/api", fields={"title": "t"}),
        [entries, entries],
    )
    ingestor.add_source(source.config, source)
    first = ingestor.poll("vendor")
    assert first.error is None and first.new == 2
    assert [p.split(":")[0] for p in first.problems] == ["item_too_large"]
    second = ingestor.poll("vendor")
    assert (second.new, second.duplicates, second.problems) == (0, 3, []), "reported once"
    assert [i.title for i in producer.items] == ["Gold slips", "Oil jumps"]
    ingestor.close()
