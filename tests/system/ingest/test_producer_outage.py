"""The live producer rides out a broker outage (and a fatal client error in it): nothing escapes,
nothing is lost or doubled."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time

from confluent_kafka import KafkaError as RdKafkaError
from tests.support.kafka_topics import duplicates, read_all
from tests.system.ingest.test_produce import Clock, make_feed

from coinstream.devstack.kafka import LocalKafka
from coinstream.devstack.process import free_port
from coinstream.ingest.kafka import ensure_topic
from coinstream.ingest.producer import QuoteProducer
from coinstream.ingest.runner import CycleResult, FeedRunner
from coinstream.ingest.sources.simulated import SimulatedMarket
from coinstream.metrics import Metrics

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
COINS = ["bitcoin", "ethereum", "litecoin"]
#: Short client timeouts so an outage of seconds exercises every failure path (send, delivery, metadata).
FAST = dict(delivery_timeout_ms=3000, request_timeout_ms=1000, max_block_ms=500, reconnect_backoff_max_ms=300)


def test_broker_outage_is_ridden_out_with_backpressure_and_nothing_lost(tmp_path):
    broker = LocalKafka(tmp_path / "kafka", port=free_port(), controller_port=free_port())
    broker.up()
    try:
        feed = make_feed(broker, coins=COINS, vs=["usd"])
        clock = Clock(NOW)
        metrics = Metrics()
        source = SimulatedMarket(5, clock=clock, metrics=metrics)
        producer = QuoteProducer(broker.bootstrap, feed.topic, metrics=metrics, max_buffered=4 * len(COINS), **FAST)
        runner = FeedRunner(feed, source, producer)
        runner.flush_timeout = 1.0

        def cycle() -> CycleResult:
            before = producer.buffered + producer.acked
            result = runner.cycle()
            assert producer.buffered + producer.acked == before + result.produced
            clock.t += dt.timedelta(seconds=30)
            return result

        for _ in range(3):
            cycle()
        delivered_before = producer.acked
        last_seen = metrics.value("coinstream_last_source_timestamp_seconds", coin="bitcoin", vs_currency="usd")
        assert delivered_before == 9 and last_seen == (NOW + dt.timedelta(seconds=60)).timestamp()

        broker.down()
        outage = [cycle() for _ in range(8)]
        assert all(r.errors for r in outage), "each cycle reports the outage"
        assert producer.buffered == 4 * len(COINS), "the buffer is bounded"
        assert sum(r.skipped for r in outage) >= 4, "polling stops while nothing is acknowledged"
        assert metrics.value("coinstream_polls_skipped_total", feed=feed.name) == sum(r.skipped for r in outage)
        assert metrics.value("coinstream_delivery_errors_total", topic=feed.topic) > 0
        assert producer.acked == delivered_before
        assert (
            metrics.value("coinstream_last_source_timestamp_seconds", coin="bitcoin", vs_currency="usd") == last_seen
        ), "the last-quote metric moves only on acknowledgement"
        stuck = producer.buffered
        # librdkafka reports an unrecoverable client error through error_cb (its idempotence state
        # lost): the next flush hands what the client held back to the retry queue and starts anew.
        first_client = producer._producer
        producer._client_error(RdKafkaError(RdKafkaError._FATAL, "injected", fatal=True))
        cycle()
        assert producer._producer is not first_client and producer.buffered == stuck

        broker.up()
        deadline = time.monotonic() + 60
        while producer.buffered and time.monotonic() < deadline:
            cycle()
        assert producer.buffered == 0, "everything queued during the outage is delivered after it"
        producer.close(timeout=30)
        rows = read_all(broker.bootstrap, feed.topic)
        assert len(rows) == producer.acked >= delivered_before + stuck
        assert duplicates(rows) == {}, "nothing doubled by the retries"
        # Every quote accepted before the outage, during it and after it is in the topic once.
        per_coin = {c: sorted(r.value["source_ts"] for r in rows if r.value["coin_id"] == c) for c in COINS}
        assert all(len(v) == len(per_coin["bitcoin"]) for v in per_coin.values())
    finally:
        broker.down()


def test_sigterm_flushes_within_grace_and_reports_what_was_lost(tmp_path, kafka):
    """`coinstream feed run` stopped by SIGTERM: exit 0 when delivered; exit 1 with a count when not."""
    feed_file = tmp_path / "feed.yaml"
    feed_file.write_text(
        "apiVersion: coinstream.io/v1alpha1\nkind: CoinFeed\nmetadata: {name: sigterm}\n"
        "spec: {coins: [bitcoin, ethereum], vsCurrencies: [usd], pollIntervalSeconds: 5,"
        " source: {type: simulated, seed: 1}, kafka: {partitions: 1}}\n"
    )
    ensure_topic(kafka.bootstrap, "coinstream.quotes.sigterm", 1)

    def run(bootstrap: str) -> tuple[int, str, float]:
        env = {**os.environ, "COINSTREAM_SHUTDOWN_GRACE_SECONDS": "3", "COINSTREAM_KAFKA_BOOTSTRAP": bootstrap}
        proc = subprocess.Popen(
            [sys.executable, "-m", "coinstream", "feed", "run", "-f", str(feed_file), "--no-ensure-topic"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:  # signal only once the loop runs (and its handler is installed)
            lines.append(line)
            if "feed.cycle" in line:
                break
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out = "".join(lines) + proc.communicate(timeout=30)[0]
        return proc.returncode, out, time.monotonic() - t0

    code, out, took = run(kafka.bootstrap)
    assert code == 0, out
    assert took < 10
    code, out, took = run(f"127.0.0.1:{free_port()}")  # nothing listens there: nothing is acknowledged
    assert code == 1, out
    assert "not acknowledged by Kafka" in out and "quote(s)" in out
    assert took < 3 + 10, f"stopped {took:.1f}s after SIGTERM with a 3s grace"
    assert "Traceback" not in out
