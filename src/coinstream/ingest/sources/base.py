"""What the feed and backfill need from a market data source, whatever it is."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Literal, Protocol

from coinstream.models import Quote

HistoryGranularity = Literal["auto", "daily", "hourly"]


class MarketSource(Protocol):
    @property
    def name(self) -> Literal["coingecko", "simulated"]: ...

    @property
    def calls(self) -> int:
        """API calls made so far (what a backfill reports as its cost)."""

    def check_coins(self, coins: list[str]) -> None:
        """Raise UnknownCoinsError listing every id the source does not know."""

    def markets(self, coins: list[str], vs_currency: str, feed: str) -> list[Quote]:
        """One live snapshot per coin."""

    def history(
        self,
        coin: str,
        vs_currency: str,
        start: dt.datetime,
        end: dt.datetime,
        granularity: HistoryGranularity,
        feed: str,
    ) -> Iterator[list[Quote]]:
        """Historical quotes in [start, end), oldest first, in chunks (one API call each)."""

    def history_start_limit(self) -> dt.datetime | None:
        """Oldest time this source/plan can serve, None if unlimited."""
