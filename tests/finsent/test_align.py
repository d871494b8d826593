"""Event-time alignment: a partition read to its end still holds the others back while its
upstream has work pending (a slower classifier), for a bounded time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from finsent.align import EventTimeAligner

T0 = datetime(2026, 3, 2, tzinfo=UTC)


class Consumer:
    """The few consumer calls the aligner makes: every partition read to its end."""

    def __init__(self, partitions: list[int]) -> None:
        self.partitions = partitions

    def assignment(self) -> set[int]:
        return set(self.partitions)

    def highwater(self, tp: int) -> int:
        return 10

    def position(self, tp: int) -> int:
        return 10


def released(aligner: EventTimeAligner[str]) -> list[str]:
    return [value for _, _, value in aligner.release()]


def test_caught_up_partitions_do_not_hold_back() -> None:
    aligner: EventTimeAligner[str] = EventTimeAligner(Consumer([0, 1]))
    aligner.add(0, T0 + timedelta(hours=1), None, "ahead")
    assert released(aligner) == ["ahead"]


def test_upstream_busy_partition_holds_back_until_its_items_arrive() -> None:
    busy = {1}
    aligner: EventTimeAligner[str] = EventTimeAligner(
        Consumer([0, 1]), upstream_busy=lambda tp: tp in busy
    )
    aligner.add(0, T0 + timedelta(hours=1), None, "ahead")
    assert released(aligner) == [], "partition 1's classifier is behind: wait"
    aligner.add(1, T0, None, "behind")
    assert released(aligner) == ["behind"], "and after it, partition 1 may have more"
    busy.clear()  # its classifier has caught up
    assert released(aligner) == ["ahead"]


def test_upstream_wait_is_bounded() -> None:
    aligner: EventTimeAligner[Any] = EventTimeAligner(
        Consumer([0, 1]), upstream_busy=lambda tp: tp == 1, upstream_wait_s=0.0
    )
    aligner.add(0, T0, None, "ahead")
    assert released(aligner) == ["ahead"], "a stage that is down does not stall the rest"
