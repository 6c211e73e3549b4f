"""The investor's questions as methods: checked parameters in, DataFrames out.

Parameters are validated here (known coins, known windows, positive day counts)
so a typo gives a clear error instead of an empty chart, and then bound by the
engine's driver. The same method gives the same numbers on Trino and DuckDB.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

import coinstream.sql.queries as queries
from coinstream.errors import UserInputError
from coinstream.sql.engines import Engine

#: Return windows: name -> seconds (None = the whole history).
WINDOWS: dict[str, int | None] = {
    "5m": 300,
    "1h": 3600,
    "24h": 86400,
    "7d": 7 * 86400,
    "30d": 30 * 86400,
    "all": None,
}


class QueryError(UserInputError):
    """A bad parameter, said plainly."""


class Investor:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def coins(self, vs_currency: str) -> list[str]:
        return [str(c) for c in self.engine.query(queries.COINS, [vs_currency])["coin_id"]]

    def _check(self, vs_currency: str, coins: Sequence[str] | None) -> list[str]:
        if not isinstance(vs_currency, str) or not vs_currency.isalpha():
            raise QueryError(f"vs_currency must be letters like 'usd', got {vs_currency!r}")
        known = self.coins(vs_currency)
        if not known:
            raise QueryError(f"no quotes in {vs_currency!r} yet")
        if coins is None:
            return known
        if isinstance(coins, str):
            coins = [coins]
        unknown = sorted(set(coins) - set(known))
        if unknown:
            raise QueryError(f"unknown coin(s) {', '.join(unknown)} in {vs_currency}; known: {', '.join(known)}")
        return list(dict.fromkeys(coins))

    def _run(
        self, template: str, vs_currency: str, coins: Sequence[str] | None, *extra: Any, **fmt: str
    ) -> pd.DataFrame:
        chosen = self._check(vs_currency, coins)
        sql = template.format(coins=", ".join("?" * len(chosen)), **fmt)
        return self.engine.query(sql, [vs_currency, *chosen, *extra])

    @staticmethod
    def _days(days: int, what: str) -> int:
        if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
            raise QueryError(f"{what} must be a positive whole number of days, got {days!r}")
        return days

    def latest(self, vs_currency: str, coins: Sequence[str] | None = None) -> pd.DataFrame:
        return self._run(queries.LATEST, vs_currency, coins)

    def returns(self, vs_currency: str, coins: Sequence[str] | None = None,
                windows: Sequence[str] = tuple(WINDOWS)) -> pd.DataFrame:  # fmt: skip
        """Return per window, from the price *as of* the window start (the last quote at or before it)."""
        bad = [w for w in windows if w not in WINDOWS]
        if bad or not windows:
            raise QueryError(f"unknown window(s) {bad or windows!r}; use any of {', '.join(WINDOWS)}")
        chosen = self._check(vs_currency, coins)
        rows = ", ".join("(?, CAST(? AS BIGINT), ?)" for _ in windows)
        sql = queries.RETURNS.format(coins=", ".join("?" * len(chosen)), windows=rows)
        params = _ordered_params(sql, vs_currency, chosen, windows)
        return self.engine.query(sql, params)

    def ohlc(self, vs_currency: str, coins: Sequence[str] | None = None, days: int = 90) -> pd.DataFrame:
        return self._run(queries.OHLC, vs_currency, coins, self._days(days, "days"))

    def volatility(self, vs_currency: str, coins: Sequence[str] | None = None) -> pd.DataFrame:
        """Rolling 30-day annualised volatility of daily log returns (sqrt(365): crypto trades daily)."""
        return self._run(queries.VOLATILITY, vs_currency, coins)

    def drawdowns(self, vs_currency: str, coins: Sequence[str] | None = None) -> pd.DataFrame:
        return self._run(queries.DRAWDOWNS, vs_currency, coins)

    def max_drawdown(self, vs_currency: str, coins: Sequence[str] | None = None) -> pd.DataFrame:
        return self._run(queries.MAX_DRAWDOWN, vs_currency, coins)

    def correlation(self, vs_currency: str, coins: Sequence[str] | None = None, days: int = 365) -> pd.DataFrame:
        return self._run(queries.CORRELATION, vs_currency, coins, self._days(days, "days"))

    def moving_averages(self, vs_currency: str, coins: Sequence[str] | None = None) -> pd.DataFrame:
        return self._run(queries.MOVING_AVERAGES, vs_currency, coins)

    def last_hour(self, vs_currency: str, coins: Sequence[str] | None = None) -> pd.DataFrame:
        return self._run(queries.LAST_HOUR, vs_currency, coins)

    def cumulative_returns(self, vs_currency: str, coins: Sequence[str] | None = None) -> pd.DataFrame:
        return self._run(queries.CUMULATIVE, vs_currency, coins)


def _ordered_params(sql: str, vs: str, coins: list[str], windows: Sequence[str]) -> list[Any]:
    """RETURNS has two groups of placeholders: the `q` filter (first in the text), then the windows."""
    first = sql.index("VALUES")
    assert sql[:first].count("?") == 1 + len(coins)
    params: list[Any] = [vs, *coins]
    for i, name in enumerate(windows):
        params += [name, WINDOWS[name], i]
    return params
