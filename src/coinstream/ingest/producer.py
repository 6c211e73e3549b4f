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
#: An accepted quote as the producer keeps it until Kafka acknowledges it: (series, source_ts, key,
#: value). Only atomic values, so the cyclic GC stops tracking it after one collection; a Quote
#: (object, field dict, fields-set) held that long is promoted to the oldest generation and walked
#: by every full collection, which cost a bulk sender more than validating and serialising.
Record = tuple[SeriesKey, dt.datetime, bytes, bytes]
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

    def seed(self, key: SeriesKey, ts: dt.datetime) -> None:
        last = self._last.get(key)
        if last is None or ts > last:
            self._last[key] = ts

    def is_repeat(self, quote: Quote) -> bool:
        """Check and remember in one step (one key, one lookup: it runs once per record sent)."""
        return self.repeats(self.series(quote), quote.source_ts)

    def repeats(self, key: SeriesKey, ts: dt.datetime) -> bool:
        last = self._last.get(key)
        if last is not None and ts <= last:
            return True
        self._last[key] = ts
        return False


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
        # Two parallel lists, not a list of pairs: a pair holding a future would stay tracked by
        # the garbage collector; the records alone are atomic tuples it stops tracking.
        self._pending_futures: list[FutureRecordMetadata] = []
        self._pending: list[Record] = []
        self._settle_at = SETTLE_EVERY
        self._retry: deque[Record] = deque()
        self._keys: dict[SeriesKey, bytes] = {}
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
        series, ts = (quote.origin, quote.vs_currency, quote.coin_id, quote.source), quote.source_ts
        if self._accepted.repeats(series, ts):
            self.metrics.quotes_deduplicated.labels(quote.origin).inc()
            return False
        key = self._keys.get(series)
        if key is None:
            key = self._keys[series] = quote.key
        record = (series, ts, key, quote.to_json())
        if self._retry:
            self._retry.append(record)  # behind older undelivered quotes, keeping per-series order
        else:
            self._dispatch(record)
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

    def _dispatch(self, record: Record) -> bool:
        producer = self._connect()
        if producer is None:
            self._retry.append(record)
            return False
        try:
            # Futures are checked at flush() rather than with per-record callbacks: a callback
            # runs on the I/O thread for every record and costs throughput for nothing.
            self._pending_futures.append(producer.send(self.topic, key=record[2], value=record[3]))
            self._pending.append(record)
            if len(self._pending) >= self._settle_at:
                # A bulk sender flushes seldom: settling what Kafka acknowledged as it goes keeps
                # the pending lists to what is in flight, instead of every quote since the last flush.
                self._settle()
                self._settle_at = len(self._pending) + SETTLE_EVERY
        except KafkaError as exc:  # buffer full or no metadata within max_block_ms
            self._errors.inc()
            self._retry.append(record)
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
        """Move what Kafka answered out of the pending lists: acknowledged quotes into the dedup
        memory, the gap check and the newest-quote gauge; failed ones back to the retry queue."""
        still_futures: list[FutureRecordMetadata] = []
        still: list[Record] = []
        failed: list[Record] = []
        acked = 0
        reason = ""
        memory = self.dedup._last
        gap_after = self.gap_after
        newest: dict[SeriesKey, dt.datetime] = {}  # per series, among those acknowledged now
        for fut, record in zip(self._pending_futures, self._pending, strict=True):
            if not fut.is_done:
                still_futures.append(fut)
                still.append(record)
            elif fut.failed():
                failed.append(record)
                reason = reason or f"{type(fut.exception).__name__}: {fut.exception}"
            else:
                acked += 1
                series, ts = record[0], record[1]
                before = newest.get(series) or memory.get(series)
                if before is None or ts > before:
                    if gap_after is not None and before is not None and series[0] == "live" and ts - before > gap_after:
                        self.gaps.append(Gap(series[1], series[2], before, ts))
                    newest[series] = ts
        for series, ts in newest.items():
            memory[series] = ts
            if series[0] == "live":
                coin_vs, stamp = (series[2], series[1]), ts.timestamp()
                if stamp > self._newest_live.get(coin_vs, 0.0):
                    self._newest_live[coin_vs] = stamp
                    self.metrics.last_source_ts.labels(*coin_vs).set(stamp)
        self._pending_futures, self._pending = still_futures, still
        if failed:
            self._errors.inc(len(failed))
            log.error("kafka.delivery_failed", topic=self.topic, failed=len(failed), error=reason, retrying=True)
            self._retry.extendleft(reversed(failed))
        self._acked += acked
        self._produced.inc(acked)
        return acked

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
