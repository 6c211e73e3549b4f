"""A broker restart in the middle of producing loses nothing and duplicates nothing."""

from __future__ import annotations

import datetime as dt
import threading
import time

from tests.support.kafka_topics import assert_keyed_and_ordered, duplicates, read_all

from coinstream.devstack.kafka import LocalKafka
from coinstream.devstack.process import free_port
from coinstream.ingest.kafka import ensure_topic
from coinstream.ingest.producer import QuoteProducer
from coinstream.ingest.sources.simulated import SimulatedMarket

COINS = [f"coin-{i}" for i in range(20)]


def ticks(start: dt.datetime, cycles: int):
    t = {"now": start}
    market = SimulatedMarket(3, clock=lambda: t["now"])
    for _ in range(cycles):
        yield from market.markets(COINS, "usd", "restart")
        t["now"] += dt.timedelta(seconds=1)


def test_restart_broker_mid_run(tmp_path):
    broker = LocalKafka(tmp_path / "kafka", port=free_port(), controller_port=free_port())
    broker.up()
    try:
        ensure_topic(broker.bootstrap, "restart-test", 4)
        stream = ticks(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 600)  # 12,000 quotes
        with QuoteProducer(broker.bootstrap, "restart-test", reconnect_backoff_max_ms=500) as producer:
            assert producer.send_many(next(stream) for _ in range(4000)) == 4000
            producer.flush()
            broker.down()  # graceful stop while the producer keeps working
            queued = producer.send_many(next(stream) for _ in range(4000))
            restarter = threading.Timer(3.0, broker.up)
            restarter.start()
            t0 = time.monotonic()
            producer.flush(timeout=150)  # waits out the outage: delivery, not failure
            restarter.join()
            outage_flush = time.monotonic() - t0
            assert producer.send_many(stream) == 4000
            producer.flush()
        rows = read_all(broker.bootstrap, "restart-test")
        assert queued == 4000 and outage_flush >= 3.0
        assert len(rows) == 12_000 == producer.acked, "every acknowledged quote is in the log"
        assert duplicates(rows) == {}
        assert_keyed_and_ordered(rows)
    finally:
        broker.down()
