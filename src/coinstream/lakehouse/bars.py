"""Daily bars folded from the quotes table: what the day-granular questions read (coinstream.sql.bars).

Per (source, currency, coin, UTC day bucket; a quote on 00:00 closes the day before): the first and
last quote, high, low, the last quote's market cap and volume, and the number of quotes, in
`<quotes>_daily`. The fold recomputes every bar from one quotes snapshot, read with time travel,
and overwrites the bars in one commit whose summary names that snapshot (QUOTES_SNAPSHOT). So:

- Exactly once by construction: a bar is a function of the table's rows, never an increment. A
  fold re-run after a crash, or two folds racing, leave bars equal to some snapshot's aggregates;
  quotes the stream replays are in the table once (its own exactly-once), so in a bar once.
- Readers know what the bars reflect: the engines compare the named snapshot with the quotes'
  history and aggregate the quotes themselves for the days changed since (coinstream.sql.bars).

Maintenance runs the fold after compaction. A full recompute reads the table once (~11 M rows of
five years x 250 coins in well under a minute of Spark); folding only the changed days is the next
step when tables grow past that.
"""

# ruff: noqa: S608  # table identifiers come from validated LakeConfig fields, not user input

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from coinstream.lakehouse.config import LakeConfig
from coinstream.lakehouse.tables import TABLE_PROPERTIES
from coinstream.lakehouse.writers import iceberg_table
from coinstream.logs import get_logger

log = get_logger(__name__)

#: The bars of table `t` are `t_daily` (Trino and DuckDB read them as `quotes_daily`).
BARS_SUFFIX = "_daily"
#: Snapshot summary key of a bars commit: the quotes snapshot the bars were folded from.
QUOTES_SNAPSHOT = "coinstream.bars.quotes-snapshot"

BAR_COLUMNS = (
    ("source", "STRING"),
    ("vs_currency", "STRING"),
    ("coin_id", "STRING"),
    ("day_start", "TIMESTAMP"),
    ("first_ts", "TIMESTAMP"),
    ("first_price", "DOUBLE"),
    ("close_ts", "TIMESTAMP"),
    ("close", "DOUBLE"),
    ("high", "DOUBLE"),
    ("low", "DOUBLE"),
    ("market_cap", "DOUBLE"),
    ("total_volume", "DOUBLE"),
    ("quotes", "BIGINT"),
)


@dataclass(frozen=True)
class FoldResult:
    table: str
    quotes_snapshot: int | None
    #: False when the bars already reflected that snapshot (nothing was written).
    folded: bool
    bars: int


def bars_name(quotes: str) -> str:
    return quotes + BARS_SUFFIX


def bars_ddl(bars: str) -> str:
    cols = ", ".join(f"{n} {t}" for n, t in BAR_COLUMNS)
    props = ", ".join(f"'{k}'='{v}'" for k, v in TABLE_PROPERTIES.items() if k != "write.distribution-mode")
    return f"CREATE TABLE IF NOT EXISTS {bars} ({cols}) USING iceberg TBLPROPERTIES ({props})"


def daily_bars(quotes: Any) -> Any:
    """The bars of a quotes DataFrame (same bucket as the SQL: date_trunc('day', source_ts - 1 ms))."""
    from pyspark.sql import functions as F

    first = F.min(F.struct("source_ts", "price")).alias("f")
    # The last row's market cap and volume, NULL when NULL there (source_ts is unique per series).
    lastrow = F.max(F.struct("source_ts", "price", "market_cap", "total_volume")).alias("l")
    day = F.date_trunc("DAY", F.col("source_ts") - F.expr("INTERVAL 1 MILLISECOND")).alias("day_start")
    agg = quotes.groupBy("source", "vs_currency", "coin_id", day).agg(
        first, lastrow, F.max("price").alias("high"), F.min("price").alias("low"), F.count(F.lit(1)).alias("quotes")
    )
    return agg.select(
        "source", "vs_currency", "coin_id", "day_start",
        F.col("f.source_ts").alias("first_ts"), F.col("f.price").alias("first_price"),
        F.col("l.source_ts").alias("close_ts"), F.col("l.price").alias("close"),
        "high", "low", F.col("l.market_cap").alias("market_cap"), F.col("l.total_volume").alias("total_volume"),
        "quotes",
    )  # fmt: skip


def fold_bars(spark: Any, cfg: LakeConfig, table: str | None = None) -> FoldResult:
    """Recompute `<table>_daily` from the quotes table's current snapshot (a no-op when it already is)."""
    quotes = f"{cfg.catalog}.{cfg.namespace}.{table or cfg.table}"
    bars = bars_name(quotes)
    try:
        spark.sql(bars_ddl(bars))
    except Exception as exc:  # another fold created it meanwhile
        if "already exists" not in str(exc).lower() and "ALREADY_EXISTS" not in str(exc):
            raise
    spark.sql(f"ALTER TABLE {bars} WRITE ORDERED BY source, vs_currency, coin_id, day_start")
    snap = iceberg_table(spark, quotes).currentSnapshot()
    if snap is None:
        return FoldResult(bars, None, False, 0)
    sid = int(snap.snapshotId())
    mine = iceberg_table(spark, bars).currentSnapshot()
    if mine is not None and mine.summary().get(QUOTES_SNAPSHOT) == str(sid):
        return FoldResult(bars, sid, False, _rows(mine))
    rows = spark.sql(f"SELECT * FROM {quotes} VERSION AS OF {sid}")
    from pyspark.sql import functions as F

    daily_bars(rows).writeTo(bars).option(f"snapshot-property.{QUOTES_SNAPSHOT}", str(sid)).overwrite(F.lit(True))
    # Each fold replaces every file: keep the previous snapshot for readers still on it, no more.
    hour_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    spark.sql(
        f"CALL {cfg.catalog}.system.expire_snapshots(table => '{bars}', "
        f"older_than => TIMESTAMP '{hour_ago}', retain_last => 2)"
    ).collect()
    result = FoldResult(bars, sid, True, _rows(iceberg_table(spark, bars).currentSnapshot()))
    log.info("bars folded", table=bars, quotes_snapshot=sid, bars=result.bars)
    return result


def _rows(snapshot: Any) -> int:
    total = snapshot.summary().get("total-records") if snapshot is not None else None
    return int(total) if total is not None else 0
