"""Micro-batch planning: bound each forward pass by items and by padded tokens.

Items are sorted by token length first, so a batch pads to a length close to its members'
(padded cost = longest sequence x batch size, as in text-embeddings-inference's queue).
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_PADDING = 0.25  # padded tokens over real tokens a batch may add


def plan_batches(
    lengths: Sequence[int], max_items: int, max_tokens: int, max_padding: float = MAX_PADDING
) -> list[list[int]]:
    """Indices of the items grouped into batches, each within the bounds.

    A batch also closes before padding would exceed ``max_padding`` of its real tokens: a
    micro-batch of mixed lengths costs its longest member times its size, so on a CPU two
    evenly filled batches beat one half-padding batch. An item longer than ``max_tokens`` on
    its own still gets a batch of one (truncation at ``max_length`` bounds it); every index
    appears exactly once.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0
    for index in order:
        # Sorted ascending: the newcomer is the longest, so it sets the padded width.
        padded = lengths[index] * (len(current) + 1)
        wasteful = padded > (real + lengths[index]) * (1 + max_padding)
        if current and (len(current) >= max_items or padded > max_tokens or wasteful):
            batches.append(current)
            current, real = [], 0
        current.append(index)
        real += lengths[index]
    if current:
        batches.append(current)
    return batches
