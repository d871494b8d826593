"""Micro-batch planning: bound each forward pass by items and by padded tokens.

Items are sorted by token length first, so a batch pads to a length close to its members'
(padded cost = longest sequence x batch size, as in text-embeddings-inference's queue).
"""

from __future__ import annotations

from collections.abc import Sequence


def plan_batches(lengths: Sequence[int], max_items: int, max_tokens: int) -> list[list[int]]:
    """Indices of the items grouped into batches, each within both bounds.

    An item longer than ``max_tokens`` on its own still gets a batch of one (truncation at
    ``max_length`` bounds it); every index appears exactly once.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        # Sorted ascending: the newcomer is the longest, so it sets the padded width.
        padded = lengths[index] * (len(current) + 1)
        if current and (len(current) >= max_items or padded > max_tokens):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches
