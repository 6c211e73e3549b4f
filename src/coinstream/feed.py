"""The live loop: poll the source every pollIntervalSeconds, produce what is new.

A failed cycle (rate limit exhausted, API down, bad answer) is logged and
counted, and the next cycle tries again: a live feed must outlive its source's
bad minutes. Only a spec that can never work (unknown coins) stops it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from coinstream.logs import get_logger
from coinstream.models import CoinFeed
from coinstream.producer import QuoteProducer
from coinstream.sources.base import MarketSource
from coinstream.sources.errors import SourceError

log = get_logger(__name__)


@dataclass
class CycleResult:
    fetched: int = 0
    produced: int = 0
    deduplicated: int = 0
    skipped: int = 0  # currencies not polled because Kafka is not taking what is queued
    errors: list[str] = field(default_factory=list)


class FeedRunner:
    def __init__(self, feed: CoinFeed, source: MarketSource, producer: QuoteProducer) -> None:
        self.feed = feed
        self.source = source
        self.producer = producer
        self.cycles = 0
        # Waiting longer for acknowledgements than a poll interval would delay the next poll.
        self.flush_timeout = max(1.0, min(30.0, feed.spec.poll_interval_seconds * 0.8))

    def start(self) -> None:
        """Checks that must pass before the first poll (UnknownCoinsError is final)."""
        self.source.check_coins(list(self.feed.spec.coins))
        for warning in self.feed.spec.warnings():
            log.warning("feed.spec_warning", feed=self.feed.name, message=warning)

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
