"""Feed text is untrusted: hostile titles and links stay text in every chat format."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from alerting.deliver.notifiers.slack import SlackNotifier
from alerting.deliver.notifiers.teams import TeamsNotifier
from finsent.schemas import Alert, AlertSample

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
HOSTILE = "<!channel> <https://evil.example|Reset your password> [Click](https://evil.example) *now* & `x`"


def alert(url: str | None = "https://n.example/1") -> Alert:
    return Alert(
        id="a1", incident_id="i1", rule="negative-surge", key="ticker:ACME", status="firing",
        window_start=T0, window_end=T0 + timedelta(minutes=15), observed=12, expected=1.5,
        total=14, ratio=8.0, p_value=1e-7, severity="critical",
        samples=[AlertSample(id="x", title=HOSTILE, url=url, score=0.97),
                 AlertSample(id="y", title="plain", url="javascript:alert(1)", score=0.9)],
        kibana_url="http://kibana:5601/app/discover#/", created_at=T0,
    )  # fmt: skip


def texts(node: object) -> list[str]:
    if isinstance(node, dict):
        return [t for v in node.values() for t in texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in texts(v)]
    return [node] if isinstance(node, str) else []


def test_slack_cannot_be_made_to_mention_link_or_run_a_script() -> None:
    body = "\n".join(texts(json.loads(SlackNotifier.render(alert()))))
    assert "<!channel>" not in body and "&lt;!channel&gt;" in body
    assert "<https://evil.example|" not in body, "no link of the feed's own making"
    assert "&amp;" in body
    assert "javascript:" not in body
    assert "<http://kibana:5601/app/discover#/|Open in Kibana>" in body, "our own link stays"


def test_teams_cannot_be_made_to_link_or_format_or_run_a_script() -> None:
    body = "\n".join(texts(json.loads(TeamsNotifier.render(alert()))))
    assert "[Click](https" not in body and r"\[Click\]\(https" in body
    assert r"\*now\*" in body and r"\`x\`" in body
    assert "javascript:" not in body


def test_items_keep_only_web_links() -> None:
    from ingest.items import ItemFactory
    from ingest.privacy import AuthorPseudonymiser

    make = ItemFactory("wire", "news", AuthorPseudonymiser(None)).make
    for link in ("javascript:alert(1)", "data:text/html,<script>x</script>", "file:///etc/passwd"):
        item = make(fetched_at=T0, guid="g1", url=link, title="ACME recalls cars")
        assert item is not None and item.url is None, link
    web = make(fetched_at=T0, guid="g1", url="https://n.example/a", title="ACME recalls cars")
    assert web is not None and web.url == "https://n.example/a"
