"""The questions the Investor answers from the daily bars, and how two answers must agree (exactly,
up to float rounding in the last bits): shared by the unit and system tests of the bars route."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pandas as pd

from coinstream.sql import Investor


def routed_questions(
    at: dt.datetime | None, known_market: bool = True
) -> dict[str, Callable[[Investor], pd.DataFrame]]:
    """Every question the bars answer; `known_market` adds those needing its eur and coingecko quotes."""
    out: dict[str, Callable[[Investor], pd.DataFrame]] = {
        "series": lambda inv: inv.series("usd"),
        "total return": lambda inv: inv.total_return("usd", at=at),
        "daily candles": lambda inv: inv.ohlc("usd", days=40, at=at),
        "1d candles, all": lambda inv: inv.candles("usd", interval="1d", periods=200, at=at),
        "daily closes": lambda inv: inv.daily_closes("usd", at=at),
        "daily closes 30 d": lambda inv: inv.daily_closes("usd", days=30, at=at),
        "volatility": lambda inv: inv.volatility("usd", at=at),
        "volatility 20 d": lambda inv: inv.volatility("usd", days=20, at=at),
        "drawdowns 60 d": lambda inv: inv.drawdowns("usd", days=60, at=at),
        "max drawdown": lambda inv: inv.max_drawdown("usd", at=at),
        "correlation": lambda inv: inv.correlation("usd", days=90, at=at),
        "moving averages": lambda inv: inv.moving_averages("usd", at=at),
        "cumulative": lambda inv: inv.cumulative_returns("usd", days=70, at=at),
        "cap index": lambda inv: inv.cap_index("usd", days=70, at=at),
    }
    if known_market:
        out["series eur"] = lambda inv: inv.series("eur")
        # Three days of coingecko quotes: none yet at the mid-day `at`.
        out["two coins, coingecko"] = lambda inv: Investor(inv.engine, source="coingecko", bars=inv.bars).daily_closes(
            "usd", ["ethereum", "bitcoin"], at=at
        )
    return out


def same_frames(name: str, got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert len(want) > 0 or "coingecko" in name, name
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False, rtol=1e-12, obj=name
    )
