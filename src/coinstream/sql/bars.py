"""Day-granular questions answered from the daily bars instead of every quote.

Drawdowns, moving averages, volatility, correlation, the cap index, daily candles, the total
return and the per-coin series only need, per coin and UTC day bucket, the first and last quote,
the high, the low, the last market cap and volume, and the number of quotes. The daily bars table
(`<quotes>_daily`, folded by maintenance: coinstream.lakehouse.bars) holds exactly that, ~1/24 of
the rows of hourly history and far fewer for ticks. The answer must be the very same as from the
quotes, so a question is routed here only through `bq`, which is row for row what aggregating
the question's own quotes (`q`: source, currency, coins, [lo, hi]) per day bucket gives:

- Buckets wholly inside [lo, hi] and before `cut` come from the bars. `cut` is the earliest
  bucket that may differ from the bars: the one holding `hi` (its later quotes are not asked
  for), and the one of the earliest quote added or removed since the bars were folded
  (`BarsView.dirty_from`, from Iceberg metadata; the engines pin the snapshots they checked).
- Buckets from `cut` on are aggregated from the quotes themselves, as before.
- The bucket ending at `lo` holds, among the asked quotes, only the one exactly at `lo` (a
  quote on a boundary closes the day before it): when the bar's close is at `lo`, that one-quote
  bucket is the bar's close alone (first = close = high = low, one quote).

Both sides of the UNION ALL give the same types on both engines; identity with the raw queries
is asserted by tests/unit/sql/test_bars.py and tests/system/lakehouse/test_bars.py.
"""

# ruff: noqa: S608  # constant SQL fragments composed; every value is a bound `?` parameter

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import coinstream.sql.queries as queries
from coinstream.lakehouse.bars import BARS_SUFFIX
from coinstream.sql.queries import last

DAY = dt.timedelta(days=1)
_MS = dt.timedelta(milliseconds=1)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: No upper bound: later than any quote (the per-coin series asks for all of them).
END = dt.datetime(9999, 12, 30, tzinfo=dt.UTC)


def floor_day(ts: dt.datetime) -> dt.datetime:
    return dt.datetime.combine(ts.astimezone(dt.UTC).date(), dt.time(), dt.UTC)


@dataclass(frozen=True)
class BarsView:
    """What an engine offers: FROM references to the quotes and the bars (pinned to the snapshots it
    checked), and the earliest `source_ts` among quotes added or removed since the bars were folded
    (None: none since)."""

    quotes: str = "quotes"
    bars: str = "quotes" + BARS_SUFFIX
    dirty_from: dt.datetime | None = None
    #: The snapshots both references read, when they are pinned: equal versions, equal answers
    #: (the Investor keeps an answer over the view for as long as the version holds). None: unpinned.
    version: str | None = None

    def cut(self, hi: dt.datetime) -> dt.datetime:
        """First day bucket read from the quotes: the bucket holding `hi`, or an earlier changed one."""
        cut = floor_day(hi)
        if self.dirty_from is not None:
            cut = min(cut, floor_day(self.dirty_from - _MS))
        return cut


_RAW_BUCKETS = f"""
  SELECT coin_id, day_start, min(source_ts) AS first_ts, min_by(price, source_ts) AS first_price,
         max(source_ts) AS close_ts, max_by(price, source_ts) AS close, max(price) AS high, min(price) AS low,
         {last("market_cap")} AS market_cap, {last("total_volume")} AS total_volume, count(*) AS quotes
  FROM (SELECT coin_id, source_ts, price, market_cap, total_volume,
               date_trunc('day', date_add('millisecond', -1, source_ts)) AS day_start
        FROM {{quotes}} WHERE source = ? AND vs_currency = ?{{filters}} AND source_ts > ?) t
  WHERE day_start >= ?
  GROUP BY coin_id, day_start"""

#: Parameters: lo, source, vs_currency, *coins, lo - 1 day, cut, lo, lo, then the raw side's source,
#: vs_currency, *coins, lo, hi, cut, cut.
BQ = (
    """bq AS (
  SELECT coin_id, day_start,
         CASE WHEN partial THEN close_ts ELSE first_ts END AS first_ts,
         CASE WHEN partial THEN close ELSE first_price END AS first_price,
         close_ts, close,
         CASE WHEN partial THEN close ELSE high END AS high,
         CASE WHEN partial THEN close ELSE low END AS low,
         market_cap, total_volume,
         CASE WHEN partial THEN CAST(1 AS BIGINT) ELSE quotes END AS quotes
  FROM (SELECT *, day_start < ? AS partial FROM {bars}
        WHERE source = ? AND vs_currency = ? AND coin_id IN ({coins})
          AND day_start >= ? AND day_start < ? AND (day_start >= ? OR close_ts = ?)) b
  UNION ALL"""
    + _RAW_BUCKETS.replace("{filters}", " AND coin_id IN ({coins}) AND source_ts >= ? AND source_ts <= ?")
    + "\n)"
)

#: Every coin, all of time. Parameters: source, vs_currency, cut, then source, vs_currency, cut, cut.
BQ_ALL = (
    """bq AS (
  SELECT coin_id, day_start, first_ts, first_price, close_ts, close, high, low, market_cap, total_volume, quotes
  FROM {bars} WHERE source = ? AND vs_currency = ? AND day_start < ?
  UNION ALL"""
    + _RAW_BUCKETS.replace("{filters}", "")
    + "\n)"
)


def bq_params(view: BarsView, source: str, vs_currency: str, coins: list[str], lo: dt.datetime,
              hi: dt.datetime) -> list[Any]:  # fmt: skip
    if lo != floor_day(lo):
        raise ValueError(f"daily bars answer from a day boundary, not {lo}")
    cut = view.cut(hi)
    return [lo, source, vs_currency, *coins, lo - DAY, cut, lo, lo,
            source, vs_currency, *coins, lo, hi, cut, cut]  # fmt: skip


def bq_all_params(view: BarsView, source: str, vs_currency: str) -> list[Any]:
    cut = view.cut(END)
    return [source, vs_currency, cut, source, vs_currency, cut, cut]


_LASTD_BARS = """
lastd AS (SELECT coin_id, day_start, close_ts, close, market_cap, total_volume, quotes FROM bq)"""


def daily(template: str) -> str:
    """A `WITH q, <daily series>` query reading its day closes from `bq`."""
    head = f"WITH {queries.Q},{queries._LASTD}"
    if head not in template:
        raise ValueError("not a daily-series query")
    return template.replace(head, f"WITH {BQ},{_LASTD_BARS}")


def candles_daily() -> str:
    """Daily candles with their per-day aggregates from `bq`."""
    closed = """
closed AS (SELECT coin_id, day_start AS bucket_start, high, low, quotes, close_ts, first_price, close,
                  market_cap, total_volume AS volume_24h FROM bq),"""
    return f"\nWITH {BQ},{closed}{queries.CANDLES_TAIL.format(seconds=86400)}"


TOTAL_RETURN = f"""
WITH {BQ}
SELECT coin_id, CAST(min(first_ts) AS DATE) AS start_date, min(first_ts) AS start_ts,
       min_by(first_price, first_ts) AS start_price, max(close_ts) AS current_ts,
       max_by(close, close_ts) AS current_price,
       (to_unixtime(max(close_ts)) - to_unixtime(min(first_ts))) / 86400e0 AS days,
       CAST(sum(quotes) AS BIGINT) AS quotes, max_by(close, close_ts) / min_by(first_price, first_ts) - 1 AS pct_return
FROM bq GROUP BY coin_id ORDER BY coin_id
"""

SERIES = f"""
WITH {BQ_ALL}
SELECT coin_id, max(close_ts) AS last_ts, CAST(sum(quotes) AS BIGINT) AS quotes
FROM bq GROUP BY coin_id ORDER BY coin_id
"""
