"""Holes in a live series, found on acknowledgement, filled from the source's history.

Why here: a live feed misses whatever happened while it could not poll (producer
down, broker down so polling paused, source failing). Those minutes exist at the
source as history, so the runner asks `/market_chart/range` for exactly the hole,
at the finest granularity CoinGecko serves for that age, tagged `origin=gapfill`,
a few calls per cycle so the live poll keeps its share of the rate budget.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError

from coinstream.ingest.kafka import reader
from coinstream.ingest.sources.base import HistoryGranularity
from coinstream.models.wire import record_object

DAY = dt.timedelta(days=1)


@dataclass(frozen=True, order=True)
class Gap:
    vs_currency: str
    coin_id: str
    after: dt.datetime  # the last live quote before the hole
    before: dt.datetime  # the first live quote after it

    @property
    def span(self) -> dt.timedelta:
        return self.before - self.after


def finest_granularity(start: dt.datetime, end: dt.datetime, now: dt.datetime) -> HistoryGranularity:
    """5-minutely for a hole within the last day, hourly up to 90 days, daily beyond (CoinGecko's rule)."""
    if now - start <= DAY and end - start <= DAY:
        return "5m"
    if end - start <= 90 * DAY:
        return "hourly"
    return "daily"


def last_live(
    bootstrap: str, topic: str, source: str, per_partition: int = 2000, timeout: float = 60.0
) -> dict[tuple[str, str], dt.datetime]:
    """Newest live/gapfill source_ts per (currency, coin), from the tail of each partition only.

    Each series lives on one partition and the producer appends in time order, so the
    newest quotes are at the end: reading the last records costs the same whatever the
    size of the topic.
    """
    consumer = reader(bootstrap, isolation_level="read_committed", consumer_timeout_ms=2000)
    out: dict[tuple[str, str], dt.datetime] = {}
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not tps:
            return out
        consumer.assign(tps)
        end = consumer.end_offsets(tps)
        begin = consumer.beginning_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(begin[tp], end[tp] - per_partition))
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise KafkaTimeoutError(f"reading the tail of {topic} took longer than {timeout:.0f}s")
            # An empty poll is a slow fetch, not the end: the end offsets say when the tail is read.
            for records in consumer.poll(timeout_ms=1000).values():
                for rec in records:
                    _track(out, rec.value, source)
        return out
    finally:
        consumer.close()


def _track(out: dict[tuple[str, str], dt.datetime], value: bytes | None, source: str) -> None:
    if not value:
        return
    try:
        d = record_object(value)  # the producer's binary records and JSON ones alike
        if d.get("origin") not in ("live", "gapfill") or d.get("source") != source:
            return
        key = (d["vs_currency"], d["coin_id"])
        ts = dt.datetime.fromisoformat(d["source_ts"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return
    if key not in out or ts > out[key]:
        out[key] = ts
