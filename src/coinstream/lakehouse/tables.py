"""The Iceberg tables the job writes: typed quotes, month-partitioned, and the quarantine.

Columns come from the Quote model (plus Kafka lineage), so the table cannot drift
from the event. Partitioning by month of source_ts (not coin) keeps the file count
independent of how many coins are tracked; hash distribution makes each commit
write one file per month touched, and compaction leaves one file per month. Day
partitions were too fine for hourly history: a day of 250 hourly series is ~6,000
rows, so five years were 1,826 files of ~140 KiB and a one-year query opened 365.
Tables created day-partitioned keep their spec (nothing reads or writes by it);
`ALTER TABLE ... REPLACE PARTITION FIELD source_ts_day WITH months(source_ts)` moves
one to months (Iceberg partition evolution, metadata only).
"""

from __future__ import annotations

from typing import Any

from coinstream.lakehouse.config import LakeConfig
from coinstream.models.quote import Quote
from coinstream.models.spark import spark_columns

#: The dedup identity end to end (Quote.identity).
IDENTITY = ("vs_currency", "coin_id", "source", "source_ts")
LINEAGE = (("kafka_topic", "STRING"), ("kafka_partition", "INT"), ("kafka_offset", "BIGINT"), ("lake_ts", "TIMESTAMP"))
QUARANTINE_COLUMNS = (
    ("raw_value", "STRING"),
    ("reason", "STRING"),
    ("kafka_topic", "STRING"),
    ("kafka_partition", "INT"),
    ("kafka_offset", "BIGINT"),
    ("kafka_ts", "TIMESTAMP"),
    ("quarantined_at", "TIMESTAMP"),
    # How raw_value holds the record (coinstream.lakehouse.parse): its text, or base64 of a binary one.
    ("raw_encoding", "STRING"),
)
#: A quarantined record is its Kafka position (the timestamp tells a re-created topic's offsets apart).
QUARANTINE_KEY = ("kafka_topic", "kafka_partition", "kafka_offset", "kafka_ts")
TABLE_PROPERTIES = {
    "format-version": "2",
    "write.distribution-mode": "hash",
    "write.parquet.compression-codec": "zstd",
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "50",
    "history.expire.max-snapshot-age-ms": str(6 * 3600 * 1000),
    "commit.retry.num-retries": "10",
}


def quote_columns() -> list[tuple[str, str]]:
    return [(name, spark) for name, spark, _ in spark_columns(Quote)] + list(LINEAGE)


def _props() -> str:
    return ", ".join(f"'{k}'='{v}'" for k, v in TABLE_PROPERTIES.items())


def quotes_ddl(cfg: LakeConfig) -> str:
    cols = ", ".join(f"{n} {t}" for n, t in quote_columns())
    return (
        f"CREATE TABLE IF NOT EXISTS {cfg.quotes} ({cols}) USING iceberg "
        f"PARTITIONED BY (months(source_ts)) TBLPROPERTIES ({_props()})"
    )


def quarantine_ddl(cfg: LakeConfig) -> str:
    cols = ", ".join(f"{n} {t}" for n, t in QUARANTINE_COLUMNS)
    return (
        f"CREATE TABLE IF NOT EXISTS {cfg.quarantine} ({cols}) USING iceberg "
        f"PARTITIONED BY (days(quarantined_at)) TBLPROPERTIES ({_props()})"
    )


def _idempotent(spark: Any, sql: str) -> None:
    """Run DDL another writer may be running at the same moment (two feeds starting on one table)."""
    try:
        spark.sql(sql)
    except Exception as exc:
        text = str(exc)
        if "AlreadyExists" not in text and "already exists" not in text and "ALREADY_EXISTS" not in text:
            raise


def evolve(spark: Any, table: str, columns: list[tuple[str, str]]) -> list[str]:
    """Add the columns the model gained since the table was created (old rows read them as null).

    Iceberg adds columns by id in metadata only: no data file is rewritten, and every engine
    reading the table sees the new column at once.
    """
    have = {f.name for f in spark.table(table).schema.fields}
    added = [name for name, _ in columns if name not in have]
    for name, spark_type in columns:
        if name in added:
            _idempotent(spark, f"ALTER TABLE {table} ADD COLUMN {name} {spark_type}")
    return added


def ensure_tables(spark: Any, cfg: LakeConfig) -> None:
    _idempotent(spark, f"CREATE NAMESPACE IF NOT EXISTS {cfg.catalog}.{cfg.namespace}")
    _idempotent(spark, quotes_ddl(cfg))
    _idempotent(spark, quarantine_ddl(cfg))
    evolve(spark, cfg.quotes, quote_columns())
    evolve(spark, cfg.quarantine, list(QUARANTINE_COLUMNS))
    # Without a write ordering Iceberg picks its fanout writer: one open Parquet file per
    # partition touched. A 13-year backfill touches ~4,750 days in one batch and runs the
    # driver out of heap. Ordering within each task by day (then series) lets the clustered
    # writer close each day's file before opening the next: memory is one file, not thousands.
    spark.sql(
        f"ALTER TABLE {cfg.quotes} WRITE DISTRIBUTED BY PARTITION LOCALLY ORDERED BY vs_currency, coin_id, source_ts"
    )
    spark.sql(f"ALTER TABLE {cfg.quarantine} WRITE DISTRIBUTED BY PARTITION LOCALLY ORDERED BY quarantined_at")


def snapshot_rows(metastore_uri: str, warehouse: str, ident: str) -> int:
    """Rows in a table's current snapshot, from Iceberg metadata alone (no scan); 0 before it exists."""
    from pyiceberg.catalog.hive import HiveCatalog
    from pyiceberg.exceptions import NoSuchTableError

    try:
        table = HiveCatalog("lake", uri=metastore_uri, warehouse=warehouse).load_table(ident)
    except NoSuchTableError:
        return 0
    snap = table.current_snapshot()
    total = snap.summary.get("total-records") if snap and snap.summary else None
    return int(total) if total is not None else 0
