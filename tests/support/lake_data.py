"""Test data: a deterministic market history (daily, hourly, live ticks) and bad records.

Built from the lead's SimulatedMarket so prices follow the same model as the demo;
serialised exactly as the producer does (`Quote.to_json()`, key `quote.key`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

from kafka import KafkaProducer

from coinstream.ingest.sources.simulated import SimulatedMarket
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
        kind = i % 8
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
        return json.dumps({**rec, "price": "abc"}).encode(), "invalid_type"

    return [variant(i) for i in range(n)]


def produce(bootstrap: str, topic: str, quotes: Iterable[Quote], raw: Iterable[tuple[bytes, bytes]] = ()) -> int:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, batch_size=256 * 1024)
    n = 0
    for q in quotes:
        producer.send(topic, key=q.key, value=q.to_json())
        n += 1
    for key, value in raw:
        producer.send(topic, key=key, value=value)
        n += 1
    producer.flush()
    producer.close()
    return n
