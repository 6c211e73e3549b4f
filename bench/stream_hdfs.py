"""Lakehouse stream throughput with the warehouse on hdfs:// against file://, in one run.

The streaming job's own code (`coinstream.lakehouse.stream`: Kafka → parse → dedup →
Iceberg) drains the same topic into Iceberg catalogs in one Spark session: one whose
warehouse and checkpoint are on local disk, one on a real single-node HDFS (NameNode +
DataNode on 127.0.0.1) with the HDFS client settings every deployment gets
(`coinstream.platform.hdfs_config.HDFS_CLIENT_SITE`), and one on the same HDFS with
Hadoop's own client defaults for those keys (the configuration before them, as the
profile's "before"). All share the Kafka broker, the Hive metastore and the JVM. Runs
rotate the order each round so order and machine noise hit every side; the first round
warms the JVMs up and is reported but not counted.

    python bench/stream_hdfs.py [--quotes 60000] [--batches 5000,60000] [--rounds 3] [--warmup 1]

Each micro-batch size in `--batches` is measured on every storage. Besides quotes/s it
records where each batch's time goes (Spark's StreamingQueryProgress.durationMs per phase)
and what each batch asks the NameNode (its audit log), and how many file closes lost the
race with the DataNode's block report (the NameNode logs each refused `complete`).
Results go to bench/README.md ("HDFS").
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import platform
import re
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from coinstream.devstack.hdfs import LocalHDFS
from coinstream.devstack.stack import LocalStack
from coinstream.lakehouse.config import LakeConfig
from coinstream.lakehouse.session import spark_conf
from coinstream.lakehouse.stream import launch
from coinstream.models.quote import Quote
from coinstream.platform.hdfs_config import HADOOP_VERSION, HDFS_CLIENT_SITE

README = Path(__file__).parent / "README.md"
TOPIC = "coinstream.quotes.bench"
#: Hadoop's own client defaults for the keys `HDFS_CLIENT_SITE` sets.
HADOOP_DEFAULTS = {
    "dfs.client.block.write.locateFollowingBlock.initial.delay.ms": "400",
    "dfs.client.block.write.locateFollowingBlock.retries": "5",
}
assert HADOOP_DEFAULTS.keys() == HDFS_CLIENT_SITE.keys()
DELAY_KEY = "dfs.client.block.write.locateFollowingBlock.initial.delay.ms"
STORAGES = ("file", "hdfs", "hdfsdefault")
LABELS = {"file": "file://", "hdfs": "hdfs://", "hdfsdefault": "hdfs:// (Hadoop default client)"}
#: StreamingQueryProgress.durationMs phases, and what each holds.
PHASES = {
    "walCommit": "offsets log (checkpoint offsets/N)",
    "addBatch": "the batch: Kafka read, parse, dedup + state store, Parquet, Iceberg commit",
    "commitOffsets": "commits log (checkpoint commits/N)",
    "other": "latestOffset + queryPlanning + getBatch",
    "triggerExecution": "whole micro-batch",
}
RACE = "is COMMITTED but not COMPLETE"
HEADER = (
    "| quotes per micro-batch | file:// quotes/s | hdfs:// quotes/s | hdfs / file | hdfs:// Hadoop default client "
    "| default / file | rounds (file:hdfs:default) |\n|---:|---:|---:|---:|---:|---:|---|"
)


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


@dataclass
class Run:
    rate: float
    #: durationMs per micro-batch that read rows (the final empty batch of availableNow is left out).
    phases: list[dict[str, int]]
    state_commit_ms: list[int]
    #: NameNode audit operations and refused `complete` calls during the run (hdfs only).
    ops: collections.Counter[str] = field(default_factory=collections.Counter)
    races: int = 0

    @property
    def batches(self) -> int:
        return max(1, len(self.phases))


class NameNodeWatch:
    """What the NameNode logged between `start` and `stop`: audit operations and refused closes."""

    def __init__(self, hdfs: LocalHDFS) -> None:
        self.audit, self.log = hdfs.audit_log, hdfs.namenode.log_file
        self._at = (0, 0)

    def start(self) -> None:
        self._at = (self._size(self.audit), self._size(self.log))

    @staticmethod
    def _size(path: Path) -> int:
        return path.stat().st_size if path.exists() else 0

    @staticmethod
    def _since(path: Path, offset: int) -> list[str]:
        with path.open(errors="replace") as f:
            f.seek(offset)
            return f.readlines()

    def stop(self, run: Run) -> None:
        time.sleep(0.5)  # the audit line of the last call is written after the call returns
        for line in self._since(self.audit, self._at[0]):
            m = re.search(r"\tcmd=(\w+)", line)
            if m:
                run.ops[m.group(1)] += 1
        run.races = sum(RACE in line for line in self._since(self.log, self._at[1]))


def measure(spark: Any, cfg: LakeConfig, expected: int, watch: NameNodeWatch | None) -> Run:
    """Drain the topic from the start into a fresh table; quotes/s end to end, and the profile."""
    if watch:
        watch.start()
    t0 = time.perf_counter()
    query, _ = launch(spark, cfg)
    query.awaitTermination()
    elapsed = time.perf_counter() - t0
    got = spark.sql(f"SELECT count(*) FROM {cfg.quotes}").collect()[0][0]  # noqa: S608 - validated name
    assert got == expected, f"{cfg.quotes}: {got} rows, expected {expected}"
    progress = [json.loads(p.json) for p in query.recentProgress if p.numInputRows > 0]
    phases, state = [], []
    for p in progress:
        d = p["durationMs"]
        other = sum(d.get(k, 0) for k in ("latestOffset", "queryPlanning", "getBatch"))
        phases.append({**{k: d.get(k, 0) for k in PHASES if k != "other"}, "other": other})
        state.extend(int(s.get("commitTimeMs", 0)) for s in p.get("stateOperators", []))
    run = Run(expected / elapsed, phases, state)
    if watch:
        watch.stop(run)
    return run


def pin_default_client(spark: Any, uri: str) -> None:
    """Make the Hadoop FileSystem of `uri` (another authority of the same NameNode) one with
    Hadoop's default client settings. FileSystem instances are cached per authority, so Iceberg's
    FileIO gets this one; Spark's checkpoint opens a fresh client per query from the session's
    Hadoop conf, which `measure` runs with the defaults set (see `default_client`)."""
    jvm = spark._jvm
    fs_of = jvm.org.apache.hadoop.fs.FileSystem.get
    session = spark._jsc.hadoopConfiguration()
    fixed = fs_of(jvm.java.net.URI(uri.replace("//localhost:", "//127.0.0.1:")), session)
    assert fixed.getClient().getConf().getBlockWriteLocateFollowingInitialDelayMs() == int(HDFS_CLIENT_SITE[DELAY_KEY])
    conf = jvm.org.apache.hadoop.conf.Configuration(session)
    for key, value in HADOOP_DEFAULTS.items():
        conf.set(key, value)
    default = fs_of(jvm.java.net.URI(uri), conf)
    assert default.getClient().getConf().getBlockWriteLocateFollowingInitialDelayMs() == int(HADOOP_DEFAULTS[DELAY_KEY])


class default_client:
    """Session SQL conf entries reach every Hadoop conf Spark builds for a query (checkpoint, state)."""

    def __init__(self, spark: Any, on: bool) -> None:
        self.spark, self.on = spark, on

    def __enter__(self) -> None:
        if self.on:
            for key, value in HADOOP_DEFAULTS.items():
                self.spark.conf.set(key, value)

    def __exit__(self, *exc: object) -> None:
        if self.on:
            for key in HADOOP_DEFAULTS:
                self.spark.conf.unset(key)


#: First `complete` back-offs compared by `close_costs` (ms; Hadoop's default first).
BACKOFFS = ("400", "20", "10", "5")


def close_costs(spark: Any, hdfs_uri: str, local_uri: str, files: int = 40, rounds: int = 3) -> dict[str, list[float]]:
    """ms to create, write (2 KB), close and rename one small file, one after another (as a checkpoint
    log does), per first back-off and on local disk: the per-file cost behind the stream's profile.
    Each back-off gets a FileSystem instance of its own (`newInstance`, not the cache)."""
    jvm = spark._jvm
    hpath = jvm.org.apache.hadoop.fs.Path
    data = bytearray(2048)
    out: dict[str, list[float]] = {b: [] for b in (*BACKOFFS, "file")}
    for r in range(rounds):
        for backoff in out:
            conf = jvm.org.apache.hadoop.conf.Configuration(spark._jsc.hadoopConfiguration())
            uri = local_uri if backoff == "file" else hdfs_uri
            if backoff != "file":
                conf.set(DELAY_KEY, backoff)
                conf.set("dfs.client.block.write.locateFollowingBlock.retries", "12")
            fs = jvm.org.apache.hadoop.fs.FileSystem.newInstance(jvm.java.net.URI(uri), conf)
            try:
                for i in range(files):
                    tmp, final = hpath(f"{uri}/closes/{backoff}/{r}/.{i}.tmp"), hpath(f"{uri}/closes/{backoff}/{r}/{i}")
                    t0 = time.perf_counter()
                    stream = fs.create(tmp, False)
                    stream.write(data)
                    stream.close()
                    fs.rename(tmp, final)
                    out[backoff].append((time.perf_counter() - t0) * 1000)
            finally:
                fs.close()
    return out


def close_table(costs: dict[str, list[float]]) -> str:
    rows = ["| first back-off | median ms per file | mean ms per file | files |", "|---|---:|---:|---:|"]
    for backoff, ms in costs.items():
        name = "file:// (local disk)" if backoff == "file" else f"hdfs:// {backoff} ms"
        if backoff == HADOOP_DEFAULTS[DELAY_KEY]:
            name += " (Hadoop default)"
        if backoff == HDFS_CLIENT_SITE[DELAY_KEY]:
            name += " (HDFS_CLIENT_SITE)"
        rows.append(f"| {name} | {statistics.median(ms):.1f} | {statistics.mean(ms):.1f} | {len(ms)} |")
    return "\n".join(rows)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def profile_tables(runs: dict[tuple[str, int], list[Run]], batches: list[int]) -> str:
    """Per batch size: median ms per micro-batch by phase, and NameNode work per micro-batch."""
    out = []
    for batch in batches:
        head = " | ".join(LABELS[s] for s in STORAGES)
        out.append(f"\n{batch:,} quotes per micro-batch, median ms per micro-batch over the measured rounds:\n")
        out.append(f"| phase | {head} | hdfs:// - file:// | default - file:// |")
        out.append("|---|" + "---:|" * (len(STORAGES) + 2))
        for phase in [*PHASES, "state"]:
            med = {}
            for s in STORAGES:
                rs = runs[(s, batch)]
                if phase == "state":
                    med[s] = _median([v for r in rs for v in r.state_commit_ms])
                else:
                    med[s] = _median([b[phase] for r in rs for b in r.phases])
            label = "state store commit (inside addBatch, per partition)" if phase == "state" else (
                f"{phase}: {PHASES[phase]}")  # fmt: skip
            cells = " | ".join(f"{med[s]:,.0f}" for s in STORAGES)
            out.append(
                f"| {label} | {cells} | {med['hdfs'] - med['file']:+,.0f} | {med['hdfsdefault'] - med['file']:+,.0f} |"
            )
        out.append(f"\nNameNode per micro-batch ({batch:,} quotes; stream start and table setup included):\n")
        out.append("| client | create (files written) | rename | open | getfileinfo | other ops | refused `complete` |")
        out.append("|---|---:|---:|---:|---:|---:|---:|")
        for s in ("hdfs", "hdfsdefault"):
            rs = runs[(s, batch)]
            n = sum(r.batches for r in rs)
            total: collections.Counter[str] = sum((r.ops for r in rs), collections.Counter())
            other = sum(v for k, v in total.items() if k not in ("create", "rename", "open", "getfileinfo"))
            races = sum(r.races for r in rs)
            share = f" ({races / total['create']:.0%} of files)" if total["create"] else ""
            cells = " | ".join(f"{total[k] / n:.1f}" for k in ("create", "rename", "open", "getfileinfo"))
            out.append(f"| {LABELS[s]} | {cells} | {other / n:.1f} | {races / n:.1f}{share} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quotes", type=int, default=60_000)
    ap.add_argument("--batches", default="5000,60000", help="maxOffsetsPerTrigger values (quotes per micro-batch)")
    ap.add_argument("--rounds", type=int, default=3, help="measured rounds")
    ap.add_argument("--warmup", type=int, default=1, help="rounds run first and not counted")
    args = ap.parse_args()
    items = quotes(args.quotes)
    batches = [int(b) for b in args.batches.split(",")]
    runs: dict[tuple[str, int], list[Run]] = {(s, b): [] for s in STORAGES for b in batches}
    loads: list[float] = []

    with tempfile.TemporaryDirectory(prefix="bench-hdfs-") as tmp:
        home = Path(tmp)
        stack = LocalStack.ephemeral(home)
        hdfs, kafka, metastore = stack.hdfs, stack.kafka, stack.metastore
        spark = None
        try:
            stack.up(hdfs=True)
            kafka.ensure_topic(TOPIC, 3)
            produce(kafka.bootstrap, items)
            default_root = hdfs.warehouse("/bench-default").replace("//127.0.0.1:", "//localhost:")
            roots = {"file": (home / "lake").as_uri(), "hdfs": hdfs.warehouse("/bench"), "hdfsdefault": default_root}
            watch = NameNodeWatch(hdfs)

            def cfg(storage: str, r: int, batch: int = 1000) -> LakeConfig:
                return LakeConfig(
                    bootstrap=kafka.bootstrap, topics=TOPIC.replace(".", r"\."), metastore_uri=metastore.uri,
                    catalog=f"lake_{storage}", namespace=f"bench_{storage}", table=f"quotes_{batch}_{r}",
                    quarantine_table=f"quarantine_{batch}_{r}", warehouse=f"{roots[storage]}/warehouse",
                    checkpoint=f"{roots[storage]}/checkpoints/{batch}/{r}", trigger="availableNow",
                    max_offsets_per_trigger=batch, master="local[2]", hadoop_conf=stack.hadoop_conf,
                )  # fmt: skip

            from pyspark.sql import SparkSession

            builder = SparkSession.builder.appName("coinstream-bench-hdfs")
            conf: dict[str, str] = {}
            for storage in STORAGES:
                conf.update(spark_conf(cfg(storage, 0)))
            for key, value in conf.items():
                builder = builder.config(key, value)
            spark = builder.getOrCreate()
            spark.sparkContext.setLogLevel("ERROR")
            pin_default_client(spark, default_root)

            for r in range(args.warmup + args.rounds):
                order = STORAGES[r % len(STORAGES) :] + STORAGES[: r % len(STORAGES)]
                for batch in batches:
                    for storage in order:
                        loads.append(os.getloadavg()[0])
                        on_hdfs = storage != "file"
                        with default_client(spark, storage == "hdfsdefault"):
                            run = measure(spark, cfg(storage, r, batch), len(items), watch if on_hdfs else None)
                        label = "warm-up" if r < args.warmup else "measured"
                        extra = f", {run.races} refused closes, {sum(run.ops.values())} NameNode ops" if on_hdfs else ""
                        print(f"round {r} ({label}) batch {batch} {storage}: {run.rate:,.0f} quotes/s, "
                              f"{len(run.phases)} batches{extra}", flush=True)  # fmt: skip
                        if r >= args.warmup:
                            runs[(storage, batch)].append(run)
            loads.append(os.getloadavg()[0])
            closes = close_costs(spark, f"{hdfs.uri}/bench", roots["file"])
            for backoff, ms in closes.items():
                print(f"close {backoff}: median {statistics.median(ms):.1f} ms per file", flush=True)
        finally:
            if spark is not None:
                spark.stop()
            stack.down()

    rows = []
    for batch in batches:
        rate = {s: statistics.median(r.rate for r in runs[(s, batch)]) for s in STORAGES}
        f, h, d = rate["file"], rate["hdfs"], rate["hdfsdefault"]
        rounds = " / ".join(":".join(f"{runs[(s, batch)][i].rate:,.0f}" for s in STORAGES) for i in range(args.rounds))
        verdict = "met" if h / f >= 0.85 else "not met"
        cells = f"{f:,.0f} | {h:,.0f} | **{h / f:.2f}x** ({verdict}) | {d:,.0f} | {d / f:.2f}x"
        rows.append(f"| {batch:,} | {cells} | {rounds} |")
        print(
            f"batch {batch}: file {f:,.0f}, hdfs {h:,.0f} ({h / f:.2f}x), hdfs default client {d:,.0f} ({d / f:.2f}x)"
        )
    first, retries = (
        HDFS_CLIENT_SITE[DELAY_KEY],
        HDFS_CLIENT_SITE["dfs.client.block.write.locateFollowingBlock.retries"],
    )
    section = f"""## HDFS

`make bench-hdfs` (bench/stream_hdfs.py): the streaming job's own code (`launch`, availableNow)
drains the same {len(items):,}-quote topic into Iceberg catalogs in one Spark session (local[2]):
warehouse and checkpoint on `file://`, on a real single-node HDFS {HADOOP_VERSION} (NameNode + DataNode,
127.0.0.1, same disk) with the HDFS client settings every deployment gets
(`coinstream.platform.hdfs_config.HDFS_CLIENT_SITE`: first `complete` back-off {first} ms, {retries} retries),
and on the same HDFS with Hadoop's own defaults for those two keys (400 ms, 5 retries: the configuration
before them). Same broker, metastore and JVM; only the storage differs. {args.warmup} warm-up round(s)
not counted, then {args.rounds} rounds rotating the order; medians, quotes/s end to end (stream start,
table setup and every micro-batch included). Target: hdfs:// >= 0.85x file://.

Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores shared
with other engineers' runs, load average {min(loads):.1f} to {max(loads):.1f} during the run:

{HEADER}
{chr(10).join(rows)}

Profile (same run): Spark's `StreamingQueryProgress.durationMs` per micro-batch that read rows, and
the NameNode's audit log and refused `complete` calls (a close that lost the race with the
DataNode's block report; the client then sleeps its first back-off and asks again).
{profile_tables(runs, batches)}

One small file (2 KB) created, closed and renamed after another, as the checkpoint's logs do, through
the Hadoop client with each first back-off (same run, same HDFS, 3 x 40 files each):

{close_table(closes)}
"""
    text = README.read_text()
    text = re.sub(r"## HDFS\n.*?(?=\n## |\Z)", "", text, flags=re.S).rstrip() + "\n\n" + section
    README.write_text(text)


if __name__ == "__main__":
    main()
