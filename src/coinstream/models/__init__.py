"""Typed models: the one source of truth for specs, events and derived schemas."""

from coinstream.models.coinfeed import (
    API_GROUP,
    API_VERSION,
    KIND,
    PLURAL,
    BackfillSpec,
    CoinFeed,
    CoinFeedError,
    CoinFeedSpec,
    KafkaSpec,
    SecretKeyRef,
    SinkSpec,
    SourceSpec,
    load_coinfeed,
    parse_coinfeed,
)
from coinstream.models.quote import SCHEMA_VERSION, Quote, quote_json_schema, quote_key

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "KIND",
    "PLURAL",
    "SCHEMA_VERSION",
    "BackfillSpec",
    "CoinFeed",
    "CoinFeedError",
    "CoinFeedSpec",
    "KafkaSpec",
    "Quote",
    "SecretKeyRef",
    "SinkSpec",
    "SourceSpec",
    "load_coinfeed",
    "parse_coinfeed",
    "quote_json_schema",
    "quote_key",
]
