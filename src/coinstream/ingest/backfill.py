"""Load a feed's history once, resumably.

Kafka itself is the ledger: before producing, the topic is read back and, per
(currency, coin, source, granularity), everything up to the newest backfilled
source_ts is skipped. A killed or re-run backfill therefore produces nothing
twice, with no state outside Kafka (the cluster's backfill Job has none).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kafka import TopicPartition

from coinstream.ingest.kafka import reader
from coinstream.ingest.producer import QuoteProducer
from coinstream.ingest.sources.base import MarketSource
from coinstream.logs import get_logger
from coinstream.models import CoinFeed

log = get_logger(__name__)

ProgressKey = tuple[str, str, str, str]  # vs_currency, coin_id, source, granularity


@dataclass
class BackfillResult:
    produced: int = 0
    skipped_existing: int = 0
    calls: int = 0
    elapsed: float = 0.0
    start: dt.datetime | None = None
    warnings: list[str] = field(default_factory=list)


def read_progress(bootstrap: str, topic: str, timeout: float = 60.0) -> dict[ProgressKey, dt.datetime]:
    """Newest backfilled source_ts per series already in `topic` (unparseable records ignored)."""
    consumer = reader(bootstrap, consumer_timeout_ms=2000)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return {}
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        out: dict[ProgressKey, dt.datetime] = {}
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading back {topic} took longer than {timeout:.0f}s")
            for records in consumer.poll(timeout_ms=1000, max_records=5000).values():
                for rec in records:
                    _track(out, rec.value)
        return out
    finally:
        consumer.close()


def _track(out: dict[ProgressKey, dt.datetime], value: bytes | None) -> None:
    if value is None or b'"backfill"' not in value:
        return
    try:
        d = json.loads(value)
        if d.get("origin") != "backfill":
            return
        key = (d["vs_currency"], d["coin_id"], d["source"], d["granularity"])
        ts = dt.datetime.fromisoformat(d["source_ts"])
    except (ValueError, KeyError, TypeError):
        return
    if key not in out or ts > out[key]:
        out[key] = ts


def run_backfill(
    feed: CoinFeed,
    source: MarketSource,
    producer: QuoteProducer,
    bootstrap: str,
    *,
    now: dt.datetime | None = None,
    on_chunk: Callable[[str, str, int], None] | None = None,
) -> BackfillResult:
    spec = feed.spec.backfill
    result = BackfillResult()
    if spec is None:
        return result
    began = time.monotonic()
    calls_before = source.calls
    end = now or dt.datetime.now(dt.UTC)
    start = dt.datetime.combine(spec.from_, dt.time(), dt.UTC)
    limit = source.history_start_limit()
    if limit is not None and start < limit:
        clamped = dt.datetime.combine(limit.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
        msg = (
            f"spec.backfill.from={spec.from_} is older than the {feed.spec.source.plan} plan allows "
            f"(past 365 days): loading from {clamped.date()} instead. A pro key loads full history."
        )
        result.warnings.append(msg)
        log.warning("backfill.clamped", feed=feed.name, message=msg)
        start = clamped
    result.start = start
    done = read_progress(bootstrap, producer.topic)
    label = "daily" if spec.granularity == "daily" else "hourly" if spec.granularity == "hourly" else None
    for vs in feed.spec.vs_currencies:
        for coin in feed.spec.coins:
            resume = _resume_point(done, vs, coin, source.name, label)
            for chunk in source.history(coin, vs, start, end, spec.granularity, feed.name):
                fresh = [q for q in chunk if resume is None or q.source_ts > resume]
                result.skipped_existing += len(chunk) - len(fresh)
                result.produced += producer.send_many(fresh)
                producer.flush()  # a chunk is durable before the next call is paid for
                if on_chunk:
                    on_chunk(coin, vs, len(chunk))
    result.calls = source.calls - calls_before
    result.elapsed = time.monotonic() - began
    return result


def _resume_point(
    done: dict[ProgressKey, dt.datetime], vs: str, coin: str, source: str, label: str | None
) -> dt.datetime | None:
    matches = [ts for (v, c, s, g), ts in done.items() if (v, c, s) == (vs, coin, source) and label in (None, g)]
    return max(matches) if matches else None


def expected_points(feed: CoinFeed, now: dt.datetime | None = None) -> int:
    """Rough total for a progress bar: points per series times series."""
    spec = feed.spec.backfill
    if spec is None:
        return 0
    span = (now or dt.datetime.now(dt.UTC)).date() - spec.from_
    per_series = span.days * (24 if spec.granularity == "hourly" else 1)
    return max(1, per_series * len(feed.spec.coins) * len(feed.spec.vs_currencies))
