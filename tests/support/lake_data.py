"""Test data: a deterministic market history (daily, hourly, live ticks) and bad records.

Built from the lead's SimulatedMarket so prices follow the same model as the demo;
serialised as producers do: alternately the binary encoding the QuoteProducer sends
(`wire.encode`) and JSON (`Quote.to_json()`, the documented event schema), key `quote.key`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterable

from kafka import KafkaProducer

from coinstream.ingest.sources.simulated import SimulatedMarket
from coinstream.models import wire
from coinstream.models.quote import Quote

COINS = ("bitcoin", "ethereum", "litecoin")


def market_history(now: dt.datetime, coins: Iterable[str] = COINS, *, days: int = 260,
                   tick_seconds: int = 30, feed: str = "test") -> list[Quote]:  # fmt: skip
    """Daily points up to 30 days ago, hourly up to 2 hours ago, then ticks: like backfill + live."""
    market = SimulatedMarket(seed=7, clock=lambda: now)
    hourly_from = (now - dt.timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
    ticks_from = now - dt.timedelta(hours=2)
    out: list[Quote] = []
    for coin in coins:
        start = (now - dt.timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
        for label, a, b in (("daily", start, hourly_from), ("hourly", hourly_from, ticks_from)):
            for chunk in market.history(coin, "usd", a, b, label, feed):  # type: ignore[arg-type]
                out.extend(chunk)
        ts = ticks_from.replace(microsecond=0)
        template = out[-1]
        while ts <= now:
            price = market.price_at(coin, ts)
            out.append(template.model_copy(update={
                "price": price, "source_ts": ts, "ingest_ts": ts, "origin": "live", "granularity": "tick",
            }))  # fmt: skip
            ts += dt.timedelta(seconds=tick_seconds)
    return out


def bad_records(now: dt.datetime, n: int, template: Quote) -> list[tuple[bytes, str]]:
    """`n` malformed or invalid values, cycling through every quarantine reason."""
    good = json.loads(template.to_json())
    future = (now + dt.timedelta(days=2)).isoformat().replace("+00:00", "Z")

    def variant(i: int) -> tuple[bytes, str]:
        ts = (now - dt.timedelta(days=400, seconds=i)).isoformat().replace("+00:00", "Z")
        rec = {**good, "source_ts": ts}
        kind = i % BAD_KINDS
        if kind == 0:
            return b"{not json at all " + str(i).encode(), "malformed_json"
        if kind == 1:
            return json.dumps({**rec, "price": -1.5 - i}).encode(), "invalid_price"
        if kind == 2:
            return json.dumps({k: v for k, v in rec.items() if k != "price"}).encode(), "missing_price"
        if kind == 3:
            return json.dumps({**rec, "source_ts": f"yesterday-{i}"}).encode(), "unparseable_timestamp"
        if kind == 4:
            return json.dumps({**rec, "source_ts": future}).encode(), "future_timestamp"
        if kind == 5:
            return json.dumps({**rec, "schema_version": 99}).encode(), "unknown_schema_version"
        if kind == 6:
            return json.dumps({**rec, "source_ts": "0001-01-01T00:00:00.000Z"}).encode(), "ancient_timestamp"
        if kind == 7:
            return json.dumps({**rec, "price": "abc"}).encode(), "invalid_type"
        # The binary encoding: bytes that do not decode, a bad value, a schema version not known.
        binary = wire.encode(template.model_copy(update={"source_ts": dt.datetime.fromisoformat(ts)}))
        if kind == 8:
            return binary[: len(binary) // 2], "malformed_binary"
        if kind == 9:
            unchecked = Quote.model_construct(**{**template.__dict__, "price": -1.5 - i, "source_ts": now})
            return wire.encode(unchecked), "invalid_price"
        return binary[:1] + bytes([99]) + binary[2:], "unknown_schema_version"

    return [variant(i) for i in range(n)]


#: bad_records cycles through this many kinds (every reason, binary and JSON ones).
BAD_KINDS = 11


def raw_bytes(raw_value: str, raw_encoding: str) -> bytes:
    """A quarantined record's bytes, from the quarantine table's raw_value and raw_encoding."""
    return base64.b64decode(raw_value) if raw_encoding == "base64" else raw_value.encode()


def produce(
    bootstrap: str, topic: str, quotes: Iterable[Quote], raw: Iterable[tuple[bytes, bytes]] = (), *, flip: bool = False
) -> int:
    """Quotes alternately binary and JSON (`flip`: the other way round, so a re-sent quote
    arrives in the other encoding), then the `raw` (key, value) records as they are."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, batch_size=256 * 1024)
    n = 0
    for q in quotes:
        producer.send(topic, key=q.key, value=q.to_json() if (n % 2 == 1) != flip else wire.encode(q))
        n += 1
    for key, value in raw:
        producer.send(topic, key=key, value=value)
        n += 1
    producer.flush()
    producer.close()
    return n
