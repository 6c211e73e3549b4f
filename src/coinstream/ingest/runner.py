"""The live loop: poll the source every pollIntervalSeconds, produce what is new.

A failed cycle (rate limit exhausted, API down, bad answer) is logged and
counted, and the next cycle tries again: a live feed must outlive its source's
bad minutes. Only a spec that can never work (unknown coins) stops it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from coinstream.ingest.producer import DeliveryError, QuoteProducer
from coinstream.ingest.sources.base import MarketSource
from coinstream.ingest.sources.errors import SourceError
from coinstream.logs import get_logger
from coinstream.models import CoinFeed

log = get_logger(__name__)


@dataclass
class CycleResult:
    fetched: int = 0
    produced: int = 0
    deduplicated: int = 0
    errors: list[str] = field(default_factory=list)


class FeedRunner:
    def __init__(self, feed: CoinFeed, source: MarketSource, producer: QuoteProducer) -> None:
        self.feed = feed
        self.source = source
        self.producer = producer
        self.cycles = 0

    def start(self) -> None:
        """Checks that must pass before the first poll (UnknownCoinsError is final)."""
        self.source.check_coins(list(self.feed.spec.coins))
        for warning in self.feed.spec.warnings():
            log.warning("feed.spec_warning", feed=self.feed.name, message=warning)

    def cycle(self) -> CycleResult:
        result = CycleResult()
        for vs in self.feed.spec.vs_currencies:
            try:
                quotes = self.source.markets(list(self.feed.spec.coins), vs, self.feed.name)
            except SourceError as exc:
                result.errors.append(str(exc))
                log.error("feed.poll_failed", feed=self.feed.name, vs_currency=vs, error=str(exc))
                continue
            result.fetched += len(quotes)
            sent = self.producer.send_many(quotes)
            result.produced += sent
            result.deduplicated += len(quotes) - sent
        try:
            self.producer.flush()
        except DeliveryError as exc:
            result.errors.append(str(exc))
        self.cycles += 1
        log.info(
            "feed.cycle",
            feed=self.feed.name,
            fetched=result.fetched,
            produced=result.produced,
            deduplicated=result.deduplicated,
            errors=len(result.errors),
        )
        return result

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
