"""Which scored items are worth an analyst's time: uncertain ones, spread out, no repeats.

The model learns most from the items it is least sure of, but the most uncertain hundred
items are often one noisy source or one ticker's story told twenty times. ``select`` takes
the most uncertain items greedily while discounting a source or key by how often it was
already taken, and skips a story (``story_id``, or the same normalised text) it already has.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from classifier.training.data import normalise

PUNCTUATION = re.compile(r"[^\w\s]+")
SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Candidate:
    """One scored item offered for labelling, with both heads' probabilities."""

    id: str
    text: str
    source: str
    keys: tuple[str, ...]  # alert keys, e.g. ("ticker:AAPL", "topic:Macro"); may be empty
    sentiment_scores: Mapping[str, float]
    topic_scores: Mapping[str, float]
    story_id: str | None = None


def head_margin(scores: Mapping[str, float]) -> float:
    """Top probability minus the runner-up's (1.0 for a head with fewer than two labels)."""
    top = sorted(scores.values(), reverse=True)
    return 1.0 if len(top) < 2 else max(0.0, top[0] - top[1])


def head_entropy(scores: Mapping[str, float]) -> float:
    """Entropy of the (renormalised) distribution over log(labels): 0 sure, 1 uniform."""
    values = [max(0.0, v) for v in scores.values()]
    total = sum(values)
    if len(values) < 2 or total <= 0:
        return 0.0
    entropy = -sum(v / total * math.log(v / total) for v in values if v > 0)
    return entropy / math.log(len(values))


def margin(candidate: Candidate) -> float:
    """The smaller of the two heads' margins: how close the least sure head came to flipping."""
    return min(head_margin(candidate.sentiment_scores), head_margin(candidate.topic_scores))


def uncertainty(candidate: Candidate) -> float:
    """In [0, 1], higher is more worth labelling: 1 - margin or entropy, of either head."""
    return max(
        max(1.0 - head_margin(scores), head_entropy(scores))
        for scores in (candidate.sentiment_scores, candidate.topic_scores)
    )


def text_key(text: str) -> str:
    """Near-identical texts share it: the training de-duplication key, punctuation dropped."""
    return SPACE.sub(" ", PUNCTUATION.sub(" ", normalise(text))).strip()


def select(
    candidates: Sequence[Candidate], n: int, *, first: Collection[str] = ()
) -> list[Candidate]:
    """Up to ``n`` candidates in review order; deterministic for the same input.

    Ids in ``first`` lead (in ``first``'s order when it is a sequence, else by uncertainty).
    The rest are taken greedily by ``uncertainty / (1 + times its source was taken + most
    times one of its keys was taken)``, so no source or key dominates while uncertainty still
    decides between equals. A candidate whose story (``story_id`` or ``text_key``) or id was
    already taken is skipped, in ``first`` as well.
    """
    if n <= 0:
        return []
    chosen: list[Candidate] = []
    seen: _Seen = _Seen()
    by_id: dict[str, Candidate] = {}
    for candidate in candidates:
        by_id.setdefault(candidate.id, candidate)
    if isinstance(first, Sequence) and not isinstance(first, str):
        leading = [by_id[i] for i in dict.fromkeys(first) if i in by_id]
    else:
        leading = sorted(
            (by_id[i] for i in set(first) if i in by_id),
            key=lambda c: (-uncertainty(c), c.id),
        )
    for candidate in leading:
        if len(chosen) >= n:
            return chosen
        if seen.add(candidate):
            chosen.append(candidate)
    rest = [c for i, c in by_id.items() if i not in seen.ids]
    chosen.extend(_spread(rest, n - len(chosen), seen))
    return chosen


class _Seen:
    """Ids, stories and texts already chosen, and how often each source and key was taken."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.stories: set[str] = set()
        self.texts: set[str] = set()
        self.sources: Counter[str] = Counter()
        self.keys: Counter[str] = Counter()
        self._text_keys: dict[str, str] = {}

    def text_key(self, candidate: Candidate) -> str:
        """``text_key`` of the candidate's text, worked out once per id."""
        found = self._text_keys.get(candidate.id)
        if found is None:
            found = self._text_keys[candidate.id] = text_key(candidate.text)
        return found

    def duplicate(self, candidate: Candidate) -> bool:
        """Whether ``candidate`` repeats an id, story or text already taken."""
        return (
            candidate.id in self.ids
            or (candidate.story_id is not None and candidate.story_id in self.stories)
            or self.text_key(candidate) in self.texts
        )

    def add(self, candidate: Candidate) -> bool:
        """Take ``candidate`` unless it is a duplicate; whether it was taken."""
        if self.duplicate(candidate):
            return False
        self.ids.add(candidate.id)
        if candidate.story_id is not None:
            self.stories.add(candidate.story_id)
        self.texts.add(self.text_key(candidate))
        self.sources[candidate.source] += 1
        self.keys.update(candidate.keys)
        return True

    def crowding(self, candidate: Candidate) -> int:
        """How crowded its source and busiest key already are in the selection."""
        busiest = max((self.keys[k] for k in candidate.keys), default=0)
        return self.sources[candidate.source] + busiest


def _spread(candidates: Sequence[Candidate], n: int, seen: _Seen) -> list[Candidate]:
    """The rest of the selection, taken greedily by discounted uncertainty.

    Every step re-scores all remaining candidates at once (vectors of uncertainty, source
    and key indices), so a pick costs one pass, not a heap of stale priorities. Ties go to
    the smaller id.
    """
    ordered = sorted(candidates, key=lambda c: c.id)
    if not ordered or n <= 0:
        return []
    sources = sorted({c.source for c in ordered})
    keys = sorted({k for c in ordered for k in c.keys})
    source_index = {name: i for i, name in enumerate(sources)}
    key_index = {name: i + 1 for i, name in enumerate(keys)}  # 0: "no key", never counted
    width = max([1, *(len(c.keys) for c in ordered)])
    base = np.array([uncertainty(c) for c in ordered], dtype=np.float64)
    source_of = np.array([source_index[c.source] for c in ordered], dtype=np.int64)
    keys_of = np.zeros((len(ordered), width), dtype=np.int64)
    for row, c in enumerate(ordered):
        keys_of[row, : len(c.keys)] = [key_index[k] for k in c.keys]
    source_count = np.array([seen.sources[name] for name in sources], dtype=np.float64)
    key_count = np.array([0.0, *(seen.keys[name] for name in keys)], dtype=np.float64)
    alive = np.ones(len(ordered), dtype=bool)
    taken: list[Candidate] = []
    while len(taken) < n and alive.any():
        crowding = source_count[source_of] + key_count[keys_of].max(axis=1)
        priority = np.where(alive, base / (1.0 + crowding), -np.inf)
        row = int(np.argmax(priority))
        alive[row] = False
        candidate = ordered[row]
        if not seen.add(candidate):
            continue  # a repeat of a story already taken
        taken.append(candidate)
        source_count[source_of[row]] += 1
        key_count[np.unique(keys_of[row][keys_of[row] > 0])] += 1
    return taken
