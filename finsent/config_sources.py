"""Configuration of ingest sources; the YAML ``type:`` picks the model (and the class)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

NAME = r"^[a-z0-9][a-z0-9_.-]*$"


class SourceBase(BaseModel):
    """Fields every source has."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = Field(pattern=NAME, description="Unique source name (part of every item id).")
    enabled: bool = Field(True, description="Poll this source.")
    interval_s: float = Field(300.0, gt=0, description="Seconds between polls.")
    jitter_s: float = Field(30.0, ge=0, description="Random extra delay per poll, seconds.")


class HttpSourceBase(SourceBase):
    """Sources fetched over HTTP(S) with hard limits."""

    url: str = Field(pattern=r"^[hH][tT][tT][pP][sS]?://", description="http(s) URL polled.")
    timeout_s: float = Field(10.0, gt=0, description="Connect and read timeout, seconds.")
    total_timeout_s: float = Field(
        30.0, gt=0, description="The whole fetch (connect, headers, body, redirects), seconds."
    )
    max_body_bytes: int = Field(5_000_000, gt=0, description="Largest body accepted, bytes.")
    max_redirects: int = Field(5, ge=0, description="Redirects followed at most.")
    user_agent: str = Field("finsent/0.1 (+risk monitoring)", description="User-Agent header.")
    allow_private_network: bool = Field(
        False, description="Allow loopback/private addresses (refused by default: SSRF)."
    )


class RssSourceConfig(HttpSourceBase):
    """RSS 0.9x/1.0/2.0 or Atom feed (news)."""

    type: Literal["rss"] = "rss"
    kind: Literal["news", "comment"] = Field("news", description="Item kind.")


class RedditSourceConfig(HttpSourceBase):
    """Reddit listing JSON, e.g. https://www.reddit.com/r/stocks/new.json (comments)."""

    type: Literal["reddit"] = "reddit"
    kind: Literal["news", "comment"] = Field("comment", description="Item kind.")
    limit: int = Field(100, ge=1, le=100, description="Items per listing request.")
    client_id: str | None = Field(None, description="OAuth app id (optional).")
    client_secret: SecretStr | None = Field(None, description="OAuth app secret (secret).")
    token_url: str = Field(
        "https://www.reddit.com/api/v1/access_token",
        pattern=r"^[hH][tT][tT][pP][sS]?://",
        description="OAuth token endpoint (client credentials); used when client_id is set.",
    )


class StocktwitsSourceConfig(HttpSourceBase):
    """StockTwits stream JSON, e.g. .../api/2/streams/symbol/AAPL.json (comments)."""

    type: Literal["stocktwits"] = "stocktwits"
    kind: Literal["news", "comment"] = Field("comment", description="Item kind.")


class JsonSourceConfig(HttpSourceBase):
    """Any JSON endpoint; dotted paths map its records to RawItem fields."""

    type: Literal["json"] = "json"
    kind: Literal["news", "comment"] = Field("news", description="Item kind.")
    items_path: str = Field("", description="Dotted path to the list of records ('' = root).")
    fields: dict[str, str] = Field(
        description="RawItem field -> dotted path: guid, url, title, text, published_at, "
        "author, symbols."
    )


class ReplaySourceConfig(SourceBase):
    """Recorded feeds/items from files or folders, with their original timestamps."""

    type: Literal["replay"] = "replay"
    paths: list[Path] = Field(min_length=1, description="Files or folders to replay.")
    speed: float = Field(
        0.0, ge=0, description="Time compression (60 = a minute per second); 0 = at once."
    )
    shift_to_now: bool = Field(
        False, description="Shift timestamps so the replay ends now (live demos)."
    )


SourceConfig = Annotated[
    RssSourceConfig
    | RedditSourceConfig
    | StocktwitsSourceConfig
    | JsonSourceConfig
    | ReplaySourceConfig,
    Field(discriminator="type"),
]
