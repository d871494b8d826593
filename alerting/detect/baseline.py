"""Per-key adaptive baseline: an EWMA over past windows, empty windows included.

Until a key has ``1 / (1 - decay)`` windows of history the EWMA weight is ``1 / n`` (a plain
running mean), so early windows are not over-weighted; after that each window weighs
``1 - 0.5 ** (1 / halflife_windows)``. Windows with no items fold in as zeros, so a key that
went quiet decays towards its new normal.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Baseline:
    """Mean negative and total story counts per window, and how many windows it has seen."""

    negative: float = 0.0
    total: float = 0.0
    windows: int = 0

    def fold(self, negative: float, total: float, halflife_windows: float, empty: int = 0) -> None:
        """Fold ``empty`` zero windows, then one window with these counts."""
        weight = 1.0 - 0.5 ** (1.0 / halflife_windows)
        while empty > 0 and 1.0 / (self.windows + 1) > weight:  # running-mean phase
            self._update(0.0, 0.0, weight)
            empty -= 1
        if empty > 0:  # EWMA phase: k zero windows multiply the means by (1 - w)^k
            factor = (1.0 - weight) ** empty
            self.negative *= factor
            self.total *= factor
            self.windows += empty
        self._update(negative, total, weight)

    def _update(self, negative: float, total: float, weight: float) -> None:
        self.windows += 1
        step = max(weight, 1.0 / self.windows)
        self.negative += step * (negative - self.negative)
        self.total += step * (total - self.total)

    def projected(self, halflife_windows: float, empty: int) -> Baseline:
        """The baseline after ``empty`` zero windows (without changing it)."""
        if empty <= 0:
            return Baseline(self.negative, self.total, self.windows)
        copy = Baseline(self.negative, self.total, self.windows)
        copy.fold(0.0, 0.0, halflife_windows, empty - 1)
        return copy
