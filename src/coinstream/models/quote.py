"""The Quote event (schema v1): one price observation, the Kafka record value.

Producers, the streaming job and the SQL layer all read this one definition:
the JSON Schema (`quote_json_schema`) and Spark's StructType (`spark.py`) are
derived from it, never written by hand.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

SCHEMA_VERSION = 1


def _to_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is dt.UTC else value.astimezone(dt.UTC)


#: Wire strings of recent timestamps. A snapshot's quotes share their ingest_ts and mostly their
#: source_ts, so each quote's two serialiser calls are dictionary hits instead of a conversion and
#: an isoformat each (the producer's largest serialisation cost). Equal aware datetimes are the
#: same instant, hence the same UTC string; bounded by clearing it when full.
_ISO_CACHE: dict[dt.datetime, str] = {}
_ISO_CACHE_MAX = 4096


def iso_ms(value: dt.datetime) -> str:
    text = _ISO_CACHE.get(value)
    if text is None:
        text = value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if len(_ISO_CACHE) >= _ISO_CACHE_MAX:
            _ISO_CACHE.clear()
        _ISO_CACHE[value] = text
    return text


#: Always timezone-aware, normalised to UTC, millisecond ISO-8601 with `Z` on the wire
#: (the original project mixed naive and UTC times; a naive time is rejected here).
UtcTimestamp = Annotated[
    AwareDatetime,
    AfterValidator(_to_utc),
    PlainSerializer(iso_ms, return_type=str, when_used="json"),
    Field(json_schema_extra={"format": "date-time"}),
]
Amount = Annotated[float, Field(ge=0, allow_inf_nan=False)]

Source = Literal["coingecko", "simulated"]
#: live: polled; backfill: loaded history; gapfill: history filling a hole an outage left in live.
Origin = Literal["live", "backfill", "gapfill"]
Granularity = Literal["tick", "5m", "hourly", "daily"]


class Quote(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    coin_id: str = Field(min_length=1, max_length=100, description="CoinGecko coin id")
    symbol: str = Field(min_length=1, max_length=50)
    name: str = Field(min_length=1, max_length=200)
    vs_currency: str = Field(min_length=2, max_length=10)
    price: float = Field(gt=0, allow_inf_nan=False, description="Price in vs_currency")
    market_cap: Amount | None = None
    total_volume: Amount | None = None
    high_24h: Amount | None = None
    low_24h: Amount | None = None
    price_change_pct_24h: float | None = Field(default=None, allow_inf_nan=False)
    source: Source
    source_ts: UtcTimestamp = Field(description="When the source observed the price (UTC)")
    ingest_ts: UtcTimestamp = Field(description="When coinstream fetched it (UTC)")
    feed: str = Field(min_length=1, max_length=63, description="CoinFeed name")
    origin: Origin
    granularity: Granularity
    schema_version: Literal[1] = 1

    @property
    def key(self) -> bytes:
        """Kafka key: one partition per (currency, coin) keeps each series in order."""
        return quote_key(self.vs_currency, self.coin_id)

    @property
    def identity(self) -> tuple[str, str, str, dt.datetime]:
        """What makes two quotes the same observation (the dedup key end to end)."""
        return (self.vs_currency, self.coin_id, self.source, self.source_ts)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def quote_key(vs_currency: str, coin_id: str) -> bytes:
    return f"{vs_currency}:{coin_id}".encode()


def quote_json_schema() -> dict[str, object]:
    schema = Quote.model_json_schema(mode="serialization")
    schema["$id"] = "https://coinstream.io/schemas/quote-v1.json"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
