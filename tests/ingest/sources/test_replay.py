from datetime import UTC, datetime, timedelta
from pathlib import Path

from finsent.config import load_settings
from finsent.config_sources import ReplaySourceConfig
from finsent.schemas import RawItem, decode, encode, make_item_id
from ingest.items import ItemFactory
from ingest.privacy import AuthorPseudonymiser
from ingest.sources.base import SourceContext
from ingest.sources.replay import ReplaySource
from ingest.state import StateStore
from tests.wait import wait_until

from ..conftest import DATA


def replay(tmp_path: Path, paths: list[Path], **options: object) -> ReplaySource:
    source = ReplaySource(ReplaySourceConfig(name="replay", paths=paths, **options))
    source.setup(
        SourceContext(
            StateStore(tmp_path / "s.db"), ItemFactory("replay", "news", AuthorPseudonymiser(b"k"))
        )
    )
    return source


def test_every_fixture_format_replays(tmp_path: Path) -> None:
    source = replay(
        tmp_path,
        [DATA / "feeds" / "parsed_items", DATA / "comments", DATA / "feeds" / "real_captures"],
    )
    poll = source.poll()
    kinds = {i.kind for i in poll.items}
    assert kinds == {"news", "comment"}
    assert len(poll.items) > 300
    times = [i.published_at for i in poll.items]
    assert times == sorted(times), "emitted in publication order"
    assert {reason for reason, _ in poll.problems} == {"bad_recording"}
    assert len(poll.problems) == 2, "the 0-byte capture and the Python-repr sitemap"
    assert source.exhausted


def test_time_compression(tmp_path: Path) -> None:
    t0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    path = tmp_path / "items.jsonl"
    items = [
        RawItem(id=make_item_id("w", str(i)), source="w", kind="news", title=f"t{i}",
                published_at=t0 + timedelta(minutes=i), fetched_at=t0 + timedelta(minutes=i))
        for i in (0, 1, 60)
    ]  # fmt: skip
    path.write_bytes(b"\n".join(encode(i) for i in items))
    source = replay(tmp_path, [path], speed=600.0, shift_to_now=True)  # a minute per 0.1 s
    first = source.poll().items
    assert [i.title for i in first] == ["t0"]
    wait_until(lambda: (source.next_due_in_s() or 0) <= 0, 5, "the next item's replay time")
    assert [i.title for i in source.poll().items] == ["t1"]
    assert 5.0 < (source.next_due_in_s() or 0) < 6.0  # the hour-later item: 6 s after start
    assert abs((first[0].published_at - datetime.now(UTC)).total_seconds()) < 2, "shifted to now"


def test_the_local_demo_burst_is_its_own_replay_and_ends_now(tmp_path: Path) -> None:
    """`make run` shifts the Boeing burst on its own, so its last item is published now
    whatever the dates of the other recordings, and keeps the recorded ids (dedupe)."""
    root = Path(__file__).resolve().parents[3]
    burst_file = root / "deploy" / "replay" / "boeing_burst.jsonl"
    settings = load_settings(root / "deploy" / "finsent.local.yaml")
    replays = {c.name: c for c in settings.ingest.sources if isinstance(c, ReplaySourceConfig)}
    config = replays["replay-burst"]
    assert (config.speed, config.shift_to_now) == (0, True)
    assert config.paths == [burst_file.relative_to(root)]
    others = [p for c in replays.values() if c is not config for p in c.paths]
    assert burst_file.name not in {p.name for p in others}, "not shifted with the fixtures"
    source = ReplaySource(config.model_copy(update={"paths": [root / p for p in config.paths]}))
    source.setup(
        SourceContext(
            StateStore(tmp_path / "s.db"),
            ItemFactory(config.name, "news", AuthorPseudonymiser(b"k")),
        )
    )
    items = source.poll().items
    recorded = [decode(RawItem, line) for line in burst_file.read_bytes().splitlines() if line]
    assert [i.id for i in items] == [r.id for r in sorted(recorded, key=lambda r: r.published_at)]
    assert abs((items[-1].published_at - datetime.now(UTC)).total_seconds()) < 5
    span = recorded[-1].published_at - recorded[0].published_at
    assert items[-1].published_at - items[0].published_at == span, "spacing kept"
    # Nothing after the burst: later items would close its windows within the same replay,
    # so its alert would fire and resolve at once.
    tail = [i for i in items if i.published_at >= items[-1].published_at - timedelta(minutes=12)]
    assert sum("Boeing" in i.title for i in tail) >= 15, "the recording ends with the burst"
