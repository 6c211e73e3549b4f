"""One consistent read of the lakehouse for the page: every panel from the same moment.

The page refreshes all panels from one `Snapshot`, so a price in the table and the
last point of the chart never disagree. Everything here is read through the SQL layer
(`Investor` and `LiveQueries`), the same answers a notebook or report gets; only ages
(wall clock minus a timestamp) and the data-quality verdicts are computed here.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from coinstream.dashboard.params import ViewParams
from coinstream.sql import Investor, QueryError
from coinstream.sql.live import LiveQueries
from coinstream.sql.windows import INTERVALS

#: Windows shown on the page (the whole history is the report's business).
PAGE_WINDOWS = ("5m", "1h", "24h", "7d", "30d")


@dataclass(frozen=True)
class Flag:
    """A data-quality verdict shown on the page: what, about whom, and how bad."""

    level: str  # "warning" or "error"
    subject: str
    message: str


@dataclass
class Snapshot:
    params: ViewParams
    source: str
    taken_at: dt.datetime
    coins: list[str]
    latest: pd.DataFrame  # coin_id, source_ts, price, age_s
    returns: pd.DataFrame  # coin_id, window_name, pct_return, start_ts, end_ts, elapsed_s, quotes, reason, stale
    last_hour: pd.DataFrame  # coin_id, source_ts, price
    candles: pd.DataFrame  # Investor.candles: coin_id, bucket_start, open, high, low, close, quotes, complete, ...
    market: pd.DataFrame  # coin_id, market_cap, total_volume, high_24h, low_24h, price_change_pct_24h
    freshness: pd.DataFrame  # feed, source, vs_currency, rows, coins, newest_quote, newest_commit, lag_s
    check_24h: pd.DataFrame  # coin_id, own_pct, source_pct, diff_pp, flagged, reason
    flags: list[Flag] = field(default_factory=list)


def _utc(value: Any) -> dt.datetime | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        return None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


def _age(now: dt.datetime, value: Any) -> float | None:
    ts = _utc(value)
    return None if ts is None else (now - ts).total_seconds()


def choose_source(live: LiveQueries, vs_currency: str, asked: str | None) -> str:
    """The source asked for, else the one with the newest quote (the live one, when a history-only
    source sits beside it); two sources are never blended on one page."""
    sources = live.sources(vs_currency)
    if not sources:
        raise QueryError(f"no quotes in {vs_currency!r} yet")
    if asked is None:
        return sources[0]
    if asked not in sources:
        raise QueryError(f"unknown source {asked!r} for {vs_currency}; known: {', '.join(sources)}")
    return asked


def _returns(inv: Investor, p: ViewParams, coins: Sequence[str]) -> pd.DataFrame:
    """The SQL layer's bounded returns: NULL with a reason when a reference is not within the
    tolerance of its target; `stale` marks those rows for the page."""
    df = inv.returns(p.vs_currency, coins, windows=PAGE_WINDOWS).copy()
    df["elapsed_s"] = pd.to_numeric(df["elapsed_seconds"], errors="coerce").astype("float64")
    df["stale"] = df["pct_return"].isna()
    return df


def _periods(p: ViewParams) -> int:
    """The candles covering the last `candle_hours` (the bucket still open included)."""
    return max(1, p.candle_hours * 3600 // INTERVALS[p.interval][0])


def take_snapshot(inv: Investor, live: LiveQueries, p: ViewParams, *, now: dt.datetime | None = None,
                  stale_after_s: float = 120.0, disagreement_pp: float = 1.0) -> Snapshot:  # fmt: skip
    """Read every panel; raises QueryError (a message for the page) on a bad parameter."""
    now = now or dt.datetime.now(dt.UTC)
    source = choose_source(live, p.vs_currency, p.source)
    # One source per question (never blended), one scan of the series for the whole snapshot.
    inv = Investor(inv.engine, source=source, tolerance=inv.tolerance, series_ttl=max(inv.series_ttl, 5.0))
    coins = inv.scope(p.vs_currency, p.coins).coins  # the same validation every investor query uses
    candle_coin = p.candle_coin or coins[0]
    if candle_coin not in coins:
        raise QueryError(f"candle coin {candle_coin!r} is not among the coins shown ({', '.join(coins)})")
    latest = inv.latest(p.vs_currency, coins).copy()
    latest["age_s"] = [_age(now, t) for t in latest["source_ts"]]
    freshness = live.freshness().copy()
    freshness["lag_s"] = [_age(now, t) for t in freshness["newest_quote"]]
    snap = Snapshot(
        params=p,
        source=source,
        taken_at=now,
        coins=coins,
        latest=latest,
        returns=_returns(inv, p, coins),
        last_hour=inv.last_hour(p.vs_currency, coins),
        candles=inv.candles(p.vs_currency, [candle_coin], p.interval, periods=_periods(p)),
        market=latest,
        freshness=freshness,
        check_24h=inv.check_24h(p.vs_currency, coins, tolerance_pp=disagreement_pp),
    )
    snap.flags = quality_flags(snap, stale_after_s=stale_after_s, disagreement_pp=disagreement_pp)
    return snap


def quality_flags(snap: Snapshot, *, stale_after_s: float, disagreement_pp: float) -> list[Flag]:
    """Stale feeds, returns the SQL layer left NULL (no reference within the tolerance, with its
    reason), and its 24 h cross-check against the source's `price_change_pct_24h` (gaps, bad ticks)."""
    flags: list[Flag] = []
    for row in snap.freshness.itertuples(index=False):
        lag = row.lag_s
        subject = f"feed {row.feed} ({row.source}, {row.vs_currency})"
        if _utc(row.newest_live) is None:
            flags.append(Flag("warning", subject, "no live quotes yet (history only)"))
        elif lag is not None and lag > stale_after_s:
            flags.append(Flag("error", subject, f"newest quote is {lag:,.0f} s old (limit {stale_after_s:,.0f} s)"))
    for row in snap.returns.itertuples(index=False):
        if row.stale:
            flags.append(Flag("warning", f"{row.coin_id} {row.window_name} return", f"no value: {row.reason}"))
    for row in snap.check_24h.itertuples(index=False):
        if row.flagged is True or (row.flagged is not None and not pd.isna(row.flagged) and bool(row.flagged)):
            flags.append(
                Flag(
                    "warning",
                    f"{row.coin_id} 24h return",
                    f"ours {float(row.own_pct):+.2f}% vs source {float(row.source_pct):+.2f}% "
                    f"({abs(float(row.diff_pp)):.2f} pp apart, limit {disagreement_pp:g} pp)",
                )
            )
    return flags
