"""Which time ranges of each series are already loaded: the backfill's ledger.

Why a ledger of ranges instead of "resume after the newest point": moving
`backfill.from` earlier, adding a coin or a currency, or changing the granularity
each leave holes *before* or *beside* what is loaded, never only after it. The
ledger keeps, per series (source, currency, coin, granularity), the merged list
of [start, end) ranges whose points are in the topic, so a run fetches exactly
the difference between what the spec asks for and what is there.

It lives in a compacted Kafka topic keyed by series, written in the same Kafka
transaction as the points it describes: a range is in the ledger if and only if
its points are in the topic (read_committed), and reading it costs one record per
series once compacted, whatever the size of the quote topic.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass

from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from coinstream.ingest.kafka import reader

Interval = tuple[dt.datetime, dt.datetime]


@dataclass(frozen=True, order=True)
class Series:
    source: str
    vs_currency: str
    coin_id: str
    granularity: str

    @property
    def key(self) -> bytes:
        return f"{self.source}|{self.vs_currency}|{self.coin_id}|{self.granularity}".encode()

    @classmethod
    def from_key(cls, key: bytes) -> Series:
        source, vs, coin, granularity = key.decode().split("|")
        return cls(source, vs, coin, granularity)


#: Compacted: the newest record per series is all a reader needs. The operator's KafkaTopic for
#: the ledger (coinfeed_operator.builders) uses the same settings.
LEDGER_TOPIC_CONFIG = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1", "segment.ms": "3600000"}


def ledger_topic(feed_name: str) -> str:
    """Outside `coinstream.quotes.*`, so the stream (which subscribes by that pattern) never reads it."""
    return f"coinstream.ingest.coverage.{feed_name}"


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping, adjacent ranges joined."""
    out: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[0] < i[1]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def missing(want: Interval, have: Iterable[Interval]) -> list[Interval]:
    """The parts of `want` not covered by `have`, oldest first."""
    out: list[Interval] = []
    cur, end = want
    for s, e in merge(have):
        if e <= cur:
            continue
        if s >= end:
            break
        if s > cur:
            out.append((cur, s))
        cur = max(cur, e)
        if cur >= end:
            break
    if cur < end:
        out.append((cur, end))
    return out


def encode(intervals: list[Interval]) -> bytes:
    return json.dumps({"v": 1, "ranges": [[s.isoformat(), e.isoformat()] for s, e in intervals]}).encode()


def decode(value: bytes) -> list[Interval]:
    doc = json.loads(value)
    return merge((dt.datetime.fromisoformat(s), dt.datetime.fromisoformat(e)) for s, e in doc["ranges"])


def ensure_ledger_topic(bootstrap: str, name: str, replicas: int = 1) -> None:
    """One partition, compacted: the newest record per series is all a reader needs."""
    from coinstream.ingest.kafka import client_config

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000, **client_config())
    try:
        if name in admin.list_topics():
            return
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(name, 1, replicas, topic_configs=dict(LEDGER_TOPIC_CONFIG))])
    finally:
        admin.close()


def read_ledger(bootstrap: str, topic: str, timeout: float = 60.0) -> dict[Series, list[Interval]]:
    """The committed coverage of every series (the last record per key wins)."""
    consumer = reader(bootstrap, isolation_level="read_committed", consumer_timeout_ms=2000)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not tps:
            return {}
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        out: dict[Series, list[Interval]] = {}
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading the coverage ledger {topic} took longer than {timeout:.0f}s")
            for records in consumer.poll(timeout_ms=1000).values():
                for rec in records:
                    if rec.key is None or rec.value is None:
                        continue
                    try:
                        out[Series.from_key(rec.key)] = decode(rec.value)
                    except (ValueError, KeyError, TypeError):
                        continue  # a record this version cannot read covers nothing: it is refetched
        return out
    finally:
        consumer.close()
