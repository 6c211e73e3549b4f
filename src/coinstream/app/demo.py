"""`coinstream demo`: the embedded platform end to end on a simulated market, offline.

Local Kafka and Hive metastore up -> the feed's history backfilled -> live ticks for a
while -> the Spark streaming job (its own process, as in the cluster, `availableNow`)
lands everything in Iceberg -> the investor report is rendered from the lakehouse with
the embedded engine (DuckDB). Every number in the result is read back from where it
landed, not from what we think we sent. Nothing here prints: progress goes to a
callback, the result is data, and the CLI decides how to show both.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from coinstream.devstack.metastore import LocalMetastore
from coinstream.devstack.stack import LocalStack
from coinstream.errors import OperationalError
from coinstream.ingest.backfill import BackfillResult, expected_points, run_backfill
from coinstream.ingest.producer import QuoteProducer
from coinstream.ingest.runner import FeedRunner
from coinstream.ingest.sources import make_source
from coinstream.ingest.sources.base import MarketSource
from coinstream.ingest.watch import SeriesCount, count_series
from coinstream.lakehouse.config import LakeConfig
from coinstream.lakehouse.job import start_stream_job
from coinstream.lakehouse.tables import snapshot_rows
from coinstream.metrics import Metrics
from coinstream.models import CoinFeed, parse_coinfeed
from coinstream.settings import get_settings
from coinstream.sql.summary import CoinSummary


@dataclass(frozen=True)
class Step:
    """Where the demo is: `name` is one of stack, backfill, live, stream, report; `done` and
    `total` count points, seconds or rows when the step has a measure."""

    name: str
    text: str
    done: float | None = None
    total: float | None = None


Progress = Callable[[Step], None]


def _quiet(_step: Step) -> None:
    pass


def demo_feed() -> CoinFeed:
    """The feed `coinstream demo` runs by default: a copy of examples/coinfeed-simulated.yaml shipped
    in the package (a unit test keeps the two identical), so the demo needs no checkout."""
    import yaml

    return parse_coinfeed(yaml.safe_load(resources.files("coinstream.app").joinpath("demo-feed.yaml").read_text()))


@dataclass
class LakehouseResult:
    rows: int
    quarantined: int
    seconds: float
    report: Path | None = None
    coins: list[CoinSummary] = field(default_factory=list)


@dataclass
class DemoResult:
    topic: str
    bootstrap: str
    warehouse: str
    metastore_uri: str
    trino_url: str
    series: list[SeriesCount]
    produced: int
    backfill: BackfillResult
    lake: LakehouseResult
    seconds: float
    kept_running: bool

    @property
    def kafka_quotes(self) -> int:
        return sum(s.quotes for s in self.series)


def run_demo(
    feed: CoinFeed,
    *,
    live_seconds: int = 60,
    keep_running: bool = False,
    report: Path = Path("reports/investor_overview.html"),
    progress: Progress = _quiet,
) -> DemoResult:
    began = time.monotonic()
    settings = get_settings()
    stack = LocalStack(settings)
    progress(Step("stack", "starting local Kafka and Hive metastore (first run downloads pinned jars)"))
    stack.up([feed])
    progress(Step("stack", f"Kafka {stack.bootstrap} and metastore {stack.metastore.uri} up; topic {feed.topic}"))
    try:
        metrics = Metrics()
        source = make_source(feed, settings, metrics)
        with QuoteProducer(stack.bootstrap, feed.topic, metrics=metrics, client_id="coinstream-demo") as producer:
            backfill = _backfill(feed, source, producer, stack.bootstrap, progress)
            recent = _recent(feed, stack.bootstrap, metrics)
            if recent:
                progress(Step("backfill", f"recent history: {recent} simulated quotes (2 days hourly, 1 h ticks)"))
            _live(feed, FeedRunner(feed, source, producer), live_seconds, progress)
        series = count_series(stack.bootstrap, feed.topic)
        lake = run_lakehouse(
            stack.bootstrap,
            re.escape(feed.topic),
            metastore=stack.metastore,
            home=stack.home / "lakehouse",
            vs_currency=feed.spec.vs_currencies[0],
            source=feed.spec.source.type,
            poll_seconds=float(feed.spec.poll_interval_seconds),
            report=report.resolve(),
            progress=progress,
        )
        return DemoResult(
            topic=feed.topic,
            bootstrap=stack.bootstrap,
            warehouse=stack.warehouse,
            metastore_uri=stack.metastore.uri,
            trino_url=stack.trino.url,
            series=series,
            produced=producer.acked,
            backfill=backfill,
            lake=lake,
            seconds=time.monotonic() - began,
            kept_running=keep_running,
        )
    finally:
        if not keep_running:
            stack.down()


def run_lakehouse(
    bootstrap: str,
    topics: str,
    *,
    metastore: LocalMetastore,
    home: Path,
    vs_currency: str = "usd",
    report: Path | None = None,
    progress: Progress = _quiet,
    timeout: float = 480.0,
    source: str | None = None,
    poll_seconds: float = 0.0,
) -> LakehouseResult:
    """Stream `topics` (a regex) into Iceberg with the job as its own process, wait until the
    rows are queryable, then render the report and summarise per coin with DuckDB. `source` is
    the feed's (None: the table's only one); `poll_seconds` the least staleness a return tolerates."""
    began = time.monotonic()
    home = home.resolve()
    cfg = LakeConfig(
        bootstrap=bootstrap, topics=topics, warehouse=metastore.warehouse, metastore_uri=metastore.uri,
        checkpoint=(home / "checkpoints" / "quotes").as_uri(), trigger="availableNow", master="local[2]",
    )  # fmt: skip
    ident = f"{cfg.namespace}.{cfg.table}"

    def rows_now() -> int:
        rows = snapshot_rows(metastore.uri, metastore.warehouse, ident)
        elapsed = time.monotonic() - began
        progress(Step("stream", f"streaming into Iceberg: {rows:,} rows queryable after {elapsed:.0f}s", rows))
        return rows

    progress(Step("stream", "streaming into Iceberg (Spark local[2])"))
    job = start_stream_job(cfg, home / "jobs")
    while job.running():
        if time.monotonic() - began > timeout:
            job.stop()
            raise OperationalError(f"streaming job still running after {timeout:.0f}s:\n{job.log_tail()}")
        rows_now()
        time.sleep(1.0)
    rows = rows_now()
    if rows == 0:
        raise OperationalError(f"the streaming job wrote no rows:\n{job.log_tail()}")
    result = LakehouseResult(
        rows=rows,
        quarantined=snapshot_rows(metastore.uri, metastore.warehouse, f"{cfg.namespace}.{cfg.quarantine_table}"),
        seconds=0.0,
    )
    result.coins = _summarise(cfg, vs_currency, source, poll_seconds)
    if report is not None:
        from coinstream.report import render

        progress(Step("report", "rendering the investor report (DuckDB)"))
        env = {"COINSTREAM_LAKE_METASTORE_URI": metastore.uri, "COINSTREAM_LAKE_WAREHOUSE": metastore.warehouse}
        result.report = render(report, engine="duckdb", vs_currency=vs_currency, env=env, source=source,
                               poll_seconds=poll_seconds)  # fmt: skip
    result.seconds = time.monotonic() - began
    return result


def _summarise(cfg: LakeConfig, vs_currency: str, source: str | None, poll_seconds: float) -> list[CoinSummary]:
    from coinstream.sql import DuckDBEngine, Investor, Tolerance
    from coinstream.sql.summary import coin_summaries

    engine = DuckDBEngine(cfg.metastore_uri, cfg.warehouse, namespace=cfg.namespace, tables={"quotes": cfg.table})
    try:
        inv = Investor(engine, source=source, tolerance=Tolerance(min_seconds=poll_seconds), series_ttl=3600)
        return coin_summaries(inv, vs_currency)
    finally:
        engine.close()


def _backfill(
    feed: CoinFeed, source: MarketSource, producer: QuoteProducer, bootstrap: str, progress: Progress
) -> BackfillResult:
    total = expected_points(feed)
    done = 0

    def on_chunk(coin: str, vs: str, n: int) -> None:
        nonlocal done
        done += n
        progress(Step("backfill", f"backfill {feed.name} {coin}/{vs}", done, total))

    result = run_backfill(feed, source, bootstrap, metrics=producer.metrics, on_chunk=on_chunk)
    progress(Step("backfill", f"backfill: {result.produced} rows, {result.calls} calls, {result.elapsed:.1f}s",
                  total, total))  # fmt: skip
    return result


def _recent(feed: CoinFeed, bootstrap: str, metrics: Metrics) -> int:
    """The simulated market's last two days hourly and its last hour at the poll interval, so the
    24 h, 1 h and 5 m returns have reference quotes and the last-hour chart covers a real hour
    although the live phase lasts a minute (CoinGecko's history is hourly within 90 days too).
    Labelled `backfill`: produced now, observed earlier. Its own producer, so the daily backfill's
    newest point does not make these older hourly points look like repeats. Simulated source only."""
    from coinstream.ingest.sources.simulated import SimulatedMarket

    if feed.spec.source.type != "simulated":
        return 0
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    clock = [now]
    market = SimulatedMarket(seed=feed.spec.source.seed, clock=lambda: clock[0])
    hourly_from = (now - dt.timedelta(days=2)).replace(minute=0, second=0)
    step = max(1, int(feed.spec.poll_interval_seconds))
    n = 0
    with QuoteProducer(bootstrap, feed.topic, metrics=metrics, client_id="coinstream-demo-recent") as producer:
        for vs in feed.spec.vs_currencies:
            for coin in feed.spec.coins:
                for chunk in market.history(coin, vs, hourly_from, now - dt.timedelta(hours=1), "hourly", feed.name):
                    n += producer.send_many(chunk)
        for k in range(3600 // step, 0, -1):
            clock[0] = now - dt.timedelta(seconds=k * step)
            for vs in feed.spec.vs_currencies:
                for q in market.markets(list(feed.spec.coins), vs, feed.name):
                    n += producer.send(q.model_copy(update={"origin": "backfill", "ingest_ts": now}))
        producer.flush()
    return n


def _live(feed: CoinFeed, runner: FeedRunner, seconds: int, progress: Progress) -> None:
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    text = f"live ticks every {feed.spec.poll_interval_seconds}s"
    began = time.monotonic()
    thread.start()
    while thread.is_alive():
        thread.join(0.5)
        progress(Step("live", text, min(seconds, time.monotonic() - began), seconds))
    timer.cancel()
