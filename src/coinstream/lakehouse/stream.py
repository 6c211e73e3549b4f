"""The streaming job: Kafka quotes → Iceberg, exactly once across restarts.

How exactly-once holds: Spark commits a micro-batch's Kafka offsets to the
checkpoint only after `write_batch` returns; a batch interrupted by a crash is
replayed with the same offsets on restart. `write_batch` is idempotent: quotes are
MERGEd on their identity (vs_currency, coin_id, source, source_ts) with WHEN NOT
MATCHED INSERT only, quarantined records on their Kafka position, so a replayed
batch, a re-sent snapshot or a re-run backfill adds nothing. Each MERGE is one
atomic Iceberg commit, visible to Trino and DuckDB at once or not at all.

Dedup happens twice: in-stream within a watermark on arrival time (cheap, drops
re-sent snapshots before they reach the table) and against the table by the MERGE
(catches anything older, e.g. a backfill re-run days later).
"""

from __future__ import annotations

import re
from typing import Any

from coinstream.lakehouse.config import LakeConfig
from coinstream.lakehouse.parse import identity_key, parse_records
from coinstream.lakehouse.tables import IDENTITY, QUARANTINE_COLUMNS, ensure_tables, quote_columns
from coinstream.logs import get_logger

log = get_logger(__name__)

_TS_FORMAT = "yyyy-MM-dd HH:mm:ss.SSSSSS"
_TS_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")


def _ts_literal(value: str) -> str:
    """A Spark TIMESTAMP literal from a timestamp Spark itself formatted (session time zone UTC).

    Formatting in Spark, not Python, matters: collect() turns timestamps into naive datetimes
    in the *driver's* local zone, which would shift the bounds if the pod's TZ is not UTC.
    """
    if not _TS_TEXT.match(value):
        raise ValueError(f"unexpected timestamp text {value!r}")
    return f"TIMESTAMP '{value}'"


def _typed_quotes(batch: Any) -> Any:
    from pyspark.sql import functions as F

    lineage = {"kafka_topic", "kafka_partition", "kafka_offset", "lake_ts"}
    cols = [F.col(f"q.{name}").alias(name) for name, _ in quote_columns() if name not in lineage]
    return (
        batch.where(F.col("reason").isNull())
        .select(*cols, "kafka_topic", "kafka_partition", "kafka_offset", F.current_timestamp().alias("lake_ts"))
        .dropDuplicates(list(IDENTITY))
    )


def _quarantined(batch: Any) -> Any:
    from pyspark.sql import functions as F

    return batch.where(F.col("reason").isNotNull()).select(
        *[F.col(n) for n, _ in QUARANTINE_COLUMNS if n != "quarantined_at"],
        F.current_timestamp().alias("quarantined_at"),
    )


def batch_stats(batch: Any) -> Any:
    """One pass over the (persisted) batch: how many good and bad rows, and the time span."""
    from pyspark.sql import functions as F

    good = F.col("reason").isNull()
    return batch.agg(
        F.count(F.when(good, 1)).alias("n"),
        F.count(F.when(~good, 1)).alias("bad"),
        F.date_format(F.min(F.when(good, F.col("q.source_ts"))), _TS_FORMAT).alias("lo"),
        F.date_format(F.max(F.when(good, F.col("q.source_ts"))), _TS_FORMAT).alias("hi"),
    ).collect()[0]


def merge_quotes(spark: Any, quotes: Any, table: str, row: Any) -> int:
    """Insert quotes not yet in `table`; returns the number of candidate rows (0 = no commit)."""
    if not row["n"]:
        return 0
    quotes.createOrReplaceTempView("coinstream_batch_quotes")
    on = " AND ".join(f"t.{c} = s.{c}" for c in IDENTITY)
    # Bounds on the target let Iceberg prune days/files the batch cannot collide with.
    bounds = f"t.source_ts >= {_ts_literal(row['lo'])} AND t.source_ts <= {_ts_literal(row['hi'])}"
    spark.sql(
        f"MERGE INTO {table} t USING coinstream_batch_quotes s ON {on} AND {bounds} WHEN NOT MATCHED THEN INSERT *"
    )
    return int(row["n"])


def merge_quarantine(spark: Any, bad: Any, table: str, rows: int) -> int:
    if not rows:
        return 0
    bad.createOrReplaceTempView("coinstream_batch_quarantine")
    on = " AND ".join(f"t.{c} = s.{c}" for c in ("kafka_topic", "kafka_partition", "kafka_offset"))
    spark.sql(f"MERGE INTO {table} t USING coinstream_batch_quarantine s ON {on} WHEN NOT MATCHED THEN INSERT *")
    return int(rows)


def batch_writer(cfg: LakeConfig) -> Any:
    def write_batch(batch: Any, batch_id: int) -> None:
        spark = batch.sparkSession
        batch = batch.persist()
        try:
            stats = batch_stats(batch)
            good = merge_quotes(spark, _typed_quotes(batch), cfg.quotes, stats)
            bad = merge_quarantine(spark, _quarantined(batch), cfg.quarantine, int(stats["bad"]))
            log.info("batch committed", batch_id=batch_id, quotes=good, quarantined=bad)
        finally:
            batch.unpersist()

    return write_batch


def kafka_source(spark: Any, cfg: LakeConfig) -> Any:
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", cfg.bootstrap)
        .option("subscribePattern", cfg.topics)
        .option("startingOffsets", cfg.starting_offsets)
        .option("kafka.metadata.max.age.ms", "10000")
        .option("includeHeaders", "false")
        .option("kafka.isolation.level", "read_committed")  # aborted backfill chunks never reach the table
    )
    if cfg.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(cfg.max_offsets_per_trigger))
    if cfg.group_id_prefix:
        reader = reader.option("groupIdPrefix", cfg.group_id_prefix)
    for key, value in cfg.kafka_auth().spark_options().items():
        reader = reader.option(key, value)
    return reader.load()


def build_stream(spark: Any, cfg: LakeConfig) -> Any:
    """The streaming DataFrame up to (not including) the sink."""
    from pyspark.sql import functions as F

    parsed = parse_records(kafka_source(spark, cfg), cfg.future_tolerance_seconds)
    return (
        parsed.withColumn("dedup_key", identity_key())
        .withColumn("seen_at", F.current_timestamp())
        .withWatermark("seen_at", cfg.dedup_window)
        .dropDuplicatesWithinWatermark(["dedup_key"])
    )


def start_stream(spark: Any, cfg: LakeConfig) -> Any:
    """Create the tables if needed and start the query; returns the StreamingQuery."""
    ensure_tables(spark, cfg)
    writer = build_stream(spark, cfg).writeStream.queryName(f"coinstream-{cfg.table}")
    if cfg.trigger == "availableNow":
        writer = writer.trigger(availableNow=True)
    elif cfg.trigger == "once":
        writer = writer.trigger(once=True)
    else:
        writer = writer.trigger(processingTime=cfg.trigger)
    query = writer.option("checkpointLocation", cfg.checkpoint).foreachBatch(batch_writer(cfg)).start()
    log.info("stream started", table=cfg.quotes, topics=cfg.topics, trigger=cfg.trigger, checkpoint=cfg.checkpoint)
    return query
