"""Quotes for the HDFS lakehouse tests: simulated-market ticks, sent as the producer sends them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from kafka import KafkaProducer

from coinstream.ingest.sources.simulated import SimulatedMarket, profile
from coinstream.models.quote import Quote

COINS = ("bitcoin", "ethereum", "litecoin")


def ticks(start: dt.datetime, n: int, coins: Iterable[str] = COINS, step_s: int = 10) -> list[Quote]:
    """`n` live ticks per coin from `start`, `step_s` apart, priced by the simulated market."""
    market = SimulatedMarket(seed=11)
    out = []
    for i in range(n):
        ts = start + dt.timedelta(seconds=i * step_s)
        for coin in coins:
            p = profile(coin)
            fields = {"coin_id": coin, "symbol": p.symbol, "name": p.name, "vs_currency": "usd",
                      "price": market.price_at(coin, ts), "source": "simulated", "source_ts": ts, "ingest_ts": ts,
                      "feed": "hdfs-test", "origin": "live", "granularity": "tick"}  # fmt: skip
            out.append(Quote.model_validate(fields))
    return out


def producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, enable_idempotence=True)


def send(bootstrap: str, topic: str, quotes: Iterable[Quote]) -> int:
    prod = producer(bootstrap)
    n = 0
    for q in quotes:
        prod.send(topic, key=q.key, value=q.to_json())
        n += 1
    prod.flush()
    prod.close()
    return n
