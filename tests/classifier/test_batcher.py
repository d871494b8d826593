import random

import pytest

from classifier.batcher import plan_batches


@pytest.mark.parametrize("seed", range(5))
def test_batches_respect_both_bounds_and_cover_every_item(seed: int) -> None:
    rng = random.Random(seed)
    lengths = [rng.randint(3, 128) for _ in range(500)]
    batches = plan_batches(lengths, max_items=32, max_tokens=2048)
    assert sorted(i for b in batches for i in b) == list(range(500))
    for batch in batches:
        assert len(batch) <= 32
        assert max(lengths[i] for i in batch) * len(batch) <= 2048


def test_sorted_by_length_so_padding_is_small() -> None:
    lengths = [100, 5, 100, 5, 100, 5]
    batches = plan_batches(lengths, max_items=3, max_tokens=10_000)
    assert [sorted(lengths[i] for i in b) for b in batches] == [[5, 5, 5], [100, 100, 100]]


def test_oversized_item_gets_its_own_batch() -> None:
    assert plan_batches([10, 500, 10], max_items=8, max_tokens=100) == [[0, 2], [1]]


def test_empty() -> None:
    assert plan_batches([], 8, 100) == []


@pytest.mark.parametrize("seed", range(5))
def test_padding_stays_within_its_bound(seed: int) -> None:
    rng = random.Random(seed)
    lengths = [rng.randint(8, 64) for _ in range(64)]
    batches = plan_batches(lengths, max_items=64, max_tokens=8192, max_padding=0.25)
    assert sorted(i for b in batches for i in b) == list(range(64))
    for batch in batches:
        real = sum(lengths[i] for i in batch)
        assert len(batch) == 1 or max(lengths[i] for i in batch) * len(batch) <= real * 1.25
    unbounded = plan_batches(lengths, max_items=64, max_tokens=8192, max_padding=float("inf"))
    assert len(unbounded) == 1 < len(batches), "mixed lengths: one padded batch vs several"
