"""Surge rules: declarative, validated at start, parameters per rule and key type.

A rules file is YAML::

    rules:
      - name: negative-surge
        key_types: [ticker, topic, source, global]
        test: poisson
        min_count: 5
        overrides:
          global: {min_count: 20}

Every parameter has a default (``RuleParams``); ``overrides`` replace some of them for one key
type. Unknown keys, bad values and duplicate names fail at load with the path of the problem.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from alerting.detect.significance import TESTS

KeyType = Literal["ticker", "topic", "source", "global"]
KEY_TYPES: tuple[KeyType, ...] = ("ticker", "topic", "source", "global")
DEFAULT_RULES = "default_rules.yaml"


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the file and the field."""


class RuleParams(BaseModel):
    """Detection parameters; every field can be overridden per key type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    test: str = Field(
        "poisson",
        description="A name in significance.TESTS: poisson (negative count vs baseline) or "
        "binomial (negative share).",
    )
    min_count: int = Field(5, ge=1, description="Fewest negative stories in a window to fire.")
    min_ratio: float = Field(2.5, ge=1.0, description="Observed / expected at least this.")
    alpha: float = Field(
        1e-6,
        gt=0,
        lt=1,
        description="Fire when one test's p-value is below this (calibrated for the false-"
        "alarm rate over every window and time: `finsent calibrate`).",
    )
    windows_s: tuple[int, ...] = Field(
        (300, 900, 1800, 3600, 14400),
        min_length=1,
        description="Scan window lengths, s (multiples of alerting.bin_s): each ends at the "
        "newest bin and is tested on its own.",
    )
    halflife_windows: float = Field(
        48, gt=0, description="Level (EWMA) half-life, in periods (48 x 15 min = 12 h)."
    )
    warmup_windows: int = Field(
        96,
        ge=1,
        description="Periods since a key's first story before it may alert (96 x 15 min = "
        "one day: enough to learn its hours).",
    )
    min_expected: float = Field(
        0.5, gt=0, description="Floor of the expected negative count per period (quiet keys)."
    )
    seasonal: bool = Field(
        True,
        description="Learn each key's weekly rhythm (alerting.rhythm_slot_s slots on "
        "alerting.rhythm_timezone's clock; false: flat expectations).",
    )
    rhythm: tuple[float, ...] | None = Field(
        None,
        description="Prior rhythm of the key type: 24 hour-of-day or 168 hour-of-week factors "
        "(on alerting.rhythm_timezone's clock, Monday first; each hour fills its slots); a "
        "young key leans on it. null: flat.",
    )
    prior_periods: float = Field(
        2.0, gt=0, description="Pseudo-periods of the coarser rhythm in each slot's estimate."
    )
    cooldown_s: int = Field(3600, ge=0, description="After a resolve, no new incident for this.")
    resolve_after_windows: int = Field(
        1, ge=1, description="Closed periods without a surge that resolve an incident."
    )
    severity_ratios: tuple[float, float, float] = Field(
        (3.0, 5.0, 8.0), description="Ratio thresholds for medium, high, critical."
    )

    @field_validator("test")
    @classmethod
    def _known_test(cls, test: str) -> str:
        if test not in TESTS:
            raise ValueError(f"unknown test {test!r}; known tests: {', '.join(TESTS)}")
        return test

    @model_validator(mode="after")
    def _ordered(self) -> RuleParams:
        if list(self.severity_ratios) != sorted(self.severity_ratios):
            raise ValueError("severity_ratios must be increasing (medium, high, critical)")
        if any(length <= 0 for length in self.windows_s):
            raise ValueError("windows_s must be positive")
        if self.rhythm is not None and len(self.rhythm) not in (24, 168):
            raise ValueError("rhythm has 24 (hour of day) or 168 (hour of week) factors")
        if self.rhythm is not None and min(self.rhythm) <= 0:
            raise ValueError("rhythm factors must be positive")
        return self

    def severity(self, ratio: float) -> int:
        """0 low, 1 medium, 2 high, 3 critical."""
        return sum(1 for threshold in self.severity_ratios if ratio >= threshold)


SEVERITIES = ("low", "medium", "high", "critical")


class Rule(RuleParams):
    """One named rule over some key types."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="Unique rule name.")
    key_types: list[KeyType] = Field(default_factory=lambda: list(KEY_TYPES))
    overrides: dict[KeyType, dict[str, object]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_overrides(self) -> Rule:
        for key_type, values in self.overrides.items():
            RuleParams.model_validate(self._base() | values)  # raises with the field name
            if key_type not in self.key_types:
                raise ValueError(f"override for {key_type!r}, which the rule does not watch")
        return self

    def _base(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in RuleParams.model_fields}

    def params(self, key_type: str) -> RuleParams:
        """Parameters for one key type (defaults + overrides)."""
        return RuleParams.model_validate(self._base() | self.overrides.get(key_type, {}))  # type: ignore[call-overload]


class RuleSet(BaseModel):
    """All rules; names are unique."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[Rule] = Field(min_length=1)
    _by_type: dict[str, list[tuple[Rule, RuleParams]]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _unique(self) -> RuleSet:
        names = [r.name for r in self.rules]
        if len(names) != len(set(names)):
            raise ValueError(f"duplicate rule names in {names}")
        return self

    def for_key(self, key: str) -> list[tuple[Rule, RuleParams]]:
        """The rules watching a key, with their parameters for its type."""
        key_type = key.partition(":")[0]
        found = self._by_type.get(key_type)
        if found is None:
            found = [(r, r.params(key_type)) for r in self.rules if key_type in r.key_types]
            self._by_type[key_type] = found
        return found


def parse_rules(text: str, origin: str) -> RuleSet:
    """Validate a YAML rules document; errors name the origin and the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(f"{origin}: not valid YAML: {exc}") from exc
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<document>"
        raise RulesError(f"{origin}: {where}: {first['msg']}") from exc


def load_rules(path: Path | None = None) -> RuleSet:
    """The rules in ``path``, or the shipped defaults."""
    if path is None:
        text = resources.files("alerting.resources").joinpath(DEFAULT_RULES).read_text()
        return parse_rules(text, f"<shipped {DEFAULT_RULES}>")
    try:
        text = path.read_text()
    except OSError as exc:
        raise RulesError(f"{path}: cannot read: {exc.strerror}") from exc
    return parse_rules(text, str(path))
