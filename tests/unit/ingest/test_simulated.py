"""The simulated market: deterministic, realistic enough, consistent between history and live."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest

from coinstream.ingest.producer import SnapshotDedup
from coinstream.ingest.sources.errors import SourceError
from coinstream.ingest.sources.simulated import SimulatedMarket
from coinstream.models import Quote

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, 15, 30, 12, 345000, tzinfo=UTC)
COINS = ["bitcoin", "ethereum", "litecoin", "ripple", "dogecoin"]


def market(seed: int = 42, now: dt.datetime = NOW) -> SimulatedMarket:
    return SimulatedMarket(seed, clock=lambda: now)


def daily(m: SimulatedMarket, coin: str, start: dt.datetime, end: dt.datetime = NOW) -> list[Quote]:
    return [q for ch in m.history(coin, "usd", start, end, "daily", "demo") for q in ch]


def test_same_seed_same_market_other_seed_other_market():
    start = dt.datetime(2020, 1, 1, tzinfo=UTC)
    a, b, c = (daily(market(s), "bitcoin", start) for s in (42, 42, 7))
    assert [q.price for q in a] == [q.price for q in b]
    assert [q.price for q in a] != [q.price for q in c]
    assert market().markets(COINS, "usd", "f") == market().markets(COINS, "usd", "f")


def test_window_does_not_change_the_path():
    m = market()
    whole = {q.source_ts: q.price for q in daily(m, "ethereum", dt.datetime(2016, 1, 1, tzinfo=UTC))}
    part = daily(market(), "ethereum", dt.datetime(2021, 3, 1, tzinfo=UTC), dt.datetime(2021, 4, 1, tzinfo=UTC))
    assert len(part) == 31 and all(whole[q.source_ts] == q.price for q in part)


def test_thirteen_years_of_daily_history_for_five_coins_in_seconds():
    m = market()
    t0 = time.perf_counter()
    rows = [q for c in COINS for q in daily(m, c, dt.datetime(2013, 4, 28, tzinfo=UTC))]
    elapsed = time.perf_counter() - t0
    assert len(rows) > 20_000 and elapsed < 10, elapsed
    assert {q.source for q in rows} == {"simulated"} and {q.origin for q in rows} == {"backfill"}
    eth = [q for q in rows if q.coin_id == "ethereum"]
    assert eth[0].source_ts.date() == dt.date(2015, 8, 7), "no prices before a coin's genesis"


def test_volatility_and_tails_are_realistic():
    prices = np.array([q.price for q in daily(market(), "bitcoin", dt.datetime(2014, 1, 1, tzinfo=UTC))])
    r = np.diff(np.log(prices))
    annual_vol = r.std() * np.sqrt(365)
    kurtosis = ((r - r.mean()) ** 4).mean() / r.var() ** 2
    assert 0.5 < annual_vol < 0.95, annual_vol
    assert kurtosis > 4, "crypto returns are fat-tailed"


def test_live_ticks_agree_with_daily_closes_and_move_smoothly():
    midnight = dt.datetime(2026, 6, 1, tzinfo=UTC)
    hist = daily(market(), "litecoin", midnight - dt.timedelta(days=2), midnight + dt.timedelta(seconds=1))
    live_at_midnight = market(now=midnight).markets(["litecoin"], "usd", "f")[0]
    assert live_at_midnight.price == pytest.approx(hist[-1].price)
    a = market(now=NOW).markets(["litecoin"], "usd", "f")[0]
    b = market(now=NOW + dt.timedelta(seconds=1)).markets(["litecoin"], "usd", "f")[0]
    assert abs(b.price / a.price - 1) < 0.01 and a.price != b.price
    assert a.low_24h <= a.price <= a.high_24h
    assert a.market_cap == pytest.approx(a.price * 75e6)


def test_other_currencies_and_unknown_ones():
    m = market()
    usd = m.markets(["bitcoin"], "usd", "f")[0].price
    assert m.markets(["bitcoin"], "eur", "f")[0].price == pytest.approx(usd * 0.92)
    with pytest.raises(SourceError, match="quotes only"):
        m.markets(["bitcoin"], "xyz", "f")


def test_any_coin_id_gets_a_stable_profile():
    q1 = market().markets(["some-new-token"], "usd", "f")[0]
    q2 = market().markets(["some-new-token"], "usd", "f")[0]
    assert q1 == q2 and q1.name == "Some New Token"


def test_hourly_history_is_hourly():
    m = market()
    rows = [q for ch in m.history("bitcoin", "usd", NOW - dt.timedelta(days=3), NOW, "hourly", "f") for q in ch]
    assert len(rows) == 72 and {q.granularity for q in rows} == {"hourly"}
    assert all(q.source_ts.minute == 0 for q in rows)


def test_snapshot_dedup_drops_repeats_per_series():
    d = SnapshotDedup()
    m = market()
    first = m.markets(["bitcoin", "ethereum"], "usd", "f")
    assert [d.is_repeat(q) for q in first] == [False, False]
    assert [d.is_repeat(q) for q in first] == [True, True], "same cached snapshot again"
    later = market(now=NOW + dt.timedelta(seconds=30)).markets(["bitcoin", "ethereum"], "usd", "f")
    assert [d.is_repeat(q) for q in later] == [False, False]
    older = market(now=NOW - dt.timedelta(seconds=30)).markets(["bitcoin"], "usd", "f")
    assert d.is_repeat(older[0]), "an out-of-order older snapshot is a repeat too"
    backfill = daily(market(), "bitcoin", NOW - dt.timedelta(days=2))
    assert not any(d.is_repeat(q) for q in backfill), "history is its own series, not a repeat of live"
