"""The investor queries, in Trino SQL, each taking `?` parameters only.

Every query starts from the same filtered set `q` (one currency, chosen coins) and,
where it works on days, from `daily`: one UTC day per row with open/high/low/close
taken from the first/last quote of that day, so daily backfill points, hourly
history and live ticks mix correctly. "Now" is always the newest quote, never the
wall clock, so a query is reproducible and both engines agree exactly.

`{coins}` is replaced by as many `?` placeholders as coins were asked for; values
are still bound by the driver.
"""

# ruff: noqa: S608  # constant SQL fragments composed; every value is a bound `?` parameter

from __future__ import annotations

BASE = """
q AS (
  SELECT coin_id, source_ts, price FROM quotes WHERE vs_currency = ? AND coin_id IN ({coins})
),
daily AS (
  SELECT coin_id, CAST(date_trunc('day', source_ts) AS DATE) AS day,
         min_by(price, source_ts) AS open, max(price) AS high, min(price) AS low,
         max_by(price, source_ts) AS close, count(*) AS quotes
  FROM q GROUP BY coin_id, CAST(date_trunc('day', source_ts) AS DATE)
)"""

LATEST = f"""
WITH {BASE}
SELECT coin_id, max(source_ts) AS source_ts, max_by(price, source_ts) AS price
FROM q GROUP BY coin_id ORDER BY coin_id
"""

# Windows are parameters too: (name, seconds, order) rows built from WINDOWS.
RETURNS = f"""
WITH {BASE},
latest AS (
  SELECT coin_id, max(source_ts) AS ts, max_by(price, source_ts) AS price, min(source_ts) AS first_ts
  FROM q GROUP BY coin_id
),
w AS (SELECT * FROM (VALUES {{windows}}) AS t(window_name, seconds, ord)),
starts AS (
  SELECT l.coin_id, w.window_name, w.ord, l.ts AS latest_ts, l.price AS latest_price,
         CASE WHEN w.seconds IS NULL THEN l.first_ts ELSE max(x.source_ts) END AS start_ts
  FROM latest l CROSS JOIN w
  LEFT JOIN q x ON x.coin_id = l.coin_id AND x.source_ts <= date_add('second', -w.seconds, l.ts)
  GROUP BY l.coin_id, w.window_name, w.ord, w.seconds, l.ts, l.price, l.first_ts
)
SELECT s.coin_id, s.window_name, s.start_ts, p.price AS start_price, s.latest_ts, s.latest_price,
       s.latest_price / p.price - 1 AS pct_return
FROM starts s LEFT JOIN q p ON p.coin_id = s.coin_id AND p.source_ts = s.start_ts
ORDER BY s.coin_id, s.ord
"""

OHLC = f"""
WITH {BASE}
SELECT coin_id, day, open, high, low, close, quotes FROM daily
WHERE day > (SELECT date_add('day', -?, max(day)) FROM daily)
ORDER BY coin_id, day
"""

VOLATILITY = f"""
WITH {BASE},
rets AS (
  SELECT coin_id, day, ln(close / lag(close) OVER (PARTITION BY coin_id ORDER BY day)) AS r FROM daily
),
vol AS (
  SELECT coin_id, day,
         stddev_samp(r) OVER (PARTITION BY coin_id ORDER BY day ROWS BETWEEN 29 PRECEDING AND CURRENT ROW)
           * sqrt(365) AS vol,
         count(r) OVER (PARTITION BY coin_id ORDER BY day ROWS BETWEEN 29 PRECEDING AND CURRENT ROW) AS n
  FROM rets
)
SELECT coin_id, day, CASE WHEN n = 30 THEN vol END AS volatility_30d FROM vol ORDER BY coin_id, day
"""

DRAWDOWNS = f"""
WITH {BASE}
SELECT coin_id, day, close,
       close / max(close) OVER (PARTITION BY coin_id ORDER BY day ROWS UNBOUNDED PRECEDING) - 1 AS drawdown
FROM daily ORDER BY coin_id, day
"""

MAX_DRAWDOWN = f"""
WITH {BASE},
dd AS (
  SELECT coin_id, day,
         close / max(close) OVER (PARTITION BY coin_id ORDER BY day ROWS UNBOUNDED PRECEDING) - 1 AS drawdown
  FROM daily
)
SELECT coin_id, min(drawdown) AS max_drawdown, min_by(day, drawdown) AS trough_day FROM dd
GROUP BY coin_id ORDER BY coin_id
"""

CORRELATION = f"""
WITH {BASE},
rets AS (
  SELECT coin_id, day, close / lag(close) OVER (PARTITION BY coin_id ORDER BY day) - 1 AS r FROM daily
),
recent AS (
  SELECT * FROM rets WHERE r IS NOT NULL AND day > (SELECT date_add('day', -?, max(day)) FROM daily)
)
SELECT a.coin_id AS coin_a, b.coin_id AS coin_b, corr(a.r, b.r) AS correlation, count(*) AS days
FROM recent a JOIN recent b ON a.day = b.day
GROUP BY a.coin_id, b.coin_id ORDER BY a.coin_id, b.coin_id
"""

MOVING_AVERAGES = f"""
WITH {BASE},
ma AS (
  SELECT coin_id, day, close,
    avg(close) OVER (PARTITION BY coin_id ORDER BY day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS a7,
    avg(close) OVER (PARTITION BY coin_id ORDER BY day ROWS BETWEEN 29 PRECEDING AND CURRENT ROW) AS a30,
    avg(close) OVER (PARTITION BY coin_id ORDER BY day ROWS BETWEEN 199 PRECEDING AND CURRENT ROW) AS a200,
    row_number() OVER (PARTITION BY coin_id ORDER BY day) AS n
  FROM daily
)
SELECT coin_id, day, close,
       CASE WHEN n >= 7 THEN a7 END AS ma_7d,
       CASE WHEN n >= 30 THEN a30 END AS ma_30d,
       CASE WHEN n >= 200 THEN a200 END AS ma_200d
FROM ma ORDER BY coin_id, day
"""

LAST_HOUR = f"""
WITH {BASE}
SELECT coin_id, source_ts, price FROM q
WHERE source_ts >= (SELECT date_add('hour', -1, max(source_ts)) FROM q)
ORDER BY coin_id, source_ts
"""

CUMULATIVE = f"""
WITH {BASE},
common AS (SELECT max(first_day) AS day FROM (SELECT min(day) AS first_day FROM daily GROUP BY coin_id) f),
base AS (SELECT d.coin_id, d.day, d.close FROM daily d, common c WHERE d.day >= c.day)
SELECT coin_id, day, close,
       close / first_value(close) OVER (PARTITION BY coin_id ORDER BY day) - 1 AS cumulative_return
FROM base ORDER BY coin_id, day
"""

COINS = "SELECT DISTINCT coin_id FROM quotes WHERE vs_currency = ? ORDER BY coin_id"
