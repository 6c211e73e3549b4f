"""Reading a topic back with an independent consumer, for exact assertions."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition

from coinstream.ingest.kafka import reader
from coinstream.models import wire


@dataclass(frozen=True)
class Row:
    partition: int
    offset: int
    key: str
    value: dict[str, object]

    @property
    def identity(self) -> tuple[object, ...]:
        v = self.value
        return (v["vs_currency"], v["coin_id"], v["source"], v["source_ts"])


def read_all(bootstrap: str, topic: str) -> list[Row]:
    consumer = reader(bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        rows: list[Row] = []
        while any(consumer.position(tp) < end[tp] for tp in tps):
            for records in consumer.poll(timeout_ms=1000).values():
                rows += [Row(r.partition, r.offset, r.key.decode(), wire.record_object(r.value)) for r in records]
        return rows
    finally:
        consumer.close()


def duplicates(rows: list[Row]) -> dict[tuple[object, ...], int]:
    return {k: n for k, n in Counter(r.identity for r in rows).items() if n > 1}


def assert_keyed_and_ordered(rows: list[Row]) -> None:
    """Key = vs:coin; one partition per key; per key and origin, source_ts strictly increases."""
    partitions: dict[str, set[int]] = {}
    last: dict[tuple[str, object], dt.datetime] = {}
    for r in sorted(rows, key=lambda r: (r.partition, r.offset)):
        assert r.key == f"{r.value['vs_currency']}:{r.value['coin_id']}"
        partitions.setdefault(r.key, set()).add(r.partition)
        ts = dt.datetime.fromisoformat(str(r.value["source_ts"]))
        series = (r.key, r.value["origin"])
        assert series not in last or ts > last[series], f"out of order at {r}"
        last[series] = ts
    assert all(len(p) == 1 for p in partitions.values()), partitions


def read_committed(
    bootstrap: str, topic: str, timeout: float = 120.0, **config: Any
) -> tuple[dict[int, int], list[Row]]:
    """Every committed record (read_committed) below the end offsets seen at the start, and per
    partition the offset it was read up to: an open transaction (a backfill chunk) holds the
    consumer at the last stable offset, which then bounds what a check may expect."""
    consumer = reader(bootstrap, isolation_level="read_committed", **config)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        assert tps, f"no partitions of {topic}"
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        rows: list[Row] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end[tp] for tp in tps) and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=1000).items():
                rows += [
                    Row(r.partition, r.offset, r.key.decode(), wire.record_object(r.value))
                    for r in records
                    if r.offset < end[tp]
                ]
        return {tp.partition: min(consumer.position(tp), end[tp]) for tp in tps}, rows
    finally:
        consumer.close()
