"""`make demo`: the embedded platform end to end on a simulated market, offline.

Local Kafka and Hive metastore up -> the feed's history backfilled -> live ticks
for a while -> the Spark streaming job lands everything in Iceberg -> the investor
report is rendered from the lakehouse with the embedded engine (DuckDB). Every
number printed is read back from where it landed, not from what we think we sent.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from coinstream.cli.common import console
from coinstream.cli.progress import backfill_with_progress, progress_bar
from coinstream.ingest.producer import QuoteProducer
from coinstream.ingest.runner import FeedRunner
from coinstream.ingest.sources import make_source
from coinstream.ingest.watch import tail
from coinstream.metrics import Metrics
from coinstream.models import CoinFeed
from coinstream.settings import get_settings


@dataclass
class DemoSummary:
    rows: list[tuple[object, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def run_demo(
    feed: CoinFeed,
    *,
    live_seconds: int = 60,
    keep_running: bool = False,
    report: Path = Path("reports/investor_overview.html"),
) -> DemoSummary:
    from coinstream.app.lakehouse_demo import run_lakehouse_demo
    from coinstream.devstack.stack import LocalStack

    began = time.monotonic()
    settings = get_settings()
    stack = LocalStack(settings)
    with console.status("starting local Kafka and Hive metastore (first run downloads pinned jars)..."):
        stack.up([feed])
    console.print(f"Kafka {stack.bootstrap} and metastore {stack.metastore.uri} up; topic {feed.topic}")
    try:
        metrics = Metrics()
        source = make_source(feed, settings, metrics)
        with QuoteProducer(stack.bootstrap, feed.topic, metrics=metrics, client_id="coinstream-demo") as producer:
            result = backfill_with_progress(feed, source, producer, stack.bootstrap)
            console.print(f"backfill: {result.produced} rows, {result.calls} calls, {result.elapsed:.1f}s")
            _live(feed, FeedRunner(feed, source, producer), live_seconds)
        kafka_rows = sum(int(str(r[2])) + int(str(r[3])) for r in summarize(stack.bootstrap, feed.topic).rows)
        with console.status("streaming into Iceberg (Spark local[2])...") as status:

            def progress(rows: int, elapsed: float) -> None:
                status.update(f"streaming into Iceberg: {rows:,} rows queryable after {elapsed:.0f}s")

            lake = run_lakehouse_demo(
                stack.bootstrap,
                re.escape(feed.topic),
                home=stack.home / "lakehouse",
                vs_currency=feed.spec.vs_currencies[0],
                metastore=stack.metastore,
                report=report.resolve(),
                progress=progress,
            )
        summary = DemoSummary(
            rows=[
                (
                    c.coin_id,
                    c.latest_price,
                    _pct(c.return_24h),
                    _pct(c.return_total),
                    _pct(c.volatility_30d, sign=False),
                )
                for c in lake.coins
            ]
        )
        summary.notes += [
            f"Kafka: {kafka_rows:,} quotes in {feed.topic} ({producer.acked:,} produced this run) at {stack.bootstrap}",
            f"Iceberg: {lake.rows:,} rows in the lakehouse, {lake.quarantined} quarantined ({stack.warehouse})",
            f"report: {lake.report}",
            f"demo took {time.monotonic() - began:.0f}s",
        ]
    finally:
        if keep_running:
            console.print(
                "local stack left running. Query it: `coinstream local up --trino` then connect the trino client "
                f"to {stack.trino.url} (catalog lake, schema coinstream), or DuckDB via coinstream.sql.DuckDBEngine("
                f"'{stack.metastore.uri}', '{stack.warehouse}'). `coinstream local down` stops everything."
            )
        else:
            stack.down()
    return summary


def _pct(value: float | None, *, sign: bool = True) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:+.2f}%" if sign else f"{value * 100:.2f}%"


def _live(feed: CoinFeed, runner: FeedRunner, seconds: int) -> None:
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    with progress_bar() as progress:
        task = progress.add_task(f"live ticks every {feed.spec.poll_interval_seconds}s", total=seconds)
        thread.start()
        began = dt.datetime.now(dt.UTC)
        while thread.is_alive():
            thread.join(0.5)
            progress.update(task, completed=min(seconds, (dt.datetime.now(dt.UTC) - began).total_seconds()))
    timer.cancel()


def summarize(bootstrap: str, topic: str) -> DemoSummary:
    """Per series: rows by origin, first timestamp and latest price, read back from Kafka."""
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    first: dict[tuple[str, str], str] = {}
    latest: dict[tuple[str, str], tuple[str, float]] = {}
    for rec in tail(bootstrap, topic, from_beginning=True, idle_timeout=3.0):
        v = rec.value
        if v is None:
            continue
        key = (str(v["coin_id"]), str(v["vs_currency"]))
        counts[key][str(v["origin"])] += 1
        ts = str(v["source_ts"])
        first[key] = min(first.get(key, ts), ts)
        if key not in latest or ts > latest[key][0]:
            latest[key] = (ts, float(v["price"]))  # type: ignore[arg-type]
    summary = DemoSummary()
    for key in sorted(counts):
        summary.rows.append(
            (key[0], key[1], counts[key]["backfill"], counts[key]["live"], first[key][:10], f"{latest[key][1]:,.4f}")
        )
    return summary
