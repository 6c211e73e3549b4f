"""Lakehouse stream throughput with the warehouse on hdfs:// against file://, in one run.

The streaming job's own code (`coinstream.lakehouse.stream.start_stream`: Kafka →
parse → dedup → Iceberg MERGE) drains the same topic into two Iceberg catalogs in
one Spark session: one whose warehouse and checkpoint are on local disk, one on a
real single-node HDFS (NameNode + DataNode on 127.0.0.1). Both share the Kafka
broker, the Hive metastore and the JVM; only the storage URI differs. Runs
alternate (file, hdfs, hdfs, file, ...) so order and machine noise hit both; the first
round warms the JVMs up and is reported but not counted.

    python bench/stream_hdfs.py [--quotes 30000] [--batch 5000] [--rounds 2] [--warmup 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from coinstream.devstack.stack import LocalStack
from coinstream.lakehouse.config import LakeConfig
from coinstream.lakehouse.session import spark_conf
from coinstream.lakehouse.stream import start_stream
from coinstream.models.quote import Quote
from coinstream.platform.hdfs_config import HADOOP_VERSION

TOPIC = "coinstream.quotes.bench"


def quotes(n: int, coins: int = 100) -> list[Quote]:
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    common = {"symbol": "cn", "name": "Coin", "vs_currency": "usd", "market_cap": 1e9, "total_volume": 1e7,
              "source": "simulated", "ingest_ts": t0, "feed": "bench", "origin": "live",
              "granularity": "tick"}  # fmt: skip
    return [
        Quote.model_validate(
            {
                **common,
                "coin_id": f"coin-{i % coins}",
                "price": 100.0 + i % 97,
                "source_ts": t0 + dt.timedelta(seconds=i // coins),
            }
        )
        for i in range(n)
    ]


def produce(bootstrap: str, items: list[Quote]) -> None:
    prod = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, batch_size=256 * 1024)
    for q in items:
        prod.send(TOPIC, key=q.key, value=q.to_json())
    prod.flush()
    prod.close()


def run(spark: Any, cfg: LakeConfig, expected: int) -> float:
    """Drain the topic from the start into a fresh table; quotes/s, end to end per run."""
    t0 = time.perf_counter()
    start_stream(spark, cfg).awaitTermination()
    elapsed = time.perf_counter() - t0
    got = spark.sql(f"SELECT count(*) FROM {cfg.quotes}").collect()[0][0]  # noqa: S608 - validated name
    assert got == expected, f"{cfg.quotes}: {got} rows, expected {expected}"
    return expected / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quotes", type=int, default=30_000)
    ap.add_argument("--batch", type=int, default=5_000, help="maxOffsetsPerTrigger: quotes per micro-batch")
    ap.add_argument("--rounds", type=int, default=2, help="measured rounds")
    ap.add_argument("--warmup", type=int, default=1, help="rounds run first and not counted")
    args = ap.parse_args()
    items = quotes(args.quotes)

    with tempfile.TemporaryDirectory(prefix="bench-hdfs-") as tmp:
        home = Path(tmp)
        stack = LocalStack.ephemeral(home)
        hdfs, kafka, metastore = stack.hdfs, stack.kafka, stack.metastore
        spark = None
        try:
            stack.up(hdfs=True)
            kafka.ensure_topic(TOPIC, 3)
            produce(kafka.bootstrap, items)
            roots = {"file": (home / "lake").as_uri(), "hdfs": hdfs.warehouse("/bench")}

            def cfg(storage: str, r: int) -> LakeConfig:
                return LakeConfig(
                    bootstrap=kafka.bootstrap, topics=TOPIC.replace(".", r"\."), metastore_uri=metastore.uri,
                    catalog=f"lake_{storage}", namespace=f"bench_{storage}", table=f"quotes_{r}",
                    quarantine_table=f"quarantine_{r}", warehouse=f"{roots[storage]}/warehouse",
                    checkpoint=f"{roots[storage]}/checkpoints/{r}", trigger="availableNow",
                    max_offsets_per_trigger=args.batch, master="local[2]",
                )  # fmt: skip

            from pyspark.sql import SparkSession

            builder = SparkSession.builder.appName("coinstream-bench-hdfs")
            for key, value in {**spark_conf(cfg("file", 0)), **spark_conf(cfg("hdfs", 0))}.items():
                builder = builder.config(key, value)
            spark = builder.getOrCreate()
            spark.sparkContext.setLogLevel("ERROR")

            results: dict[str, list[float]] = {"file": [], "hdfs": []}
            for r in range(args.warmup + args.rounds):
                for storage in ("file", "hdfs") if r % 2 == 0 else ("hdfs", "file"):
                    rate = run(spark, cfg(storage, r), len(items))
                    label = "warm-up" if r < args.warmup else "measured"
                    print(f"round {r} ({label}) {storage}: {rate:,.0f} quotes/s", flush=True)
                    if r >= args.warmup:
                        results[storage].append(rate)
        finally:
            if spark is not None:
                spark.stop()
            stack.down()

    f, h = statistics.median(results["file"]), statistics.median(results["hdfs"])
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"Hadoop {HADOOP_VERSION} single node")  # fmt: skip
    print(f"quotes: {len(items)}, per micro-batch: {args.batch}, rounds: {args.rounds} (+{args.warmup} warm-up)")
    print(f"file:// warehouse : {f:8,.0f} quotes/s  (rounds: {', '.join(f'{x:,.0f}' for x in results['file'])})")
    print(f"hdfs:// warehouse : {h:8,.0f} quotes/s  (rounds: {', '.join(f'{x:,.0f}' for x in results['hdfs'])})")
    print(f"ratio hdfs/file   : {h / f:8.2f}x")


if __name__ == "__main__":
    main()
