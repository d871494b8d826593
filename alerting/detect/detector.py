"""Surge detection on negative sentiment: a scan over windows of several lengths, per key.

Stories are counted per key in short event-time bins (``bins.BinCounter``). As an entry
arrives, the windows of every length a rule scans (e.g. 5, 15, 60 and 240 min) that end at
its bin are tested against what the key's baseline expects for exactly those bins: the
key's level (an EWMA of de-seasonalised counts per period, ``baseline.Baseline``) times
the bins' weekly rhythm factors (``seasonal.SeasonalProfile``). The most significant
window that passes ``min_count``, ``min_ratio`` and ``alpha`` makes a surge, so a burst is
found within minutes wherever it falls, a slow build is found by the long windows, and the
market open or a quiet night are not surprises. ``alpha`` is per test; it is calibrated
for a false-alarm rate over all window lengths and all times (docs/alerting.md).

Event time, whatever the arrival order: windows ending in a period are tested once every
earlier period is closed (its counts final, folded into the baseline); at a period's
close its windows are tested again with their final counts, then the period is folded
(a surge is clipped to ``min_ratio x expected`` so one incident does not raise the normal).
An incident is anchored to the period it fired in, which is the same for every order.

Incidents: ``firing`` once, ``escalated`` when the severity level rises, ``resolved`` after
``resolve_after_windows`` calm periods (no surge among windows up to the length that fired
it), then a per-key cooldown. Event ids are hashes of (rule, key, anchor period, event), so
a replay after a crash emits the same ids and downstream stores de-duplicate. The whole
state is a JSON snapshot (``snapshot``/``restore``), bounded by the longest window.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alerting.detect.baseline import Baseline
from alerting.detect.bins import BinCounter
from alerting.detect.links import discover_url
from alerting.detect.localtime import zone_offsets
from alerting.detect.rules import SEVERITIES, Rule, RuleParams, RuleSet
from alerting.detect.seasonal import (
    HOURS_PER_WEEK,
    SeasonalProfile,
    expand_rhythm,
    slot_of,
    slot_seconds,
)
from alerting.detect.significance import TESTS, SurgeTest, TestResult, WindowCounts
from finsent.schemas import Alert, AlertStatus, KeyedItem


@dataclass(slots=True)
class KeyState:
    """One rule's view of one key: its baseline and its incident, if any."""

    baseline: Baseline = field(default_factory=Baseline)
    last_period: int | None = None  # newest period folded into the baseline
    incident: str | None = None
    incident_start: datetime | None = None
    span: int = 0  # bins of the window that fired the incident
    anchor: int = 0  # the period it fired in
    level: int = -1
    quiet: int = 0
    cooldown_until: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "baseline": [self.baseline.negative, self.baseline.total, self.baseline.windows],
            "last_period": self.last_period, "incident": self.incident,
            "incident_start": self.incident_start.isoformat() if self.incident_start else None,
            "span": self.span, "anchor": self.anchor, "level": self.level, "quiet": self.quiet,
            "cooldown_until": self.cooldown_until.isoformat() if self.cooldown_until else None,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeyState:
        """Inverse of ``to_json``."""
        negative, total, windows = data["baseline"]
        start, cooldown = data["incident_start"], data["cooldown_until"]
        return cls(
            Baseline(negative, total, windows), data["last_period"], data["incident"],
            datetime.fromisoformat(start) if start else None, data["span"], data["anchor"],
            data["level"], data["quiet"], datetime.fromisoformat(cooldown) if cooldown else None,
        )  # fmt: skip


@dataclass(frozen=True)
class Surge:
    """The most significant window of one scan."""

    result: TestResult
    first: int  # first bin
    last: int  # last bin
    flat: float  # the expectation without the rhythm
    shortest: int = 0  # bins of the shortest window that was a surge too
    severity_ratio: float = 0.0  # observed / expected over at least one period


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:24]


class SurgeDetector:
    """Bins + baselines + rhythms + incident state for the keys of one partition."""

    def __init__(
        self,
        rules: RuleSet,
        window_s: int,
        lateness_s: int,
        samples: int = 5,
        kibana_url: str | None = None,
        clock: Callable[[], datetime] | None = None,
        follow_events: bool = True,
        bin_s: int = 60,
        rhythm_slot_s: int | None = None,
        rhythm_timezone: str = "UTC",
    ) -> None:
        if 3600 % window_s:
            raise ValueError(f"window_s ({window_s}) must divide an hour")
        self.rules = rules
        self.period = timedelta(seconds=window_s)
        slot_s = slot_seconds(window_s, rhythm_slot_s)
        self.per_slot = slot_s // window_s  # periods per rhythm slot
        self.slots_per_hour = 3600 // slot_s
        self.offsets = zone_offsets(rhythm_timezone, window_s)  # the rhythm's clock
        self.lengths: dict[str, tuple[int, ...]] = {}
        for rule in rules.rules:
            for key_type in rule.key_types:
                params = rule.params(key_type)
                for length in params.windows_s:
                    if length % bin_s:
                        raise ValueError(
                            f"rule {rule.name}: window {length} s is not a multiple of "
                            f"bin_s ({bin_s} s)"
                        )
                self.lengths[f"{rule.name}/{key_type}"] = tuple(
                    sorted(length // bin_s for length in params.windows_s)
                )
        longest = max((max(v) for v in self.lengths.values()), default=1)
        self.bins = BinCounter(bin_s, window_s, lateness_s, longest, samples, follow_events)
        self.kibana_url = kibana_url
        self.clock = clock
        self.states: dict[tuple[str, str], KeyState] = {}
        self.incidents: set[tuple[str, str]] = set()  # (rule, key) of the open incidents
        self.profiles: dict[str, SeasonalProfile] = {}
        # (key, bin) not yet evaluable, by period: an earlier period is still open
        self.pending: dict[int, set[tuple[str, int]]] = {}
        self.tests: dict[str, SurgeTest] = {name: test() for name, test in TESTS.items()}
        self._rhythms: dict[tuple[float, ...], list[float]] = {}
        self._open_seen = -1
        self._rules_of: dict[str, list[tuple[Rule, RuleParams]]] = {}  # key type -> rules

    @property
    def windows(self) -> BinCounter:
        """The counts (``latest``, ``watermark``) of this detector."""
        return self.bins

    # -- input ---------------------------------------------------------------------------

    def add(self, entry: KeyedItem) -> list[Alert]:
        """Count one entry; returns the alerts it triggers (early firing or escalation)."""
        index = self.bins.add(entry)
        alerts = self._close_due(entry.published_at)
        if index is None:
            return alerts
        if not entry.negative:
            return alerts  # no count a surge test reads went up (shares: at the close)
        if self.bins.period_of(index) == self.bins.open_period():
            alerts += self._scan(entry.key, index, entry.published_at, final=False)
        else:  # an earlier period is still open: its baseline is not final yet
            self.pending.setdefault(self.bins.period_of(index), set()).add((entry.key, index))
        return alerts

    def advance(self, now: datetime) -> list[Alert]:
        """Move the watermark to ``now - lateness`` and close what is due.

        ``now`` is the wall clock (live), or the low watermark of the inputs (event time).
        """
        self.bins.advance(now - self.bins.lateness)
        return self._close_due(now)

    # -- closing -------------------------------------------------------------------------

    def _for_key(self, key: str) -> list[tuple[Rule, RuleParams]]:
        """``rules.for_key``, cached here (a pydantic private attribute is slow to reach)."""
        key_type = key.partition(":")[0]
        found = self._rules_of.get(key_type)
        if found is None:
            found = self._rules_of[key_type] = self.rules.for_key(key)
        return found

    def _close_due(self, at: datetime) -> list[Alert]:
        open_period = self.bins.open_period()
        if open_period == self._open_seen:
            # nothing is due, the common case (checked on every entry): stories and pending
            # scans only land in periods the watermark has not closed, so none of them
            # can be due before the open period moves
            return []
        alerts: list[Alert] = []
        due = sorted(p for p in self.bins.active if p < open_period)
        for period in due:
            alerts += self._close_period(period, at)
        if open_period != self._open_seen:
            self._open_seen = open_period
            alerts += self._quiet_incidents(open_period, at)
        if self.pending and min(self.pending) <= open_period:
            ready = sorted(
                (index, key)
                for period in [p for p in self.pending if p <= open_period]
                for key, index in self.pending.pop(period)
            )
            for index, key in ready:
                if self.bins.period_of(index) == open_period:  # else its close tested it
                    alerts += self._scan(key, index, at, final=False)
        return alerts

    def _close_period(self, period: int, at: datetime) -> list[Alert]:
        """Test a closed period's windows with final counts, then fold it in."""
        alerts: list[Alert] = []
        for key in sorted(self.bins.close(period)):
            surged: dict[str, int] = {}
            fewest = min((params.min_count for _, params in self._for_key(key)), default=0)
            scanned = self.bins.stored_negative(key) >= fewest  # else no window can surge
            for index in self.bins.filled(key, period) if scanned else ():
                for name, span in self._scan_spans(key, index, at, alerts).items():
                    surged[name] = min(surged.get(name, span), span)
            negative, total = self.bins.window(
                key, period * self.bins.per_period, (period + 1) * self.bins.per_period - 1
            )
            profile = self._profile(key)
            for rule, params in self._for_key(key):
                state = self._state(rule, key)
                factors = self._factors(params, profile, period)
                exposure = self._exposure(factors, period * self.bins.per_period,
                                          self.bins.per_period)  # fmt: skip
                alerts += self._fold(rule, params, key, state, period, negative, total,
                                     exposure, surged.get(rule.name), at)  # fmt: skip
            profile.observe(period, total)
            self.bins.prune(key, period)
        return alerts

    def _fold(
        self, rule: Rule, params: RuleParams, key: str, state: KeyState, period: int,
        negative: int, total: int, exposure: float, surged_span: int | None, at: datetime,
    ) -> list[Alert]:  # fmt: skip
        """Calm or not, resolve or not; then the period into the baseline."""
        alerts: list[Alert] = []
        empty = 0 if state.last_period is None else max(0, period - state.last_period - 1)
        base = state.baseline.projected(params.halflife_windows, empty)
        if state.incident is not None:
            alerts += self._quiet_for(rule, params, key, state, empty, at)
        if state.incident is not None:
            calm = surged_span is None or surged_span > state.span  # a longer window only
            state.quiet = state.quiet + 1 if calm else 0
            if state.quiet >= params.resolve_after_windows:
                alerts.append(self._resolve(rule, params, key, state, period, at))
        cap = params.min_ratio * max(base.negative, params.min_expected)
        scale = max(exposure, 1e-6)
        x, t = negative / scale, total / scale
        if surged_span is not None or state.incident is not None:
            x = min(x, cap)  # keep the surge out of the normal
        state.baseline.fold(x, t, params.halflife_windows, empty)
        state.last_period = period
        return alerts

    def _quiet_for(
        self, rule: Rule, params: RuleParams, key: str, state: KeyState, empty: int,
        at: datetime,
    ) -> list[Alert]:  # fmt: skip
        """Periods without any story since the last fold are calm (those after it fired)."""
        assert state.last_period is not None
        for offset in range(1, empty + 1):
            if state.last_period + offset <= state.anchor:
                continue
            state.quiet += 1
            if state.quiet >= params.resolve_after_windows:
                return [self._resolve(rule, params, key, state, state.last_period + offset, at)]
        return []

    def _quiet_incidents(self, open_period: int, at: datetime) -> list[Alert]:
        """Incidents of keys that have gone silent resolve without waiting for a story."""
        alerts: list[Alert] = []
        for rule_name, key in sorted(self.incidents):
            state = self.states[(rule_name, key)]
            if state.incident is None or state.last_period is None:
                continue
            silent = open_period - 1 - state.last_period
            if silent <= 0 or (key in self.bins.keys and self._has_open(key, state)):
                continue
            rule = next(r for r in self.rules.rules if r.name == rule_name)
            params = rule.params(key.partition(":")[0])
            if state.quiet + silent >= params.resolve_after_windows:
                alerts += self._quiet_for(rule, params, key, state, silent, at)
                state.baseline.fold(0.0, 0.0, params.halflife_windows, silent - 1)
                state.last_period += silent
        return alerts

    def _has_open(self, key: str, state: KeyState) -> bool:
        """Stories of the key wait in a period between the last fold and the open one."""
        assert state.last_period is not None
        return any(key in keys for p, keys in self.bins.active.items() if p > state.last_period)

    # -- scanning ------------------------------------------------------------------------

    def _scan(self, key: str, index: int, at: datetime, final: bool) -> list[Alert]:
        alerts: list[Alert] = []
        self._scan_spans(key, index, at, alerts, final)
        return alerts

    def _scan_spans(
        self, key: str, index: int, at: datetime, alerts: list[Alert], final: bool = True
    ) -> dict[str, int]:
        """Every rule's windows ending at ``index``; the shortest that surged, per rule."""
        spans: dict[str, int] = {}
        period = self.bins.period_of(index)
        profile = self._profile(key)
        key_type = key.partition(":")[0]
        for rule, params in self._for_key(key):
            test = self.tests[params.test]
            if not final and not test.open_windows:
                continue
            if profile.first is None or period - profile.first < params.warmup_windows:
                continue  # a key seen for the first time never alerts on its first stories
            if self.bins.stored_negative(key) < params.min_count:
                continue  # fewer negative stories than that in all the key's bins: no window
            lengths = self.lengths[f"{rule.name}/{key_type}"]
            if self.bins.windows(key, index, lengths)[-1][0] < params.min_count:
                continue  # not even the longest window has enough negative stories
            state = self._state(rule, key)
            empty = 0 if state.last_period is None else max(0, period - state.last_period - 1)
            base = state.baseline.projected(params.halflife_windows, empty)
            factors = self._factors(params, profile, period)
            surge = self._best(key, index, params, test, base, factors, lengths)
            if surge is None:
                continue
            spans[rule.name] = surge.shortest
            alerts += self._escalate(rule, params, key, state, surge, period, base, factors,
                                     lengths, at)  # fmt: skip
        return spans

    def _best(
        self, key: str, index: int, params: RuleParams, test: SurgeTest, base: Baseline,
        factors: Sequence[float], lengths: tuple[int, ...],
    ) -> Surge | None:  # fmt: skip
        """The most significant surge window ending at ``index``, if any."""
        best: Surge | None = None
        shortest = 0
        per = self.bins.per_period
        sums = self.bins.windows(key, index, lengths)
        for length, (negative, total) in zip(lengths, sums, strict=True):
            first = index - length + 1
            if negative < params.min_count:
                continue
            counts = WindowCounts(negative, total, length / per,
                                  self._exposure(factors, first, length))  # fmt: skip
            expected = test.expected(params, base, counts)
            if negative < params.min_ratio * expected:
                continue
            result = test.evaluate(params, base, counts)
            if result.p_value >= params.alpha:
                continue
            shortest = shortest or length  # lengths come shortest first
            if best is None or result.p_value < best.result.p_value:
                flat = max(base.negative * length / per, params.min_expected * length / per)
                best = Surge(result, first, index, flat)
        if best is None:
            return None
        # severity: the ratio over at least a period, so that five stories in a 5-min
        # window of a quiet key are not "critical" by themselves
        span = max(best.last - best.first + 1, per)
        negative, total = self.bins.window(key, index - span + 1, index)
        counts = WindowCounts(negative, total, span / per,
                              self._exposure(factors, index - span + 1, span))  # fmt: skip
        ratio = negative / max(test.expected(params, base, counts), 1e-9)
        return Surge(best.result, best.first, best.last, best.flat, shortest, ratio)

    def _escalate(
        self, rule: Rule, params: RuleParams, key: str, state: KeyState, surge: Surge,
        period: int, base: Baseline, factors: Sequence[float], lengths: tuple[int, ...],
        at: datetime,
    ) -> list[Alert]:  # fmt: skip
        level = params.severity(surge.severity_ratio)
        start = self.bins.bin_start(surge.first)
        alerts: list[Alert] = []
        if state.incident is None:
            if state.cooldown_until is not None and start < state.cooldown_until:
                return []
            anchor = self.bins.bin_start(period * self.bins.per_period)
            state.incident = _digest(rule.name, key, anchor.isoformat())
            self.incidents.add((rule.name, key))
            state.incident_start, state.quiet = start, 0
            state.span, state.anchor = surge.last - surge.first + 1, period
            crossing = self._crossing_level(params, base, factors, period, lengths)
            state.level = min(level, crossing)
            alerts.append(self._alert(rule, params, key, state, "firing", surge, at))
        while level > state.level:  # one event per level, so the events do not depend on
            state.level += 1  # how many items arrived between two checks
            alerts.append(self._alert(rule, params, key, state, "escalated", surge, at))
        return alerts

    def _crossing_level(
        self, params: RuleParams, base: Baseline, factors: Sequence[float], period: int,
        lengths: tuple[int, ...],
    ) -> int:  # fmt: skip
        """The firing event's severity: that of the smallest surge in the period.

        It depends on the baseline and the rhythm alone (not on how many items had arrived
        when the surge was seen), so the events of an incident are the same for any order.
        """
        test = self.tests[params.test]
        last = (period + 1) * self.bins.per_period - 1
        level = len(SEVERITIES) - 1
        per = self.bins.per_period
        for length in lengths:
            counts = WindowCounts(0, 0, length / per,
                                  self._exposure(factors, last - length + 1, length))  # fmt: skip
            expected = test.expected(params, base, counts)
            count = test.surge_count(params, expected)
            if count is None:
                return level  # the test cannot say: the level it sees
            span = max(length, per)  # severity is judged over at least a period (``_best``)
            wide = WindowCounts(0, 0, span / per, self._exposure(factors, last - span + 1, span))
            level = min(level, params.severity(count / test.expected(params, base, wide)))
        return level

    def _resolve(
        self, rule: Rule, params: RuleParams, key: str, state: KeyState, period: int,
        at: datetime,
    ) -> Alert:  # fmt: skip
        assert state.incident_start is not None
        per = self.bins.per_period
        first, last = period * per, (period + 1) * per - 1
        negative, total = self.bins.window(key, first, last)
        profile = self._profile(key)
        factors = self._factors(params, profile, period)
        empty = 0 if state.last_period is None else max(0, period - state.last_period - 1)
        base = state.baseline.projected(params.halflife_windows, empty)
        counts = WindowCounts(negative, total, 1.0, self._exposure(factors, first, per))
        result = self.tests[params.test].evaluate(params, base, counts)
        flat = max(base.negative, params.min_expected)
        surge = Surge(result, first, last, flat)
        alert = self._alert(rule, params, key, state, "resolved", surge, at)
        state.incident, state.incident_start, state.level, state.quiet = None, None, -1, 0
        self.incidents.discard((rule.name, key))
        state.cooldown_until = self.bins.bin_start(last + 1) + timedelta(seconds=params.cooldown_s)
        return alert

    # -- expectations --------------------------------------------------------------------

    def _profile(self, key: str) -> SeasonalProfile:
        profile = self.profiles.get(key)
        if profile is None:
            profile = self.profiles[key] = SeasonalProfile(
                self.per_slot, self.slots_per_hour, offsets=self.offsets
            )
        return profile

    def _factors(
        self, params: RuleParams, profile: SeasonalProfile, period: int
    ) -> Sequence[float]:
        prior = None
        if params.rhythm is not None:
            prior = self._rhythms.get(params.rhythm)
            if prior is None:
                prior = self._rhythms[params.rhythm] = expand_rhythm(
                    params.rhythm, self.slots_per_hour
                )
        if not params.seasonal:
            return prior or [1.0] * (HOURS_PER_WEEK * self.slots_per_hour)
        return profile.factors(period, prior, params.prior_periods)

    def _exposure(self, factors: Sequence[float], first: int, length: int) -> float:
        """Sum of the bins' factors over bins per period: the window's seasonal length."""
        per_period = self.bins.per_period
        bins_per_slot = per_period * self.per_slot
        total = 0.0
        index, last = first, first + length - 1
        while index <= last:
            # on the rhythm's clock: a bin's local index, in runs of one offset
            if self.offsets is None:
                shift, run_end = 0, last
            else:
                _, until, offset = self.offsets.run(index // per_period)
                shift, run_end = offset * per_period, until * per_period - 1
            slot = (index + shift) // bins_per_slot
            end = min(last, run_end, (slot + 1) * bins_per_slot - 1 - shift)
            total += (end - index + 1) * factors[slot_of(slot, self.slots_per_hour)]
            index = end + 1
        return total / per_period

    # -- output --------------------------------------------------------------------------

    def _state(self, rule: Rule, key: str) -> KeyState:
        state = self.states.get((rule.name, key))
        if state is None:
            state = self.states[(rule.name, key)] = KeyState()
        return state

    def _alert(
        self, rule: Rule, params: RuleParams, key: str, state: KeyState,
        status: AlertStatus, surge: Surge, at: datetime,
    ) -> Alert:  # fmt: skip
        assert state.incident is not None and state.incident_start is not None
        level = max(state.level, 0)
        end = self.bins.bin_start(surge.last + 1)
        start = state.incident_start if status == "resolved" else self.bins.bin_start(surge.first)
        url = discover_url(self.kibana_url, key, start, end) if self.kibana_url else None
        samples = [] if status == "resolved" else self.bins.samples(key, surge.first, surge.last)
        result = surge.result
        return Alert(
            id=_digest(state.incident, status, level if status == "escalated" else ""),
            incident_id=state.incident, rule=rule.name, key=key, status=status,
            test=params.test, window_start=start, window_end=end,
            window_s=(surge.last - surge.first + 1) * self.bins.bin_s,
            observed=result.observed, expected=round(result.expected, 4),
            expected_flat=round(surge.flat, 4), total=self.bins.window(key, surge.first,
                                                                       surge.last)[1],
            ratio=round(result.ratio, 4), p_value=result.p_value,
            severity=SEVERITIES[0 if status == "resolved" else level],
            peak_severity=SEVERITIES[level], samples=samples, kibana_url=url,
            created_at=self.clock() if self.clock else at,
        )  # fmt: skip

    # -- state -----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state: bins, baselines, rhythms, incidents."""
        return {
            "bins": self.bins.snapshot(),
            "pending": sorted([key, index] for due in self.pending.values() for key, index in due),
            "profiles": {key: p.to_json() for key, p in self.profiles.items()},
            "states": [
                {"rule": rule, "key": key, "state": state.to_json()}
                for (rule, key), state in self.states.items()
            ],
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Load a snapshot taken by ``snapshot`` (rules may have changed since)."""
        if "bins" not in snapshot:
            return  # a snapshot of the tumbling-window detector: start afresh
        self.bins.restore(snapshot["bins"])
        self.pending = {}
        for key, index in snapshot["pending"]:
            period = self.bins.period_of(int(index))
            self.pending.setdefault(period, set()).add((key, int(index)))
        self.profiles = {
            key: SeasonalProfile.from_json(data, self.per_slot, self.slots_per_hour, self.offsets)
            for key, data in snapshot["profiles"].items()
        }
        known = {r.name for r in self.rules.rules}
        self.states = {
            (s["rule"], s["key"]): KeyState.from_json(s["state"])
            for s in snapshot["states"]
            if s["rule"] in known
        }
        self.incidents = {k for k, state in self.states.items() if state.incident is not None}
