"""Surge detection on negative sentiment, per rule and key, over event-time windows.

A rule's ``test`` names its significance test in ``significance.TESTS``.

For every entry the open window's distinct-story counts are tested against the key's
baseline (projected over the empty windows since it was last updated), so an incident fires
as soon as the evidence is there, not at the end of the window. When a window closes, its
final counts resolve or continue the incident and are folded into the baseline (a surge
window is clipped to ``min_ratio x expected`` so one incident does not raise the normal).

Incidents: ``firing`` once, ``escalated`` when the severity level rises, ``resolved`` after
``resolve_after_windows`` calm windows, then a per-key cooldown. Event ids are hashes of
(rule, key, incident window, event), so a replay after a crash emits the same ids and
downstream stores de-duplicate. The whole state is a JSON snapshot (``snapshot``/``restore``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alerting.detect.baseline import Baseline
from alerting.detect.links import discover_url
from alerting.detect.rules import SEVERITIES, Rule, RuleParams, RuleSet
from alerting.detect.significance import TESTS, SurgeTest, TestResult
from alerting.detect.windows import WindowCounter, WindowStats
from finsent.schemas import Alert, AlertStatus, KeyedItem


@dataclass
class KeyState:
    """One rule's view of one key: its baseline and its incident, if any."""

    baseline: Baseline = field(default_factory=Baseline)
    last_start: datetime | None = None  # newest window folded into the baseline
    incident: str | None = None
    incident_start: datetime | None = None
    level: int = -1
    quiet: int = 0
    cooldown_until: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-able form."""
        data = asdict(self)
        for name in ("last_start", "incident_start", "cooldown_until"):
            value = getattr(self, name)
            data[name] = value.isoformat() if value else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeyState:
        """Inverse of ``to_json``."""
        state = cls(baseline=Baseline(**data["baseline"]))
        for name in ("incident", "level", "quiet"):
            setattr(state, name, data[name])
        for name in ("last_start", "incident_start", "cooldown_until"):
            setattr(state, name, datetime.fromisoformat(data[name]) if data[name] else None)
        return state


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:24]


class SurgeDetector:
    """Windows + baselines + incident state for the keys of one partition."""

    def __init__(
        self,
        rules: RuleSet,
        window_s: int,
        lateness_s: int,
        samples: int = 5,
        kibana_url: str | None = None,
        clock: Callable[[], datetime] | None = None,
        follow_events: bool = True,
    ) -> None:
        self.rules = rules
        self.windows = WindowCounter(window_s, lateness_s, samples, follow_events)
        self.window = timedelta(seconds=window_s)
        self.kibana_url = kibana_url
        self.clock = clock
        self.states: dict[tuple[str, str], KeyState] = {}
        self.tests: dict[str, SurgeTest] = {name: test() for name, test in TESTS.items()}
        self._checked_limit: datetime | None = None

    # -- input ---------------------------------------------------------------------------

    def add(self, entry: KeyedItem) -> list[Alert]:
        """Count one entry; returns the alerts it triggers (early firing or escalation)."""
        stats = self.windows.add(entry)
        alerts = self._close_due(entry.published_at)
        if stats is not None and self._evaluable(stats.start):
            for rule, params in self.rules.for_key(entry.key):
                alerts += self._check_open(rule, params, stats, entry.published_at)
        return alerts

    def advance(self, now: datetime) -> list[Alert]:
        """Move the watermark to ``now - lateness`` and close what is due.

        ``now`` is the wall clock (live), or the low watermark of the inputs (event time).
        """
        self.windows.advance(now - self.windows.lateness)
        return self._close_due(now)

    # -- decisions -----------------------------------------------------------------------

    def _state(self, rule: Rule, key: str) -> KeyState:
        return self.states.setdefault((rule.name, key), KeyState())

    def _closed_limit(self) -> datetime:
        """Start of the oldest window that is not closed yet."""
        return self.windows.start_of(self.windows.watermark - self.window) + self.window

    def _evaluable(self, start: datetime) -> bool:
        """Every window before this one is closed, so its baseline is final.

        Testing an open window against a baseline that still lacks the previous window would
        make the outcome depend on arrival timing; waiting for it keeps the alerts the same
        whatever the timing (live, backlog, backtest, N workers), at a cost of up to
        ``lateness_s`` of delay at the start of a window.
        """
        return start <= self.windows.watermark

    def _empty_before(self, state: KeyState, start: datetime) -> int:
        """Closed windows between the last folded one and ``start`` (no items: zeros)."""
        if state.last_start is None:
            return 0
        limit = min(start, self._closed_limit())
        return max(0, (limit - state.last_start) // self.window - 1)

    def _test(
        self, params: RuleParams, base: Baseline, stats: WindowStats, full: bool = False
    ) -> tuple[TestResult, bool]:
        """The test result and whether it is a surge.

        The p-value is only computed when the cheap conditions (warm-up, min_count,
        min_ratio) hold, or when ``full``.
        """
        test = self.tests[params.test]
        expected = test.expected(params, base, stats)
        ratio = stats.negative / expected if expected > 0 else 0.0
        candidate = (
            base.windows >= params.warmup_windows
            and stats.negative >= params.min_count
            and ratio >= params.min_ratio
        )
        if not (candidate or full):
            return TestResult(stats.negative, expected, ratio, 1.0), False
        result = test.evaluate(params, base, stats)
        return result, candidate and result.p_value < params.alpha

    def _check_open(
        self, rule: Rule, params: RuleParams, stats: WindowStats, at: datetime, final: bool = False
    ) -> list[Alert]:
        if not final and not self.tests[params.test].open_windows:
            return []  # e.g. a share is not monotone as items arrive: closed windows only
        state = self._state(rule, stats.key)
        if state.last_start is not None and stats.start <= state.last_start:
            return []  # a window already folded (cannot happen with in-order closing)
        base = state.baseline.projected(
            params.halflife_windows, self._empty_before(state, stats.start)
        )
        result, surge = self._test(params, base, stats)
        if not surge:
            return []
        level = params.severity(result.ratio)
        stats.samples = stats.samples or self.windows.samples(stats.key, stats.start)
        alerts: list[Alert] = []
        if state.incident is None:
            if state.cooldown_until is not None and stats.start < state.cooldown_until:
                return []
            state.incident = _digest(rule.name, stats.key, stats.start.isoformat())
            state.incident_start, state.quiet = stats.start, 0
            state.level = self.tests[params.test].crossing_level(params, result, level)
            alerts.append(self._alert(rule, params, state, "firing", stats, result, at))
        while level > state.level:  # one event per level, so the events do not depend on
            state.level += 1  # how many items arrived between two checks
            alerts.append(self._alert(rule, params, state, "escalated", stats, result, at))
        return alerts

    def _close_due(self, at: datetime) -> list[Alert]:
        alerts: list[Alert] = []
        closed = self.windows.close_due()
        if not closed and self._closed_limit() == self._checked_limit:
            return alerts
        self._checked_limit = self._closed_limit()
        for stats in closed:
            for rule, params in self.rules.for_key(stats.key):
                alerts += self._check_open(rule, params, stats, at, final=True)
                alerts += self._close(rule, params, stats, at)
        alerts += self._quiet_incidents(at)
        for key, start in sorted(self.windows.open, key=lambda k: (k[1], k[0])):
            if self._evaluable(start):  # deferred until the windows before it closed
                stats = self.windows.current(key, start)
                for rule, params in self.rules.for_key(key):
                    alerts += self._check_open(rule, params, stats, at)
        return alerts

    def _close(
        self, rule: Rule, params: RuleParams, stats: WindowStats, at: datetime
    ) -> list[Alert]:
        state = self._state(rule, stats.key)
        empty = self._empty_before(state, stats.start)
        base = state.baseline.projected(params.halflife_windows, empty)
        result, surge = self._test(params, base, stats, full=state.incident is not None)
        alerts = self._calm(rule, params, state, stats, result, at, calm=not surge)
        negative = float(stats.negative)
        if surge or state.incident is not None:  # keep an incident out of the baseline
            negative = min(negative, params.min_ratio * max(base.negative, params.min_expected))
        state.baseline.fold(negative, float(stats.total), params.halflife_windows, empty)
        state.last_start = stats.start
        return alerts

    def _calm(
        self,
        rule: Rule,
        params: RuleParams,
        state: KeyState,
        stats: WindowStats,
        result: TestResult,
        at: datetime,
        calm: bool,
    ) -> list[Alert]:
        if state.incident is None:
            return []
        state.quiet = state.quiet + 1 if calm else 0
        if state.quiet < params.resolve_after_windows:
            return []
        alert = self._alert(rule, params, state, "resolved", stats, result, at)
        state.incident, state.incident_start, state.level, state.quiet = None, None, -1, 0
        state.cooldown_until = stats.end + timedelta(seconds=params.cooldown_s)
        return [alert]

    def _quiet_incidents(self, at: datetime) -> list[Alert]:
        """Incidents whose key has had closed windows with no items at all."""
        alerts: list[Alert] = []
        limit = self._closed_limit()
        for (rule_name, key), state in self.states.items():
            if state.incident is None or state.last_start is None:
                continue
            rule = next(r for r in self.rules.rules if r.name == rule_name)
            params = rule.params(key.partition(":")[0])
            while state.incident is not None and state.last_start + 2 * self.window <= limit:
                start = state.last_start + self.window
                if (key, start) in self.windows.open:
                    break
                stats = WindowStats(key, start, start + self.window, 0, 0, [])
                alerts += self._close(rule, params, stats, at)
        return alerts

    # -- output --------------------------------------------------------------------------

    def _alert(
        self,
        rule: Rule,
        params: RuleParams,
        state: KeyState,
        status: AlertStatus,
        stats: WindowStats,
        result: TestResult,
        at: datetime,
    ) -> Alert:
        assert state.incident is not None and state.incident_start is not None
        level = max(state.level, 0)
        start = state.incident_start if status == "resolved" else stats.start
        url = (
            discover_url(self.kibana_url, stats.key, start, stats.end) if self.kibana_url else None
        )
        return Alert(
            id=_digest(state.incident, status, level if status == "escalated" else ""),
            incident_id=state.incident, rule=rule.name, key=stats.key, status=status,
            test=params.test, window_start=start, window_end=stats.end,
            observed=result.observed, expected=round(result.expected, 4), total=stats.total,
            ratio=round(result.ratio, 4), p_value=result.p_value,
            severity=SEVERITIES[0 if status == "resolved" else level],
            peak_severity=SEVERITIES[level], samples=stats.samples, kibana_url=url,
            created_at=self.clock() if self.clock else at,
        )  # fmt: skip

    # -- state -----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state: open windows, baselines, incidents."""
        return {
            "windows": self.windows.snapshot(),
            "states": [
                {"rule": rule, "key": key, "state": state.to_json()}
                for (rule, key), state in self.states.items()
            ],
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Load a snapshot taken by ``snapshot`` (rules may have changed since)."""
        self.windows.restore(snapshot["windows"])
        known = {r.name for r in self.rules.rules}
        self.states = {
            (s["rule"], s["key"]): KeyState.from_json(s["state"])
            for s in snapshot["states"]
            if s["rule"] in known
        }
