"""A known market for the analytics tests: every awkward case in one small dataset.

NOW is fixed (2026-03-10 00:40 UTC) so the answers never depend on the wall clock:
- daily points at 00:00 UTC (the close of the day before), hourly points, then 30 s ticks
  that cross midnight (23:59:30, 00:00:00, 00:00:30);
- gaps: ethereum misses two daily points and two minutes of ticks right at its 5-minute
  reference; litecoin stops three days before NOW (a stale feed);
- duplicates: every 7th quote is sent twice;
- a late row: bitcoin's 00:00 point closing 2026-03-01 arrives in a second stream run;
- two sources: coingecko quotes for bitcoin and ethereum beside the simulated ones;
- two currencies: bitcoin in eur too;
- the source's 24 h change is the true one, except ethereum's newest quote (5 pp off);
- ethereum's ticks carry no market cap (a nullable column on the chosen row).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from coinstream.ingest.sources.simulated import SimulatedMarket, profile
from coinstream.models.quote import Quote

NOW = dt.datetime(2026, 3, 10, 0, 40, tzinfo=dt.UTC)
COINS = ("bitcoin", "ethereum", "litecoin")
DAILY_FROM = dt.datetime(2025, 11, 1, tzinfo=dt.UTC)
HOURLY_FROM = dt.datetime(2026, 2, 20, tzinfo=dt.UTC)
TICKS_FROM = NOW - dt.timedelta(hours=2)
LITECOIN_STOPS = dt.datetime(2026, 3, 7, 12, tzinfo=dt.UTC)
ETH_MISSING_DAYS = (dt.datetime(2026, 1, 10, tzinfo=dt.UTC), dt.datetime(2026, 1, 11, tzinfo=dt.UTC))
ETH_TICK_GAP = (NOW - dt.timedelta(minutes=6), NOW - dt.timedelta(minutes=4))
LATE = ("bitcoin", dt.datetime(2026, 3, 2, tzinfo=dt.UTC))
ETH_PCT_OFFSET = 5.0

_market = SimulatedMarket(seed=11, clock=lambda: NOW)


def _steps(a: dt.datetime, b: dt.datetime, step: dt.timedelta) -> Iterator[dt.datetime]:
    while a < b:
        yield a
        a += step


def _quote(
    coin: str,
    ts: dt.datetime,
    *,
    source: str = "simulated",
    vs: str = "usd",
    scale: float = 1.0,
    granularity: str = "hourly",
    origin: str = "backfill",
    pct: bool = False,
    cap: bool = True,
) -> Quote:
    p = profile(coin)
    price = _market.price_at(coin, ts) * scale
    change = None
    if pct:
        change = (price / (_market.price_at(coin, ts - dt.timedelta(days=1)) * scale) - 1) * 100
    return Quote(
        coin_id=coin,
        symbol=p.symbol,
        name=p.name,
        vs_currency=vs,
        price=price,
        market_cap=price * p.supply if cap else None,
        total_volume=price * p.supply * 0.05,
        price_change_pct_24h=change,
        source=source,
        source_ts=ts,
        ingest_ts=ts,
        feed="known",  # type: ignore[arg-type]
        origin=origin,
        granularity=granularity,  # type: ignore[arg-type]
    )


def _series(
    coin: str,
    *,
    source: str = "simulated",
    vs: str = "usd",
    scale: float = 1.0,
    daily_from: dt.datetime = DAILY_FROM,
    hourly_from: dt.datetime = HOURLY_FROM,
    tick_seconds: int = 30,
    end: dt.datetime = NOW,
) -> list[Quote]:
    kw = {"source": source, "vs": vs, "scale": scale}
    out = [_quote(coin, ts, granularity="daily", **kw) for ts in _steps(daily_from, hourly_from, dt.timedelta(days=1))]  # type: ignore[arg-type]
    hourly_to = min(TICKS_FROM.replace(minute=0), end)
    out += [
        _quote(coin, ts, **kw) for ts in _steps(hourly_from, hourly_to + dt.timedelta(seconds=1), dt.timedelta(hours=1))
    ]  # type: ignore[arg-type]
    if end >= NOW:
        ticks = _steps(TICKS_FROM, NOW + dt.timedelta(seconds=1), dt.timedelta(seconds=tick_seconds))
        out += [
            _quote(coin, ts, granularity="tick", origin="live", pct=True, cap=coin != "ethereum", **kw)  # type: ignore[arg-type]
            for ts in ticks
        ]
    return out


def known_quotes() -> list[Quote]:
    """Every distinct quote of the known market (what the table must hold after both runs)."""
    out: list[Quote] = []
    for coin in COINS:
        series = _series(coin, end=LITECOIN_STOPS if coin == "litecoin" else NOW)
        if coin == "ethereum":
            series = [
                q
                for q in series
                if q.source_ts not in ETH_MISSING_DAYS and not (ETH_TICK_GAP[0] <= q.source_ts < ETH_TICK_GAP[1])
            ]
            last = series[-1]
            series[-1] = last.model_copy(update={"price_change_pct_24h": last.price_change_pct_24h + ETH_PCT_OFFSET})
        out += series
    recent = NOW - dt.timedelta(days=3)
    for coin in ("bitcoin", "ethereum"):
        out += _series(coin, source="coingecko", scale=1.003, daily_from=recent, hourly_from=recent, tick_seconds=60)
    out += _series(
        "bitcoin", vs="eur", scale=0.92, daily_from=NOW - dt.timedelta(days=5), hourly_from=NOW - dt.timedelta(days=5)
    )
    return out


def is_late(q: Quote) -> bool:
    return (q.coin_id, q.source_ts) == LATE and q.source == "simulated" and q.vs_currency == "usd"


def deliveries() -> tuple[list[Quote], list[Quote]]:
    """(first run: everything but the late row, every 7th quote twice; second run: the late row)."""
    quotes = known_quotes()
    late = [q for q in quotes if is_late(q)]
    assert len(late) == 1
    first = [q for q in quotes if not is_late(q)]
    return first + first[::7], late
