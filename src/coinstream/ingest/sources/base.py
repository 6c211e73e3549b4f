"""What the feed and backfill need from a market data source, whatever it is."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Literal, Protocol

from coinstream.models import Quote

HistoryGranularity = Literal["auto", "daily", "hourly", "5m"]


class HistoryChunk(list[Quote]):
    """The quotes of one history call, and the [start, end) range they fully cover.

    The range is what the ledger records as loaded: a chunk with no points (before a
    coin listed, a quiet hour) still covers its range and is not asked for again.
    """

    def __init__(self, quotes: list[Quote], start: dt.datetime, end: dt.datetime, granularity: str) -> None:
        super().__init__(quotes)
        self.start = start
        self.end = end
        self.granularity = granularity


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
        origin: Literal["backfill", "gapfill"] = "backfill",
    ) -> Iterator[HistoryChunk]:
        """Historical quotes in [start, end), oldest first, in chunks (one API call each)."""

    def history_start_limit(self) -> dt.datetime | None:
        """Oldest time this source/plan can serve, None if unlimited."""
