"""Surge detector: figures on generated traffic with known surges, and the incident rules."""

from collections import defaultdict
from datetime import timedelta

from alerting.detect.detector import SurgeDetector
from alerting.detect.rules import load_rules, parse_rules
from alerting.tools.simulate import T0, Traffic, generate
from finsent.schemas import Alert, KeyedItem

W = 900
DAY = 96  # windows of 15 min


def run(entries: list[KeyedItem], detector: SurgeDetector | None = None) -> list[Alert]:
    detector = detector or SurgeDetector(load_rules(), W, 120, kibana_url="http://kibana:5601")
    alerts: list[Alert] = []
    for entry in entries:
        alerts += detector.add(entry)
    return alerts


def test_no_false_alarms_in_7_days_of_stationary_traffic_over_50_keys() -> None:
    rates = [0.5, 1.0, 2.5, 5.0, 10.0]
    keys = {f"ticker:K{i}": Traffic(rates[i % 5], rates[i % 5]) for i in range(50)}
    entries = generate(keys, windows=7 * DAY, seed=7)
    alerts = run(entries)
    fired = [a for a in alerts if a.status == "firing"]
    print(f"\nfalse alarms: {len(fired)} in 7 days x 50 keys ({7 * DAY * 50} key-windows, "
          f"{len(entries)} entries, negative rates {rates} per window)")  # fmt: skip
    assert fired == []


def test_power_a_4x_surge_is_detected_within_its_window() -> None:
    rates = [2.5, 5.0, 10.0]  # 4x gives 10, 20, 40 negative stories
    keys = {
        f"ticker:P{i}": Traffic(rates[i % 3], rates[i % 3], surge_window=2 * DAY + (17 * i) % DAY)
        for i in range(60)
    }
    alerts = run(generate(keys, windows=3 * DAY, seed=11))
    first: dict[str, Alert] = {}
    for alert in alerts:
        if alert.status == "firing":
            first.setdefault(alert.key, alert)
    detected: dict[float, int] = defaultdict(int)
    for key, traffic in keys.items():
        assert traffic.surge_window is not None
        start = T0 + timedelta(seconds=traffic.surge_window * W)
        found = first.get(key)
        assert found is None or found.window_start == start, f"{key}: fired outside the surge"
        if found is not None:
            assert found.created_at <= start + timedelta(seconds=W), "detected within the window"
            detected[traffic.negative] += 1
    power = {rate: detected[rate] / 20 for rate in rates}
    print("\npower within one window:", {f"{4 * r:g} vs {r:g}": p for r, p in power.items()})
    assert power[10.0] >= 0.9
    assert power[5.0] >= 0.5
    assert sum(detected.values()) == len(first), "no other key fired"


def entries(
    key: str, window: int, negative: int, other: int = 0, story: str = ""
) -> list[KeyedItem]:
    start = T0 + timedelta(seconds=window * W)
    return [
        KeyedItem(
            key=key,
            item_id=f"{key}-{window}-{i}",
            story_id=story or f"{key}-{window}-{i}",
            published_at=start + timedelta(seconds=10 * i),
            negative=i < negative,
            score=0.5 + i / 1000,
            title=f"headline {i}",
            url=f"https://n/{i}",
        )
        for i in range(negative + other)
    ]


def history(key: str, windows: int) -> list[KeyedItem]:
    return [e for w in range(windows) for e in entries(key, w, 1 + w % 2, 2)]


def test_warm_up_then_firing_with_evidence_escalation_and_resolve() -> None:
    detector = SurgeDetector(load_rules(), W, 60, kibana_url="http://kibana:5601")
    early = run(entries("ticker:NEW", 0, 30), detector)
    assert early == [], "a key without history cannot alert"
    stream = history("ticker:ACME", 40) + entries("ticker:ACME", 40, 12, 2)
    alerts = run(stream, detector)
    firing = [a for a in alerts if a.status == "firing"]
    assert len(firing) == 1
    alert = firing[0]
    assert alert.key == "ticker:ACME" and alert.window_start == T0 + timedelta(seconds=40 * W)
    assert alert.observed >= 5 and alert.ratio >= 2.5 and alert.p_value < 1e-5
    assert 1.0 < alert.expected < 2.0, "the baseline is the mean of 1 and 2 negatives"
    assert len(alert.samples) == 5 and alert.samples[0].score >= alert.samples[-1].score
    assert alert.kibana_url and "tickers" in alert.kibana_url
    worse = run(entries("ticker:ACME", 40, 30, 0, story="")[12:], detector)  # same window, more
    assert [a.status for a in worse] == ["escalated"]
    assert worse[0].incident_id == alert.incident_id and worse[0].severity != alert.severity
    calm = run(entries("ticker:ACME", 41, 1, 2) + entries("ticker:ACME", 43, 1, 2), detector)
    assert [a.status for a in calm] == ["resolved"]
    assert calm[0].incident_id == alert.incident_id
    assert len({alert.id, worse[0].id, calm[0].id}) == 3


def test_syndicated_copies_do_not_fake_a_surge() -> None:
    stream = history("ticker:ACME", 40) + entries("ticker:ACME", 40, 30, story="wire-story")
    assert run(stream) == []


def test_cooldown_suppresses_a_new_incident_for_the_key() -> None:
    detector = SurgeDetector(load_rules(), W, 60)
    stream = history("ticker:ACME", 40) + entries("ticker:ACME", 40, 12)
    stream += entries("ticker:ACME", 41, 1, 2) + entries("ticker:ACME", 42, 15)  # within 1 h
    stream += entries("ticker:ACME", 43, 1, 2) + entries("ticker:ACME", 48, 15)  # after it
    stream += entries("ticker:ACME", 52, 1)
    alerts = run(stream, detector)
    statuses = [(a.status, a.window_start) for a in alerts if a.status != "escalated"]
    assert [s for s, _ in statuses] == ["firing", "resolved", "firing", "resolved"]
    assert statuses[2][1] == T0 + timedelta(seconds=48 * W)


def test_snapshot_restore_mid_stream_gives_the_same_alerts() -> None:
    keys = {
        f"ticker:S{i}": Traffic(2.0, 2.0, surge_window=60 + i, surge_factor=8) for i in range(5)
    }
    stream = generate(keys, windows=80, seed=3)
    whole = run(stream)
    assert len([a for a in whole if a.status == "firing"]) >= 3
    first = SurgeDetector(load_rules(), W, 120, kibana_url="http://kibana:5601")
    cut = len(stream) // 2 + 17
    before = run(stream[:cut], first)
    second = SurgeDetector(load_rules(), W, 120, kibana_url="http://kibana:5601")
    second.restore(first.snapshot())
    after = run(stream[cut:], second)
    assert [a.id for a in before + after] == [a.id for a in whole]
    assert before + after == whole


def test_rules_are_validated_with_the_path_of_the_problem() -> None:
    import pytest

    from alerting.detect.rules import RulesError

    with pytest.raises(RulesError, match=r"rules\.0\.min_cont"):
        parse_rules("rules: [{name: a, min_cont: 3}]", "r.yaml")
    with pytest.raises(RulesError, match="alpha"):
        parse_rules("rules: [{name: a, overrides: {ticker: {alpha: 2}}}]", "r.yaml")
    with pytest.raises(RulesError, match="duplicate"):
        parse_rules("rules: [{name: a}, {name: a}]", "r.yaml")
    with pytest.raises(RulesError, match="does not watch"):
        parse_rules("rules: [{name: a, key_types: [ticker], overrides: {topic: {}}}]", "r.yaml")
    rules = parse_rules(
        "rules: [{name: a, min_count: 3, overrides: {global: {min_count: 30}}}]", "r.yaml"
    )
    assert rules.for_key("ticker:X")[0][1].min_count == 3
    assert rules.for_key("global:all")[0][1].min_count == 30


def test_alerts_do_not_depend_on_arrival_timing_or_local_disorder() -> None:
    import random

    keys = {
        f"ticker:O{i}": Traffic(2.0, 2.0, surge_window=60 + 3 * i, surge_factor=8) for i in range(6)
    }
    stream = generate(keys, windows=90, seed=5)
    reference = run(stream)
    assert len([a for a in reference if a.status == "escalated"]) >= 1
    rng = random.Random(1)
    shuffled = sorted(stream, key=lambda e: e.published_at + timedelta(seconds=rng.uniform(0, 60)))
    for entries, lag_s, every in ((stream, 600, 200), (shuffled, 60, 37), (shuffled, 3000, 1000)):
        detector = SurgeDetector(load_rules(), W, 120, kibana_url="http://kibana:5601",
                                 follow_events=False)  # fmt: skip
        alerts: list[Alert] = []
        newest = entries[0].published_at
        for n, entry in enumerate(entries):
            alerts += detector.add(entry)
            newest = max(newest, entry.published_at)
            if n % every == 0:  # a low watermark that trails the data, advanced in jumps
                alerts += detector.advance(newest - timedelta(seconds=lag_s))
        alerts += detector.advance(newest)
        assert [a.id for a in alerts if a.window_end <= newest] == [a.id for a in reference], (
            f"lag {lag_s} s, every {every}"
        )
