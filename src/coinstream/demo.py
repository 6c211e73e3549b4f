"""`make demo`: the embedded platform end to end on a simulated market, offline.

Local Kafka up -> the feed's history backfilled -> live ticks for a while ->
an independent consumer reads everything back and the summary is built from
what Kafka holds (not from what we think we sent).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict
from dataclasses import dataclass, field

from coinstream.cli.common import console
from coinstream.cli.progress import backfill_with_progress, progress_bar
from coinstream.feed import FeedRunner
from coinstream.metrics import Metrics
from coinstream.models import CoinFeed
from coinstream.producer import QuoteProducer
from coinstream.settings import get_settings
from coinstream.sources import make_source
from coinstream.watch import tail


@dataclass
class DemoSummary:
    rows: list[tuple[object, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def run_demo(feed: CoinFeed, *, live_seconds: int = 60, keep_running: bool = False) -> DemoSummary:
    from coinstream.local.stack import LocalStack

    settings = get_settings()
    stack = LocalStack(settings)
    with console.status("starting local Kafka (first run downloads pinned jars)..."):
        stack.up([feed])
    console.print(f"Kafka {stack.bootstrap} up; topic {feed.topic}")
    try:
        metrics = Metrics()
        source = make_source(feed, settings, metrics)
        with QuoteProducer(stack.bootstrap, feed.topic, metrics=metrics, client_id="coinstream-demo") as producer:
            result = backfill_with_progress(feed, source, producer, stack.bootstrap)
            console.print(f"backfill: {result.produced} rows, {result.calls} calls, {result.elapsed:.1f}s")
            _live(feed, FeedRunner(feed, source, producer), live_seconds)
        summary = summarize(stack.bootstrap, feed.topic)
        summary.notes.append(f"{producer.acked} quotes produced to {feed.topic} at {stack.bootstrap}")
    finally:
        if keep_running:
            console.print(
                "local stack left running: `coinstream watch -f <feed>` tails it, `coinstream local down` stops it"
            )
        else:
            stack.down()
    return summary


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
