"""Stream benchmark: Kafka → Iceberg on local[2], against the original project's naive sink.

Measured in one run, one broker, one Spark session, rounds alternating which side goes first:
  * drain: a backlog of `--rows` backfill quotes (250 coins, hourly) read in micro-batches of
    `--batch`; rows/s over every batch (cold first batch included) and sustained (without it);
  * freshness at `--rate` quotes/s: source_ts → the commit of the Iceberg snapshot that made
    the row visible to SQL (baseline: the mtime of the Parquet file an external table lists),
    p50/p95/p99 over the quotes after a warm-up, and where that time goes: waiting for the
    trigger (source_ts → batch start), offsets + planning before the batch's Spark job, Kafka
    read + parse (the job's first stage), dedup + Parquet write (the rest), Iceberg commit —
    from the query progress and Spark's job and stage times (the driver's status store).
Baseline = the original W205 job: every column a string, an unpartitioned Parquet file sink,
10 s trigger (for throughput: the same micro-batch size as ours). Medians of `--rounds` rounds;
results and the machine's load go to bench/README.md ("Stream").
"""

# ruff: noqa: S608  # table names are the benchmark's own constants

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from kafka import KafkaProducer

from coinstream.devstack.stack import LocalStack
from coinstream.lakehouse.config import LakeConfig
from coinstream.lakehouse.session import get_spark
from coinstream.lakehouse.stream import launch
from coinstream.models import wire
from coinstream.models.quote import Quote
from coinstream.models.spark import spark_columns
from coinstream.models.wire import avro_schema_json

README = Path(__file__).parent / "README.md"
LIVE_COINS = [f"coin-{i:03d}" for i in range(200)]
BACKLOG_COINS = 250


def load() -> float:
    return os.getloadavg()[0]


def backlog_quote(i: int, start_s: int) -> Quote:
    """Quote `i` of the backlog, as produce_backlog writes it."""
    coin = f"coin-{i % BACKLOG_COINS:03d}"
    ts = dt.datetime.fromtimestamp(start_s + (i // BACKLOG_COINS) * 3600, dt.UTC)
    return Quote(
        coin_id=coin, symbol=coin[5:], name=coin, vs_currency="usd", price=100.0 + (i % 997) / 7.0, market_cap=1e9,
        total_volume=1e7, source="simulated", source_ts=ts, ingest_ts=ts, feed="bench", origin="backfill",
        granularity="hourly",
    )  # fmt: skip


def produce_backlog(spark: Any, bootstrap: str, topic: str, rows: int, encoding: str) -> None:
    """`rows` backfill quotes (BACKLOG_COINS coins, hourly, ending 2 h ago), written by Spark's Kafka
    sink, a million records in seconds instead of minutes: `binary`, the bytes the coinstream
    producer sends (checked against `wire.encode` below), or `json`, what the original project sent."""
    from pyspark.sql import functions as F
    from pyspark.sql.avro.functions import to_avro

    hours = -(-rows // BACKLOG_COINS)
    end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=2)
    start_s = int((end - dt.timedelta(hours=hours)).timestamp())
    ts = "date_format(timestamp_seconds({s}), \"yyyy-MM-dd'T'HH:mm:ss.SSS'Z'\")"
    value = f"""to_json(named_struct(
        'coin_id', coin, 'symbol', substr(coin, 6), 'name', coin, 'vs_currency', 'usd',
        'price', 100.0 + (id % 997) / 7.0, 'market_cap', 1.0e9, 'total_volume', 1.0e7,
        'source', 'simulated', 'source_ts', {ts.format(s="t")}, 'ingest_ts', {ts.format(s="t")},
        'feed', 'bench', 'origin', 'backfill', 'granularity', 'hourly', 'schema_version', 1))"""
    typed = [
        "coin AS coin_id", "substr(coin, 6) AS symbol", "coin AS name", "'usd' AS vs_currency",
        "CAST(100.0D + (id % 997) / 7.0D AS DOUBLE) AS price", "1.0e9D AS market_cap", "1.0e7D AS total_volume",
        "CAST(NULL AS DOUBLE) AS high_24h", "CAST(NULL AS DOUBLE) AS low_24h",
        "CAST(NULL AS DOUBLE) AS price_change_pct_24h", "'simulated' AS source", "timestamp_seconds(t) AS source_ts",
        "timestamp_seconds(t) AS ingest_ts", "'bench' AS feed", "'backfill' AS origin", "'hourly' AS granularity",
        "1 AS schema_version",
    ]  # fmt: skip
    quotes = spark.range(rows).selectExpr(
        "id", f"format_string('coin-%03d', id % {BACKLOG_COINS}) AS coin",
        f"{start_s} + (id DIV {BACKLOG_COINS}) * 3600 AS t",
    )  # fmt: skip
    if encoding == "json":
        records = quotes.selectExpr("concat('usd:', coin) AS key", f"{value} AS value")
    else:
        fields = quotes.selectExpr("id", "coin", *typed)
        body = to_avro(F.struct(*[F.col(c) for c in fields.columns[2:]]), avro_schema_json())
        value_col = F.concat(F.lit(bytearray(wire.HEADER)), body)
        records = fields.select(F.concat(F.lit("usd:"), "coin").alias("key"), value_col.alias("value"))
        sample = bytes(fields.where("id = 7").select(value_col).first()[0])
        assert sample == wire.encode(backlog_quote(7, start_s)), "the backlog is not what the producer sends"
    (
        records.write.format("kafka").option("kafka.bootstrap.servers", bootstrap).option("topic", topic)
        .option("kafka.linger.ms", "50").option("kafka.batch.size", str(512 * 1024)).save()
    )  # fmt: skip


def live_quote(i: int, ts: dt.datetime) -> Quote:
    coin = LIVE_COINS[i % len(LIVE_COINS)]
    return Quote(
        coin_id=coin, symbol=coin[-3:], name=coin, vs_currency="usd", price=100.0 + (i % 997) / 7,
        market_cap=1e9, total_volume=1e7, source="simulated", source_ts=ts, ingest_ts=ts, feed="bench",
        origin="live", granularity="tick",
    )  # fmt: skip


def produce_live(bootstrap: str, topic: str, rate: int, seconds: float, encoding: str) -> tuple[float, int]:
    """`rate` quotes/s for `seconds`; quote i is stamped with its scheduled time start + i/rate
    (unique per quote; producer lag counts as latency)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
    start = dt.datetime.now(dt.UTC)
    sent, began = 0, time.monotonic()
    while time.monotonic() - began < seconds:
        due = int((time.monotonic() - began) * rate)
        while sent < due:
            q = live_quote(sent, start + dt.timedelta(seconds=sent / rate))
            producer.send(topic, key=q.key, value=q.to_json() if encoding == "json" else wire.encode(q))
            sent += 1
        time.sleep(0.01)
    producer.flush()
    producer.close()
    return start.timestamp(), sent


# -- the original project's job (baseline) ---------------------------------------------------------


def start_baseline(
    spark: Any, bootstrap: str, topic: str, out: Path, trigger: str, max_offsets: int | None, name: str = "baseline"
) -> Any:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    strings = T.StructType([T.StructField(n, T.StringType()) for n, _, _ in spark_columns(Quote)])
    reader = (
        spark.readStream.format("kafka").option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", topic).option("startingOffsets", "earliest")
    )  # fmt: skip
    if max_offsets:
        reader = reader.option("maxOffsetsPerTrigger", str(max_offsets))
    df = reader.load().select(F.from_json(F.col("value").cast("string"), strings).alias("j")).select("j.*")
    writer = df.writeStream.queryName(name).format("parquet").option("path", str(out / "data"))
    writer = writer.option("checkpointLocation", str(out / "checkpoint"))
    writer = writer.trigger(availableNow=True) if trigger == "availableNow" else writer.trigger(processingTime=trigger)
    return writer.start()


# -- measurements ----------------------------------------------------------------------------------


def drain_rates(query: Any) -> dict[str, float]:
    progress = [p for p in query.recentProgress if p["numInputRows"]]
    rows = [p["numInputRows"] for p in progress]
    ms = [p["durationMs"]["triggerExecution"] for p in progress]
    durations: dict[str, float] = {}
    for p in progress[1:]:
        for k, v in p["durationMs"].items():
            durations[k] = durations.get(k, 0.0) + v / 1000
    return {
        "durations_s": {k: round(v, 2) for k, v in sorted(durations.items())},
        "batches": len(rows),
        "rows": sum(rows),
        "drain_rows_per_s": sum(rows) / (sum(ms) / 1000) if ms else 0.0,
        "sustained_rows_per_s": sum(rows[1:]) / (sum(ms[1:]) / 1000) if len(ms) > 1 else 0.0,
        "first_batch_s": ms[0] / 1000 if ms else 0.0,
    }


def iceberg_lags(spark: Any, table: str, since: float) -> list[tuple[float, float, int]]:
    """(source_ts, visible_at, batch id) per row: the snapshot that added the row's file."""
    rows = spark.sql(
        f"SELECT unix_micros(q.source_ts) AS src, unix_micros(s.committed_at) AS vis, "
        f"CAST(s.summary['coinstream.batch'] AS BIGINT) AS batch FROM {table} q "
        f"JOIN {table}.entries e ON q._file = e.data_file.file_path "
        f"JOIN {table}.snapshots s ON e.snapshot_id = s.snapshot_id WHERE e.status = 1"
    ).collect()
    return [(r.src / 1e6, r.vis / 1e6, r.batch) for r in rows if r.src / 1e6 >= since]


def file_sink_lags(out: Path, since: float) -> np.ndarray:
    import pyarrow.parquet as pq

    lags: list[float] = []
    for f in (out / "data").glob("*.parquet"):
        visible = f.stat().st_mtime
        for ts in pq.read_table(f, columns=["source_ts"]).column("source_ts").to_pylist():
            src = dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
            if src >= since:
                lags.append(visible - src)
    return np.array(lags)


def pct(a: np.ndarray) -> dict[str, float]:
    return {f"p{p}": float(np.percentile(a, p)) for p in (50, 95, 99)} | {"rows": len(a)}


def _opt(jvm_option: Any) -> Any:
    return jvm_option.get() if jvm_option.isDefined() else None


def _ms(jvm_date_option: Any) -> float | None:
    date = _opt(jvm_date_option)
    return date.getTime() / 1000 if date is not None else None


def _stage(store: Any, stage_id: int) -> Any:
    try:
        return store.lastStageAttempt(stage_id)
    except Exception:  # Py4JJavaError: the stage aged out of the status store
        return None


def spark_jobs(spark: Any, query_name: str) -> dict[int, dict[str, Any]]:
    """The first Spark job of each micro-batch of `query_name`, from the driver's status store
    (there with the UI off): submitted, its first stage (Kafka read + parse) done, finished."""
    jvm = spark.sparkContext._jvm
    store = spark.sparkContext._jsc.sc().statusStore()
    as_java = jvm.scala.jdk.javaapi.CollectionConverters.asJava
    out: dict[int, dict[str, Any]] = {}
    for job in as_java(store.jobsList(None)):
        desc = _opt(job.description()) or ""
        m = re.search(r"batch = (\d+)", desc)
        if not desc.startswith(query_name) or not m:
            continue
        batch, submitted, ended = int(m.group(1)), _ms(job.submissionTime()), _ms(job.completionTime())
        if submitted is None or ended is None or (batch in out and out[batch]["job_id"] < job.jobId()):
            continue
        stages = sorted(as_java(job.stageIds()))
        first, cpu_first, cpu_all = None, 0.0, 0.0
        for i, stage_id in enumerate(stages):
            stage = _stage(store, stage_id)
            if stage is None:
                continue
            cpu = stage.executorCpuTime() / 1e9
            cpu_all += cpu
            if i == 0:
                cpu_first = cpu
                first = _ms(stage.completionTime()) if len(stages) > 1 else None
        out[batch] = {
            "job_id": job.jobId(), "submitted": submitted, "read_parsed": ended if first is None else first,
            "ended": ended, "cpu_read_parse_s": cpu_first, "cpu_s": cpu_all,
        }  # fmt: skip
    return out


def job_profile(jobs: dict[int, dict[str, Any]], rows: int) -> dict[str, float]:
    """Every batch's Spark job summed: wall seconds, executor CPU seconds, CPU microseconds per row
    (CPU time is what the work costs, whatever else the machine runs)."""
    wall = sum(j["ended"] - j["submitted"] for j in jobs.values())
    cpu = sum(j["cpu_s"] for j in jobs.values())
    first = sum(j["cpu_read_parse_s"] for j in jobs.values())
    return {
        "job_wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "cpu_us_per_row": round(cpu / rows * 1e6, 1),
        "cpu_first_stage_us_per_row": round(first / rows * 1e6, 1),
    }  # fmt: skip


def breakdown(lags: list[tuple[float, float, int]], query: Any, jobs: dict[int, dict[str, Any]]) -> dict[str, float]:
    """Median seconds per row from source_ts to visible: waiting for its micro-batch to start,
    the batch's offsets/planning/registry before its Spark job, Kafka read + parse + validation
    (the job's first stage), dedup + Parquet write (the rest of the job), Iceberg commit."""
    starts = {p["batchId"]: dt.datetime.fromisoformat(p["timestamp"].replace("Z", "+00:00")).timestamp()
              for p in query.recentProgress}  # fmt: skip
    parts: dict[str, list[float]] = {k: [] for k in ("trigger_wait_s", "before_job_s", "read_parse_s",
                                                       "dedup_write_s", "commit_s")}  # fmt: skip
    for src, vis, batch in lags:
        if batch not in starts or batch not in jobs:
            continue
        j = jobs[batch]
        parts["trigger_wait_s"].append(starts[batch] - src)
        parts["before_job_s"].append(j["submitted"] - starts[batch])
        parts["read_parse_s"].append(j["read_parsed"] - j["submitted"])
        parts["dedup_write_s"].append(j["ended"] - j["read_parsed"])
        parts["commit_s"].append(vis - j["ended"])
    if not parts["commit_s"]:
        return {}
    return {k: statistics.median(v) for k, v in parts.items()} | {"rows": len(parts["commit_s"])}


def drain_profile(query: Any, sink: Any, jobs: dict[int, dict[str, Any]]) -> dict[str, float]:
    """Seconds summed over a drain's batches: before the Spark job, read + parse, dedup + write,
    and after the job (Iceberg commit, quarantine, late-row checks)."""
    starts = {p["batchId"]: dt.datetime.fromisoformat(p["timestamp"].replace("Z", "+00:00")).timestamp()
              for p in query.recentProgress if p["numInputRows"]}  # fmt: skip
    ended = {t["batch"]: t["written_at"] + t["quarantine_s"] for t in sink.timings}
    out = {"before_job_s": 0.0, "read_parse_s": 0.0, "dedup_write_s": 0.0, "after_job_s": 0.0}
    for batch, start in starts.items():
        if batch not in jobs or batch not in ended:
            continue
        j = jobs[batch]
        out["before_job_s"] += j["submitted"] - start
        out["read_parse_s"] += j["read_parsed"] - j["submitted"]
        out["dedup_write_s"] += j["ended"] - j["read_parsed"]
        out["after_job_s"] += ended[batch] - j["ended"]
    return {k: round(v, 2) for k, v in out.items()}


def run(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="coinstream-bench-"))
    stack = LocalStack.ephemeral(home)
    kafka, metastore = stack.kafka, stack.metastore
    out: dict[str, Any] = {"args": vars(args), "drain": [], "freshness": []}
    try:
        stack.up()
        stack.up()
        backlog, json_backlog = "coinstream.quotes.backlog", "original.quotes.backlog"
        kafka.ensure_topic(backlog, 3)
        kafka.ensure_topic(json_backlog, 3)

        def cfg(name: str, topic: str, **kw: Any) -> LakeConfig:
            return LakeConfig(
                bootstrap=kafka.bootstrap, topics=re.escape(topic), warehouse=metastore.warehouse,
                metastore_uri=metastore.uri, table=f"bench_{name}", quarantine_table=f"bench_{name}_bad",
                checkpoint=(home / "ckpt" / name).as_uri(), master="local[2]", driver_memory="2g", **kw,
            )  # fmt: skip

        spark = get_spark(cfg("x", "x"), "coinstream-bench-stream")
        t0 = time.monotonic()
        # The original project's producer sent JSON; coinstream's sends the binary encoding
        # (--encoding json: coinstream reading JSON, the path of producers of one's own).
        produce_backlog(spark, kafka.bootstrap, json_backlog, args.rows, "json")
        if args.encoding == "binary":
            produce_backlog(spark, kafka.bootstrap, backlog, args.rows, "binary")
        else:
            backlog = json_backlog
        out["backlog_produce_s"] = time.monotonic() - t0

        def ours_drain(r: int) -> dict[str, Any]:
            c = cfg(f"drain{r}", backlog, trigger="availableNow", max_offsets_per_trigger=args.batch)
            t = time.monotonic()
            q, sink = launch(spark, c)
            q.awaitTermination()
            n = spark.sql(f"SELECT count(*) FROM {c.quotes}").collect()[0][0]
            assert n == args.rows, f"drain round {r}: {n} rows in the table, want {args.rows}"
            jobs = spark_jobs(spark, q.name)
            profile = drain_profile(q, sink, jobs) | job_profile(jobs, args.rows)
            return drain_rates(q) | {"wall_s": time.monotonic() - t, "profile": profile}

        def base_drain(r: int) -> dict[str, Any]:
            t = time.monotonic()
            q = start_baseline(spark, kafka.bootstrap, json_backlog, home / f"base-drain{r}",
                               "availableNow", args.batch, f"baseline-drain{r}")  # fmt: skip
            q.awaitTermination()
            profile = job_profile(spark_jobs(spark, q.name), args.rows)
            return drain_rates(q) | {"wall_s": time.monotonic() - t, "profile": profile}

        for r in range(args.rounds):
            order = [("ours", ours_drain), ("baseline", base_drain)]
            if r % 2:
                order.reverse()
            entry: dict[str, Any] = {"round": r, "load_before": load()}
            for name, fn in order:
                entry[name] = fn(r)
            entry["load_after"] = load()
            out["drain"].append(entry)
            print(json.dumps(entry, default=float))

        for r in range(0 if args.skip_live else args.rounds):
            topic = f"coinstream.quotes.live{r}"
            kafka.ensure_topic(topic, 3)
            entry = {"round": r, "load_before": load()}
            q, sink = launch(spark, cfg(f"live{r}", topic, trigger=args.trigger))
            start, sent = produce_live(kafka.bootstrap, topic, args.rate, args.warmup + args.seconds, args.encoding)
            time.sleep(10)
            q.stop()
            lags = iceberg_lags(spark, f"lake.coinstream.bench_live{r}", start + args.warmup)
            entry["ours"] = pct(np.array([v - s for s, v, _ in lags])) | {"sent": sent}
            entry["ours_breakdown"] = breakdown(lags, q, spark_jobs(spark, q.name))
            entry["ours_batches"] = len([t for t in sink.timings if t["fresh"] + t["late"]])
            base_topic = f"coinstream.quotes.blive{r}"
            kafka.ensure_topic(base_topic, 3)
            b = start_baseline(spark, kafka.bootstrap, base_topic, home / f"base-live{r}", "10 seconds", None,
                               f"baseline-live{r}")  # fmt: skip
            start, sent = produce_live(kafka.bootstrap, base_topic, args.rate, args.warmup + args.seconds, "json")
            time.sleep(15)
            b.stop()
            entry["baseline"] = pct(file_sink_lags(home / f"base-live{r}", start + args.warmup)) | {"sent": sent}
            entry["load_after"] = load()
            out["freshness"].append(entry)
            print(json.dumps(entry, default=float))
        spark.stop()
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)
    return out


def summarize(r: dict[str, Any]) -> dict[str, Any]:
    med = statistics.median
    drain, fresh = r["drain"], r["freshness"]
    s: dict[str, Any] = {
        "ours_drain": med(d["ours"]["drain_rows_per_s"] for d in drain),
        "ours_sustained": med(d["ours"]["sustained_rows_per_s"] for d in drain),
        "base_drain": med(d["baseline"]["drain_rows_per_s"] for d in drain),
        "base_sustained": med(d["baseline"]["sustained_rows_per_s"] for d in drain),
        "sustained_ratio": med(
            d["ours"]["sustained_rows_per_s"] / d["baseline"]["sustained_rows_per_s"] for d in drain
        ),
        "drain_ratio": med(d["ours"]["drain_rows_per_s"] / d["baseline"]["drain_rows_per_s"] for d in drain),
        "loads": sorted({round(x, 1) for d in [*drain, *fresh] for x in (d["load_before"], d["load_after"])}),
    }
    if fresh:
        s["fresh_ratio"] = med(f["baseline"]["p50"] / f["ours"]["p50"] for f in fresh)
    for side in ("ours", "baseline"):
        for p in ("p50", "p95", "p99"):
            if fresh:
                s[f"{side}_{p}"] = med(f[side][p] for f in fresh)
    parts = [f["ours_breakdown"] for f in fresh if f["ours_breakdown"]]
    s["breakdown"] = {k: med(p[k] for p in parts) for k in parts[0] if k != "rows"} if parts else {}
    mid = sorted(drain, key=lambda d: d["ours"]["drain_rows_per_s"])[len(drain) // 2]
    s["drain_profile"] = mid["ours"]["profile"]
    s["baseline_drain_profile"] = mid["baseline"]["profile"]
    return s


def write_readme(r: dict[str, Any], s: dict[str, Any]) -> None:
    a = r["args"]

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    b = s["breakdown"]
    drain = (
        f"| drain {a['rows']:,}-quote backlog, rows/s (batches of {a['batch']:,}) | {s['ours_drain']:,.0f} "
        f"| {s['base_drain']:,.0f} | {s['drain_ratio']:.2f}x | ≥ 20,000 rows/s: {verdict(s['ours_drain'] >= 20000)} |"
    )
    sustained = (
        f"| sustained rows/s (cold first batch left out) | {s['ours_sustained']:,.0f} | {s['base_sustained']:,.0f} "
        f"| {s['sustained_ratio']:.2f}x | ≥ 1.0x: {verdict(s['sustained_ratio'] >= 1.0)} |"
    )
    p50 = (
        f"| freshness p50 at {a['rate']:,} quotes/s | {s['ours_p50']:.2f} s | {s['baseline_p50']:.2f} s "
        f"| {s['fresh_ratio']:.2f}x better | ≤ 1.5 s: {verdict(s['ours_p50'] <= 1.5)}; "
        f"≥ 3x: {verdict(s['fresh_ratio'] >= 3)} |"
    )
    tail = (
        f"| freshness p95 / p99 | {s['ours_p95']:.2f} / {s['ours_p99']:.2f} s "
        f"| {s['baseline_p95']:.2f} / {s['baseline_p99']:.2f} s | | p99 ≤ 3 s: {verdict(s['ours_p99'] <= 3)} |"
    )
    section = f"""## Stream

`make bench-stream` (bench/stream.py), {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, local[2] on the shared 2-core
machine, load average {min(s["loads"])} to {max(s["loads"])} during the run.
Both sides in the same run, same broker, same Spark session, order alternating per round; medians of
{a["rounds"]} rounds of a {a["rows"]:,}-quote backlog and {a["seconds"]:.0f} s of live quotes
(after {a["warmup"]:.0f} s of warm-up).
Baseline = the original project's job (all-string columns, Parquet file sink, no validation, no dedup,
no exactly-once; 10 s trigger live, the same micro-batch size draining) reading the JSON its producer
sent. coinstream = the job's own code (`launch`: validation, quarantine, in-stream dedup, idempotent
Iceberg commits) reading what coinstream's producer sends ({a["encoding"]} encoding, the same quotes on
a topic of its own), trigger `{a["trigger"]}`,
driver JVM profile `throughput` (C2), 2 GiB driver heap (three 1 M-key dedup states in one session); the
Spark session (and so the JIT and heap) is shared by both sides.

| goal | coinstream | baseline | ratio | target |
|---|---:|---:|---:|---|
{drain}
{sustained}
{p50}
{tail}

Where a row's freshness goes (median per row, trigger `{a["trigger"]}`; Spark's own job and stage
times from the driver's status store): waiting for its micro-batch to start
{b.get("trigger_wait_s", float("nan")):.2f} s (producer linger + trigger interval + the previous batch still
running); offsets, planning and the writer registry before the batch's Spark job
{b.get("before_job_s", float("nan")):.2f} s; Kafka read + decoding + validation (the job's first stage)
{b.get("read_parse_s", float("nan")):.2f} s; in-stream dedup + Parquet write (the rest of the job)
{b.get("dedup_write_s", float("nan")):.2f} s; Iceberg commit {b.get("commit_s", float("nan")):.2f} s.
Drain profile of the median round (seconds summed over its batches; executor CPU from Spark's stage
metrics): coinstream {s["drain_profile"]}; baseline {s["baseline_drain_profile"]}.

Raw results: see `bench/results/stream.json` (written by the run).
"""
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    text = re.sub(r"## Stream\n.*?(?=\n## |\Z)", "", text, flags=re.S).rstrip() + "\n\n" + section
    README.write_text(text)
    results = README.parent / "results"
    results.mkdir(exist_ok=True)
    (results / "stream.json").write_text(json.dumps(r | {"summary": s}, indent=1, default=float) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=250_000, help="maxOffsetsPerTrigger while draining")
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=40.0, help="measured live period per round")
    parser.add_argument("--warmup", type=float, default=20.0, help="live quotes before measuring")
    parser.add_argument("--trigger", default="500 milliseconds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--encoding", choices=("binary", "json"), default="binary",
                        help="what coinstream's side reads (the baseline always reads JSON)")  # fmt: skip
    parser.add_argument("--skip-live", action="store_true", help="drain rounds only (profiling runs)")
    parser.add_argument("--no-readme", action="store_true", help="print only (profiling runs)")
    args = parser.parse_args()
    results = run(args)
    summary = summarize(results)
    if not args.no_readme and not args.skip_live:
        write_readme(results, summary)
    print(json.dumps(summary, indent=1, default=float))


if __name__ == "__main__":
    main()
