"""What a live view asks of the lakehouse besides the investor questions: how fresh each
feed is and the market figures of the newest quote. Candles are an investor question
(`Investor.candles`): the page draws the same candles a notebook or report gets.

Same rules as `queries.py`: Trino SQL with `?` parameters only, run unchanged on Trino
and (translated) on DuckDB, one source at a time so two feeds of the same coin never blend.
Freshness reports timestamps, not ages: the age depends on the reader's clock, so the
caller computes it where it is shown.
"""

# constant SQL fragments composed; every value is a bound `?` parameter

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from coinstream.sql.engines import Engine

FRESHNESS = """
SELECT feed, source, vs_currency, count(*) AS rows, count(DISTINCT coin_id) AS coins,
       max(source_ts) AS newest_quote, max(lake_ts) AS newest_commit,
       max(CASE WHEN origin = 'live' THEN source_ts END) AS newest_live
FROM quotes GROUP BY feed, source, vs_currency ORDER BY feed, source, vs_currency
"""

LAST_QUOTES = """
SELECT feed, max_by(coin_id, source_ts) AS coin_id, max_by(price, source_ts) AS price,
       max_by(vs_currency, source_ts) AS vs_currency, max(source_ts) AS source_ts
FROM quotes WHERE origin = 'live' GROUP BY feed ORDER BY feed
"""

SOURCES = "SELECT source FROM quotes WHERE vs_currency = ? GROUP BY source ORDER BY max(source_ts) DESC, source"

MARKET = """
WITH q AS (
  SELECT * FROM quotes WHERE vs_currency = ? AND source = ? AND coin_id IN ({coins})
)
SELECT coin_id, max(source_ts) AS source_ts, max_by(price, source_ts) AS price,
       max_by(market_cap, source_ts) AS market_cap, max_by(total_volume, source_ts) AS total_volume,
       max_by(high_24h, source_ts) AS high_24h, max_by(low_24h, source_ts) AS low_24h,
       max_by(price_change_pct_24h, source_ts) AS price_change_pct_24h
FROM q GROUP BY coin_id ORDER BY coin_id
"""


class LiveQueries:
    """Freshness and market figures; parameters checked by the caller's Investor."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def freshness(self) -> pd.DataFrame:
        """Per (feed, source, currency): rows, coins, newest quote, newest commit, newest live tick."""
        return self.engine.query(FRESHNESS)

    def last_quotes(self) -> pd.DataFrame:
        """Per feed, its newest live quote (coin, price, currency, time)."""
        return self.engine.query(LAST_QUOTES)

    def sources(self, vs_currency: str) -> list[str]:
        """Sources quoting `vs_currency`, the one with the newest quote first."""
        return [str(s) for s in self.engine.query(SOURCES, [vs_currency])["source"]]

    def market(self, vs_currency: str, source: str, coins: Sequence[str]) -> pd.DataFrame:
        """The newest quote's market cap, 24 h volume, 24 h high/low and the source's own 24 h change."""
        sql = MARKET.format(coins=", ".join("?" * len(coins)))
        return self.engine.query(sql, [vs_currency, source, *coins])
