"""Holes in live series (producer down, source failing) are filled from history, once, tagged gapfill."""

from __future__ import annotations

import datetime as dt
import itertools

from pydantic import SecretStr
from tests.support.fake_coingecko import FakeCoinGecko, Fault
from tests.support.kafka_topics import duplicates, read_all

from coinstream.ingest.kafka import ensure_topic
from coinstream.ingest.producer import QuoteProducer
from coinstream.ingest.runner import FeedRunner
from coinstream.ingest.sources.coingecko import CoinGeckoClient
from coinstream.ingest.sources.simulated import SimulatedMarket
from coinstream.metrics import Metrics
from coinstream.models import CoinFeed, parse_coinfeed

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, 12, 0, 7, tzinfo=UTC)
_names = itertools.count()


class Clock:
    def __init__(self, t: dt.datetime) -> None:
        self.t = t

    def __call__(self) -> dt.datetime:
        return self.t


def feed(kafka, coins: list[str], source: dict) -> CoinFeed:
    f = parse_coinfeed(
        {
            "apiVersion": "coinstream.io/v1alpha1",
            "kind": "CoinFeed",
            "metadata": {"name": f"gap-{next(_names)}"},
            "spec": {"coins": coins, "vsCurrencies": ["usd"], "source": source, "pollIntervalSeconds": 30},
        }
    )
    ensure_topic(kafka.bootstrap, f.topic, 2)
    return f


def spacing(rows, coin: str) -> list[dt.timedelta]:
    stamps = sorted(dt.datetime.fromisoformat(r.value["source_ts"]) for r in rows if r.value["coin_id"] == coin)
    return [b - a for a, b in itertools.pairwise(stamps)]


def test_producer_down_for_two_hours_leaves_no_hole(kafka):
    coins = ["bitcoin", "ethereum"]
    f = feed(kafka, coins, {"type": "simulated", "seed": 9})
    clock = Clock(NOW)
    with QuoteProducer(kafka.bootstrap, f.topic) as producer:
        runner = FeedRunner(f, SimulatedMarket(9, clock=clock), producer, bootstrap=kafka.bootstrap, clock=clock)
        runner.start()
        for _ in range(3):
            runner.cycle()
            clock.t += dt.timedelta(seconds=30)
    last_before = clock.t - dt.timedelta(seconds=30)

    clock.t += dt.timedelta(hours=2)  # the producer is down: nobody polls
    metrics = Metrics()
    with QuoteProducer(kafka.bootstrap, f.topic, metrics=metrics) as producer:
        runner = FeedRunner(
            f, SimulatedMarket(9, clock=clock), producer, bootstrap=kafka.bootstrap, clock=clock
        )  # a new process: it learns the last live quote from the topic
        runner.start()
        first = runner.cycle()
        while runner.gaps or runner._filling:
            runner.cycle()
    rows = read_all(kafka.bootstrap, f.topic)
    assert duplicates(rows) == {}
    gapfill = [r for r in rows if r.value["origin"] == "gapfill"]
    # Every 5-minute point strictly inside (last_before, clock.t): 2 h 30 s of hole.
    grid_first = last_before.replace(second=0) + dt.timedelta(minutes=5 - last_before.minute % 5)
    expected = len(range(0, int((clock.t - grid_first).total_seconds()) + 1, 300))
    assert first.gapfilled == len(coins) * expected == len(gapfill)
    assert {r.value["granularity"] for r in gapfill} == {"5m"}, "finest granularity for a hole this recent"
    assert metrics.value("coinstream_gaps_detected_total", feed=f.name) == len(coins)
    assert metrics.value("coinstream_gapfill_quotes_total", feed=f.name) == len(gapfill)
    for coin in coins:
        assert max(spacing(rows, coin)) <= dt.timedelta(minutes=5), f"{coin}: a hole is left"


def test_failing_source_hole_is_filled_from_market_chart_range_within_the_rate_budget(kafka):
    clock = Clock(NOW)
    with FakeCoinGecko(plan="demo", api_key="k", cache_seconds=60, now=lambda: clock.t.timestamp()) as fake:
        f = feed(kafka, ["bitcoin", "litecoin", "solana"], {"type": "coingecko", "plan": "demo"})
        client = CoinGeckoClient(
            "demo",
            SecretStr("k"),
            fake.base_url,
            calls_per_minute=6000,
            deadline=0.5,
            backoff_initial=0.05,
            key_hosts=["127.0.0.1"],  # the local fake stands in for CoinGecko
        )
        with QuoteProducer(kafka.bootstrap, f.topic) as producer:
            runner = FeedRunner(f, client, producer, clock=clock, gapfill_calls_per_cycle=1)
            runner.start()
            runner.cycle()
            clock.t += dt.timedelta(minutes=1)
            fake.inject(*[Fault("503", path="/coins/markets") for _ in range(400)])
            failed = []
            for _ in range(20):  # 20 minutes of a failing source
                failed.append(runner.cycle())
                clock.t += dt.timedelta(minutes=1)
            fake.faults.clear()
            per_cycle = []
            for _ in range(6):
                before = len(fake.calls("/market_chart/range"))
                runner.cycle()
                per_cycle.append(len(fake.calls("/market_chart/range")) - before)
                clock.t += dt.timedelta(minutes=1)
    assert all(r.errors for r in failed)
    assert max(per_cycle) <= 1, "gap filling keeps to its share of the rate budget"
    assert sum(per_cycle) == 3, "one range call per coin"
    rows = read_all(kafka.bootstrap, f.topic)
    assert duplicates(rows) == {}
    gapfill = [r for r in rows if r.value["origin"] == "gapfill"]
    assert {r.value["coin_id"] for r in gapfill} == {"bitcoin", "litecoin", "solana"}
    assert all(r.value["granularity"] == "5m" and r.value["source"] == "coingecko" for r in gapfill)
    for coin in ("bitcoin", "litecoin", "solana"):
        assert max(spacing(rows, coin)) <= dt.timedelta(minutes=5), f"{coin}: a hole is left"
