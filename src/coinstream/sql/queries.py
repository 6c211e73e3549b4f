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
- Nullable columns (market cap, volume) are read from the row at the chosen timestamp
  with a join, never with max_by: DuckDB's arg_max skips NULL values, Trino's does not.

`{coins}` is replaced by as many `?` placeholders as coins were asked for, `{windows}` and
`{coin_rows}` by rows of placeholders; values are still bound by the driver.
"""

# ruff: noqa: S608  # constant SQL fragments composed; every value is a bound `?` parameter

from __future__ import annotations

from coinstream.sql.windows import INTERVALS

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
LATEST = f"""
WITH {Q},
last AS (SELECT coin_id, max(source_ts) AS source_ts FROM q GROUP BY coin_id)
SELECT q.coin_id, q.source_ts, q.price, q.market_cap,
       q.market_cap / sum(q.market_cap) OVER () AS cap_share,
       q.total_volume, q.high_24h, q.low_24h, q.price_change_pct_24h,
       to_unixtime(?) - to_unixtime(q.source_ts) AS age_seconds
FROM q JOIN last l ON l.coin_id = q.coin_id AND l.source_ts = q.source_ts
ORDER BY q.coin_id
"""

#: The seed's first question: return over the whole stored history of each coin.
TOTAL_RETURN = f"""
WITH {Q},
span AS (SELECT coin_id, min(source_ts) AS start_ts, max(source_ts) AS current_ts, count(*) AS quotes
         FROM q GROUP BY coin_id)
SELECT s.coin_id, CAST(s.start_ts AS DATE) AS start_date, s.start_ts, a.price AS start_price,
       s.current_ts, b.price AS current_price,
       (to_unixtime(s.current_ts) - to_unixtime(s.start_ts)) / 86400e0 AS days,
       s.quotes, b.price / a.price - 1 AS pct_return
FROM span s
JOIN q a ON a.coin_id = s.coin_id AND a.source_ts = s.start_ts
JOIN q b ON b.coin_id = s.coin_id AND b.source_ts = s.current_ts
ORDER BY s.coin_id
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
starts AS (SELECT w.window_name, q.coin_id, max(q.source_ts) AS ts
           FROM q JOIN w ON q.source_ts >= w.start_lo AND q.source_ts <= w.start_target
           GROUP BY w.window_name, q.coin_id),
ends AS (SELECT w.window_name, q.coin_id, max(q.source_ts) AS ts
         FROM q JOIN w ON q.source_ts >= w.end_lo AND q.source_ts <= w.end_hi
         GROUP BY w.window_name, q.coin_id),
pairs AS (
  SELECT c.coin_id, w.window_name, w.ord, w.seconds, w.tolerance_seconds, w.start_target,
         s.ts AS start_ts, e.ts AS end_ts
  FROM c CROSS JOIN w
  LEFT JOIN starts s ON s.coin_id = c.coin_id AND s.window_name = w.window_name
  LEFT JOIN ends e ON e.coin_id = c.coin_id AND e.window_name = w.window_name
),
counted AS (
  SELECT p.coin_id, p.window_name, count(x.source_ts) AS quotes
  FROM pairs p LEFT JOIN q x ON x.coin_id = p.coin_id AND x.source_ts >= p.start_ts AND x.source_ts <= p.end_ts
  GROUP BY p.coin_id, p.window_name
),
r AS (
  SELECT p.coin_id, p.window_name, p.ord, p.seconds AS window_seconds, p.tolerance_seconds, p.start_target,
         p.start_ts, a.price AS start_price, p.end_ts, b.price AS end_price,
         to_unixtime(p.end_ts) - to_unixtime(p.start_ts) AS elapsed_seconds,
         CASE WHEN p.start_ts IS NOT NULL AND p.end_ts IS NOT NULL THEN k.quotes END AS quotes,
         b.price / a.price - 1 AS pct_return,
         CASE WHEN p.end_ts IS NULL THEN '{STALE}' WHEN p.start_ts IS NULL THEN '{NO_START}' END AS reason,
         b.price_change_pct_24h AS source_pct_24h
  FROM pairs p
  JOIN counted k ON k.coin_id = p.coin_id AND k.window_name = p.window_name
  LEFT JOIN q a ON a.coin_id = p.coin_id AND a.source_ts = p.start_ts
  LEFT JOIN q b ON b.coin_id = p.coin_id AND b.source_ts = p.end_ts
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
CANDLES = """
WITH {q},
b AS (SELECT coin_id, source_ts, price, {bucket} AS bucket_start FROM q),
agg AS (SELECT coin_id, bucket_start, max(source_ts) AS close_ts, min(source_ts) AS first_ts,
               max(price) AS high, min(price) AS low, count(*) AS quotes
        FROM b GROUP BY coin_id, bucket_start),
closed AS (
  SELECT g.coin_id, g.bucket_start, g.high, g.low, g.quotes, g.close_ts, f.price AS first_price,
         x.price AS close, x.market_cap, x.total_volume AS volume_24h,
         lag(x.price) OVER (PARTITION BY g.coin_id ORDER BY g.bucket_start) AS prev_close,
         lag(g.bucket_start) OVER (PARTITION BY g.coin_id ORDER BY g.bucket_start) AS prev_start
  FROM agg g
  JOIN q x ON x.coin_id = g.coin_id AND x.source_ts = g.close_ts
  JOIN q f ON f.coin_id = g.coin_id AND f.source_ts = g.first_ts
),
chained AS (
  SELECT *, coalesce(prev_start = date_add('second', -{seconds}, bucket_start), false) AS chained,
         date_add('second', {seconds}, bucket_start) AS bucket_end
  FROM closed
)
SELECT coin_id, bucket_start, CASE WHEN chained THEN prev_close ELSE first_price END AS open,
       greatest(high, CASE WHEN chained THEN prev_close ELSE first_price END) AS high,
       least(low, CASE WHEN chained THEN prev_close ELSE first_price END) AS low,
       close, close_ts, quotes, market_cap, volume_24h, NOT chained AS gap_before,
       bucket_end <= ? AND to_unixtime(bucket_end) - to_unixtime(close_ts) <= ? AS complete
FROM chained WHERE bucket_start >= ?
ORDER BY coin_id, bucket_start
"""

#: Complete UTC days only. Parameters after `q`: now, tolerance seconds.
_DAILY = """
qd AS (SELECT coin_id, source_ts, price, market_cap, total_volume,
              date_trunc('day', date_add('millisecond', -1, source_ts)) AS day_start FROM q),
lastd AS (SELECT coin_id, day_start, max(source_ts) AS close_ts, count(*) AS quotes FROM qd
          GROUP BY coin_id, day_start),
daily AS (
  SELECT l.coin_id, CAST(l.day_start AS DATE) AS day,
         date_diff('day', DATE '1970-01-01', CAST(l.day_start AS DATE)) AS dn,
         x.price AS close, l.close_ts, x.market_cap, x.total_volume, l.quotes
  FROM lastd l JOIN qd x ON x.coin_id = l.coin_id AND x.source_ts = l.close_ts
  WHERE date_add('day', 1, l.day_start) <= ?
    AND to_unixtime(date_add('day', 1, l.day_start)) - to_unixtime(l.close_ts) <= ?
),
rets AS (
  SELECT d.coin_id, d.day, d.dn, d.close / p.close - 1 AS r, ln(d.close / p.close) AS lr
  FROM daily d JOIN daily p ON p.coin_id = d.coin_id AND p.dn = d.dn - 1
)"""

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
  SELECT d.day, d.coin_id, p.market_cap AS weight, d.close / p.close - 1 AS r
  FROM daily d JOIN daily p ON p.coin_id = d.coin_id AND p.dn = d.dn - 1
  WHERE p.market_cap > 0 AND d.day >= ?
),
idx AS (SELECT day, sum(weight * r) / sum(weight) AS index_return, count(*) AS coins FROM contrib GROUP BY day)
SELECT day, index_return,
       100 * exp(sum(ln(1 + index_return)) OVER (ORDER BY day ROWS UNBOUNDED PRECEDING)) AS index_level, coins
FROM idx ORDER BY day
"""


def candles_sql(interval: str) -> tuple[str, int]:
    seconds, bucket = INTERVALS[interval]
    return CANDLES.format(q=Q, bucket=bucket, seconds=seconds, coins="{coins}"), seconds
