"""Investor queries at scale: DuckDB and Trino side by side on a >= 10 M-quote Iceberg table.

The table is written through the real write path: the history (250 coins x 5 years hourly
by default, ~11 M rows) by Spark into the job's own Iceberg table (same DDL, month partitions,
hash distribution and write order as the stream), then live ticks through Kafka and the
streaming job itself in ~100 micro-batches, then maintenance (compaction, expiry, the daily
bars' fold). Every investor query then runs `--rounds` times on each engine; answers must be
identical (asserted), p50/p95 are reported.

Same-run baselines: `raw`, the same questions reading every quote (no daily bars: what the
bars buy), on both engines (Trino's within `--trino-budget`); with `--arrow`, the former
embedded read (pyiceberg materialises the snapshot into Arrow). The embedded engine runs in a
child process per mode so its peak RSS is its own. `--home DIR` keeps the table there and a
second run with the same DIR reuses it (only the queries are run again). Results go to
bench/README.md ("Queries") with the machine's load.
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
    """Metastore + Kafka up, history by Spark, live ticks through the stream, maintenance; returns
    the stack. A table built before in `home` is reused (metastore up, the build's figures re-read)."""
    from coinstream.devstack.kafka import LocalKafka
    from coinstream.devstack.metastore import LocalMetastore
    from coinstream.devstack.process import free_port
    from coinstream.lakehouse.config import LakeConfig
    from coinstream.lakehouse.maintain import maintain
    from coinstream.lakehouse.session import get_spark
    from coinstream.lakehouse.stream import start_stream
    from coinstream.lakehouse.tables import ensure_tables

    metastore = LocalMetastore(home / "metastore", (home / "warehouse").as_uri(), port=free_port())
    stack["metastore"] = metastore  # stopped by run() whatever happens next
    stack["load_build"] = load_avg()
    metastore.up()
    built = home / "built.json"
    if built.exists():
        stack.update(json.loads(built.read_text()))
        return stack
    kafka = LocalKafka(home / "kafka", port=free_port(), controller_port=free_port())
    stack["kafka"] = kafka
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
        out["files_before_maintenance"] = spark.sql(f"SELECT count(*) FROM {cfg.quotes}.files").collect()[0][0]
        t = time.monotonic()
        result = maintain(spark, cfg, cfg.table)
        out["maintain_s"] = time.monotonic() - t
        out["bars_rows"] = result.bars
        out["rows"] = spark.sql(f"SELECT count(*) FROM {cfg.quotes}").collect()[0][0]
        files = spark.sql(f"SELECT count(*), sum(file_size_in_bytes) FROM {cfg.quotes}.files").collect()[0]
        out["files"], out["bytes"] = int(files[0]), int(files[1])
        bars = spark.sql(f"SELECT count(*), sum(file_size_in_bytes) FROM {cfg.quotes}_daily.files").collect()[0]
        out["bars_files"], out["bars_bytes"] = int(bars[0]), int(bars[1])
    finally:
        spark.stop()
    kept = {k: v for k, v in out.items() if k not in ("metastore", "kafka", "cfg")}
    built.write_text(json.dumps(kept))
    kafka.down()
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
    """Runs in its own process: open the embedded engine, time every query, report peak RSS.
    Modes: `bars` (the product: daily bars where they answer), `raw` (every quote), `arrow`."""
    from coinstream.sql import DuckDBEngine, Investor

    t = time.perf_counter()
    scan = "arrow" if args.child == "arrow" else "parquet"
    engine = DuckDBEngine(args.metastore_uri, args.warehouse, scan=scan, memory_limit=args.memory_limit)
    open_s = time.perf_counter() - t
    if args.child == "bars" and engine.bars_view() is None:
        raise SystemExit("the daily bars are missing or not current: the benchmark would not measure them")
    inv = Investor(engine, source="simulated", bars=args.child == "bars")
    times, answers = time_all(inv, args.rounds, args.coins)
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

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="coinstream-bench-queries-"))
    home.mkdir(parents=True, exist_ok=True)
    stack: dict[str, Any] = {}
    trino = None
    try:
        reused = (home / "built.json").exists()
        build(home, args, stack)
        print(f"table: {stack['rows']:,} rows in {stack['files']} files ({stack['bytes'] / 2**20:.0f} MiB)", flush=True)
        res: dict[str, Any] = {"stack": {k: v for k, v in stack.items() if k not in ("metastore", "kafka", "cfg")}}
        res["load_build"], res["reused"] = stack["load_build"], reused
        res["load_duckdb"] = load_avg()
        res["duckdb"] = run_child("bars", stack, args, home / "duck.pkl")
        res["raw"] = run_child("raw", stack, args, home / "raw.pkl")
        if args.arrow:
            res["arrow"] = run_child("arrow", stack, args, home / "arrow.pkl")
        res["load_duckdb_after"] = load_avg()
        trino = LocalTrino(home / "trino", stack["metastore"].uri, stack["metastore"].warehouse, port=free_port(),
                           heap=args.trino_heap, jvm=args.trino_jvm)  # fmt: skip
        trino.up()
        res["load_trino"] = load_avg()
        engine = TrinoEngine("127.0.0.1", trino.port, auth=trino.auth(ANALYST))
        inv = Investor(engine, source="simulated")
        if inv.bars_view() is None:
            raise SystemExit("Trino sees no current daily bars: the benchmark would not measure them")
        queries(args.coins)["latest"](inv)  # warm-up: plan caches, metastore connections
        timed = time_all(inv, args.rounds, args.coins)
        res["trino"] = dict(zip(("times", "answers"), timed, strict=True))
        raw = Investor(engine, source="simulated", bars=False)
        timed = time_all(raw, args.rounds, args.coins, args.trino_budget)
        res["trino_raw"] = dict(zip(("times", "answers"), timed, strict=True))
        res["load_after"] = load_avg()
        for name, want in res["raw"]["answers"].items():
            assert_same(name, want, res["duckdb"]["answers"][name])
            assert_same(name, want, res["trino"]["answers"][name])
            if name in res["trino_raw"]["answers"]:
                assert_same(name, want, res["trino_raw"]["answers"][name])
            if "arrow" in res:
                assert_same(name, want, res["arrow"]["answers"][name])
        res["identical"] = True
        return res
    finally:
        if trino is not None:
            trino.down()
        for name in ("kafka", "metastore"):
            if name in stack:
                stack[name].down()
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)


def render(res: dict[str, Any], args: argparse.Namespace) -> str:
    s = res["stack"]
    lines = [
        "## Queries",
        "",
        f"`make bench-queries` (bench/queries.py), {dt.date.today().isoformat()}: {s['rows']:,} quotes "
        f"({args.coins} coins x {args.years} years hourly = {s['history_rows']:,} written by Spark into the job's "
        f"Iceberg table, plus {s['live_rows']:,} live ticks through Kafka and the streaming job in {s['batches']} "
        f"micro-batches, then maintenance), {s['files_before_maintenance']:,} data files before maintenance, "
        f"{s['files']:,} after ({s['bytes'] / 2**20:.0f} MiB, month partitions); daily bars {s['bars_rows']:,} rows "
        f"in {s['bars_files']} files ({s['bars_bytes'] / 2**20:.1f} MiB). History written in {s['history_s']:.0f} s, "
        f"live ticks streamed in {s['live_s']:.0f} s, maintenance (with the bars' fold) {s['maintain_s']:.0f} s"
        + (" (table built by an earlier run in the same --home, reused)." if res["reused"] else "."),
        f"Every query {args.rounds} rounds per engine; answers identical on DuckDB and Trino, with and without the "
        "daily bars (asserted). `raw` = the same questions reading every quote (same run, same table): what the "
        f"bars buy. Trino: {args.trino_jvm} JVM, {args.trino_heap} heap.",
        f"Load average (1/5/15 min): building {res['load_build']}; DuckDB {res['load_duckdb']} .. "
        f"{res['load_duckdb_after']}; Trino {res['load_trino']} .. {res['load_after']}. "
        "Goals: DuckDB p50 <= 0.5 s, Trino p50 <= 2 s.",
        "",
        "| query | DuckDB p50 / p95 | DuckDB raw p50 | Trino p50 / p95 | Trino raw p50 |",
        "|---|---:|---:|---:|---:|",
    ]

    def mark(v: float, goal: float) -> str:
        return f"**{v:.2f}**" if v > goal else f"{v:.2f}"

    for name in res["duckdb"]["times"]:
        d, r, t = (pcts(res[k]["times"][name]) for k in ("duckdb", "raw", "trino"))
        tr = res["trino_raw"]["times"].get(name)
        trino_raw = f"{pcts(tr)[0]:.2f} s" if tr else "not measured (time budget)"
        duck, trino = f"{mark(d[0], 0.5)} / {d[1]:.2f} s", f"{mark(t[0], 2.0)} / {t[1]:.2f} s"
        lines.append(f"| {name} | {duck} | {r[0]:.2f} s | {trino} | {trino_raw} |")
    d_all = [pcts(v)[0] for v in res["duckdb"]["times"].values()]
    t_all = [pcts(v)[0] for v in res["trino"]["times"].values()]
    arrow = ""
    if "arrow" in res:
        a = res["arrow"]
        arrow = f"; the former materialising read (`--arrow`) {a['rss_mib']:,.0f} MiB (open {a['open_s']:.1f} s)"
    lines += [
        "",
        f"Queries meeting the goal: DuckDB {sum(v <= 0.5 for v in d_all)}/{len(d_all)}, "
        f"Trino {sum(v <= 2.0 for v in t_all)}/{len(t_all)} (misses in bold).",
        f"Embedded engine peak RSS (its own process): **{res['duckdb']['rss_mib']:,.0f} MiB** with the bars "
        f"(open {res['duckdb']['open_s']:.2f} s), {res['raw']['rss_mib']:,.0f} MiB reading every quote{arrow}; "
        f"DuckDB memory_limit {args.memory_limit}.",
        "",
    ]
    return "\n".join(lines)


def write_readme(text: str) -> None:
    old = README.read_text() if README.exists() else "# Benchmarks\n"
    if "## Queries" in old:
        old = re.sub(r"## Queries\n.*?(?=\n## |\Z)", lambda _: text, old, flags=re.S)
    else:
        old = old.rstrip("\n") + "\n\n" + text
    README.write_text(old)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--coins", type=int, default=250)
    p.add_argument("--years", type=int, default=5)
    p.add_argument("--live-minutes", type=int, default=60)
    p.add_argument("--batch-rows", type=int, default=300, help="live ticks per micro-batch (~100 batches)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--memory-limit", default="2GB")
    p.add_argument("--trino-budget", type=float, default=600.0, help="seconds for Trino's raw baseline")
    p.add_argument("--trino-heap", default="4G")
    p.add_argument("--trino-jvm", default="throughput", choices=["throughput", "fast-start"])
    p.add_argument("--arrow", action="store_true", help="also time the former materialising embedded read")
    p.add_argument("--home", help="keep the table in this directory; a later run with it reuses the table")
    p.add_argument("--no-readme", action="store_true")
    p.add_argument("--child", choices=["bars", "raw", "arrow"], help=argparse.SUPPRESS)
    p.add_argument("--metastore-uri", help=argparse.SUPPRESS)
    p.add_argument("--warehouse", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        duckdb_child(args)
        return
    res = run(args)
    text = render(res, args)
    if not args.no_readme:
        write_readme(text)
    skip = ("duckdb", "raw", "trino", "trino_raw", "arrow")
    print(text)
    print(json.dumps({k: v for k, v in res.items() if k not in skip}, default=str))


if __name__ == "__main__":
    main()
