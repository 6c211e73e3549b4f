"""One line per coin — latest price, bounded 5 m / 1 h / 24 h returns with the quotes they were
measured between, total return since the first quote, 30-day volatility — from the investor
queries, for summaries that fit a terminal (the demo) rather than a notebook."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from coinstream.sql.investor import Investor

SUMMARY_WINDOWS = ("5m", "1h", "24h")


@dataclass(frozen=True)
class WindowReturn:
    """One bounded return: the figure or None, with its reference times and seconds elapsed."""

    window: str
    pct_return: float | None
    start_ts: dt.datetime | None
    end_ts: dt.datetime | None
    elapsed_seconds: float | None
    reason: str | None


@dataclass(frozen=True)
class CoinSummary:
    coin_id: str
    latest_price: float
    return_24h: float | None
    return_total: float | None
    volatility_30d: float | None
    returns: list[WindowReturn] = field(default_factory=list)
    history_start: dt.datetime | None = None


def coin_summaries(inv: Investor, vs_currency: str) -> list[CoinSummary]:
    latest = inv.latest(vs_currency).set_index("coin_id")["price"]
    rets = inv.returns(vs_currency, windows=SUMMARY_WINDOWS)
    total = inv.total_return(vs_currency).set_index("coin_id")
    vol = inv.volatility(vs_currency).dropna(subset=["volatility_30d"]).groupby("coin_id")["volatility_30d"].last()
    out = []
    for coin in latest.index:
        mine = [
            WindowReturn(
                str(r.window_name),
                _num(r.pct_return),
                _ts(r.start_ts),
                _ts(r.end_ts),
                _num(r.elapsed_seconds),
                None if pd.isna(r.reason) else str(r.reason),
            )
            for r in rets[rets["coin_id"] == coin].itertuples()
        ]
        out.append(
            CoinSummary(
                coin_id=str(coin),
                latest_price=float(latest[coin]),
                return_24h=next((w.pct_return for w in mine if w.window == "24h"), None),
                return_total=_num(total.loc[coin, "pct_return"]) if coin in total.index else None,
                volatility_30d=_num(vol.get(coin)),
                returns=mine,
                history_start=_ts(total.loc[coin, "start_ts"]) if coin in total.index else None,
            )
        )
    return out


def _ts(value: object) -> dt.datetime | None:
    if value is None or pd.isna(value):
        return None
    ts = pd.Timestamp(value)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).to_pydatetime()


def _num(value: object) -> float | None:
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if f != f else f
