"""A deterministic simulated crypto market, for offline demos, tests and benchmarks.

Same seed, same market: daily closes are a fat-tailed geometric random walk
from each coin's genesis, and intraday prices are a Brownian bridge between two
closes, so live ticks at any rate agree with the daily history. Every quote is
labelled `source=simulated`; nothing here could be mistaken for real prices.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from coinstream.ingest.sources.base import HistoryChunk, HistoryGranularity
from coinstream.ingest.sources.errors import SourceError
from coinstream.metrics import Metrics
from coinstream.models import Quote

EPOCH = dt.date(2013, 4, 28)
HORIZON_DAYS = 10_000  # closes are drawn to 2040 once, so any window is a prefix of the same stream
MINUTES = 1440
FX = {"usd": 1.0, "eur": 0.92, "gbp": 0.79, "jpy": 150.0, "chf": 0.88, "cad": 1.37, "aud": 1.52}


@dataclass(frozen=True)
class CoinProfile:
    symbol: str
    name: str
    genesis: dt.date
    start_price: float
    annual_vol: float
    annual_drift: float
    supply: float


PROFILES = {
    "bitcoin": CoinProfile("btc", "Bitcoin", dt.date(2013, 4, 28), 135.0, 0.70, 0.72, 19.7e6),
    "ethereum": CoinProfile("eth", "Ethereum", dt.date(2015, 8, 7), 2.8, 0.90, 1.02, 120e6),
    "litecoin": CoinProfile("ltc", "Litecoin", dt.date(2013, 4, 28), 4.3, 0.95, 0.67, 75e6),
    "ripple": CoinProfile("xrp", "XRP", dt.date(2013, 8, 4), 0.006, 1.00, 0.94, 57e9),
    "dogecoin": CoinProfile("doge", "Dogecoin", dt.date(2013, 12, 15), 0.0006, 1.20, 1.17, 147e9),
    "solana": CoinProfile("sol", "Solana", dt.date(2020, 4, 10), 0.95, 1.10, 1.37, 470e6),
    "cardano": CoinProfile("ada", "Cardano", dt.date(2017, 10, 1), 0.025, 1.00, 0.85, 35e9),
    "tether": CoinProfile("usdt", "Tether", dt.date(2015, 2, 25), 1.0, 0.02, 0.0, 110e9),
}


def profile(coin: str) -> CoinProfile:
    """Known coins get realistic profiles; any other id gets a stable made-up one."""
    if coin in PROFILES:
        return PROFILES[coin]
    h = zlib.crc32(coin.encode())
    return CoinProfile(
        symbol=coin.replace("-", "")[:5],
        name=coin.replace("-", " ").title(),
        genesis=dt.date(2015, 1, 1) + dt.timedelta(days=h % 2000),
        start_price=10 ** ((h >> 8) % 7 - 3),
        annual_vol=0.6 + ((h >> 4) % 80) / 100,
        annual_drift=((h >> 12) % 60) / 100,
        supply=10 ** (6 + (h >> 16) % 5),
    )


class SimulatedMarket:
    name: Literal["simulated"] = "simulated"

    def __init__(
        self,
        seed: int = 42,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.seed = seed
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.metrics = metrics or Metrics()
        self.calls = 0
        # Per-instance caches keyed by coin (and day): the seed is part of the instance.
        self._closes = lru_cache(maxsize=4096)(self._compute_closes)
        self._minutes = lru_cache(maxsize=8192)(self._compute_minutes)

    # -- the price model ---------------------------------------------------------------------------

    def _rng(self, *parts: int) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, *parts])))

    def _compute_closes(self, coin: str) -> np.ndarray:
        """Price at 00:00 UTC of each day from the coin's genesis (index 0)."""
        p = profile(coin)
        rng = self._rng(zlib.crc32(coin.encode()))
        z = rng.standard_t(4, size=HORIZON_DAYS) / math.sqrt(2.0)
        sigma = p.annual_vol / math.sqrt(365.0)
        mu = (p.annual_drift - 0.5 * p.annual_vol**2) / 365.0
        log_path = np.concatenate([[0.0], np.cumsum(mu + sigma * z)])
        return np.asarray(p.start_price * np.exp(log_path))

    def _compute_minutes(self, coin: str, day_index: int) -> np.ndarray:
        """1441 prices from one midnight to the next: a Brownian bridge between two closes."""
        closes = self._closes(coin)
        a, b = math.log(closes[day_index]), math.log(closes[day_index + 1])
        sigma = profile(coin).annual_vol / math.sqrt(365.0 * MINUTES)
        rng = self._rng(zlib.crc32(coin.encode()), day_index + 1)
        walk = np.concatenate([[0.0], np.cumsum(sigma * rng.standard_normal(MINUTES))])
        frac = np.linspace(0.0, 1.0, MINUTES + 1)
        bridge = walk - frac * walk[-1]
        return np.asarray(np.exp(a + frac * (b - a) + bridge))

    def _day_index(self, coin: str, day: dt.date) -> int:
        idx = (day - profile(coin).genesis).days
        if idx < 0:
            raise SourceError(f"{coin} did not trade before {profile(coin).genesis.isoformat()} (simulated)")
        if idx >= HORIZON_DAYS:
            raise SourceError("the simulated market ends in 2040")
        return idx

    def price_at(self, coin: str, ts: dt.datetime) -> float:
        ts = ts.astimezone(dt.UTC)
        idx = self._day_index(coin, ts.date())
        if ts.hour == ts.minute == ts.second == ts.microsecond == 0:
            return float(self._closes(coin)[idx])  # a daily point needs no intraday path
        minute = (ts - dt.datetime.combine(ts.date(), dt.time(), dt.UTC)).total_seconds() / 60.0
        path = self._minutes(coin, idx)
        i = min(int(minute), MINUTES - 1)
        frac = minute - i
        return float(path[i] * (1 - frac) + path[i + 1] * frac)

    def _window(self, coin: str, end: dt.datetime) -> tuple[float, float]:
        """(high, low) over the 24 hours before `end`, from the minute paths."""
        idx = self._day_index(coin, end.date())
        today = self._minutes(coin, idx)
        minute = int((end - dt.datetime.combine(end.date(), dt.time(), dt.UTC)).total_seconds() // 60)
        parts = [today[: minute + 1]]
        if idx > 0:
            parts.append(self._minutes(coin, idx - 1)[minute:])
        joined = np.concatenate(parts)
        return float(joined.max()), float(joined.min())

    # -- the MarketSource protocol -----------------------------------------------------------------

    def check_coins(self, coins: list[str]) -> None:
        """The simulator can price any id; nothing is unknown to it."""

    def history_start_limit(self) -> dt.datetime | None:
        return None

    def _fx(self, vs: str) -> float:
        if vs not in FX:
            raise SourceError(f"the simulated market quotes only {', '.join(sorted(FX))}, not {vs!r}")
        return FX[vs]

    def markets(self, coins: list[str], vs_currency: str, feed: str) -> list[Quote]:
        self.calls += 1
        now = self.clock().astimezone(dt.UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        fx = self._fx(vs_currency)
        out = []
        for coin in coins:
            price = self.price_at(coin, now) * fx
            high, low = self._window(coin, now)
            before = self.price_at(coin, max(now - dt.timedelta(days=1), self._genesis_ts(coin))) * fx
            out.append(
                self._quote(
                    coin,
                    vs_currency,
                    price,
                    now,
                    now,
                    feed,
                    "live",
                    "tick",
                    high_24h=high * fx,
                    low_24h=low * fx,
                    price_change_pct_24h=(price / before - 1.0) * 100.0,
                )
            )
        self.metrics.quotes_fetched.labels("simulated", "live").inc(len(out))
        return out

    def _quote(
        self,
        coin: str,
        vs: str,
        price: float,
        ts: dt.datetime,
        ingest: dt.datetime,
        feed: str,
        origin: Literal["live", "backfill", "gapfill"],
        granularity: Literal["tick", "5m", "hourly", "daily"],
        **extra: float,
    ) -> Quote:
        p = profile(coin)
        return Quote(
            coin_id=coin,
            symbol=p.symbol,
            name=p.name,
            vs_currency=vs,
            price=price,
            market_cap=price * p.supply,
            total_volume=price * p.supply * self._turnover(coin, ts.date()),
            source="simulated",
            source_ts=ts,
            ingest_ts=ingest,
            feed=feed,
            origin=origin,
            granularity=granularity,
            **extra,
        )

    def _genesis_ts(self, coin: str) -> dt.datetime:
        return dt.datetime.combine(profile(coin).genesis, dt.time(), dt.UTC)

    def _turnover(self, coin: str, day: dt.date) -> float:
        return 0.02 + (zlib.crc32(f"{self.seed}:{coin}:{day.toordinal()}".encode()) % 800) / 10_000

    def history(
        self,
        coin: str,
        vs_currency: str,
        start: dt.datetime,
        end: dt.datetime,
        granularity: HistoryGranularity,
        feed: str,
        origin: Literal["backfill", "gapfill"] = "backfill",
    ) -> Iterator[HistoryChunk]:
        """Chunks of up to a year (daily) or 90 days (hourly), like the CoinGecko client's calls."""
        from coinstream.ingest.sources.coingecko import history_chunks

        fx = self._fx(vs_currency)
        start = start.astimezone(dt.UTC)
        end = min(end.astimezone(dt.UTC), self.clock().astimezone(dt.UTC))
        genesis = self._genesis_ts(coin)
        if start < genesis:
            label0 = granularity if granularity != "auto" else "daily"
            yield HistoryChunk([], start, min(genesis, end), label0)  # nothing traded: covered, empty
            start = genesis
        for keep_from, chunk_end, _query_from, label in history_chunks(start, end, granularity):
            self.calls += 1
            step = {"daily": dt.timedelta(days=1), "hourly": dt.timedelta(hours=1), "5m": dt.timedelta(minutes=5)}[
                label
            ]
            ts = _ceil(keep_from, step)
            ingest = self.clock().astimezone(dt.UTC)
            chunk = []
            while ts < chunk_end:
                price = self.price_at(coin, ts) * fx
                chunk.append(self._quote(coin, vs_currency, price, ts, ingest, feed, origin, label))
                ts += step
            self.metrics.quotes_fetched.labels("simulated", origin).inc(len(chunk))
            yield HistoryChunk(chunk, keep_from, chunk_end, label)


def _ceil(ts: dt.datetime, step: dt.timedelta) -> dt.datetime:
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    n = math.ceil((ts - epoch) / step)
    return epoch + n * step
