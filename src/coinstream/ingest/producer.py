"""The one way quotes enter Kafka: idempotent, acks=all, keyed per coin, deduplicated.

Why each choice: the idempotent producer stops broker-side duplicates from
retries within a session; acks=all survives a broker restart; the key
(vs_currency:coin_id) pins each series to one partition so per-coin order holds;
and CoinGecko answers are cached for up to a minute, so a repeated snapshot (same
coin and source_ts) is dropped here instead of becoming a duplicate row.
Duplicates across producer restarts are removed downstream on the same identity.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError

from coinstream.errors import OperationalError
from coinstream.ingest.kafka import client_config
from coinstream.logs import get_logger
from coinstream.metrics import Metrics
from coinstream.models import Quote

log = get_logger(__name__)


class DeliveryError(OperationalError):
    """Kafka did not acknowledge some records; they were not produced."""


class SnapshotDedup:
    """Remembers the newest source_ts per (origin, currency, coin, source).

    A cached API answer repeats its last_updated; anything not newer than what
    already went out for that series is a repeat. One entry per series, so memory
    is bounded by the number of coins, not by time.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[str, str, str, str], dt.datetime] = {}

    def is_repeat(self, quote: Quote) -> bool:
        ident = (quote.origin, quote.vs_currency, quote.coin_id, quote.source)
        last = self._last.get(ident)
        if last is not None and quote.source_ts <= last:
            return True
        self._last[ident] = quote.source_ts
        return False


class QuoteProducer:
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
        **kafka_config: Any,
    ) -> None:
        self.topic = topic
        self.metrics = metrics or Metrics()
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            # kafka-python guarantees idempotent ordering only with one request in flight.
            max_in_flight_requests_per_connection=1,
            linger_ms=linger_ms,
            batch_size=batch_size,
            delivery_timeout_ms=delivery_timeout_ms,
            **client_config(**kafka_config),
        )
        self.dedup = SnapshotDedup()
        self._acked = 0
        self._pending: list[Any] = []
        self._newest: dict[tuple[str, str], dt.datetime] = {}
        self._produced = self.metrics.quotes_produced.labels(topic)
        self._errors = self.metrics.delivery_errors.labels(topic)

    def send(self, quote: Quote) -> bool:
        """Queue one quote; False when dropped as a repeat. Never blocks on the broker."""
        if self.dedup.is_repeat(quote):
            self.metrics.quotes_deduplicated.labels(quote.origin).inc()
            return False
        # Futures are checked at flush() rather than with per-record callbacks: a callback
        # runs on the I/O thread for every record and costs throughput for nothing.
        self._pending.append(self._producer.send(self.topic, key=quote.key, value=quote.to_json()))
        cur = (quote.coin_id, quote.vs_currency)
        if cur not in self._newest or quote.source_ts > self._newest[cur]:
            self._newest[cur] = quote.source_ts
        return True

    def send_many(self, quotes: Iterable[Quote]) -> int:
        return sum(self.send(q) for q in quotes)

    def flush(self, timeout: float | None = 60.0) -> int:
        """Wait for every queued record; raise DeliveryError if any was not acknowledged."""
        self._producer.flush(timeout=timeout)
        pending, self._pending = self._pending, []
        failures = [f.exception for f in pending if f.failed()]
        acked = len(pending) - len(failures)
        self._acked += acked
        self._produced.inc(acked)
        if failures:
            self._errors.inc(len(failures))
            log.error("kafka.delivery_failed", topic=self.topic, failed=len(failures), error=str(failures[0]))
        for (coin, vs), ts in self._newest.items():
            self.metrics.last_source_ts.labels(coin, vs).set(ts.timestamp())
        if failures:
            raise DeliveryError(f"{len(failures)} record(s) not acknowledged by Kafka: {failures[0]}")
        return acked

    @property
    def acked(self) -> int:
        return self._acked

    def check_topic(self) -> None:
        """Fail before the first poll if the broker denies this client the topic (ACLs): otherwise
        every send would only be counted as a delivery error. A topic not there yet is not an error
        here (Strimzi may still be creating it)."""
        try:
            self._producer.partitions_for(self.topic)
        except KafkaTimeoutError:
            log.warning("kafka.topic_not_ready", topic=self.topic)

    def close(self, timeout: float = 30.0) -> None:
        """Clean shutdown: flush what is queued, then close."""
        try:
            self.flush(timeout)
        finally:
            self._producer.close(timeout=timeout)

    def __enter__(self) -> QuoteProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
