"""The one way quotes enter Kafka: idempotent, acks=all, keyed per coin, deduplicated.

Values are the Quote's binary encoding (`coinstream.models.wire`): a third of JSON's bytes and
several times cheaper for the streaming job to decode; the job reads JSON records as well.

Why each choice: the idempotent producer stops broker-side duplicates from
retries within a session; acks=all survives a broker restart; the key
(vs_currency:coin_id) pins each series to one partition so per-coin order holds;
and CoinGecko answers are cached for up to a minute, so a repeated snapshot (same
coin and source_ts) is dropped here instead of becoming a duplicate row.
Duplicates across producer restarts are removed downstream on the same identity.

The client is librdkafka (confluent-kafka): kafka-python's pure-Python send() cost ~90 µs a
record, most of a bulk sender's time (bench/README.md, "Produce"). Only this hot path moved. The
backfill's transactional writer stays on kafka-python: it is bound by the source's rate limit, not
by send(), and its fencing and ledger are tested as they are; so do topic admin, the readers and
`check_access` (one handshake that tells a refused password from an unreachable broker).
Both clients place a key on the same partition (murmur2, as the Java client), so live and
backfilled quotes of one series share a partition.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections import deque
from collections.abc import Iterable
from operator import itemgetter
from typing import Any

from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException, Message, Producer
from kafka import errors as kafka_errors

from coinstream.errors import OperationalError
from coinstream.ingest.gaps import Gap
from coinstream.ingest.kafka import AUTHORIZATION_ERRORS, KafkaAccessError
from coinstream.logs import get_logger
from coinstream.metrics import Metrics
from coinstream.models import Quote, wire

log = get_logger(__name__)

SeriesKey = tuple[str, str, str, str]
#: An accepted quote as the producer keeps it until Kafka acknowledges it: (series, source_ts, key,
#: value). Only atomic values, so the cyclic GC stops tracking it after one collection; a Quote
#: (object, field dict, fields-set) held that long is promoted to the oldest generation and walked
#: by every full collection, which cost a bulk sender more than validating and serialising.
Record = tuple[SeriesKey, dt.datetime, bytes, bytes]
#: Sends between two servings of delivery reports (and settles) outside flush().
SETTLE_EVERY = 1_000
#: librdkafka's own narration goes to this stdlib logger: under "kafka", so coinstream.logs keeps
#: it at WARNING and above like kafka-python's.
LIBRDKAFKA_LOG = "kafka.librdkafka"


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

    librdkafka answers each record with a delivery report, served on this thread by
    `poll()`/`flush()` only; `_settle()` then applies the answers in one pass.
    `kafka_config`: more librdkafka properties, `_` standing for `.` (`request_timeout_ms`).
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
        from coinstream.settings import get_settings

        self.topic = topic
        self.metrics = metrics or Metrics()
        self.max_buffered = max_buffered
        self._max_block = max_block_ms / 1000
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "client.id": client_id,
            "enable.idempotence": True,
            "acks": "all",
            # Idempotence keeps per-partition order with up to 5 requests in flight (librdkafka's
            # sequence numbers); kafka-python needed 1.
            "max.in.flight.requests.per.connection": 5,
            # The Java client's and kafka-python's partitioner (librdkafka's default is CRC32): a
            # series lands where the backfill writes it.
            "partitioner": "murmur2_random",
            "linger.ms": linger_ms,
            "batch.size": batch_size,
            "delivery.timeout.ms": delivery_timeout_ms,
            "logger": logging.getLogger(LIBRDKAFKA_LOG),
            "error_cb": self._client_error,
            **get_settings().kafka_auth().librdkafka(),
            **{k.replace("_", "."): v for k, v in kafka_config.items()},
        }
        self._fatal: RdKafkaError | None = None
        self._closed = False
        self._producer = self._connect()
        self.dedup = SnapshotDedup()  # acknowledged
        self._accepted = SnapshotDedup()  # acknowledged or still queued
        self._acked = 0
        self._inflight = 0  # handed to librdkafka, not yet settled
        self._delivered: list[Record] = []  # reported acknowledged, not yet settled
        self._failed: list[Record] = []  # reported failed, not yet settled
        self._reason = ""
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

    def _connect(self) -> Producer:
        """librdkafka connects in the background: a broker down at start is an outage like any other.
        Only settings it cannot use (a CA file that is not one) fail here."""
        try:
            return Producer(self._config)
        except KafkaException as exc:
            raise KafkaAccessError(f"cannot set up the Kafka producer: {exc.args[0].str()}") from None

    def _client_error(self, err: RdKafkaError) -> None:
        """librdkafka's client-wide errors (all brokers down, authentication): records stay queued
        and are answered by their delivery reports; a fatal one makes this client unusable."""
        if err.fatal():
            self._fatal = err
            log.error("kafka.client_fatal", topic=self.topic, error=err.name(), reason=err.str())
        elif err.code() != RdKafkaError._TRANSPORT:  # each failed connection is logged by librdkafka already
            log.warning("kafka.client_error", topic=self.topic, error=err.name(), reason=err.str())

    def _serve(self, timeout: float | None = 0.0, *, flush: bool = False) -> None:
        """Serve delivery reports (poll, or flush: until all are answered or `timeout`).

        confluent-kafka raises a fatal error (e.g. the broker refused the idempotent producer its id)
        once, from whichever call serves it, instead of through error_cb."""
        try:
            if not flush:
                self._producer.poll(timeout or 0.0)
            elif timeout is None:
                self._producer.flush()
            else:
                self._producer.flush(timeout)
        except KafkaException as exc:
            if not exc.args[0].fatal():
                raise
            self._client_error(exc.args[0])

    # -- accepting ---------------------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Quotes accepted but not yet acknowledged."""
        return self._inflight + len(self._retry)

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
        record = (series, ts, key, wire.encode(quote))
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

    def _report(self, record: Record, err: RdKafkaError | None, _msg: Message) -> None:
        """One record's delivery report (from poll/flush): collected here, applied by `_settle`."""
        if err is None:
            self._delivered.append(record)
        else:
            self._failed.append(record)
            self._reason = self._reason or f"{err.name()}: {err.str()}"

    def _dispatch(self, record: Record) -> bool:
        producer = self._producer
        report = functools.partial(self._report, record)
        try:
            try:
                producer.produce(self.topic, record[3], record[2], on_delivery=report)
            except BufferError:
                # librdkafka's queue is full: serve reports for up to max_block_ms, as kafka-python blocked.
                deadline = time.monotonic() + self._max_block
                while True:
                    self._serve(0.05)
                    try:
                        producer.produce(self.topic, record[3], record[2], on_delivery=report)
                        break
                    except BufferError:
                        if time.monotonic() >= deadline:
                            raise KafkaException(RdKafkaError(RdKafkaError._QUEUE_FULL)) from None
        except KafkaException as exc:  # queue full for max_block_ms, or the client failed fatally
            self._errors.inc()
            self._retry.append(record)
            log.warning("kafka.send_failed", topic=self.topic, error=exc.args[0].name())
            return False
        self._inflight += 1
        if self._inflight >= self._settle_at:
            # A bulk sender flushes seldom: serving the reports as it goes keeps what it holds to
            # what is in flight, instead of every quote since the last flush.
            self._serve()
            self._settle()
            self._settle_at = self._inflight + SETTLE_EVERY
        return True

    # -- acknowledging -----------------------------------------------------------------------------

    def flush(self, timeout: float | None = 60.0) -> int:
        """Resend what failed, wait up to `timeout` for acknowledgements; returns how many arrived.

        Never raises for an outage: what is not acknowledged stays queued (see `buffered`).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._fatal is not None:
            self._reconnect()
        self._serve()
        acked = self._settle()  # what is answered already, so failures are resent now
        self._resend(deadline)
        if self._inflight:
            self._serve(None if deadline is None else max(0.0, deadline - time.monotonic()), flush=True)
        acked += self._settle()
        self._buffered.set(self.buffered)
        return acked

    def _reconnect(self) -> None:
        """After a fatal error (e.g. the idempotent producer's state lost) librdkafka takes nothing more:
        fail what it holds back to the retry queue and start a new client (a new producer id)."""
        assert self._fatal is not None
        log.error("kafka.producer_restarted", topic=self.topic, error=self._fatal.name())
        self._fatal = None
        self._producer.purge()
        self._serve(5.0, flush=True)  # the purged records' reports: each one failed
        self._settle()
        self._producer.close()
        self._producer = self._connect()

    def _resend(self, deadline: float | None) -> None:
        # Only once nothing older is in flight: a failed record resent while a later one of its series
        # is still on its way would land behind it.
        if self._inflight:
            return
        while self._retry and (deadline is None or time.monotonic() < deadline):
            if not self._dispatch(self._retry.popleft()):
                # It went back to the end of the queue; restore the order and wait for the next flush.
                self._retry.rotate(1)
                return

    def _settle(self) -> int:
        """Apply the delivery reports served so far: acknowledged quotes into the dedup memory, the gap
        check and the newest-quote gauge; failed ones back to the front of the retry queue."""
        delivered, failed = self._delivered, self._failed
        if not delivered and not failed:
            return 0
        self._delivered, self._failed = [], []
        memory = self.dedup._last
        gap_after = self.gap_after
        newest: dict[SeriesKey, dt.datetime] = {}  # per series, among those acknowledged now
        for series, ts, _key, _value in delivered:
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
        acked = len(delivered)
        self._inflight -= acked + len(failed)
        if failed:
            self._errors.inc(len(failed))
            log.error("kafka.delivery_failed", topic=self.topic, failed=len(failed), error=self._reason, retrying=True)
            self._reason = ""
            # Reports come per partition; a series' quotes are in source_ts order (the dedup admits only
            # newer ones), so sorting on it restores each series' order.
            failed.sort(key=itemgetter(1))
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
        here (Strimzi may still be creating it). The denial is raised as kafka-python's error of the
        same code, which the CLI's boundary turns into a message naming the user and the fix."""
        if self._fatal is not None:
            self._reconnect()  # asked again after a denial: the refused client takes nothing more
        meta = None
        for _ in range(2):  # a fatal error is raised once, by whichever call serves it first
            try:
                meta = self._producer.list_topics(self.topic, timeout=max(self._max_block, 1.0))
                break
            except KafkaException as exc:
                if not exc.args[0].fatal():
                    log.warning("kafka.unavailable", topic=self.topic, error=exc.args[0].name())
                    return  # the broker is down: an outage, handled like any other
                self._client_error(exc.args[0])
        denied = {e.errno for e in AUTHORIZATION_ERRORS}
        found = None if meta is None else meta.topics.get(self.topic)
        err = None if found is None else found.error
        if err is not None and err.code() in denied:
            raise kafka_errors.for_code(err.code())(self.topic)
        if self._fatal is not None and self._fatal.code() in denied:
            raise kafka_errors.for_code(self._fatal.code())(self._fatal.str())
        if err is not None:
            log.warning("kafka.topic_not_ready", topic=self.topic, error=err.name())

    def close(self, timeout: float = 30.0) -> None:
        """Deliver what is queued within `timeout`, then close; DeliveryError with the count if not."""
        if self._closed:
            return
        try:
            self.flush_all(timeout)
        finally:
            self._closed = True
            # What was not delivered in time is dropped (DeliveryError counted it): librdkafka's
            # close() would otherwise wait for it.
            self._producer.purge()
            self._producer.close()

    def __enter__(self) -> QuoteProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
