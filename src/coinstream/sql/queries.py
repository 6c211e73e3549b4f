"""The investor queries, in Trino SQL, each taking `?` parameters only.

Every query starts from `q`: one source, one currency, the chosen coins and a time
range, all bound parameters (sources are never mixed; the time range lets both engines
prune files instead of scanning all history). "Now" is a parameter too: by default the
newest quote of the source (never the wall clock), so a query is reproducible and both
engines agree exactly.

Conventions, kept in one place:
- A quote exactly on a bucket boundary closes the bucket ending there (windows.INTERVALS):
  the 00:00 UTC daily point of day D is the close of D-1.
- A day's close counts only when the day is over and its last quote lies within the
  tolerance of D+1 00:00 (`daily`); daily series are keyed by calendar day, so a missing
  day is a missing row, never silently bridged: a daily return needs the day before.
- Each query scans the table as few times as it can (one pass where possible): on Trino
  every scan is a split per data file, and a WITH query is inlined at each reference, so a
  CTE used twice is read twice (hence window functions and lag() instead of self-joins).
- A nullable column "as of" a row is taken with `last(col)` below, never with a bare
  max_by: DuckDB's arg_max skips NULL values, Trino's does not; the sentinel (-1e300,
  never a price, cap, volume or percentage) makes both agree.

`{coins}` is replaced by as many `?` placeholders as coins were asked for, `{windows}` and
`{coin_rows}` by rows of placeholders; values are still bound by the driver.
"""

# ruff: noqa: S608  # constant SQL fragments composed; every value is a bound `?` parameter

from __future__ import annotations

from coinstream.sql.windows import INTERVALS


def last(col: str, ts: str = "source_ts") -> str:
    """The value of a nullable `col` on the row with the greatest `ts` (NULL if it is NULL there)."""
    return f"nullif(max_by(coalesce({col}, -1e300), {ts}), -1e300)"


#: Parameters: source, vs_currency, *coins, lo, hi (both inclusive).
Q = """q AS (
  SELECT coin_id, source_ts, price, market_cap, total_volume, high_24h, low_24h, price_change_pct_24h
  FROM quotes
  WHERE source = ? AND vs_currency = ? AND coin_id IN ({coins}) AND source_ts >= ? AND source_ts <= ?
)"""

SOURCES = """
SELECT source, vs_currency, count(DISTINCT coin_id) AS coins, count(*) AS quotes,
       min(source_ts) AS first_ts, max(source_ts) AS last_ts
FROM quotes GROUP BY source, vs_currency ORDER BY source, vs_currency
"""

#: Parameters: source, vs_currency. One row per coin: the newest quote and how many there are.
SERIES = """
SELECT coin_id, max(source_ts) AS last_ts, count(*) AS quotes
FROM quotes WHERE source = ? AND vs_currency = ? GROUP BY coin_id ORDER BY coin_id
"""

#: + now. The newest quote per coin up to now, with its age and share of the tracked market cap.
#: `q` starts at the oldest of the chosen coins' newest quotes (from SERIES): one small scan.
LATEST = f"""
WITH {Q},
l AS (
  SELECT coin_id, max(source_ts) AS source_ts, max_by(price, source_ts) AS price,
         {last("market_cap")} AS market_cap, {last("total_volume")} AS total_volume,
         {last("high_24h")} AS high_24h, {last("low_24h")} AS low_24h,
         {last("price_change_pct_24h")} AS price_change_pct_24h
  FROM q GROUP BY coin_id
)
SELECT coin_id, source_ts, price, market_cap, market_cap / sum(market_cap) OVER () AS cap_share,
       total_volume, high_24h, low_24h, price_change_pct_24h,
       to_unixtime(?) - to_unixtime(source_ts) AS age_seconds
FROM l ORDER BY coin_id
"""

#: The seed's first question: return over the whole stored history of each coin.
TOTAL_RETURN = f"""
WITH {Q}
SELECT coin_id, CAST(min(source_ts) AS DATE) AS start_date, min(source_ts) AS start_ts,
       min_by(price, source_ts) AS start_price, max(source_ts) AS current_ts,
       max_by(price, source_ts) AS current_price,
       (to_unixtime(max(source_ts)) - to_unixtime(min(source_ts))) / 86400e0 AS days,
       count(*) AS quotes, max_by(price, source_ts) / min_by(price, source_ts) - 1 AS pct_return
FROM q GROUP BY coin_id ORDER BY coin_id
"""

_WINDOW_ROW = (
    "(?, CAST(? AS INTEGER), CAST(? AS BIGINT), CAST(? AS DOUBLE), CAST(? AS TIMESTAMP(6) WITH TIME ZONE), "
    "CAST(? AS TIMESTAMP(6) WITH TIME ZONE), CAST(? AS TIMESTAMP(6) WITH TIME ZONE), "
    "CAST(? AS TIMESTAMP(6) WITH TIME ZONE))"
)

STALE = "no quote within the tolerance before the window end: the feed is stale"
NO_START = "no quote within the tolerance before the window start: a gap, or history too short"

_RETURN_CTES = f"""
WITH {Q},
w AS (SELECT * FROM (VALUES {{windows}})
      AS t(window_name, ord, seconds, tolerance_seconds, start_target, start_lo, end_lo, end_hi)),
c AS (SELECT * FROM (VALUES {{coin_rows}}) AS t(coin_id)),
qw AS (
  SELECT w.window_name, q.coin_id, q.source_ts, q.price, q.price_change_pct_24h,
         q.source_ts <= w.start_target AS at_start, q.source_ts >= w.end_lo AS at_end
  FROM q JOIN w ON q.source_ts >= w.start_lo AND q.source_ts <= w.end_hi
),
qr AS (
  SELECT *, max(CASE WHEN at_start THEN source_ts END) OVER (PARTITION BY window_name, coin_id) AS ref_start,
         max(CASE WHEN at_end THEN source_ts END) OVER (PARTITION BY window_name, coin_id) AS ref_end
  FROM qw
),
refs AS (
  SELECT window_name, coin_id,
         max(CASE WHEN at_start THEN source_ts END) AS start_ts,
         max_by(price, CASE WHEN at_start THEN source_ts END) AS start_price,
         max(CASE WHEN at_end THEN source_ts END) AS end_ts,
         max_by(price, CASE WHEN at_end THEN source_ts END) AS end_price,
         {last("price_change_pct_24h", "CASE WHEN at_end THEN source_ts END")} AS source_pct_24h,
         count(CASE WHEN source_ts >= ref_start AND source_ts <= ref_end THEN 1 END) AS quotes
  FROM qr GROUP BY window_name, coin_id
),
r AS (
  SELECT c.coin_id, w.window_name, w.ord, w.seconds AS window_seconds, w.tolerance_seconds, w.start_target,
         f.start_ts, CASE WHEN f.start_ts IS NOT NULL THEN f.start_price END AS start_price,
         f.end_ts, CASE WHEN f.end_ts IS NOT NULL THEN f.end_price END AS end_price,
         to_unixtime(f.end_ts) - to_unixtime(f.start_ts) AS elapsed_seconds,
         CASE WHEN f.start_ts IS NOT NULL AND f.end_ts IS NOT NULL THEN f.quotes END AS quotes,
         f.end_price / f.start_price - 1 AS pct_return,
         CASE WHEN f.end_ts IS NULL THEN '{STALE}' WHEN f.start_ts IS NULL THEN '{NO_START}' END AS reason,
         CASE WHEN f.end_ts IS NOT NULL THEN f.source_pct_24h END AS source_pct_24h
  FROM c CROSS JOIN w
  LEFT JOIN refs f ON f.coin_id = c.coin_id AND f.window_name = w.window_name
)"""

RETURNS = (
    _RETURN_CTES
    + """
SELECT coin_id, window_name, window_seconds, tolerance_seconds, start_target, start_ts, start_price,
       end_ts, end_price, elapsed_seconds, quotes, pct_return, reason
FROM r ORDER BY coin_id, ord
"""
)

#: + tolerance in percentage points. The source's own 24 h change (of the end quote) against ours.
CHECK_24H = (
    _RETURN_CTES
    + """
SELECT coin_id, end_ts, pct_return * 100 AS own_pct, source_pct_24h AS source_pct,
       pct_return * 100 - source_pct_24h AS diff_pp,
       CASE WHEN pct_return IS NULL OR source_pct_24h IS NULL THEN NULL
            ELSE abs(pct_return * 100 - source_pct_24h) > ? END AS flagged,
       CASE WHEN reason IS NOT NULL THEN reason
            WHEN source_pct_24h IS NULL THEN 'the source gives no 24 h change for the end quote' END AS reason
FROM r ORDER BY coin_id
"""
)

#: The seed's third question: every price in [now - 1 h, now].
LAST_HOUR = f"""
WITH {Q}
SELECT coin_id, source_ts, price FROM q ORDER BY coin_id, source_ts
"""

#: + now, tolerance seconds, first bucket. Candles over (start, start + interval]; the open is the
#: previous bucket's close when that bucket has quotes (candles chain), else the bucket's first quote.
CANDLES_HEAD = """
WITH {q},
b AS (SELECT coin_id, source_ts, price, market_cap, total_volume, {bucket} AS bucket_start FROM q),
closed AS (
  SELECT coin_id, bucket_start, max(price) AS high, min(price) AS low, count(*) AS quotes,
         max(source_ts) AS close_ts, min_by(price, source_ts) AS first_price, max_by(price, source_ts) AS close,
         {last_cap} AS market_cap, {last_volume} AS volume_24h
  FROM b GROUP BY coin_id, bucket_start
),"""
#: From `closed` (coin_id, bucket_start, high, low, quotes, close_ts, first_price, close, market_cap,
#: volume_24h) on; coinstream.sql.bars gives daily candles their `closed` from the daily bars.
CANDLES_TAIL = """
chained AS (
  SELECT *, coalesce(prev_start = date_add('second', -{seconds}, bucket_start), false) AS chained,
         date_add('second', {seconds}, bucket_start) AS bucket_end
  FROM (SELECT *, lag(close) OVER (PARTITION BY coin_id ORDER BY bucket_start) AS prev_close,
               lag(bucket_start) OVER (PARTITION BY coin_id ORDER BY bucket_start) AS prev_start
        FROM closed) t
)
SELECT coin_id, bucket_start, CASE WHEN chained THEN prev_close ELSE first_price END AS open,
       greatest(high, CASE WHEN chained THEN prev_close ELSE first_price END) AS high,
       least(low, CASE WHEN chained THEN prev_close ELSE first_price END) AS low,
       close, close_ts, quotes, market_cap, volume_24h, NOT chained AS gap_before,
       bucket_end <= ? AND to_unixtime(bucket_end) - to_unixtime(close_ts) <= ? AS complete
FROM chained WHERE bucket_start >= ?
ORDER BY coin_id, bucket_start
"""
CANDLES = CANDLES_HEAD + CANDLES_TAIL

#: Each coin's last quote per UTC day bucket (a daily bar's close); coinstream.sql.bars reads them
#: from the daily bars table instead where that gives the same rows.
_LASTD = f"""
qd AS (SELECT coin_id, source_ts, price, market_cap, total_volume,
              date_trunc('day', date_add('millisecond', -1, source_ts)) AS day_start FROM q),
lastd AS (SELECT coin_id, day_start, max(source_ts) AS close_ts, max_by(price, source_ts) AS close,
                 {last("market_cap")} AS market_cap, {last("total_volume")} AS total_volume, count(*) AS quotes
          FROM qd GROUP BY coin_id, day_start)"""

#: Complete UTC days only. Parameters after `q`: now, tolerance seconds.
_DAILY = (
    _LASTD
    + """,
daily AS (
  SELECT coin_id, CAST(day_start AS DATE) AS day,
         date_diff('day', DATE '1970-01-01', CAST(day_start AS DATE)) AS dn,
         close, close_ts, market_cap, total_volume, quotes
  FROM lastd
  WHERE date_add('day', 1, day_start) <= ?
    AND to_unixtime(date_add('day', 1, day_start)) - to_unixtime(close_ts) <= ?
),
prevd AS (
  SELECT *, lag(dn) OVER (PARTITION BY coin_id ORDER BY dn) AS prev_dn,
         lag(close) OVER (PARTITION BY coin_id ORDER BY dn) AS prev_close,
         lag(market_cap) OVER (PARTITION BY coin_id ORDER BY dn) AS prev_cap
  FROM daily
),
rets AS (
  SELECT coin_id, day, dn, close / prev_close - 1 AS r, ln(close / prev_close) AS lr
  FROM prevd WHERE prev_dn = dn - 1
)"""
)

#: + first output day.
DAILY_CLOSES = f"""
WITH {Q},{_DAILY}
SELECT coin_id, day, close, close_ts, market_cap, total_volume, quotes FROM daily WHERE day >= ?
ORDER BY coin_id, day
"""

#: + minimum returns, first output day. Annualised with sqrt(365): crypto trades every day.
VOLATILITY = f"""
WITH {Q},{_DAILY},
vol AS (
  SELECT coin_id, day,
         stddev_samp(lr) OVER (PARTITION BY coin_id ORDER BY dn RANGE BETWEEN 29 PRECEDING AND CURRENT ROW)
           * sqrt(365e0) AS v,
         count(lr) OVER (PARTITION BY coin_id ORDER BY dn RANGE BETWEEN 29 PRECEDING AND CURRENT ROW) AS n
  FROM rets
)
SELECT coin_id, day, CASE WHEN n >= ? THEN v END AS volatility_30d, n AS returns_used
FROM vol WHERE day >= ? ORDER BY coin_id, day
"""

_DRAWDOWN = """
dd AS (
  SELECT coin_id, day, close,
         max(close) OVER (PARTITION BY coin_id ORDER BY day ROWS UNBOUNDED PRECEDING) AS peak
  FROM daily
)"""

#: + first output day. The running peak covers all history scanned, not only the output days.
DRAWDOWNS = f"""
WITH {Q},{_DAILY},{_DRAWDOWN}
SELECT coin_id, day, close, peak, close / peak - 1 AS drawdown FROM dd WHERE day >= ?
ORDER BY coin_id, day
"""

MAX_DRAWDOWN = f"""
WITH {Q},{_DAILY},{_DRAWDOWN}
SELECT coin_id, min(close / peak - 1) AS max_drawdown, min_by(day, close / peak - 1) AS trough_day
FROM dd GROUP BY coin_id ORDER BY coin_id
"""

#: + first output day. Pairs only days where both coins have a return (calendar-aligned).
CORRELATION = f"""
WITH {Q},{_DAILY},
recent AS (SELECT * FROM rets WHERE day >= ?)
SELECT a.coin_id AS coin_a, b.coin_id AS coin_b, corr(a.r, b.r) AS correlation, count(*) AS days
FROM recent a JOIN recent b ON a.day = b.day
GROUP BY a.coin_id, b.coin_id ORDER BY a.coin_id, b.coin_id
"""

#: + three minimum counts (7, 30, 200 days), first output day. Calendar windows.
MOVING_AVERAGES = f"""
WITH {Q},{_DAILY},
ma AS (
  SELECT coin_id, day, close,
    avg(close) OVER (PARTITION BY coin_id ORDER BY dn RANGE BETWEEN 6 PRECEDING AND CURRENT ROW) AS a7,
    count(close) OVER (PARTITION BY coin_id ORDER BY dn RANGE BETWEEN 6 PRECEDING AND CURRENT ROW) AS n7,
    avg(close) OVER (PARTITION BY coin_id ORDER BY dn RANGE BETWEEN 29 PRECEDING AND CURRENT ROW) AS a30,
    count(close) OVER (PARTITION BY coin_id ORDER BY dn RANGE BETWEEN 29 PRECEDING AND CURRENT ROW) AS n30,
    avg(close) OVER (PARTITION BY coin_id ORDER BY dn RANGE BETWEEN 199 PRECEDING AND CURRENT ROW) AS a200,
    count(close) OVER (PARTITION BY coin_id ORDER BY dn RANGE BETWEEN 199 PRECEDING AND CURRENT ROW) AS n200
  FROM daily
)
SELECT coin_id, day, close,
       CASE WHEN n7 >= ? THEN a7 END AS ma_7d,
       CASE WHEN n30 >= ? THEN a30 END AS ma_30d,
       CASE WHEN n200 >= ? THEN a200 END AS ma_200d
FROM ma WHERE day >= ? ORDER BY coin_id, day
"""

#: + first output day. Growth since the first output day on which every coin has a close.
CUMULATIVE = f"""
WITH {Q},{_DAILY},
inrange AS (SELECT * FROM daily WHERE day >= ?),
common AS (SELECT min(day) AS day FROM (SELECT day FROM inrange GROUP BY day
                                        HAVING count(*) = (SELECT count(DISTINCT coin_id) FROM inrange)) t),
base AS (SELECT i.coin_id, i.close FROM inrange i JOIN common c ON i.day = c.day)
SELECT i.coin_id, i.day, i.close, i.close / b.close - 1 AS cumulative_return
FROM inrange i JOIN base b ON b.coin_id = i.coin_id JOIN common c ON i.day >= c.day
ORDER BY i.coin_id, i.day
"""

#: + first output day. Each day's index return is the market-cap-weighted mean of the coins'
#: daily returns, weighted by the previous day's market cap (supply changes are not returns);
#: the level chains those returns from 100 the day before the first output day.
CAP_INDEX = f"""
WITH {Q},{_DAILY},
contrib AS (
  SELECT day, coin_id, prev_cap AS weight, close / prev_close - 1 AS r
  FROM prevd WHERE prev_dn = dn - 1 AND prev_cap > 0 AND day >= ?
),
idx AS (SELECT day, sum(weight * r) / sum(weight) AS index_return, count(*) AS coins FROM contrib GROUP BY day)
SELECT day, index_return,
       100 * exp(sum(ln(1 + index_return)) OVER (ORDER BY day ROWS UNBOUNDED PRECEDING)) AS index_level, coins
FROM idx ORDER BY day
"""


def candles_sql(interval: str) -> tuple[str, int]:
    seconds, bucket = INTERVALS[interval]
    sql = CANDLES.format(
        q=Q, bucket=bucket, seconds=seconds, coins="{coins}", last_cap=last("market_cap"),
        last_volume=last("total_volume"),
    )  # fmt: skip
    return sql, seconds
