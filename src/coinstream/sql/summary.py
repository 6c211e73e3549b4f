"""One line per coin — latest price, 24 h and total return, 30-day volatility — from the
investor queries, for summaries that fit a terminal (the demo) rather than a notebook."""

from __future__ import annotations

from dataclasses import dataclass

from coinstream.sql.investor import Investor


@dataclass(frozen=True)
class CoinSummary:
    coin_id: str
    latest_price: float
    return_24h: float | None
    return_total: float | None
    volatility_30d: float | None


def coin_summaries(inv: Investor, vs_currency: str) -> list[CoinSummary]:
    latest = inv.latest(vs_currency).set_index("coin_id")["price"]
    rets = inv.returns(vs_currency, windows=["24h", "all"]).pivot(
        index="coin_id", columns="window_name", values="pct_return"
    )
    vol = inv.volatility(vs_currency).dropna().groupby("coin_id")["volatility_30d"].last()
    return [
        CoinSummary(
            coin_id=str(coin),
            latest_price=float(latest[coin]),
            return_24h=_num(rets.loc[coin, "24h"]) if coin in rets.index else None,
            return_total=_num(rets.loc[coin, "all"]) if coin in rets.index else None,
            volatility_30d=_num(vol.get(coin)),
        )
        for coin in latest.index
    ]


def _num(value: object) -> float | None:
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if f != f else f
