"""Typed configuration, validated once at start-up.

One YAML file feeds these models; every field can be overridden by an environment variable
``FINSENT_<SECTION>__<FIELD>`` (``__`` separates nesting levels, lists and mappings are given
as JSON), e.g. ``FINSENT_KAFKA__BOOTSTRAP_SERVERS='["broker:9092"]'``. Environment variables
win over the file. Unknown keys are rejected so that a misspelt key never silently falls back
to a default.
"""

from __future__ import annotations

import difflib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Self, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from finsent.config_sources import SourceConfig
from finsent.masking import mask_config

ENV_PREFIX = "FINSENT_"
CONFIG_ENV = "FINSENT_CONFIG"


class ConfigError(Exception):
    """A configuration that cannot be used; the message names the field and the fix."""


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TopicSettings(Section):
    """Kafka topic names; other tools produce and consume these, so they are configurable."""

    raw: str = Field("finsent.items.raw", description="RawItem topic (ingest -> classify).")
    scored: str = Field(
        "finsent.items.scored", description="ScoredItem topic (classify -> alerting)."
    )
    alerts: str = Field("finsent.alerts", description="Alert events topic.")
    keyed: str = Field(
        "finsent.items.keyed",
        description="Scored items repartitioned by alert key (alert router -> detectors).",
    )
    alert_state: str = Field(
        "finsent.alerts.state",
        description="Detector snapshots per keyed partition (compacted; restored at start).",
    )
    deadletter: str = Field(
        "finsent.deadletter", description="Messages that could not be decoded or processed."
    )


class KafkaSettings(Section):
    """Where Kafka is and how to authenticate. A loopback address means the local stack."""

    bootstrap_servers: list[str] = Field(
        default_factory=lambda: ["127.0.0.1:9092"],
        min_length=1,
        description="host:port list. A single loopback address is served by `finsent stack`.",
    )
    client_id: str = Field("finsent", description="Client id reported to the brokers.")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Transport security."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism; required with SASL_* protocols."
    )
    sasl_username: str | None = Field(None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(None, description="SASL password (secret).")
    ssl_cafile: Path | None = Field(None, description="CA bundle (PEM) to verify brokers.")
    ssl_certfile: Path | None = Field(None, description="Client certificate (PEM) for mTLS.")
    ssl_keyfile: Path | None = Field(None, description="Client key (PEM) for mTLS.")
    ssl_check_hostname: bool = Field(True, description="Check broker host names under TLS.")
    request_timeout_ms: int = Field(30_000, gt=0, description="Per-request timeout, ms.")
    topic_partitions: int = Field(
        4, ge=1, description="Partitions for topics finsent creates (max consumers per group)."
    )
    topic_replication_factor: int = Field(
        1, ge=1, description="Replication factor for topics finsent creates (3 in production)."
    )
    topics: TopicSettings = Field(default_factory=TopicSettings)

    @model_validator(mode="after")
    def _sasl_complete(self) -> Self:
        if self.security_protocol.startswith("SASL_"):
            missing = [
                name
                for name in ("sasl_mechanism", "sasl_username", "sasl_password")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(
                    f"security_protocol {self.security_protocol} needs {', '.join(missing)}"
                )
        return self


class ElasticsearchSettings(Section):
    """Where Elasticsearch is and how to authenticate. A loopback URL means the local stack."""

    hosts: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:9200"],
        min_length=1,
        description="Node URLs. A single loopback URL is served by `finsent stack`.",
    )
    api_key: SecretStr | None = Field(None, description="API key (id:key, base64) (secret).")
    username: str | None = Field(None, description="Basic-auth user name.")
    password: SecretStr | None = Field(None, description="Basic-auth password (secret).")
    ca_certs: Path | None = Field(None, description="CA bundle (PEM) to verify the nodes.")
    verify_certs: bool = Field(True, description="Verify TLS certificates.")
    request_timeout_s: float = Field(30.0, gt=0, description="Per-request timeout, seconds.")
    index_prefix: str = Field(
        "finsent", pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="Prefix of every index/alias."
    )
    daily_index_max_age_days: int = Field(
        30, ge=1, description="Items published longer than this before they were fetched go "
        "to <prefix>-items-misdated, not to a daily index of their own, days.",
    )  # fmt: skip

    @model_validator(mode="after")
    def _one_auth(self) -> Self:
        if self.api_key is not None and self.username is not None:
            raise ValueError("set either api_key or username/password, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self


class StackSettings(Section):
    """The local Kafka + Elasticsearch that `finsent stack up` runs on loopback for dev/CI."""

    dir: Path = Field(Path(".stack"), description="State and logs (git-ignored).")
    cache_dir: Path = Field(
        Path("~/.cache/finsent"), description="Verified downloads, shared by every checkout."
    )
    maven_url: str = Field(
        "https://repo1.maven.org/maven2", description="Maven repository the servers come from."
    )
    kafka_version: Literal["4.1.1"] = Field("4.1.1", description="Pinned Apache Kafka version.")
    elasticsearch_version: Literal["8.19.21"] = Field(
        "8.19.21", description="Pinned Elasticsearch version (integ-test-zip on Maven Central)."
    )
    java_home: Path | None = Field(
        None, description="JDK to run the servers; default: the best installed JDK >= 17."
    )
    kafka_controller_port: int = Field(9093, gt=0, lt=65536, description="KRaft controller port.")
    elasticsearch_transport_port: int = Field(
        9300, gt=0, lt=65536, description="Elasticsearch transport port."
    )
    kafka_heap_mb: int = Field(768, ge=256, description="Kafka JVM heap, MiB.")
    elasticsearch_heap_mb: int = Field(1024, ge=512, description="Elasticsearch JVM heap, MiB.")
    startup_timeout_s: float = Field(180.0, gt=0, description="Deadline for readiness, s.")
    shutdown_timeout_s: float = Field(60.0, gt=0, description="Deadline for a clean stop, s.")
    run_as_user: str = Field(
        "finsent",
        description="Unprivileged user Elasticsearch runs as when finsent runs as root.",
    )


class IngestSettings(Section):
    """The ingest stage (`finsent ingest`): sources, de-duplication state, privacy."""

    sources: list[SourceConfig] = Field(
        default_factory=list, description="Feeds to poll; `type:` picks the source class."
    )
    state_path: Path = Field(
        Path(".stack/ingest.sqlite3"),
        description="Seen ids, cursors, HTTP validators (a persistent volume in production).",
    )
    seen_max_entries: int = Field(
        1_000_000, ge=1000, description="Seen-id store bound; oldest ids are forgotten first."
    )
    max_item_bytes: int = Field(
        256 * 1024, ge=1024, le=900 * 1024,
        description="An item larger than this (encoded, bytes) is refused on its own, reported "
        "as a problem of its poll; the rest of the poll is produced.",
    )  # fmt: skip
    pseudonymise_authors: bool = Field(
        True, description="Replace author handles by a keyed hash (false = raw, opt-in)."
    )
    author_key: SecretStr | None = Field(
        None, description="Key for author hashes (secret); default: one kept in the state."
    )
    failing_after_intervals: int = Field(
        3, ge=1, description="Report a source silent or failing for this many intervals."
    )
    max_backoff_s: float = Field(3600.0, gt=0, description="Cap of a failing source's backoff.")

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [s.name for s in self.sources]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique: {', '.join(duplicates)}")
        return self


class ClassifierSettings(Section):
    """The BERT topic + sentiment stage (`finsent classify`)."""

    model_dir: Path | None = Field(
        None, description="Model folder from `finsent train`; default: the shipped model."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: the GPU when torch sees one, else the CPU."
    )
    max_length: int = Field(128, ge=8, le=512, description="Truncation length, tokens.")
    max_batch_items: int = Field(64, ge=1, description="Micro-batch bound: items.")
    max_wait_ms: int = Field(50, ge=0, description="Micro-batch bound: wait for more, ms.")
    max_batch_tokens: int = Field(
        8192, ge=64, description="Micro-batch bound: padded tokens (longest x items)."
    )
    precision: Literal["auto", "fp32", "bf16", "int8"] = Field(
        "auto",
        description="Number format of the model: auto = the fastest mode on this machine that "
        "the model folder's record (`finsent model check-precision`) keeps within 0.5 accuracy "
        "points and 99.5% of dev labels: bf16 on a CPU with AMX or AVX-512 BF16, the "
        "calibrated int8 on one with VNNI only, bf16 (fp16) on a GPU, else fp32; int8 is "
        "CPU-only.",
    )
    threads: int | None = Field(
        None, ge=1, description="CPU threads for the model (default: every core of the host)."
    )
    group_id: str = Field("finsent-classify", description="Kafka consumer group.")
    max_poll_interval_ms: int = Field(
        300_000, ge=10_000, description="Kafka max.poll.interval.ms; a batch never nears it."
    )

    @model_validator(mode="before")
    @classmethod
    def _replaced_quantize_int8(cls, data: Any) -> Any:
        """``quantize_int8`` (before ``precision``) is refused with its translation."""
        if isinstance(data, dict) and "quantize_int8" in data:
            raise ValueError(
                "quantize_int8 was replaced by precision (auto | fp32 | bf16 | int8): write "
                "precision: auto for quantize_int8: auto, int8 for true, fp32 for false "
                "(FINSENT_CLASSIFIER__PRECISION); auto now also picks bf16 where the CPU or "
                "GPU has it"
            )
        return data

    @model_validator(mode="after")
    def _int8_is_cpu_only(self) -> Self:
        if self.device == "cuda" and self.precision == "int8":
            raise ValueError(
                "precision int8 is CPU-only: set device: cpu, or precision: auto or bf16 "
                "for the GPU"
            )
        return self


class WebhookSettings(Section):
    """One webhook endpoint: every alert event is POSTed to it, signed."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Unique endpoint name.")
    url: str = Field(pattern=r"^https?://", description="Endpoint URL (http or https).")
    format: Literal["json", "slack", "teams"] = Field(
        "json", description="Payload template: the Alert JSON, Slack blocks or a Teams card."
    )
    secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key for the signature header (secret)."
    )
    timeout_s: float = Field(10.0, gt=0, description="Per attempt, s.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra request headers (not logged)."
    )


class AlertingSettings(Section):
    """Surge detection (`finsent alert`) and delivery (`finsent deliver`)."""

    rules_file: Path | None = Field(
        None, description="Surge rules YAML; null = the shipped alerting/resources defaults."
    )
    window_s: int = Field(
        900,
        ge=60,
        description="Period, s: baselines are updated and incidents anchored per period (it "
        "divides an hour); the scan windows are the rules' windows_s.",
    )
    bin_s: int = Field(
        60, ge=1, description="Count bins, s (divides window_s and the rules' windows_s)."
    )
    lateness_s: int = Field(
        300, ge=0, description="Items this late (by published_at) still count, s."
    )
    rhythm_slot_s: int | None = Field(
        None,
        ge=60,
        description="Slot of each key's weekly rhythm, s (whole periods, divides an hour); "
        "null: half an hour (a market opens on the half hour), or the smallest multiple of "
        "window_s from 30 min that divides an hour.",
    )
    rhythm_timezone: str = Field(
        "UTC",
        description="Clock of the keys' weekly rhythm (an IANA zone, e.g. America/New_York): "
        "the market whose hours the news follows, so a daylight-saving change moves its "
        "open with it. Its UTC offsets must be whole periods.",
    )
    wall_clock: bool = Field(
        True,
        description="After lateness_s without entries, close windows by the clock "
        "(false: by event time only).",
    )
    samples: int = Field(5, ge=0, le=50, description="Most negative items kept as evidence.")
    kibana_url: str | None = Field(
        "http://127.0.0.1:5601", description="Base of the Discover links in alerts; null: none."
    )
    checkpoint_interval_s: float = Field(
        5.0, gt=0, description="Snapshot detector state and commit offsets this often, s."
    )
    group_id: str = Field("finsent-alert", description="Kafka consumer group of detectors.")
    webhooks: list[WebhookSettings] = Field(
        default_factory=list, description="Endpoints that receive every alert event."
    )
    outbox_path: Path = Field(
        Path(".stack/outbox.sqlite3"),
        description="Pending webhook deliveries (a persistent volume in production).",
    )
    retry_budget_s: float = Field(
        1800.0,
        gt=0,
        description="How long a delivery is retried (from when it was queued) before it is "
        "dead-lettered, s: an endpoint outage shorter than this loses nothing.",
    )
    max_attempts: int | None = Field(
        None, ge=1, description="Also give up after this many attempts (null: the budget only)."
    )
    backoff_initial_s: float = Field(1.0, gt=0, description="First retry delay, s.")
    backoff_max_s: float = Field(300.0, gt=0, description="Retry delay cap, s.")

    @model_validator(mode="after")
    def _rhythm_timezone(self) -> Self:
        try:
            zone = ZoneInfo(self.rhythm_timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"rhythm_timezone {self.rhythm_timezone!r} is not a known timezone (an IANA "
                "name such as America/New_York or Europe/London)"
            ) from exc
        now = datetime.now(UTC)
        for at in (now, now + timedelta(days=183)):  # both sides of a daylight-saving change
            offset = at.astimezone(zone).utcoffset() or timedelta()
            if offset.total_seconds() % self.window_s:
                raise ValueError(
                    f"rhythm_timezone {self.rhythm_timezone!r}: its UTC offset "
                    f"({offset.total_seconds() / 60:+.0f} min) is not whole periods of "
                    f"window_s ({self.window_s} s)"
                )
        return self

    @model_validator(mode="after")
    def _rhythm_slot(self) -> Self:
        if self.rhythm_slot_s is not None and (
            self.rhythm_slot_s % self.window_s or 3600 % self.rhythm_slot_s
        ):
            raise ValueError(
                f"rhythm_slot_s ({self.rhythm_slot_s}) must be a multiple of window_s "
                f"({self.window_s}) and divide an hour"
            )
        return self

    @model_validator(mode="after")
    def _unique_webhooks(self) -> Self:
        names = [w.name for w in self.webhooks]
        if len(names) != len(set(names)):
            raise ValueError(f"webhook names must be unique: {names}")
        return self


class LabelsSettings(Section):
    """The team's labels (`finsent label import`): the versioned store training reads."""

    path: Path = Field(
        Path("labels"),
        description="Folder of labels-NNNN.jsonl versions and their manifest (a persistent "
        "volume or shared folder in production).",
    )


class DaemonSettings(Section):
    """`finsent run`: which stages one process supervises."""

    stages: list[Literal["ingest", "classify", "index", "alert", "deliver"]] = Field(
        default_factory=lambda: ["ingest", "classify", "index", "alert", "deliver"],  # type: ignore[arg-type]
        description="Stages to run in this process (scale out by running some elsewhere).",
    )
    shutdown_timeout_s: float = Field(
        30.0, gt=0, description="SIGTERM: deadline for stages to drain and commit, s."
    )
    http_host: str = Field(
        "127.0.0.1", description="Bind address of /healthz, /readyz, /metrics (0.0.0.0 in pods)."
    )
    http_port: int | None = Field(
        9108, ge=0, le=65535, description="Port of the health/metrics endpoint; null: off."
    )
    summary_interval_s: float = Field(
        0.0, ge=0, description="Print a live summary on stdout this often, s; 0: off."
    )
    lag_interval_s: float = Field(10.0, gt=0, description="Consumer lag refresh period, s.")


class LoggingSettings(Section):
    """Structured logs on stderr."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Level.")
    format: Literal["json", "console"] = Field(
        "json", description="json: one event per line; console: human-readable."
    )


class Settings(BaseSettings):
    """The whole finsent configuration."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    elasticsearch: ElasticsearchSettings = Field(default_factory=ElasticsearchSettings)
    stack: StackSettings = Field(default_factory=StackSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    classifier: ClassifierSettings = Field(default_factory=ClassifierSettings)
    alerting: AlertingSettings = Field(default_factory=AlertingSettings)
    labels: LabelsSettings = Field(default_factory=LabelsSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment variables override the YAML file (passed as init values)."""
        return env_settings, init_settings

    def masked(self) -> dict[str, Any]:
        """The effective configuration as plain data, every credential replaced by asterisks.

        ``SecretStr`` fields, and what hides in plain strings (``finsent.masking``).
        """
        masked: dict[str, Any] = mask_config(self.model_dump(mode="json"))
        return masked


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """BaseModel classes inside an annotation (through list, Union, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _describe(error: Any) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    if error["type"] != "extra_forbidden":
        return f"{loc}: {error['msg']}"
    candidates: list[type[BaseModel]] = [Settings]
    for part in error["loc"][:-1]:
        if isinstance(part, int):
            continue
        by_tag = [m for m in candidates if m.model_fields.get("type") is not None
                  and m.model_fields["type"].default == part]  # fmt: skip
        if by_tag:
            candidates = by_tag
            continue
        fields = [m.model_fields[str(part)] for m in candidates if str(part) in m.model_fields]
        candidates = [m for f in fields for m in _models_in(f.annotation)]
    known = sorted({name for m in candidates for name in m.model_fields})
    guess = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
    hint = f" (did you mean '{guess[0]}'?)" if guess else ""
    return f"{loc}: unknown key{hint}"


def load_settings(path: Path | str | None = None) -> Settings:
    """Read, merge (file < environment) and validate the configuration.

    ``path`` defaults to ``$FINSENT_CONFIG``; with neither, defaults and the environment apply.
    Raises ``ConfigError`` whose message names every bad field.
    """
    if path is None and os.environ.get(CONFIG_ENV):
        path = os.environ[CONFIG_ENV]
    data: dict[str, Any] = {}
    where = "environment"
    if path is not None:
        where = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
        if loaded is None:
            raise ConfigError(
                f"config file {path} is empty: give at least one section (see "
                "deploy/finsent.example.yaml), or run without -c for the built-in defaults"
            )
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must be a mapping at the top level")
        data = loaded
    try:
        return Settings(**data)
    except ValidationError as exc:
        problems = "\n".join(f"  - {_describe(err)}" for err in exc.errors())
        raise ConfigError(f"invalid configuration ({where}):\n{problems}") from None
    except SettingsError as exc:  # a FINSENT_* variable that is not valid JSON
        variables = sorted(k for k in os.environ if k.startswith(ENV_PREFIX))
        raise ConfigError(
            f"invalid configuration (environment): {exc}; complex values in FINSENT_* "
            f"variables are JSON, e.g. FINSENT_KAFKA__BOOTSTRAP_SERVERS='[\"broker:9093\"]' "
            f"(set: {', '.join(variables) or 'none'})"
        ) from None
