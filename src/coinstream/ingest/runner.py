"""The live loop: poll the source every pollIntervalSeconds, produce what is new.

A failed cycle (rate limit exhausted, API down, bad answer) is logged and
counted, and the next cycle tries again: a live feed must outlive its source's
bad minutes. Only a spec that can never work (unknown coins) stops it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from kafka.errors import KafkaError

from coinstream.ingest.gaps import Gap, finest_granularity, last_live
from coinstream.ingest.producer import QuoteProducer
from coinstream.ingest.sources.base import HistoryChunk, MarketSource
from coinstream.ingest.sources.errors import SourceError
from coinstream.logs import get_logger
from coinstream.models import CoinFeed

log = get_logger(__name__)


@dataclass
class CycleResult:
    fetched: int = 0
    produced: int = 0
    deduplicated: int = 0
    skipped: int = 0  # currencies not polled because Kafka is not taking what is queued
    gapfilled: int = 0  # history quotes sent to fill holes in the live series
    errors: list[str] = field(default_factory=list)


class FeedRunner:
    def __init__(
        self,
        feed: CoinFeed,
        source: MarketSource,
        producer: QuoteProducer,
        *,
        bootstrap: str | None = None,
        gap_after: dt.timedelta | None = None,
        gapfill_calls_per_cycle: int = 2,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.feed = feed
        self.source = source
        self.producer = producer
        self.cycles = 0
        self.bootstrap = bootstrap
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        # Waiting longer for acknowledgements than a poll interval would delay the next poll.
        self.flush_timeout = max(1.0, min(30.0, feed.spec.poll_interval_seconds * 0.8))
        interval = dt.timedelta(seconds=feed.spec.poll_interval_seconds)
        # CoinGecko moves last_updated once per cache window (up to a minute): only a silence of
        # several windows and polls is a hole rather than a cached answer.
        producer.gap_after = gap_after or max(3 * interval, dt.timedelta(minutes=3))
        self.gapfill_calls_per_cycle = gapfill_calls_per_cycle
        self.gaps: deque[Gap] = deque()
        self._filling: tuple[Gap, Iterator[HistoryChunk]] | None = None
        metrics = producer.metrics
        self._gaps_found = metrics.gaps_detected.labels(feed.name)
        self._gap_quotes = metrics.gapfill_quotes.labels(feed.name)

    def start(self) -> None:
        """Checks that must pass before the first poll (UnknownCoinsError is final).

        With a bootstrap, the newest live quote of each series already in the topic is
        remembered first: the first poll after a restart is then compared with it, so the
        time the producer was down is found as a hole and repaired.
        """
        self.source.check_coins(list(self.feed.spec.coins))
        for warning in self.feed.spec.warnings():
            log.warning("feed.spec_warning", feed=self.feed.name, message=warning)
        if self.bootstrap:
            try:
                seen = last_live(self.bootstrap, self.feed.topic, self.source.name)
            except KafkaError as exc:  # broker down at start: an outage like any other, no memory to seed
                log.warning("feed.resume_unavailable", feed=self.feed.name, error=type(exc).__name__)
                return
            self.producer.remember(seen, self.source.name)
            log.info("feed.resumed", feed=self.feed.name, series=len(seen))

    def cycle(self) -> CycleResult:
        """One poll of every currency; whatever goes wrong is logged and counted, never raised."""
        result = CycleResult()
        try:
            self._cycle(result)
        except Exception as exc:  # the live loop must outlive any single bad cycle
            result.errors.append(f"{type(exc).__name__}: {exc}")
            log.exception("feed.cycle_failed", feed=self.feed.name, error=str(exc))
        self.cycles += 1
        log.info(
            "feed.cycle",
            feed=self.feed.name,
            fetched=result.fetched,
            produced=result.produced,
            deduplicated=result.deduplicated,
            buffered=self.producer.buffered,
            skipped=result.skipped,
            errors=len(result.errors),
        )
        return result

    def _cycle(self, result: CycleResult) -> None:
        coins = list(self.feed.spec.coins)
        # Backpressure: while Kafka is not acknowledging, polling more would only pile up quotes
        # this process cannot hold; the gap it leaves is repaired from history afterwards.
        self.producer.flush(timeout=0)
        for vs in self.feed.spec.vs_currencies:
            if self.producer.room() < len(coins):
                result.skipped += 1
                self.producer.metrics.polls_skipped.labels(self.feed.name).inc()
                log.warning("feed.backpressure", feed=self.feed.name, buffered=self.producer.buffered)
                continue
            try:
                quotes = self.source.markets(coins, vs, self.feed.name)
            except SourceError as exc:
                result.errors.append(str(exc))
                log.error("feed.poll_failed", feed=self.feed.name, vs_currency=vs, error=str(exc))
                continue
            result.fetched += len(quotes)
            sent = self.producer.send_many(quotes)
            result.produced += sent
            result.deduplicated += len(quotes) - sent
        self.producer.flush(timeout=self.flush_timeout)
        if self.producer.buffered:
            result.errors.append(f"{self.producer.buffered} quote(s) awaiting Kafka")
            return
        self._repair(result)

    def _repair(self, result: CycleResult) -> None:
        """Spend at most a few history calls per cycle on holes, oldest first."""
        for gap in self.producer.gaps:
            self._gaps_found.inc()
            log.warning("feed.gap", feed=self.feed.name, coin=gap.coin_id, vs=gap.vs_currency,
                        after=gap.after.isoformat(), before=gap.before.isoformat())  # fmt: skip
        self.gaps.extend(self.producer.gaps)
        self.producer.gaps.clear()
        calls = 0
        while calls < self.gapfill_calls_per_cycle and (self._filling or self.gaps):
            if self._filling is None:
                gap = self.gaps.popleft()
                granularity = finest_granularity(gap.after, gap.before, self.clock())
                start = gap.after + dt.timedelta(milliseconds=1)
                chunks = self.source.history(
                    gap.coin_id, gap.vs_currency, start, gap.before, granularity, self.feed.name, "gapfill"
                )
                self._filling = (gap, iter(chunks))
            gap, chunks = self._filling
            try:
                chunk = next(chunks)  # one history call
                calls += 1
            except StopIteration:
                self._filling = None
                continue
            except SourceError as exc:
                self.gaps.append(gap)  # tried again later, behind the others
                self._filling = None
                result.errors.append(f"gap fill: {exc}")
                return
            inside = [q for q in chunk if gap.after < q.source_ts < gap.before]
            result.gapfilled += self.producer.send_many(inside)
            self._gap_quotes.inc(len(inside))
        self.producer.flush(timeout=self.flush_timeout)

    def run(self, stop: threading.Event, *, once: bool = False, max_cycles: int | None = None) -> int:
        """Poll until `stop` is set; returns the number of cycles run."""
        self.start()
        interval = self.feed.spec.poll_interval_seconds
        while not stop.is_set():
            began = time.monotonic()
            self.cycle()
            if once or (max_cycles is not None and self.cycles >= max_cycles):
                break
            stop.wait(max(0.0, interval - (time.monotonic() - began)))
        return self.cycles
