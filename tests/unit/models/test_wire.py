"""The Quote's binary wire encoding: derived from the model, byte-exact Avro, same quote as JSON."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json

import fastavro
import pytest

from coinstream.models import Quote, wire
from coinstream.models.spark import spark_columns

TS = dt.datetime(2026, 11, 30, 23, 59, 59, 987654, tzinfo=dt.UTC)


def _quote(**update: object) -> Quote:
    q = Quote(
        coin_id="bitcoin", symbol="btc", name="Bitcoin ₿", vs_currency="usd", price=97_000.25, market_cap=1.9e12,
        total_volume=None, high_24h=98_000.0, low_24h=None, price_change_pct_24h=-1.5, source="coingecko",
        source_ts=TS, ingest_ts=TS + dt.timedelta(seconds=3), feed="btc-live", origin="live", granularity="tick",
    )  # fmt: skip
    return q.model_copy(update=update)


def test_schema_follows_the_model_field_by_field() -> None:
    schema = wire.avro_schema()
    fields = {f["name"]: f["type"] for f in schema["fields"]}
    assert list(fields) == list(Quote.model_fields)
    for name, _spark, nullable in spark_columns(Quote):
        assert isinstance(fields[name], list) == nullable, name
    assert fields["source_ts"] == {"type": "long", "logicalType": "timestamp-millis"}
    assert fields["market_cap"] == ["null", "double"] and fields["schema_version"] == "int"
    fastavro.parse_schema(schema)  # a valid Avro schema


@pytest.mark.parametrize("update", [{}, {"market_cap": None, "high_24h": None, "price_change_pct_24h": None}])
def test_encoding_is_avro_byte_for_byte(update: dict[str, object]) -> None:
    q = _quote(**update)
    raw = wire.encode(q)
    assert raw[:2] == bytes([wire.MAGIC, 1])
    out = io.BytesIO()
    millis = {
        k: getattr(q, k).replace(microsecond=getattr(q, k).microsecond // 1000 * 1000)
        for k in ("source_ts", "ingest_ts")
    }
    fastavro.schemaless_writer(out, fastavro.parse_schema(wire.avro_schema()), {**dict(q), **millis})
    assert raw[2:] == out.getvalue()


def test_binary_and_json_carry_the_same_quote() -> None:
    q = _quote()
    binary, text = wire.encode(q), q.to_json()
    assert wire.to_quote(binary) == wire.to_quote(text)
    assert wire.record_object(binary) == json.loads(text)  # the tools read both the same way
    assert wire.to_quote(binary).source_ts == TS.replace(microsecond=987000)  # milliseconds, as JSON
    assert len(binary) < len(text) / 2


def test_json_text_is_never_taken_for_binary() -> None:
    for text in (b'{"coin_id": 1}', b" \n\t{}", b"", "﻿{}".encode(), b"[1]"):
        assert not wire.is_binary(text)
    assert wire.is_binary(wire.encode(_quote()))


def test_bad_binary_records_are_refused_with_the_reason() -> None:
    raw = wire.encode(_quote())
    with pytest.raises(wire.WireError, match="malformed binary quote"):
        wire.decode(raw[: len(raw) // 2])
    with pytest.raises(wire.WireError, match="unknown binary schema version 7"):
        wire.decode(raw[:1] + b"\x07" + raw[2:])
    with pytest.raises(wire.WireError, match="unknown binary schema version None"):
        wire.decode(raw[:1])
    negative = wire.encode(Quote.model_construct(**{**dict(_quote()), "price": -1.0}))
    with pytest.raises(ValueError, match="price"):
        wire.to_quote(negative)


def test_corrupted_binary_records_fail_only_with_wire_errors() -> None:
    """Bytes from a broken producer or a flipped bit: refused with a reason, never another exception."""
    import random

    good, rnd = wire.encode(_quote()), random.Random(14)
    for _ in range(3000):
        raw = bytearray(good)
        for _ in range(rnd.randint(1, 4)):
            raw[rnd.randrange(2, len(raw))] = rnd.randrange(256)
        with contextlib.suppress(wire.WireError):
            wire.decode(bytes(raw[: rnd.randrange(2, len(raw) + 1)]))
