"""Tail a feed topic (the original project's watch_kafka.sh), decoding what it can."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from coinstream.ingest.kafka import reader


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: str | None
    value: dict[str, object] | None
    raw: bytes | None


def tail(
    bootstrap: str, topic: str, *, from_beginning: bool = False, idle_timeout: float | None = None
) -> Iterator[Record]:
    """Records as they arrive; stops after `idle_timeout` seconds without one (None = never)."""
    consumer = reader(
        bootstrap,
        topic,
        auto_offset_reset="earliest" if from_beginning else "latest",
        consumer_timeout_ms=int(idle_timeout * 1000) if idle_timeout else float("inf"),
    )
    try:
        for msg in consumer:
            try:
                value = json.loads(msg.value) if msg.value is not None else None
            except ValueError:
                value = None
            key = msg.key.decode(errors="replace") if msg.key is not None else None
            yield Record(msg.partition, msg.offset, key, value if isinstance(value, dict) else None, msg.value)
    finally:
        consumer.close()


@dataclass(frozen=True)
class SeriesCount:
    """One (coin, currency) series of a topic: quotes by origin, first day, latest price."""

    coin_id: str
    vs_currency: str
    backfill: int
    live: int
    first_day: str
    latest_price: float

    @property
    def quotes(self) -> int:
        return self.backfill + self.live


def count_series(bootstrap: str, topic: str, idle_timeout: float = 3.0) -> list[SeriesCount]:
    """Read the whole topic back and count it per series (what really landed, not what was sent)."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    first: dict[tuple[str, str], str] = {}
    latest: dict[tuple[str, str], tuple[str, float]] = {}
    for rec in tail(bootstrap, topic, from_beginning=True, idle_timeout=idle_timeout):
        v = rec.value
        if v is None:
            continue
        key = (str(v["coin_id"]), str(v["vs_currency"]))
        by_origin = counts.setdefault(key, {"backfill": 0, "live": 0})
        by_origin[str(v["origin"])] = by_origin.get(str(v["origin"]), 0) + 1
        ts = str(v["source_ts"])
        first[key] = min(first.get(key, ts), ts)
        if key not in latest or ts > latest[key][0]:
            latest[key] = (ts, float(v["price"]))  # type: ignore[arg-type]
    return [
        SeriesCount(key[0], key[1], counts[key]["backfill"], counts[key]["live"], first[key][:10], latest[key][1])
        for key in sorted(counts)
    ]
