from datetime import UTC, datetime, timedelta

from alerting.tools.triage import format_row, triage_state

NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)


def doc(**extra: object) -> dict[str, object]:
    return {
        "id": "a1-firing", "created_at": "2026-12-02T11:00:00Z", "status": "firing",
        "severity": "high", "key": "ticker:ACME", "observed": 12, "expected": 1.5, "ratio": 8.0,
    } | extra  # fmt: skip


def test_feedback_is_part_of_the_triage_state() -> None:
    assert triage_state(doc(), NOW) == "-"
    marked = doc(feedback={"verdict": "false_alarm", "by": "ana", "at": "x", "note": None})
    assert triage_state(marked, NOW) == "false alarm (ana)"
    both = marked | {
        "acknowledged": {"by": "bo"},
        "muted": {"until": (NOW + timedelta(hours=1)).isoformat()},
    }
    assert triage_state(both, NOW) == "acked by bo, muted until 12-02 13:00Z, false alarm (ana)"
    useful = doc(feedback={"verdict": "useful", "by": "cy"})
    assert "useful (cy)" in format_row(useful)
