"""The investor's questions as methods: checked parameters in, DataFrames out.

Parameters are validated here (one source, known coins, known windows and intervals,
positive day counts, timezone-aware times) so a typo gives a clear error instead of an
empty chart, and then bound by the engine's driver. The same method gives the same
numbers on Trino and DuckDB.

Every query reads one source: `Investor(engine, source="simulated")`, or no source and
the table's only source for that currency (two sources in one table must be chosen
between: their prices are different observations and are never blended).

Day-granular questions read the daily bars where the engine offers them (`bars_view()`),
with the very same answer (coinstream.sql.bars); `bars=False` reads every quote.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

import coinstream.sql.bars as bars
import coinstream.sql.queries as queries
from coinstream.errors import UserInputError
from coinstream.sql.engines import Engine
from coinstream.sql.windows import INTERVALS, WINDOWS, Tolerance, window_bounds

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: Answers kept per pinned snapshot version (a few currencies; older versions drop out first).
PINNED_ANSWERS = 8
#: Days of daily history read before the first output day, per query (calendar windows' lead-in).
_LEAD_DAYS = {"volatility": 31, "moving_averages": 200, "correlation": 1, "cap_index": 1, "closes": 0}


class QueryError(UserInputError):
    """A bad parameter, said plainly."""


@dataclass(frozen=True)
class Scope:
    """What one question reads: a source, a currency, coins, and 'now' (the newest quote by default)."""

    source: str
    vs_currency: str
    coins: list[str]
    now: dt.datetime

    def params(self, lo: dt.datetime, hi: dt.datetime | None = None) -> list[Any]:
        return [self.source, self.vs_currency, *self.coins, lo, self.now if hi is None else hi]

    def sql(self, template: str, **fmt: str) -> str:
        return template.format(coins=", ".join("?" * len(self.coins)), **fmt)

    def bars_params(self, view: bars.BarsView, lo: dt.datetime) -> list[Any]:
        return bars.bq_params(view, self.source, self.vs_currency, self.coins, lo, self.now)


class Investor:
    """`series_ttl`: seconds to reuse the per-coin scan that validates coins and finds "now" (a report
    or a dashboard refresh that asks many questions of one moment sets it). 0: rescanned whenever the
    data may have changed: over an engine's pinned snapshots (`BarsView.version`) once per version,
    else on every call.
    `bars`: read the daily bars where the engine has them (False: every quote, the reference)."""

    def __init__(self, engine: Engine, *, source: str | None = None, tolerance: Tolerance | None = None,
                 series_ttl: float = 0.0, bars: bool = True) -> None:  # fmt: skip
        if source is not None and (not isinstance(source, str) or not source.replace("-", "").isalnum()):
            raise QueryError(f"source must be a name like 'simulated' or 'coingecko', got {source!r}")
        self.engine = engine
        self.source = source
        self.tolerance = tolerance or Tolerance()
        self.series_ttl = series_ttl
        self.bars = bars
        self._cache: dict[tuple[str, ...], tuple[float, pd.DataFrame]] = {}
        self._versions: dict[tuple[str, ...], pd.DataFrame] = {}

    def bars_view(self) -> bars.BarsView | None:
        """The engine's daily bars and how current they are, if it has any and they are wanted."""
        offer = getattr(self.engine, "bars_view", None) if self.bars else None
        return offer() if offer is not None else None

    def _ask(self, s: Scope, raw: str, routed: str | None, lo: dt.datetime, rest: Sequence[Any]) -> pd.DataFrame:
        """`raw` over the quotes in [lo, now], or `routed` over the daily bars (same answer)."""
        view = self.bars_view() if routed is not None else None
        if view is None or routed is None:
            return self.engine.query(s.sql(raw), [*s.params(lo), *rest])
        sql = s.sql(routed, quotes=view.quotes, bars=view.bars)
        return self.engine.query(sql, [*s.bars_params(view, lo), *rest])

    def _pinned(self, key: tuple[str, ...], sql: str, params: list[Any]) -> pd.DataFrame:
        hit = self._versions.get(key)
        if hit is None:
            hit = self._versions[key] = self.engine.query(sql, params)
            while len(self._versions) > PINNED_ANSWERS:
                del self._versions[next(iter(self._versions))]  # the oldest: snapshots move forward
        return hit

    def _cached(self, key: tuple[str, ...], sql: str, params: list[Any]) -> pd.DataFrame:
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.series_ttl:
            return hit[1]
        df = self.engine.query(sql, params)
        self._cache[key] = (time.monotonic(), df)
        return df

    # -- scope ------------------------------------------------------------------------------------

    def sources(self) -> pd.DataFrame:
        """Every (source, currency) in the table with its coins, quotes and time span."""
        return self._cached(("sources",), queries.SOURCES, [])

    def _source(self, vs_currency: str) -> str:
        if self.source is not None:
            return self.source
        found = self.sources()
        names = sorted({str(s) for s in found.loc[found["vs_currency"] == vs_currency, "source"]})
        if len(names) == 1:
            return names[0]
        if not names:
            raise QueryError(f"no quotes in {vs_currency!r} yet")
        raise QueryError(f"quotes in {vs_currency!r} come from several sources ({', '.join(names)}): choose one")

    def series(self, vs_currency: str) -> pd.DataFrame:
        """Per coin of the source in this currency: newest quote time and number of quotes."""
        _check_currency(vs_currency)
        source = self._source(vs_currency)
        view = self.bars_view()
        if view is None:
            return self._cached(("series", source, vs_currency), queries.SERIES, [source, vs_currency])
        sql = bars.SERIES.format(quotes=view.quotes, bars=view.bars)
        params = bars.bq_all_params(view, source, vs_currency)
        if view.version is not None and self.series_ttl <= 0:
            # Over pinned snapshots the answer cannot change: kept while they are current, so a
            # question costs its own query (and the engine's bars check), not the per-coin scan too.
            return self._pinned(("series", source, vs_currency, view.version), sql, params)
        return self._cached(("series", source, vs_currency), sql, params)

    def coins(self, vs_currency: str) -> list[str]:
        return [str(c) for c in self.series(vs_currency)["coin_id"]]

    def scope(self, vs_currency: str, coins: Sequence[str] | None = None, at: dt.datetime | None = None) -> Scope:
        _check_currency(vs_currency)
        source = self._source(vs_currency)
        series = self.series(vs_currency)
        known = [str(c) for c in series["coin_id"]]
        if not known:
            raise QueryError(f"no quotes in {vs_currency!r} from source {source!r}")
        if coins is None:
            chosen = known
        else:
            if isinstance(coins, str):
                coins = [coins]
            if not all(isinstance(c, str) for c in coins) or not coins:
                raise QueryError(f"coins must be a non-empty list of coin ids, got {coins!r}")
            unknown = sorted(set(coins) - set(known))
            if unknown:
                raise QueryError(
                    f"unknown coin(s) {', '.join(unknown)} in {vs_currency} from {source}; known: {', '.join(known)}"
                )
            chosen = list(dict.fromkeys(coins))
        if at is None:
            now = pd.Timestamp(series["last_ts"].max()).to_pydatetime()
            now = now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)
        else:
            if not isinstance(at, dt.datetime) or at.tzinfo is None:
                raise QueryError(f"at must be a timezone-aware datetime, got {at!r}")
            now = at.astimezone(dt.UTC)
        return Scope(source, vs_currency, chosen, now)

    # -- the seed's three questions ---------------------------------------------------------------

    def total_return(self, vs_currency: str, coins: Sequence[str] | None = None,
                     at: dt.datetime | None = None) -> pd.DataFrame:  # fmt: skip
        """Return over each coin's whole stored history: start date and price, current price, days."""
        s = self.scope(vs_currency, coins, at)
        return self._ask(s, queries.TOTAL_RETURN, bars.TOTAL_RETURN, EPOCH, [])

    def returns(self, vs_currency: str, coins: Sequence[str] | None = None,
                windows: Sequence[str] = tuple(WINDOWS), at: dt.datetime | None = None) -> pd.DataFrame:  # fmt: skip
        """Per coin and window: both reference quotes (each within the tolerance of its target), the
        seconds actually elapsed between them, the quotes in between, the return, or NULL and a reason."""
        return self._returns(queries.RETURNS, vs_currency, coins, windows, at, [])

    def last_hour(self, vs_currency: str, coins: Sequence[str] | None = None,
                  at: dt.datetime | None = None) -> pd.DataFrame:  # fmt: skip
        """Every quote of the hour up to now (inclusive both ends)."""
        s = self.scope(vs_currency, coins, at)
        return self.engine.query(s.sql(queries.LAST_HOUR), s.params(s.now - dt.timedelta(hours=1)))

    # -- snapshots ---------------------------------------------------------------------------------

    def latest(self, vs_currency: str, coins: Sequence[str] | None = None,
               at: dt.datetime | None = None) -> pd.DataFrame:  # fmt: skip
        """Newest quote per coin with market cap (and share of the chosen coins'), volume, 24 h range, age."""
        s = self.scope(vs_currency, coins, at)
        series = self.series(vs_currency)
        newest = pd.to_datetime(series.loc[series["coin_id"].isin(s.coins), "last_ts"], utc=True)
        lo = min(newest.min().to_pydatetime(), s.now) if at is None else EPOCH
        return self.engine.query(s.sql(queries.LATEST), [*s.params(lo), s.now])

    market = latest

    def check_24h(self, vs_currency: str, coins: Sequence[str] | None = None, at: dt.datetime | None = None,
                  tolerance_pp: float = 1.0) -> pd.DataFrame:  # fmt: skip
        """Our 24 h return against the source's `price_change_percentage_24h` of the same quote;
        `flagged` when they differ by more than `tolerance_pp` percentage points (a data-quality signal)."""
        if isinstance(tolerance_pp, bool) or not isinstance(tolerance_pp, int | float) or not tolerance_pp >= 0:
            raise QueryError(f"tolerance_pp must be a number of percentage points >= 0, got {tolerance_pp!r}")
        return self._returns(queries.CHECK_24H, vs_currency, coins, ["24h"], at, [float(tolerance_pp)])

    def _returns(self, template: str, vs_currency: str, coins: Sequence[str] | None, windows: Sequence[str],
                 at: dt.datetime | None, extra: list[Any]) -> pd.DataFrame:  # fmt: skip
        names = [windows] if isinstance(windows, str) else list(windows)
        bad = [w for w in names if w not in WINDOWS]
        if bad or not names:
            raise QueryError(f"unknown window(s) {bad or names!r}; use any of {', '.join(WINDOWS)}")
        s = self.scope(vs_currency, coins, at)
        bounds = window_bounds(names, s.now, self.tolerance)
        sql = s.sql(
            template,
            windows=", ".join(queries._WINDOW_ROW for _ in bounds),
            coin_rows=", ".join("(?)" for _ in s.coins),
        )
        params = s.params(min(b.start_lo for b in bounds))
        for b in bounds:
            params += b.row()
        return self.engine.query(sql, [*params, *s.coins, *extra])

    # -- candles -----------------------------------------------------------------------------------

    def candles(self, vs_currency: str, coins: Sequence[str] | None = None, interval: str = "1h",
                periods: int = 24, at: dt.datetime | None = None) -> pd.DataFrame:  # fmt: skip
        """The last `periods` candles of `interval` (1m, 5m, 1h, 1d) up to now. `complete` is false for the
        bucket still open (or one whose last quote is not within the tolerance of its end)."""
        if interval not in INTERVALS:
            raise QueryError(f"unknown interval {interval!r}; use any of {', '.join(INTERVALS)}")
        periods = _positive(periods, "periods")
        s = self.scope(vs_currency, coins, at)
        sql, seconds = queries.candles_sql(interval)
        width = dt.timedelta(seconds=seconds)
        last_start = _floor(s.now - dt.timedelta(milliseconds=1), seconds)
        first = last_start - (periods - 1) * width
        # One bucket more is read so the first candle's open can chain to its predecessor's close.
        routed = bars.candles_daily() if interval == "1d" else None
        return self._ask(s, sql, routed, first - width, [s.now, self.tolerance.seconds(seconds), first])

    def ohlc(self, vs_currency: str, coins: Sequence[str] | None = None, days: int = 90,
             at: dt.datetime | None = None) -> pd.DataFrame:  # fmt: skip
        """Daily candles (UTC days, close = price as of the next 00:00), with a `day` column."""
        df = self.candles(vs_currency, coins, "1d", _positive(days, "days"), at)
        df.insert(1, "day", pd.to_datetime(df["bucket_start"], utc=True).dt.date)
        return df.drop(columns=["bucket_start"])

    # -- daily series (complete UTC days, calendar windows) ----------------------------------------

    def _daily(self, template: str, vs_currency: str, coins: Sequence[str] | None, days: int | None,
               at: dt.datetime | None, lead: int, mid: Sequence[Any] = ()) -> pd.DataFrame:  # fmt: skip
        s = self.scope(vs_currency, coins, at)
        if days is None:
            first_day = dt.date(1970, 1, 2)
            lo = EPOCH
        else:
            first_day = s.now.date() - dt.timedelta(days=_positive(days, "days"))
            lo = dt.datetime.combine(first_day - dt.timedelta(days=lead), dt.time(), dt.UTC)
        rest = [s.now, self.tolerance.seconds(86400), *mid, first_day]
        return self._ask(s, template, bars.daily(template), lo, rest)

    def daily_closes(self, vs_currency: str, coins: Sequence[str] | None = None, days: int | None = None,
                     at: dt.datetime | None = None) -> pd.DataFrame:  # fmt: skip
        return self._daily(queries.DAILY_CLOSES, vs_currency, coins, days, at, 0)

    def volatility(self, vs_currency: str, coins: Sequence[str] | None = None, days: int | None = None,
                   at: dt.datetime | None = None) -> pd.DataFrame:  # fmt: skip
        """30-calendar-day annualised volatility of daily log returns; NULL when too many days are missing."""
        mid = [self.tolerance.min_count(30)]
        return self._daily(queries.VOLATILITY, vs_currency, coins, days, at, _LEAD_DAYS["volatility"], mid)

    def drawdowns(self, vs_currency: str, coins: Sequence[str] | None = None, days: int | None = None,
                  at: dt.datetime | None = None) -> pd.DataFrame:  # fmt: skip
        """Drawdown from the running peak of all stored history (not only the days shown)."""
        s = self.scope(vs_currency, coins, at)
        first_day = dt.date(1970, 1, 2) if days is None else s.now.date() - dt.timedelta(days=_positive(days, "days"))
        rest = [s.now, self.tolerance.seconds(86400), first_day]
        return self._ask(s, queries.DRAWDOWNS, bars.daily(queries.DRAWDOWNS), EPOCH, rest)

    def max_drawdown(self, vs_currency: str, coins: Sequence[str] | None = None,
                     at: dt.datetime | None = None) -> pd.DataFrame:  # fmt: skip
        s = self.scope(vs_currency, coins, at)
        rest = [s.now, self.tolerance.seconds(86400)]
        return self._ask(s, queries.MAX_DRAWDOWN, bars.daily(queries.MAX_DRAWDOWN), EPOCH, rest)

    def correlation(self, vs_currency: str, coins: Sequence[str] | None = None, days: int = 365,
                    at: dt.datetime | None = None) -> pd.DataFrame:  # fmt: skip
        """Correlation of daily returns over the last `days`, on days where both coins have one."""
        return self._daily(queries.CORRELATION, vs_currency, coins, days, at, _LEAD_DAYS["correlation"])

    def moving_averages(self, vs_currency: str, coins: Sequence[str] | None = None, days: int | None = None,
                        at: dt.datetime | None = None) -> pd.DataFrame:  # fmt: skip
        mid = [self.tolerance.min_count(n) for n in (7, 30, 200)]
        return self._daily(queries.MOVING_AVERAGES, vs_currency, coins, days, at, _LEAD_DAYS["moving_averages"], mid)

    def cumulative_returns(self, vs_currency: str, coins: Sequence[str] | None = None, days: int | None = None,
                           at: dt.datetime | None = None) -> pd.DataFrame:  # fmt: skip
        return self._daily(queries.CUMULATIVE, vs_currency, coins, days, at, 0)

    def cap_index(self, vs_currency: str, coins: Sequence[str] | None = None, days: int | None = None,
                  at: dt.datetime | None = None) -> pd.DataFrame:  # fmt: skip
        """A market-cap-weighted index of the chosen coins, 100 the day before the first output day."""
        return self._daily(queries.CAP_INDEX, vs_currency, coins, days, at, _LEAD_DAYS["cap_index"])


def _check_currency(vs_currency: object) -> None:
    if not isinstance(vs_currency, str) or not vs_currency.isalpha():
        raise QueryError(f"vs_currency must be letters like 'usd', got {vs_currency!r}")


def _positive(n: object, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise QueryError(f"{what} must be a positive whole number, got {n!r}")
    return n


def _floor(ts: dt.datetime, seconds: int) -> dt.datetime:
    """Start of the bucket of `seconds` containing ts (UTC epoch-aligned; every interval divides a day)."""
    epoch_s = int((ts - EPOCH).total_seconds() // seconds) * seconds
    return EPOCH + dt.timedelta(seconds=epoch_s)
