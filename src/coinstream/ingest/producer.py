"""The one way quotes enter Kafka: idempotent, acks=all, keyed per coin, deduplicated.

Why each choice: the idempotent producer stops broker-side duplicates from
retries within a session; acks=all survives a broker restart; the key
(vs_currency:coin_id) pins each series to one partition so per-coin order holds;
and CoinGecko answers are cached for up to a minute, so a repeated snapshot (same
coin and source_ts) is dropped here instead of becoming a duplicate row.
Duplicates across producer restarts are removed downstream on the same identity.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError, NoBrokersAvailable
from kafka.producer.future import FutureRecordMetadata

from coinstream.errors import OperationalError
from coinstream.ingest.gaps import Gap
from coinstream.ingest.kafka import KeyPartitioner, client_config
from coinstream.logs import get_logger
from coinstream.metrics import Metrics
from coinstream.models import Quote

log = get_logger(__name__)

SeriesKey = tuple[str, str, str, str]
#: Sends between two checks for acknowledgements outside flush().
SETTLE_EVERY = 2_000


class DeliveryError(OperationalError):
    """Kafka did not acknowledge some records within the time given; they are not in the topic."""

    def __init__(self, undelivered: int, reason: str) -> None:
        super().__init__(f"{undelivered} quote(s) not acknowledged by Kafka: {reason}")
        self.undelivered = undelivered


class SnapshotDedup:
    """Remembers the newest source_ts per (origin, currency, coin, source).

    A cached API answer repeats its last_updated; anything not newer than what
    already went out for that series is a repeat. One entry per series, so memory
    is bounded by the number of coins, not by time.
    """

    def __init__(self) -> None:
        self._last: dict[SeriesKey, dt.datetime] = {}

    @staticmethod
    def series(quote: Quote) -> SeriesKey:
        return (quote.origin, quote.vs_currency, quote.coin_id, quote.source)

    def seen(self, quote: Quote) -> bool:
        last = self._last.get(self.series(quote))
        return last is not None and quote.source_ts <= last

    def record(self, quote: Quote) -> None:
        self.seed(self.series(quote), quote.source_ts)

    def seed(self, key: SeriesKey, ts: dt.datetime) -> None:
        last = self._last.get(key)
        if last is None or ts > last:
            self._last[key] = ts

    def is_repeat(self, quote: Quote) -> bool:
        """Check and remember in one step (one key, one lookup: it runs once per record sent)."""
        key, ts = (quote.origin, quote.vs_currency, quote.coin_id, quote.source), quote.source_ts
        last = self._last.get(key)
        if last is not None and ts <= last:
            return True
        self._last[key] = ts
        return False

    def newest_of(self, quote: Quote) -> dt.datetime | None:
        return self._last.get(self.series(quote))

    def newest(self) -> dict[SeriesKey, dt.datetime]:
        return dict(self._last)


class QuoteProducer:
    """Delivers quotes to one topic and keeps every quote it accepted until Kafka acknowledges it.

    A broker outage must not lose quotes nor kill the caller: records Kafka could not
    take or did not acknowledge go to a retry queue and are sent again on the next
    flush, in the order they were accepted. The queue is bounded (`max_buffered`):
    `room()` tells a live loop to stop polling instead of piling up quotes it cannot
    hold. The dedup memory and the newest-quote gauge move only on acknowledgement,
    so a quote that failed is neither forgotten nor reported as delivered.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        metrics: Metrics | None = None,
        client_id: str = "coinstream-producer",
        linger_ms: int = 10,
        batch_size: int = 256 * 1024,
        delivery_timeout_ms: int = 120_000,
        max_block_ms: int = 10_000,
        max_buffered: int = 200_000,
        **kafka_config: Any,
    ) -> None:
        self.topic = topic
        self.metrics = metrics or Metrics()
        self.max_buffered = max_buffered
        self._config = dict(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            # kafka-python guarantees idempotent ordering only with one request in flight.
            max_in_flight_requests_per_connection=1,
            linger_ms=linger_ms,
            batch_size=batch_size,
            delivery_timeout_ms=delivery_timeout_ms,
            max_block_ms=max_block_ms,
            partitioner=KeyPartitioner(),
            # A broker that is slow to answer at start is ridden out as an outage (`_connect` again
            # on the next send), so the live loop keeps kafka-python's short version probe.
            **client_config(**{"api_version_auto_timeout_ms": 2_000, **kafka_config}),
        )
        self._producer: KafkaProducer | None = None
        self._connect()
        self.dedup = SnapshotDedup()  # acknowledged
        self._accepted = SnapshotDedup()  # acknowledged or still queued
        self._acked = 0
        self._pending: list[tuple[FutureRecordMetadata, Quote]] = []
        self._settle_at = SETTLE_EVERY
        self._retry: deque[Quote] = deque()
        self._newest_live: dict[tuple[str, str], float] = {}
        #: Two consecutive acknowledged live quotes of a series further apart than this are a hole.
        self.gap_after: dt.timedelta | None = None
        self.gaps: list[Gap] = []
        self._produced = self.metrics.quotes_produced.labels(topic)
        self._errors = self.metrics.delivery_errors.labels(topic)
        self._buffered = self.metrics.delivery_buffered.labels(topic)

    def _connect(self) -> KafkaProducer | None:
        """The Kafka client, created on first use: a broker that is down at start is an outage too."""
        if self._producer is None:
            try:
                self._producer = KafkaProducer(**self._config)
            except NoBrokersAvailable:
                log.warning("kafka.unavailable", topic=self.topic, bootstrap=self._config["bootstrap_servers"])
        return self._producer

    # -- accepting ---------------------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Quotes accepted but not yet acknowledged."""
        return len(self._pending) + len(self._retry)

    def room(self) -> int:
        return max(0, self.max_buffered - self.buffered)

    def send(self, quote: Quote) -> bool:
        """Accept one quote; False when dropped as a repeat. Never raises on a broker outage."""
        if self._accepted.is_repeat(quote):
            self.metrics.quotes_deduplicated.labels(quote.origin).inc()
            return False
        if self._retry:
            self._retry.append(quote)  # behind older undelivered quotes, keeping per-series order
        else:
            self._dispatch(quote)
        return True

    def send_many(self, quotes: Iterable[Quote]) -> int:
        n = 0
        for q in quotes:
            if self.buffered >= self.max_buffered:
                self._drain_for_room()
            n += self.send(q)
        return n

    def _drain_for_room(self) -> None:
        """Backpressure for bulk callers (backfill): wait for acknowledgements before taking more."""
        while self.buffered >= self.max_buffered:
            self.flush(timeout=5.0)

    def _dispatch(self, quote: Quote) -> bool:
        producer = self._connect()
        if producer is None:
            self._retry.append(quote)
            return False
        try:
            # Futures are checked at flush() rather than with per-record callbacks: a callback
            # runs on the I/O thread for every record and costs throughput for nothing.
            self._pending.append((producer.send(self.topic, key=quote.key, value=quote.to_json()), quote))
            if len(self._pending) >= self._settle_at:
                # A bulk sender flushes seldom: settling what Kafka acknowledged as it goes keeps
                # the pending list to what is in flight, instead of every quote since the last
                # flush, which the garbage collector would otherwise walk again and again.
                self._settle()
                self._settle_at = len(self._pending) + SETTLE_EVERY
        except KafkaError as exc:  # buffer full or no metadata within max_block_ms
            self._errors.inc()
            self._retry.append(quote)
            log.warning("kafka.send_failed", topic=self.topic, error=type(exc).__name__)
            return False
        return True

    # -- acknowledging -----------------------------------------------------------------------------

    def flush(self, timeout: float | None = 60.0) -> int:
        """Resend what failed, wait up to `timeout` for acknowledgements; returns how many arrived.

        Never raises for an outage: what is not acknowledged stays queued (see `buffered`).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self._resend(deadline)
        producer = self._producer
        if producer is not None and self._pending:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            with contextlib.suppress(KafkaError):  # not all acknowledged in time: the rest stay pending
                producer.flush(timeout=left)
        acked = self._settle()
        self._buffered.set(self.buffered)
        return acked

    def _resend(self, deadline: float | None) -> None:
        while self._retry and (deadline is None or time.monotonic() < deadline):
            if not self._dispatch(self._retry.popleft()):
                # It went back to the end of the queue; restore the order and wait for the next flush.
                self._retry.rotate(1)
                return

    def _settle(self) -> int:
        still: list[tuple[FutureRecordMetadata, Quote]] = []
        failed: list[Quote] = []
        acked = 0
        reason = ""
        newest: dict[tuple[str, str], float] = {}
        for fut, quote in self._pending:
            if not fut.is_done:
                still.append((fut, quote))
            elif fut.failed():
                failed.append(quote)
                reason = reason or f"{type(fut.exception).__name__}: {fut.exception}"
            else:
                acked += 1
                if quote.origin == "live" and self.gap_after is not None:
                    self._check_gap(quote)
                self.dedup.record(quote)
                if quote.origin == "live":
                    series, ts = (quote.coin_id, quote.vs_currency), quote.source_ts.timestamp()
                    if ts > newest.get(series, 0.0):
                        newest[series] = ts
        for (coin, vs), ts in newest.items():
            if ts > self._newest_live.get((coin, vs), 0.0):
                self._newest_live[(coin, vs)] = ts
                self.metrics.last_source_ts.labels(coin, vs).set(ts)
        self._pending = still
        if failed:
            self._errors.inc(len(failed))
            log.error("kafka.delivery_failed", topic=self.topic, failed=len(failed), error=reason, retrying=True)
            self._retry.extendleft(reversed(failed))
        self._acked += acked
        self._produced.inc(acked)
        return acked

    def _check_gap(self, quote: Quote) -> None:
        before = self.dedup.newest_of(quote)
        if before is not None and self.gap_after is not None and quote.source_ts - before > self.gap_after:
            self.gaps.append(Gap(quote.vs_currency, quote.coin_id, before, quote.source_ts))

    def remember(self, quote_series: dict[tuple[str, str], dt.datetime], source: str) -> None:
        """Seed the acknowledged memory with what the topic already holds (after a restart)."""
        for (vs, coin), ts in quote_series.items():
            key = ("live", vs, coin, source)
            self.dedup.seed(key, ts)
            self._accepted.seed(key, ts)

    def flush_all(self, timeout: float) -> int:
        """Flush until everything accepted is acknowledged; DeliveryError if `timeout` runs out first."""
        deadline = time.monotonic() + timeout
        acked = 0
        while True:
            acked += self.flush(timeout=max(0.0, min(5.0, deadline - time.monotonic())))
            if not self.buffered:
                return acked
            if time.monotonic() >= deadline:
                raise DeliveryError(self.buffered, f"broker unreachable for {timeout:.0f}s")
            time.sleep(0.2)

    @property
    def acked(self) -> int:
        return self._acked

    def check_topic(self) -> None:
        """Fail before the first poll if the broker denies this client the topic (ACLs): otherwise
        every send would only be counted as a delivery error. A topic not there yet is not an error
        here (Strimzi may still be creating it)."""
        producer = self._connect()
        if producer is None:
            return  # the broker is down: an outage, handled like any other
        try:
            producer.partitions_for(self.topic)
        except KafkaTimeoutError:
            log.warning("kafka.topic_not_ready", topic=self.topic)

    def close(self, timeout: float = 30.0) -> None:
        """Deliver what is queued within `timeout`, then close; DeliveryError with the count if not."""
        try:
            self.flush_all(timeout)
        finally:
            if self._producer is not None:
                self._producer.close(timeout=min(timeout, 5.0))

    def __enter__(self) -> QuoteProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
