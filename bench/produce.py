"""Producer throughput: the full coinstream path against a raw kafka-python send loop.

Both sides run in this process against the same real local broker with the same
producer settings (acks=all, idempotent, same linger/batch) and the same bytes;
the full side adds what coinstream does per quote: validating the model, serialising
it to JSON, the snapshot dedup, the metrics and a delivery report per record, and it
sends through librdkafka (confluent-kafka) where the baseline is kafka-python's
send(). Prints absolute quotes/s and the ratio (target: >= 0.9x raw kafka-python,
issue 14), and, as the honest ceiling of the client now used, a raw confluent-kafka
produce loop of the same bytes and settings. Rounds alternate which side goes first,
so neither always meets a warmer broker; the load average is printed per round.

    python bench/produce.py [--quotes 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from confluent_kafka import Producer
from kafka import KafkaProducer

from coinstream.devstack.kafka import LocalKafka
from coinstream.devstack.process import free_port
from coinstream.ingest.kafka import ensure_topic
from coinstream.ingest.producer import QuoteProducer
from coinstream.models import Quote


class GcClock:
    """Seconds the cyclic garbage collector ran (it stops the sending thread while it walks)."""

    def __init__(self) -> None:
        self.seconds, self._start = 0.0, 0.0
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start

    def take(self) -> float:
        out, self.seconds = self.seconds, 0.0
        return out


GC = GcClock()

SETTINGS = dict(acks="all", enable_idempotence=True, max_in_flight_requests_per_connection=1,
                linger_ms=10, batch_size=256 * 1024)  # fmt: skip


def raw_rows(n: int, coins: int = 500) -> list[dict[str, object]]:
    """What a source hands the producer: unvalidated fields, timestamps as API strings."""
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(n):
        ts = (t0 + dt.timedelta(seconds=i // coins)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        rows.append(
            dict(coin_id=f"coin-{i % coins}", symbol="cn", name="Coin", vs_currency="usd", price=100.0 + i % 97,
                 market_cap=1e9, total_volume=1e7, high_24h=110.0, low_24h=90.0, price_change_pct_24h=1.5,
                 source="simulated", source_ts=ts, ingest_ts=ts, feed="bench", origin="live", granularity="tick")
        )  # fmt: skip
    return rows


def bench_raw(bootstrap: str, topic: str, payload: list[tuple[bytes, bytes]]) -> float:
    producer = KafkaProducer(bootstrap_servers=bootstrap, **SETTINGS)
    t0 = time.perf_counter()
    for key, value in payload:
        producer.send(topic, key=key, value=value)
    producer.flush()
    elapsed = time.perf_counter() - t0
    producer.close()
    return len(payload) / elapsed


def bench_raw_rdkafka(bootstrap: str, topic: str, payload: list[tuple[bytes, bytes]]) -> float:
    """The ceiling: librdkafka with the same settings, no validation, no delivery reports."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                         "max.in.flight.requests.per.connection": 5, "partitioner": "murmur2_random",
                         "linger.ms": 10, "batch.size": 256 * 1024})  # fmt: skip
    t0 = time.perf_counter()
    for i, (key, value) in enumerate(payload):
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:  # librdkafka's queue is full: wait for the broker to take some
                producer.poll(0.05)
        if i % 1000 == 0:
            producer.poll(0)
    left = producer.flush(60)
    elapsed = time.perf_counter() - t0
    assert left == 0
    producer.close()
    return len(payload) / elapsed


def bench_full(bootstrap: str, topic: str, rows: list[dict[str, object]]) -> float:
    producer = QuoteProducer(bootstrap, topic, linger_ms=10, batch_size=256 * 1024)
    t0 = time.perf_counter()
    for row in rows:
        producer.send(Quote.model_validate(row))
    producer.flush()
    elapsed = time.perf_counter() - t0
    assert producer.acked == len(rows)
    producer.close()
    return len(rows) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quotes", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rows = raw_rows(args.quotes)
    payload = [(q.key, q.to_json()) for q in (Quote.model_validate(r) for r in rows)]
    with tempfile.TemporaryDirectory() as tmp:
        broker = LocalKafka(Path(tmp), port=free_port(), controller_port=free_port(), heap="1g")
        broker.up()
        try:
            raw, full, rdk, loads, gcs = [], [], [], [], {"raw": [], "full": [], "rdk": []}

            def run_raw(r: int) -> None:
                GC.take()
                raw.append(bench_raw(broker.bootstrap, f"raw-{r}", payload))
                gcs["raw"].append(GC.take())

            def run_full(r: int) -> None:
                GC.take()
                full.append(bench_full(broker.bootstrap, f"full-{r}", rows))
                gcs["full"].append(GC.take())

            def run_rdk(r: int) -> None:
                GC.take()
                rdk.append(bench_raw_rdkafka(broker.bootstrap, f"rdk-{r}", payload))
                gcs["rdk"].append(GC.take())

            for r in range(args.rounds):
                for side in ("raw", "full", "rdk"):
                    ensure_topic(broker.bootstrap, f"{side}-{r}", 6)
                for run in (run_full, run_rdk, run_raw) if r % 2 else (run_raw, run_rdk, run_full):
                    run(r)
                loads.append(os.getloadavg()[0])
                print(f"round {r}: raw {raw[-1]:,.0f}/s, full {full[-1]:,.0f}/s, raw librdkafka {rdk[-1]:,.0f}/s, "
                      f"ratio {full[-1] / raw[-1]:.2f}x, load {loads[-1]:.1f}; "
                      f"GC raw {gcs['raw'][-1]:.2f}s, full {gcs['full'][-1]:.2f}s, librdkafka {gcs['rdk'][-1]:.2f}s",
                      flush=True)  # fmt: skip
        finally:
            broker.down()
    raw_m, full_m, rdk_m = statistics.median(raw), statistics.median(full), statistics.median(rdk)

    def each(xs: list[float]) -> str:
        return ", ".join(f"{x:,.0f}" for x in xs)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")  # fmt: skip
    print(f"quotes per round: {args.quotes}, rounds: {args.rounds}, record size ~{len(payload[0][1])} B")
    print(f"raw kafka-python send loop : {raw_m:10,.0f} quotes/s  (rounds: {each(raw)})")
    print(f"coinstream QuoteProducer   : {full_m:10,.0f} quotes/s  (rounds: {each(full)})")
    print(f"raw confluent-kafka loop   : {rdk_m:10,.0f} quotes/s  (rounds: {each(rdk)})")
    print(f"ratio full/raw             : {full_m / raw_m:10.2f}x  (target >= 0.90x)")
    print(f"median of per-round ratios : {statistics.median(f / r for f, r in zip(full, raw, strict=True)):10.2f}x")
    print(f"full / raw confluent-kafka : {full_m / rdk_m:10.2f}x  (the ceiling of the client used)")
    print(f"load per round             : {', '.join(f'{x:.1f}' for x in loads)}")


if __name__ == "__main__":
    main()
