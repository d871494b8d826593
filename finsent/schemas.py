"""The message contract between stages: JSON on the wire, versioned, field names public.

Consumers ignore fields they do not know (so producers may add some), but a message with
another ``schema_version`` or one that breaks the schema raises ``SchemaError``, the single
error type the dead-letter path catches.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
)

SCHEMA_VERSION: Literal[1] = 1

SentimentLabel = Literal["negative", "neutral", "positive"]
SENTIMENT_LABELS: tuple[SentimentLabel, ...] = ("negative", "neutral", "positive")


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[
    AwareDatetime,
    AfterValidator(_to_utc),
    PlainSerializer(lambda v: v.isoformat().replace("+00:00", "Z"), return_type=str),
]
"""A timezone-aware instant, normalised to UTC, written as ISO-8601 with ``Z``."""


class SchemaError(ValueError):
    """A message that cannot be accepted; ``reason`` is what the dead-letter record stores.

    ``kind`` is one of a few fixed words (``json``, ``version``, ``invalid``): the
    ``reason`` label of ``finsent_dead_letters_total``.
    """

    def __init__(self, reason: str, payload: bytes | None = None, kind: str = "invalid") -> None:
        super().__init__(reason)
        self.reason = reason
        self.payload = payload
        self.kind = kind


class Message(BaseModel):
    """Base of every wire message: unknown fields ignored, instances immutable."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION


class RawItem(Message):
    """One news article or comment, normalised by ingest."""

    id: str = Field(min_length=1, description="Stable: hash of source + guid or canonical URL.")
    source: str = Field(min_length=1, description="Configured source name.")
    kind: Literal["news", "comment"]
    title: str = ""
    text: str = ""
    url: str | None = None
    published_at: UtcDatetime
    fetched_at: UtcDatetime
    lang: str | None = None
    symbols: list[str] = Field(default_factory=list, description="Tickers given by the source.")
    author: str | None = Field(None, description="Pseudonymised unless raw handles opted in.")
    story_id: str | None = Field(None, description="Shared by syndicated copies of one story.")
    extra: dict[str, Any] = Field(default_factory=dict)


class Prediction(BaseModel):
    """A classifier head's output: the arg-max label and the probability of every label."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    label: str
    scores: dict[str, float]


class SentimentPrediction(Prediction):
    """Sentiment head output over the fixed three labels."""

    label: SentimentLabel


class ScoredItem(RawItem):
    """A RawItem with the classifier's verdicts."""

    sentiment: SentimentPrediction
    topic: Prediction
    tickers: list[str] = Field(default_factory=list, description="All tickers tagged.")
    model: str = Field(min_length=1, description="name@version of the model that scored it.")
    classified_at: UtcDatetime


class AlertSample(BaseModel):
    """Evidence: one of the most negative items in the window."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    title: str
    url: str | None = None
    score: float = Field(description="Negative-sentiment probability.")


class KeyedItem(Message):
    """A scored item as seen by one alert key (the alert stage's repartitioned topic)."""

    key: str = Field(pattern=r"^[a-z_]+:.+$", description="e.g. ticker:AAPL, topic:Macro")
    item_id: str = Field(min_length=1)
    story_id: str = Field(min_length=1, description="Syndicated copies share it.")
    published_at: UtcDatetime
    negative: bool = Field(description="Sentiment label is negative.")
    score: float = Field(ge=0, le=1, description="Negative-sentiment probability.")
    title: str = ""
    url: str | None = None
    origin: int | None = Field(None, description="Scored-topic partition it was routed from.")


class KeyedWatermark(Message):
    """Router progress: no later entry from these scored partitions is older than this.

    Sent to every keyed partition (Kafka key ``WATERMARK_KEY``), so each detector can close
    windows only when every scored partition has moved past them (the low watermark).
    """

    busy: list[int] = Field(description="Owned scored partitions with records still to route.")
    idle: list[int] = Field(description="Owned scored partitions that are caught up and empty.")
    progress: UtcDatetime | None = Field(
        None, description="Event time routed so far (busy partitions are at least here)."
    )


class ScoredProgress(Message):
    """Classifier progress: which raw partitions still have records on their way.

    Written by every classifier member into every scored partition (Kafka key
    ``WATERMARK_KEY``), after the items it produced before it. A scored partition read to
    its end is only done when the raw partitions feeding it are idle: the alert router
    reads these markers from the data it consumes and holds busy partitions back, so the
    detectors never close windows that items are still on their way to.
    """

    raw_partitions: int = Field(ge=1, description="Partitions of the raw topic.")
    busy: list[int] = Field(description="Owned raw partitions with records still to score.")
    idle: list[int] = Field(description="Owned raw partitions that are caught up and empty.")
    sent_at: UtcDatetime = Field(description="When the member wrote it.")
    generation: int = Field(
        -1,
        description="Consumer-group generation of the writer: a newer generation's report "
        "wins (a partition has one owner per generation), then the later one.",
    )


WATERMARK_KEY = b"_watermark"
"""Kafka key of progress markers (``KeyedWatermark``, ``ScoredProgress``) among the items."""

AlertStatus = Literal["firing", "escalated", "resolved"]
Severity = Literal["low", "medium", "high", "critical"]


class Alert(Message):
    """One event of a surge incident: it fired, it got worse, or it ended.

    ``firing`` and ``escalated`` events describe the window that crossed the threshold. A
    ``resolved`` event spans the incident (``window_start`` is where it began) and its
    observed/expected/ratio are those of the calm window that ended it; its severity is low
    and the incident's highest level is ``peak_severity``.
    """

    id: str = Field(min_length=1, description="Stable per event: replays give the same id.")
    incident_id: str = Field(min_length=1, description="Shared by the events of one surge.")
    rule: str = Field(min_length=1)
    key: str = Field(pattern=r"^[a-z_]+:.+$", description="e.g. ticker:AAPL, topic:Macro")
    status: AlertStatus
    test: Literal["poisson", "binomial"] = "poisson"
    window_start: UtcDatetime
    window_end: UtcDatetime
    window_s: int | None = Field(
        None, description="Length of the scan window that fired (window_end - window_start)."
    )
    observed: float = Field(ge=0, description="Negative stories in the window.")
    expected: float = Field(
        ge=0, description="Baseline expectation for the window, the key's rhythm included."
    )
    expected_flat: float | None = Field(
        None, description="The same expectation without the rhythm (the level alone)."
    )
    total: int = Field(0, ge=0, description="All stories in the window.")
    ratio: float = Field(ge=0)
    p_value: float = Field(ge=0, le=1)
    severity: Severity = Field(
        description="The incident's level at this event; a resolved event is informational "
        "(low): how bad it got is peak_severity."
    )
    peak_severity: Severity | None = Field(
        None, description="The highest level the incident reached up to this event."
    )
    samples: list[AlertSample] = Field(default_factory=list)
    kibana_url: str | None = None
    created_at: UtcDatetime


M = TypeVar("M", bound=Message)


def encode(message: Message) -> bytes:
    """Serialise a message to its wire form (compact UTF-8 JSON)."""
    return message.model_dump_json().encode("utf-8")


def decode(model: type[M], payload: bytes | str) -> M:
    """Parse wire bytes into ``model``; any problem is a ``SchemaError`` with a reason."""
    raw = payload.encode("utf-8") if isinstance(payload, str) else payload
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "<message>"
        kind = "invalid"
        if first["loc"] == ("schema_version",):
            reason = f"unsupported schema_version (this build reads {SCHEMA_VERSION})"
            kind = "version"
        elif first["type"] == "json_invalid":
            reason = f"not valid JSON: {first['msg']}"
            kind = "json"
        else:
            reason = f"{model.__name__}.{loc}: {first['msg']}"
        if exc.error_count() > 1:
            reason += f" (+{exc.error_count() - 1} more)"
        raise SchemaError(reason, raw, kind) from None


def make_item_id(source: str, key: str) -> str:
    """The stable item id: a hash of the source name and the item's guid or canonical URL."""
    return hashlib.sha256(f"{source}\x1f{key}".encode()).hexdigest()[:32]


MAX_DEAD_PAYLOAD = 512 * 1024
"""Bytes of a failed record kept in its dead letter (base64 of it stays under 1 MB)."""


class DeadLetter(Message):
    """A message a stage could not use, kept with the reason and where it came from."""

    stage: str
    reason: str
    topic: str
    partition: int
    offset: int
    key: str | None = None
    payload: str = Field(description="The original bytes: UTF-8 text, or base64 (see below).")
    payload_encoding: Literal["utf-8", "base64"] = Field(
        "utf-8", description="base64 where the original bytes are not valid UTF-8."
    )
    payload_size: int | None = Field(None, description="Bytes of the original record.")
    truncated: bool = Field(
        False,
        description="Only the first MAX_DEAD_PAYLOAD bytes are kept (the record stays in "
        "its topic at partition/offset until retention).",
    )
    failed_at: UtcDatetime

    @classmethod
    def of(
        cls,
        stage: str,
        reason: str,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        payload: bytes | None,
    ) -> DeadLetter:
        """Build the record for a consumed message that failed (its bytes kept exactly).

        A payload over ``MAX_DEAD_PAYLOAD`` is cut there (``truncated``), so the dead letter
        itself always fits a produce request.
        """
        raw = payload or b""
        size = len(raw)
        if size > MAX_DEAD_PAYLOAD:
            raw = raw[:MAX_DEAD_PAYLOAD]
        try:
            text: str | None = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        return cls(
            stage=stage,
            reason=reason,
            topic=topic,
            partition=partition,
            offset=offset,
            key=key.decode("utf-8", "replace") if key is not None else None,
            payload=text if text is not None else base64.b64encode(raw).decode("ascii"),
            payload_encoding="utf-8" if text is not None else "base64",
            payload_size=size,
            truncated=size > MAX_DEAD_PAYLOAD,
            failed_at=datetime.now(UTC),
        )

    def original(self) -> bytes:
        """The bytes of the record that failed, exactly."""
        if self.payload_encoding == "base64":
            return base64.b64decode(self.payload)
        return self.payload.encode("utf-8")
