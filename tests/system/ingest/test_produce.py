"""Live and backfill quotes through the real producer into a real Kafka broker."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from tests.support.fake_coingecko import FakeCoinGecko
from tests.support.kafka_topics import assert_keyed_and_ordered, duplicates, read_all

from coinstream.ingest.backfill import run_backfill
from coinstream.ingest.coverage import Series, ledger_topic, read_ledger
from coinstream.ingest.kafka import ensure_topic
from coinstream.ingest.producer import QuoteProducer
from coinstream.ingest.runner import FeedRunner
from coinstream.ingest.sources.coingecko import CoinGeckoClient
from coinstream.ingest.sources.errors import SourceError
from coinstream.ingest.sources.simulated import SimulatedMarket
from coinstream.metrics import Metrics
from coinstream.models import CoinFeed, Quote, parse_coinfeed

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
COINS = ["bitcoin", "ethereum", "litecoin", "ripple", "dogecoin"]
_names = itertools.count()


def make_feed(kafka, *, coins=COINS, vs=("usd", "eur"), source=None, backfill_from="2025-01-01", **spec) -> CoinFeed:
    name = f"it-{next(_names)}"
    feed = parse_coinfeed(
        {
            "apiVersion": "coinstream.io/v1alpha1",
            "kind": "CoinFeed",
            "metadata": {"name": name},
            "spec": {
                "coins": list(coins),
                "vsCurrencies": list(vs),
                "source": source or {"type": "simulated", "seed": 7},
                "pollIntervalSeconds": 5,
                "backfill": {"from": backfill_from, "granularity": "daily"},
                "kafka": {"partitions": 3},
                **spec,
            },
        }
    )
    ensure_topic(kafka.bootstrap, feed.topic, 3)
    return feed


class Clock:
    def __init__(self, t: dt.datetime) -> None:
        self.t = t

    def __call__(self) -> dt.datetime:
        return self.t


def test_live_and_backfill_arrive_keyed_ordered_and_exactly_once(kafka):
    feed = make_feed(kafka)
    clock = Clock(NOW)
    metrics = Metrics()
    source = SimulatedMarket(7, clock=clock, metrics=metrics)
    with QuoteProducer(kafka.bootstrap, feed.topic, metrics=metrics) as producer:
        backfill = run_backfill(feed, source, kafka.bootstrap, now=NOW, metrics=metrics)
        runner = FeedRunner(feed, source, producer)
        runner.start()
        for _ in range(3):
            runner.cycle()
            runner.cycle()  # same instant again: a cached snapshot, dropped
            clock.t += dt.timedelta(seconds=30)
    rows = read_all(kafka.bootstrap, feed.topic)
    days = (NOW.date() - dt.date(2025, 1, 1)).days + 1
    assert backfill.produced == days * len(COINS) * 2
    live = [r for r in rows if r.value["origin"] == "live"]
    assert len(live) == 3 * len(COINS) * 2
    assert len(rows) == backfill.produced + len(live) and producer.acked == len(live)
    assert metrics.value("coinstream_quotes_deduplicated_total", origin="live") == 3 * len(COINS) * 2
    assert metrics.value("coinstream_quotes_produced_total", topic=feed.topic) == len(rows)
    assert duplicates(rows) == {}
    assert_keyed_and_ordered(rows)
    assert {Quote.model_validate(r.value).source for r in rows} == {"simulated"}
    assert (
        metrics.value("coinstream_last_source_timestamp_seconds", coin="bitcoin", vs_currency="eur")
        == (NOW + dt.timedelta(seconds=60)).timestamp()
    )


class FailingAfter:
    """A source that dies after `n` history calls, like a killed backfill Job."""

    def __init__(self, inner: SimulatedMarket, n: int) -> None:
        self.inner, self.n = inner, n
        self.name = inner.name

    @property
    def calls(self) -> int:
        return self.inner.calls

    def history_start_limit(self):
        return None

    def history(self, *a, **kw) -> Iterator[list[Quote]]:
        for chunk in self.inner.history(*a, **kw):
            if self.n == 0:
                raise SourceError("killed")
            self.n -= 1
            yield chunk


def test_backfill_resumes_after_a_crash_and_a_rerun_adds_nothing(kafka):
    feed = make_feed(kafka, coins=["bitcoin", "ethereum"], vs=["usd"], backfill_from="2021-01-01")
    expected = (NOW.date() - dt.date(2021, 1, 1)).days + 1
    with pytest.raises(SourceError):
        run_backfill(feed, FailingAfter(SimulatedMarket(7), 4), kafka.bootstrap, now=NOW)
    partial = len(read_all(kafka.bootstrap, feed.topic))
    assert 0 < partial < 2 * expected
    resumed = run_backfill(feed, SimulatedMarket(7), kafka.bootstrap, now=NOW)
    assert resumed.produced == 2 * expected - partial and resumed.skipped_existing > 0
    again = run_backfill(feed, SimulatedMarket(7), kafka.bootstrap, now=NOW)
    assert again.produced == 0 and again.calls == 0
    rows = read_all(kafka.bootstrap, feed.topic)
    assert len(rows) == 2 * expected and duplicates(rows) == {}
    coverage = read_ledger(kafka.bootstrap, ledger_topic(feed.name))
    start = dt.datetime(2021, 1, 1, tzinfo=UTC)
    assert coverage[Series("simulated", "usd", "bitcoin", "daily")] == [(start, NOW)]


def test_coingecko_feed_dedups_cached_snapshots_and_clamps_demo_history(kafka):
    with FakeCoinGecko(plan="demo", api_key="k", cache_seconds=3600) as fake:
        feed = make_feed(
            kafka,
            coins=["bitcoin", "ethereum", "tether"],
            vs=["usd"],
            source={"type": "coingecko", "plan": "demo", "baseUrl": fake.base_url},
            backfill_from=(dt.date.today() - dt.timedelta(days=500)).isoformat(),
        )
        metrics = Metrics()
        client = CoinGeckoClient(
            "demo", SecretStr("k"), fake.base_url, metrics=metrics, calls_per_minute=6000, key_hosts=["127.0.0.1"]
        )
        result = run_backfill(feed, client, kafka.bootstrap)
        with QuoteProducer(kafka.bootstrap, feed.topic, metrics=metrics) as producer:
            runner = FeedRunner(feed, client, producer)
            runner.start()
            first, second = runner.cycle(), runner.cycle()
    assert "past 365 days" in result.warnings[0], "clamped with a warning, not a silent gap"
    assert not [r for r in fake.requests if r.status == 401], "clamped before asking: no credits wasted"
    days = (dt.datetime.now(UTC).date() - result.start.date()).days + 1
    assert 363 <= days <= 365
    assert result.produced == 3 * days and result.calls == 1 + 3  # /coins/list, then one range per coin
    assert (first.produced, second.produced, second.deduplicated) == (3, 0, 3)
    rows = read_all(kafka.bootstrap, feed.topic)
    assert len(rows) == 3 * days + 3 and duplicates(rows) == {}
    assert {r.value["symbol"] for r in rows} == {"btc", "eth", "usdt"}, "history rows carry symbol and name"
    assert_keyed_and_ordered(rows)


def test_metrics_are_served_on_a_port(kafka):
    import requests

    from coinstream.devstack.process import free_port

    feed = make_feed(kafka, coins=["bitcoin", "ethereum"], vs=["usd"])
    metrics = Metrics()
    port = free_port()
    metrics.serve(port)
    clock = Clock(NOW)
    with QuoteProducer(kafka.bootstrap, feed.topic, metrics=metrics) as producer:
        runner = FeedRunner(feed, SimulatedMarket(1, clock=clock, metrics=metrics), producer)
        runner.cycle()
        runner.cycle()
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert f'coinstream_quotes_produced_total{{topic="{feed.topic}"}} 2.0' in text
    assert 'coinstream_quotes_deduplicated_total{origin="live"} 2.0' in text
    assert 'coinstream_quotes_fetched_total{origin="live",source="simulated"} 4.0' in text
    line = next(x for x in text.splitlines() if x.startswith('coinstream_last_source_timestamp_seconds{coin="bitcoin"'))
    assert float(line.split()[-1]) == NOW.timestamp()
