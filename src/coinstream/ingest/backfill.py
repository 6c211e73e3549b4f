"""Load a feed's history: exactly what is missing, once, even with two runs at once.

The coverage ledger (`coinstream.ingest.coverage`) says which [start, end) ranges of each
series are in the topic; a run fetches only the difference between what the spec
asks for and that, so moving `from` earlier, adding a coin or a currency or changing
the granularity loads just the new ranges. Each chunk's points and its ledger
update are one Kafka transaction, so a killed run leaves either both or neither.
The transactional id is the feed's: a second run of the same feed fences the
first (its next commit fails) before reading the ledger, so two runs never load
the same range twice.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaProducer
from kafka.errors import InvalidProducerEpochError, KafkaError, ProducerFencedError

from coinstream.ingest.coverage import (
    Interval,
    Series,
    encode,
    ensure_ledger_topic,
    ledger_topic,
    merge,
    missing,
    read_ledger,
)
from coinstream.ingest.kafka import KeyPartitioner, client_config
from coinstream.ingest.prefetch import Prefetch
from coinstream.ingest.sources.base import HistoryChunk, MarketSource
from coinstream.ingest.sources.errors import SourceError
from coinstream.logs import get_logger
from coinstream.metrics import Metrics
from coinstream.models import CoinFeed, wire

log = get_logger(__name__)


class BackfillFenced(SourceError):
    """Another backfill of the same feed started and took over; this one stopped between chunks."""


@dataclass
class BackfillResult:
    produced: int = 0
    skipped_existing: int = 0  # series ranges already loaded, not fetched again
    fetched_ranges: list[tuple[Series, Interval]] = field(default_factory=list)
    calls: int = 0
    elapsed: float = 0.0
    start: dt.datetime | None = None
    warnings: list[str] = field(default_factory=list)


def resolve_granularity(requested: str, start: dt.datetime, end: dt.datetime) -> str:
    """ "auto" fixed once per spec, so a series has one granularity and its coverage one meaning."""
    if requested != "auto":
        return requested
    return "daily" if end - start > dt.timedelta(days=90) else "hourly"


class ChunkWriter:
    """One transaction per chunk: its points into the feed topic, its coverage into the ledger."""

    def __init__(self, bootstrap: str, topic: str, ledger: str, transactional_id: str, **config: Any) -> None:
        self.topic, self.ledger = topic, ledger
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            transactional_id=transactional_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=20,
            batch_size=256 * 1024,
            partitioner=KeyPartitioner(),
            **client_config(**config),
        )
        self._producer.init_transactions()  # fences any older run of this feed, aborting its open chunk

    def commit(self, chunk: HistoryChunk, series: Series, coverage: list[Interval]) -> None:
        p = self._producer
        try:
            p.begin_transaction()
            for q in chunk:
                p.send(self.topic, key=q.key, value=wire.encode(q))
            p.send(self.ledger, key=series.key, value=encode(coverage))
            p.commit_transaction()
        except KafkaError as exc:
            # kafka-python reports the fence as the error itself, as its argument, or in a later
            # "error state" message, depending on which call met it first.
            causes = [exc, *exc.args]
            fenced = any(isinstance(c, ProducerFencedError | InvalidProducerEpochError) for c in causes)
            if fenced or "InvalidProducerEpoch" in str(exc) or "ProducerFenced" in str(exc):
                raise BackfillFenced(
                    "another backfill of this feed started and took over; this run stopped between chunks"
                ) from None
            raise

    def close(self) -> None:
        self._producer.close(timeout=10)


def run_backfill(
    feed: CoinFeed,
    source: MarketSource,
    bootstrap: str,
    *,
    now: dt.datetime | None = None,
    metrics: Metrics | None = None,
    ensure_ledger: bool = True,
    on_chunk: Callable[[str, str, int], None] | None = None,
    **producer_config: Any,
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
    granularity = resolve_granularity(spec.granularity, start, end)
    ledger = ledger_topic(feed.name)
    if ensure_ledger:
        ensure_ledger_topic(bootstrap, ledger, feed.spec.kafka.replicas)
    writer = ChunkWriter(bootstrap, feed.topic, ledger, f"coinstream-backfill-{feed.name}", **producer_config)
    fetched: Prefetch[tuple[Series, HistoryChunk]] | None = None
    try:
        coverage = read_ledger(bootstrap, ledger)  # after fencing: no older run can still add to it
        plan: list[tuple[str, str, Series, list[Interval]]] = []
        covered: dict[Series, list[Interval]] = {}
        loaded: dict[Series, list[tuple[str, list[Interval]]]] = {}
        for vs in feed.spec.vs_currencies:
            for coin in feed.spec.coins:
                series = Series(source.name, vs, coin, granularity)
                have = coverage.get(series, [])
                todo = missing((start, end), have)
                result.skipped_existing += len(merge(have))
                covered[series] = have
                loaded[series] = [(s.granularity, c) for s, c in coverage.items() if _same_series(s, series)]
                result.fetched_ranges.extend((series, r) for r in todo)
                plan.append((coin, vs, series, todo))
        # The next chunk is fetched while the previous one commits: the rate limit spaces the calls
        # anyway, so the commit's CPU and round trips hide in the wait for the next token.
        fetched = Prefetch(_fetch(source, plan, granularity, feed.name))
        for series, chunk in fetched:
            covered[series] = merge([*covered[series], (chunk.start, chunk.end)])
            siblings = loaded[series]
            fresh = HistoryChunk(
                [q for q in chunk if not _loaded_elsewhere(q.source_ts, siblings)] if siblings else list(chunk),
                chunk.start,
                chunk.end,
                chunk.granularity,
            )
            writer.commit(fresh, series, covered[series])
            result.produced += len(fresh)
            if metrics is not None:
                metrics.quotes_produced.labels(feed.topic).inc(len(fresh))
            if on_chunk:
                on_chunk(series.coin_id, series.vs_currency, len(chunk))
    finally:
        if fetched is not None:
            fetched.close()  # before the calls are counted: a call still in flight belongs to this run
        writer.close()
    result.calls = source.calls - calls_before
    result.elapsed = time.monotonic() - began
    return result


def _fetch(
    source: MarketSource, plan: list[tuple[str, str, Series, list[Interval]]], granularity: str, feed: str
) -> Iterator[tuple[Series, HistoryChunk]]:
    for coin, vs, series, todo in plan:
        for a, b in todo:
            for chunk in source.history(coin, vs, a, b, granularity, feed):  # type: ignore[arg-type]
                yield series, chunk


def _same_series(a: Series, b: Series) -> bool:
    return (a.source, a.vs_currency, a.coin_id) == (b.source, b.vs_currency, b.coin_id) and a != b


_GRID = {"daily": dt.timedelta(days=1), "hourly": dt.timedelta(hours=1), "5m": dt.timedelta(minutes=5)}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _loaded_elsewhere(ts: dt.datetime, siblings: list[tuple[str, list[Interval]]]) -> bool:
    """A point another granularity of the same series already holds (a daily midnight inside
    hourly history): the same observation, so the same identity, loaded once."""
    for granularity, ranges in siblings:
        step = _GRID.get(granularity)
        if step is not None and (ts - _EPOCH) % step == dt.timedelta(0) and any(s <= ts < e for s, e in ranges):
            return True
    return False


def expected_points(feed: CoinFeed, now: dt.datetime | None = None) -> int:
    """Rough total for a progress bar: points per series times series."""
    spec = feed.spec.backfill
    if spec is None:
        return 0
    span = (now or dt.datetime.now(dt.UTC)).date() - spec.from_
    per_series = span.days * (24 if spec.granularity == "hourly" else 1)
    return max(1, per_series * len(feed.spec.coins) * len(feed.spec.vs_currencies))
