"""Backfill loads exactly what is missing, per series and range, and two runs at once load nothing twice."""

from __future__ import annotations

import datetime as dt
import itertools
import threading

import pytest
from tests.support.kafka_topics import duplicates, read_all

from coinstream.ingest.backfill import BackfillFenced, run_backfill
from coinstream.ingest.coverage import Series, ledger_topic, read_ledger
from coinstream.ingest.kafka import ensure_topic
from coinstream.ingest.sources.simulated import SimulatedMarket
from coinstream.models import CoinFeed, parse_coinfeed

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
_names = itertools.count()


def feed(name: str, coins: list[str], vs: list[str], start: str, granularity: str = "daily") -> CoinFeed:
    return parse_coinfeed(
        {
            "apiVersion": "coinstream.io/v1alpha1",
            "kind": "CoinFeed",
            "metadata": {"name": name},
            "spec": {
                "coins": coins,
                "vsCurrencies": vs,
                "source": {"type": "simulated", "seed": 3},
                "backfill": {"from": start, "granularity": granularity},
                "kafka": {"partitions": 2},
            },
        }
    )


def at(day: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), UTC)


def test_earlier_from_new_coins_currencies_and_granularity_fetch_exactly_the_missing_ranges(kafka):
    name = f"cover-{next(_names)}"
    first = feed(name, ["bitcoin"], ["usd"], "2026-03-01")
    ensure_topic(kafka.bootstrap, first.topic, 2)
    r1 = run_backfill(first, SimulatedMarket(3), kafka.bootstrap, now=NOW)
    assert r1.produced == (NOW.date() - dt.date(2026, 3, 1)).days + 1

    wider = feed(name, ["bitcoin", "ethereum"], ["usd", "eur"], "2026-01-01")
    r2 = run_backfill(wider, SimulatedMarket(3), kafka.bootstrap, now=NOW)
    daily = {(s.coin_id, s.vs_currency): rng for s, rng in r2.fetched_ranges}
    assert daily == {
        ("bitcoin", "usd"): (at("2026-01-01"), at("2026-03-01")),  # only the part before the old start
        ("ethereum", "usd"): (at("2026-01-01"), NOW),
        ("bitcoin", "eur"): (at("2026-01-01"), NOW),
        ("ethereum", "eur"): (at("2026-01-01"), NOW),
    }
    full = (NOW.date() - dt.date(2026, 1, 1)).days + 1
    assert r2.produced == (dt.date(2026, 3, 1) - dt.date(2026, 1, 1)).days + 3 * full

    hourly = feed(name, ["bitcoin", "ethereum"], ["usd", "eur"], "2026-05-25", "hourly")
    r3 = run_backfill(hourly, SimulatedMarket(3), kafka.bootstrap, now=NOW)
    assert {s.granularity for s, _ in r3.fetched_ranges} == {"hourly"} and len(r3.fetched_ranges) == 4
    # Midnights May 25 .. June 1 are daily points already loaded: the same observations, not loaded twice.
    assert r3.produced == 4 * (7 * 24 + 12 - 8)

    again = run_backfill(hourly, SimulatedMarket(3), kafka.bootstrap, now=NOW)
    assert (again.produced, again.calls, again.fetched_ranges) == (0, 0, [])
    later = run_backfill(hourly, SimulatedMarket(3), kafka.bootstrap, now=NOW + dt.timedelta(hours=3))
    assert later.produced == 4 * 3, "a later run adds only the hours since the last one"

    rows = read_all(kafka.bootstrap, first.topic)
    assert len(rows) == r1.produced + r2.produced + r3.produced + later.produced
    assert duplicates(rows) == {}
    btc = sorted(r.value["source_ts"] for r in rows if r.key == "usd:bitcoin" and r.value["granularity"] == "daily")
    assert btc[0].startswith("2026-01-01T00:00:00") and len(btc) == full
    cover = read_ledger(kafka.bootstrap, ledger_topic(name))
    assert cover[Series("simulated", "usd", "bitcoin", "daily")] == [(at("2026-01-01"), NOW)]


class TakenOverAfterFirstChunk:
    """A source whose second call happens only after the first chunk committed and another run
    of the same feed has finished (the backfill fetches a chunk while the previous one commits)."""

    def __init__(self, inner: SimulatedMarket, rival: object) -> None:
        self.inner, self.rival, self.name = inner, rival, inner.name
        self.chunks = 0
        self.committed = threading.Event()

    @property
    def calls(self) -> int:
        return self.inner.calls

    def history_start_limit(self):
        return None

    def check_coins(self, coins):
        pass

    def history(self, *a, **kw):
        for chunk in self.inner.history(*a, **kw):
            self.chunks += 1
            if self.chunks == 2:
                assert self.committed.wait(60), "the first chunk never committed"
                self.rival()  # the second run starts (and fences this one) while this chunk is in hand
            yield chunk


def test_two_backfills_of_one_feed_at_once_load_nothing_twice(kafka):
    f = feed(f"fence-{next(_names)}", ["bitcoin", "ethereum"], ["usd"], "2024-01-01")
    ensure_topic(kafka.bootstrap, f.topic, 2)
    second: dict[str, object] = {}

    def rival() -> None:
        second["result"] = run_backfill(f, SimulatedMarket(3), kafka.bootstrap, now=NOW)

    source = TakenOverAfterFirstChunk(SimulatedMarket(3), rival)
    with pytest.raises(BackfillFenced, match="took over"):
        run_backfill(f, source, kafka.bootstrap, now=NOW, on_chunk=lambda *_: source.committed.set())
    rows = read_all(kafka.bootstrap, f.topic)
    expected = 2 * ((NOW.date() - dt.date(2024, 1, 1)).days + 1)
    assert len(rows) == expected and duplicates(rows) == {}
    assert second["result"].produced == expected - 365, "the rival skipped the 365-day chunk the first run committed"
