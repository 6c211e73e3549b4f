"""Investor queries at scale: DuckDB and Trino side by side on a >= 10 M-quote Iceberg table.

The table is written through the real write path: the history (250 coins x 5 years hourly
by default, ~11 M rows) by Spark into the job's own Iceberg table (same DDL, day partitions,
hash distribution and write order as the stream), then live ticks through Kafka and the
streaming job itself in micro-batches. Every investor query then runs `--rounds` times on
each engine; answers must be identical (asserted), p50/p95 are reported.

The embedded engine runs in a child process per scan mode so its peak RSS is its own:
`parquet` (DuckDB scans the data files listed by the Iceberg plan, filters pushed down) and
`arrow`, the materialising read it replaces (pyiceberg loads the snapshot into Arrow), as
the same-run baseline. Results go to bench/README.md ("Queries") with the machine's load.
"""

# ruff: noqa: S608  # table names are the benchmark's own constants

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pickle
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kafka import KafkaProducer

README = Path(__file__).parent / "README.md"
NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def queries(n_coins: int) -> dict[str, Callable[[Any], pd.DataFrame]]:
    """The investor's questions as the notebook and dashboard ask them (a 10-coin portfolio for the
    pairwise correlation, every coin elsewhere)."""
    few = [f"coin-{i:03d}" for i in range(min(10, n_coins))]
    return {
        "latest": lambda inv: inv.latest("usd"),
        "returns 5m..30d": lambda inv: inv.returns("usd"),
        "total return": lambda inv: inv.total_return("usd"),
        "last hour": lambda inv: inv.last_hour("usd"),
        "24h check": lambda inv: inv.check_24h("usd"),
        "candles 5m x 24": lambda inv: inv.candles("usd", interval="5m", periods=24),
        "candles 1h x 48": lambda inv: inv.candles("usd", interval="1h", periods=48),
        "daily candles 90 d": lambda inv: inv.ohlc("usd", days=90),
        "volatility 1 y": lambda inv: inv.volatility("usd", days=365),
        "drawdowns 1 y": lambda inv: inv.drawdowns("usd", days=365),
        "max drawdown (all)": lambda inv: inv.max_drawdown("usd"),
        "moving averages 1 y": lambda inv: inv.moving_averages("usd", days=365),
        "correlation 1 y (10 coins)": lambda inv: inv.correlation("usd", few, days=365),
        "cap index 1 y": lambda inv: inv.cap_index("usd", days=365),
    }


# -- the table ----------------------------------------------------------------------------------


def write_history(spark: Any, table: str, coins: int, years: int) -> int:
    """Hourly quotes for `coins` coins over `years` years up to NOW - 1 h, generated inside Spark."""
    from pyspark.sql import functions as F

    hours = years * 365 * 24
    start = int((NOW - dt.timedelta(hours=hours + 1)).timestamp())
    df = (
        spark.range(0, coins * hours, numPartitions=max(2, coins * hours // 1_000_000))
        .withColumn("c", (F.col("id") % coins).cast("int"))
        .withColumn("h", (F.col("id") / coins).cast("long"))
        .withColumn("coin_id", F.format_string("coin-%03d", F.col("c")))
        .withColumn("t", F.col("h") / F.lit(24.0 * 365))
        # A smooth deterministic path with hash noise: realistic spans of gains and drawdowns.
        .withColumn(
            "price",
            F.exp(
                F.lit(1.0)
                + (F.col("c") % 7)
                + F.col("t") * ((F.col("c") % 5) - 1.5) * 0.3
                + F.sin(F.col("t") * 6.0 + F.col("c")) * 0.4
                + F.sin(F.col("h") / 29.0 + F.col("c") * 3) * 0.03
                + (F.abs(F.xxhash64("c", "h")) % 1000) / 100000.0
            ),
        )
        .select(
            "coin_id",
            F.substring("coin_id", 6, 3).alias("symbol"),
            F.col("coin_id").alias("name"),
            F.lit("usd").alias("vs_currency"),
            "price",
            (F.col("price") * 1e7 * (1 + F.col("c") % 13)).alias("market_cap"),
            (F.col("price") * 1e5).alias("total_volume"),
            F.lit(None).cast("double").alias("high_24h"),
            F.lit(None).cast("double").alias("low_24h"),
            F.lit(None).cast("double").alias("price_change_pct_24h"),
            F.lit("simulated").alias("source"),
            F.timestamp_seconds(F.lit(start) + F.col("h") * 3600).alias("source_ts"),
            F.timestamp_seconds(F.lit(start) + F.col("h") * 3600).alias("ingest_ts"),
            F.lit("bench").alias("feed"),
            F.lit("backfill").alias("origin"),
            F.lit("hourly").alias("granularity"),
            F.lit(1).alias("schema_version"),
            F.lit("coinstream.quotes.bench").alias("kafka_topic"),
            F.lit(None).cast("int").alias("kafka_partition"),
            F.lit(None).cast("long").alias("kafka_offset"),
            F.current_timestamp().alias("lake_ts"),
        )
    )
    df.writeTo(table).append()
    return coins * hours


def live_quotes(coins: int, minutes: int, tick_seconds: int) -> list[Any]:
    from coinstream.models.quote import Quote

    out = []
    start = NOW - dt.timedelta(minutes=minutes)
    for k in range(minutes * 60 // tick_seconds + 1):
        ts = start + dt.timedelta(seconds=k * tick_seconds)
        for c in range(coins):
            coin = f"coin-{c:03d}"
            price = float(np.exp(1.0 + c % 7 + 0.001 * np.sin(k / 7 + c)))
            out.append(
                Quote(
                    coin_id=coin,
                    symbol=coin[5:],
                    name=coin,
                    vs_currency="usd",
                    price=price,
                    market_cap=price * 1e7 * (1 + c % 13),
                    total_volume=price * 1e5,
                    high_24h=price * 1.02,
                    low_24h=price * 0.98,
                    price_change_pct_24h=0.5,
                    source="simulated",
                    source_ts=ts,
                    ingest_ts=ts,
                    feed="bench",
                    origin="live",
                    granularity="tick",
                )
            )
    return out


def build(home: Path, args: argparse.Namespace, stack: dict[str, Any]) -> dict[str, Any]:
    """Metastore + Kafka up, history by Spark, live ticks through the stream; returns the stack."""
    from coinstream.devstack.kafka import LocalKafka
    from coinstream.devstack.metastore import LocalMetastore
    from coinstream.devstack.process import free_port
    from coinstream.lakehouse.config import LakeConfig
    from coinstream.lakehouse.maintain import maintain
    from coinstream.lakehouse.session import get_spark
    from coinstream.lakehouse.stream import start_stream
    from coinstream.lakehouse.tables import ensure_tables

    metastore = LocalMetastore(home / "metastore", (home / "warehouse").as_uri(), port=free_port())
    kafka = LocalKafka(home / "kafka", port=free_port(), controller_port=free_port())
    stack["metastore"], stack["kafka"] = metastore, kafka  # stopped by run() whatever happens next
    metastore.up()
    kafka.up()
    cfg = LakeConfig(
        bootstrap=kafka.bootstrap, topics=r"coinstream\.quotes\.bench", warehouse=metastore.warehouse,
        metastore_uri=metastore.uri, checkpoint=(home / "checkpoint").as_uri(), trigger="availableNow",
        master="local[2]", driver_memory="3g", max_offsets_per_trigger=args.batch_rows,
    )  # fmt: skip
    spark = get_spark(cfg, "coinstream-bench-queries")
    out = stack
    out["cfg"] = cfg
    try:
        ensure_tables(spark, cfg)
        t = time.monotonic()
        out["history_rows"] = write_history(spark, cfg.quotes, args.coins, args.years)
        out["history_s"] = time.monotonic() - t
        live = live_quotes(args.coins, args.live_minutes, 30)
        kafka.ensure_topic("coinstream.quotes.bench", 3)
        producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, linger_ms=20, batch_size=256 * 1024, acks="all")
        for q in live:
            producer.send("coinstream.quotes.bench", key=q.key, value=q.to_json())
        producer.flush()
        producer.close()
        t = time.monotonic()
        start_stream(spark, cfg).awaitTermination()
        out["live_rows"], out["live_s"] = len(live), time.monotonic() - t
        out["batches"] = -(-len(live) // args.batch_rows)
        t = time.monotonic()
        maintain(spark, cfg, cfg.table)
        out["maintain_s"] = time.monotonic() - t
        out["rows"] = spark.sql(f"SELECT count(*) FROM {cfg.quotes}").collect()[0][0]
        files = spark.sql(f"SELECT count(*), sum(file_size_in_bytes) FROM {cfg.quotes}.files").collect()[0]
        out["files"], out["bytes"] = int(files[0]), int(files[1])
    finally:
        spark.stop()
    return out


# -- timing -------------------------------------------------------------------------------------


def time_all(inv: Any, rounds: int, n_coins: int,
             budget: float = float("inf")) -> tuple[dict[str, list[float]], dict[str, pd.DataFrame]]:  # fmt: skip
    """Every query `rounds` times; queries not started within `budget` seconds are left out (and said so)."""
    times: dict[str, list[float]] = {}
    answers: dict[str, pd.DataFrame] = {}
    began = time.perf_counter()
    for name, call in queries(n_coins).items():
        if time.perf_counter() - began > budget:
            continue
        times[name] = []
        for _ in range(rounds):
            t = time.perf_counter()
            answers[name] = call(inv)
            times[name].append(time.perf_counter() - t)
    return times, answers


def duckdb_child(args: argparse.Namespace) -> None:
    """Runs in its own process: open the embedded engine, time every query, report peak RSS."""
    from coinstream.sql import DuckDBEngine, Investor

    t = time.perf_counter()
    engine = DuckDBEngine(args.metastore_uri, args.warehouse, scan=args.child, memory_limit=args.memory_limit)
    open_s = time.perf_counter() - t
    times, answers = time_all(Investor(engine, source="simulated"), args.rounds, args.coins)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.out).write_bytes(pickle.dumps({"open_s": open_s, "times": times, "answers": answers, "rss_mib": rss_mib}))


def run_child(mode: str, stack: dict[str, Any], args: argparse.Namespace, out: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", mode, "--metastore-uri", stack["metastore"].uri,
           "--warehouse", stack["metastore"].warehouse, "--out", str(out), "--rounds", str(args.rounds),
           "--coins", str(args.coins), "--memory-limit", args.memory_limit]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    subprocess.run(cmd, check=True, env=env)
    return pickle.loads(out.read_bytes())  # noqa: S301  # our own child's output


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=range(len(df)))
    for col in df.columns:
        s = df[col].reset_index(drop=True)
        sample = s.dropna().iloc[0] if s.notna().any() else None
        if isinstance(sample, dt.date | pd.Timestamp) or pd.api.types.is_datetime64_any_dtype(s):
            s = pd.to_datetime(s, utc=True).astype("datetime64[us, UTC]")
        elif pd.api.types.is_bool_dtype(s) or isinstance(sample, bool | np.bool_):
            s = s.astype("object").map(lambda v: None if v is None or v is pd.NA else bool(v))
        elif pd.api.types.is_numeric_dtype(s) or isinstance(sample, int | float | np.number):
            s = pd.to_numeric(s, errors="coerce").astype("float64")
        out[col] = s
    return out


def assert_same(name: str, a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns), (name, list(a.columns), list(b.columns))
    assert len(a) == len(b) > 0, (name, len(a), len(b))
    a, b = normalise(a), normalise(b)
    for col in a.columns:
        if pd.api.types.is_float_dtype(a[col]):
            ok = np.allclose(a[col], b[col], rtol=1e-9, atol=1e-12, equal_nan=True)
            assert ok, f"{name}: column {col} differs between engines"
        else:
            assert a[col].tolist() == b[col].tolist(), f"{name}: column {col} differs between engines"


def pcts(xs: list[float]) -> tuple[float, float]:
    return statistics.median(xs), float(np.percentile(xs, 95))


def load_avg() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def run(args: argparse.Namespace) -> dict[str, Any]:
    from coinstream.devstack.process import free_port
    from coinstream.devstack.trino import LocalTrino
    from coinstream.platform.trino_auth import ANALYST
    from coinstream.sql import Investor, TrinoEngine

    home = Path(tempfile.mkdtemp(prefix="coinstream-bench-queries-"))
    stack: dict[str, Any] = {}
    trino = None
    try:
        load_before = load_avg()
        build(home, args, stack)
        print(f"table: {stack['rows']:,} rows in {stack['files']} files ({stack['bytes'] / 2**20:.0f} MiB)", flush=True)
        res: dict[str, Any] = {"stack": {k: v for k, v in stack.items() if k not in ("metastore", "kafka", "cfg")}}
        res["load_build"] = load_before
        stack["kafka"].down()
        res["load_duckdb"] = load_avg()
        res["duckdb"] = run_child("parquet", stack, args, home / "duck.pkl")
        res["arrow"] = run_child("arrow", stack, args, home / "arrow.pkl")
        trino = LocalTrino(home / "trino", stack["metastore"].uri, stack["metastore"].warehouse, port=free_port())
        trino.up()
        res["load_trino"] = load_avg()
        engine = TrinoEngine("127.0.0.1", trino.port, auth=trino.auth(ANALYST))
        inv = Investor(engine, source="simulated")
        queries(args.coins)["latest"](inv)  # warm-up: plan caches, metastore connections
        timed = time_all(inv, args.rounds, args.coins, args.trino_budget)
        res["trino"] = dict(zip(("times", "answers"), timed, strict=True))
        res["load_after"] = load_avg()
        for name in res["trino"]["answers"]:
            assert_same(name, res["duckdb"]["answers"][name], res["trino"]["answers"][name])
            assert_same(name, res["duckdb"]["answers"][name], res["arrow"]["answers"][name])
        res["identical"] = True
        return res
    finally:
        if trino is not None:
            trino.down()
        for name in ("kafka", "metastore"):
            if name in stack:
                stack[name].down()
        shutil.rmtree(home, ignore_errors=True)


def write_readme(res: dict[str, Any], args: argparse.Namespace) -> str:
    s = res["stack"]
    lines = [
        "## Queries",
        "",
        f"`make bench-queries` (bench/queries.py), {dt.date.today().isoformat()}: {s['rows']:,} quotes "
        f"({args.coins} coins x {args.years} years hourly = {s['history_rows']:,} written by Spark into the job's "
        f"Iceberg table, plus {s['live_rows']:,} live ticks through Kafka and the streaming job in {s['batches']} "
        f"micro-batches, then maintenance), {s['files']:,} data files, {s['bytes'] / 2**20:.0f} MiB. History written "
        f"in {s['history_s']:.0f} s, live ticks streamed in {s['live_s']:.0f} s, maintenance {s['maintain_s']:.0f} s.",
        f"Every query {args.rounds} rounds per engine; answers identical on DuckDB (both scans) and Trino "
        "(asserted). DuckDB `parquet` = data files listed by the Iceberg plan, scanned by DuckDB with filters "
        "pushed down; `arrow` = the former read (pyiceberg materialises the snapshot), measured in the same run.",
        f"Load average (1/5/15 min): building {res['load_build']}; DuckDB {res['load_duckdb']}; Trino "
        f"{res['load_trino']}; after {res['load_after']}. Goals: DuckDB p50 <= 0.5 s, Trino p50 <= 2 s.",
        "",
        "| query | DuckDB p50 / p95 | Trino p50 / p95 | DuckDB arrow-scan p50 | parquet vs arrow |",
        "|---|---:|---:|---:|---:|",
    ]

    def mark(v: float, goal: float) -> str:
        return f"**{v:.2f}**" if v > goal else f"{v:.2f}"

    for name in res["duckdb"]["times"]:
        d, a = (pcts(res[k]["times"][name]) for k in ("duckdb", "arrow"))
        tt = res["trino"]["times"].get(name)
        trino = f"{mark(pcts(tt)[0], 2.0)} / {pcts(tt)[1]:.2f} s" if tt else "not measured (time budget)"
        lines.append(f"| {name} | {mark(d[0], 0.5)} / {d[1]:.2f} s | {trino} | {a[0]:.2f} s | {a[0] / d[0]:.1f}x |")
    d_all = [pcts(v)[0] for v in res["duckdb"]["times"].values()]
    t_all = [pcts(v)[0] for v in res["trino"]["times"].values()]
    lines += [
        "",
        f"Queries meeting the goal: DuckDB {sum(v <= 0.5 for v in d_all)}/{len(d_all)}, "
        f"Trino {sum(v <= 2.0 for v in t_all)}/{len(t_all)} (misses in bold).",
        f"Embedded engine peak RSS (its own process): **{res['duckdb']['rss_mib']:,.0f} MiB** with the parquet scan "
        f"(open {res['duckdb']['open_s']:.2f} s) vs {res['arrow']['rss_mib']:,.0f} MiB materialising "
        f"(open {res['arrow']['open_s']:.1f} s); DuckDB memory_limit {args.memory_limit}.",
        "",
    ]
    text = "\n".join(lines)
    old = README.read_text() if README.exists() else "# Benchmarks\n"
    if "## Queries" in old:
        old = re.sub(r"## Queries\n.*?(?=\n## |\Z)", text, old, flags=re.S)
    else:
        old = old.rstrip("\n") + "\n\n" + text
    README.write_text(old)
    return text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--coins", type=int, default=250)
    p.add_argument("--years", type=int, default=5)
    p.add_argument("--live-minutes", type=int, default=60)
    p.add_argument("--batch-rows", type=int, default=1500, help="live ticks per micro-batch")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--memory-limit", default="2GB")
    p.add_argument("--trino-budget", type=float, default=float("inf"), help="seconds for the Trino side")
    p.add_argument("--no-readme", action="store_true")
    p.add_argument("--child", choices=["parquet", "arrow"], help=argparse.SUPPRESS)
    p.add_argument("--metastore-uri", help=argparse.SUPPRESS)
    p.add_argument("--warehouse", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        duckdb_child(args)
        return
    res = run(args)
    text = write_readme(res, args) if not args.no_readme else ""
    print(text or json.dumps({k: v for k, v in res.items() if k not in ("duckdb", "trino", "arrow")}, default=str))


if __name__ == "__main__":
    main()
