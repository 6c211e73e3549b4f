"""The streaming job: Kafka quotes → Iceberg, exactly once across restarts, replays and writers.

Where a duplicate can come from, and what stops it:

* **The stream's own replays** (a kill -9 between the Iceberg commit and Spark's
  commits/<n>): every commit carries (writer, batch, part) in its snapshot summary
  and a replayed part already in the history is skipped (`coinstream.lakehouse.commits`),
  as in Iceberg's own streaming sink.
* **A quote delivered twice to one stream** (re-sent snapshot, producer restart):
  the in-stream dedup drops an identity seen within `dedup_window` of arrival.
* **Rows that can collide with what is already in the table**: everything older than
  the dedup horizon (backfill, gap-fill, a lagging producer) or older than this
  writer's first start (a new checkpoint re-reading a topic). Those *late* rows are
  anti-joined on the identity against the table as it was before this writer's
  recent commits (which the in-stream dedup already covers), within their time
  bounds, so a catch-up does not re-read what it just wrote.
* **Another writer of the same table** (two feeds on one series, or an old and a new
  checkpoint at once): the table's writer registry (`coinstream.lakehouse.writers`)
  makes the writer *shared*, and every row goes through a MERGE that Iceberg
  conflict-checks (serializable: a concurrent commit of a file in the batch's time
  range fails it, and the batch retries against the new state).

So the common path — one writer, live quotes — is a plain append: no table read, and
one Spark job per micro-batch (Kafka read, parse, validation, dedup and the Parquet
write in two stages; the batch's counts are observed on the way, not counted after).
The late rows of a table with no snapshot older than the check's horizon (a first
backfill into a new table) have nothing to collide with and ride in the same append.
Each commit is atomic: visible to Trino and DuckDB at once or not at all.
"""

from __future__ import annotations

import random
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from coinstream.lakehouse import commits
from coinstream.lakehouse.checkpoint import checkpoint_location, topic_identities, writer_id
from coinstream.lakehouse.config import LakeConfig
from coinstream.lakehouse.parse import identity_key, parse_records
from coinstream.lakehouse.tables import IDENTITY, QUARANTINE_COLUMNS, QUARANTINE_KEY, ensure_tables, quote_columns
from coinstream.lakehouse.writers import ACK_HORIZON_SECONDS, Registration
from coinstream.logs import get_logger
from coinstream.metrics import StreamMetrics

log = get_logger(__name__)

_TS_FORMAT = "yyyy-MM-dd HH:mm:ss.SSSSSS"
_TS_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")
CONFLICT_RETRIES = 8


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
    return batch.select(*cols, "kafka_topic", "kafka_partition", "kafka_offset", F.current_timestamp().alias("lake_ts"))


def _quarantined(batch: Any) -> Any:
    from pyspark.sql import functions as F

    return batch.where(F.col("path") == "bad").select(
        *[F.col(n) for n, _ in QUARANTINE_COLUMNS if n != "quarantined_at"],
        F.current_timestamp().alias("quarantined_at"),
    )


def mark_paths(batch: Any, since_ms: int, horizon_seconds: int) -> Any:
    """`path` per row: bad (quarantine), fresh (append) or late (anti-join first); see module doc."""
    from pyspark.sql import functions as F

    horizon = F.greatest(
        F.current_timestamp() - F.make_interval(secs=F.lit(horizon_seconds)),
        F.timestamp_millis(F.lit(since_ms)),
    )
    path = (
        F.when(F.col("reason").isNotNull(), F.lit("bad"))
        .when(F.col("q.source_ts") >= horizon, F.lit("fresh"))
        .otherwise(F.lit("late"))
    )
    return batch.withColumn("path", path)


def _stats_columns() -> list[Any]:
    """Rows per path and the time spans the checked paths need (one aggregate over the batch)."""
    from pyspark.sql import functions as F

    p, ts = F.col("path"), F.col("q.source_ts")
    good = p != "bad"
    return [
        F.count(F.when(p == "fresh", 1)).alias("fresh"),
        F.count(F.when(p == "late", 1)).alias("late"),
        F.count(F.when(p == "bad", 1)).alias("bad"),
        F.date_format(F.min(F.when(good, ts)), _TS_FORMAT).alias("lo"),
        F.date_format(F.max(F.when(good, ts)), _TS_FORMAT).alias("hi"),
        F.date_format(F.min(F.when(p == "late", ts)), _TS_FORMAT).alias("late_lo"),
        F.date_format(F.max(F.when(p == "late", ts)), _TS_FORMAT).alias("late_hi"),
    ]


def batch_stats(batch: Any) -> dict[str, Any]:
    """One pass over the (persisted) batch: rows per path, and the time span of the good ones."""
    return batch.agg(*_stats_columns()).collect()[0].asDict()


def observed(batch: Any) -> tuple[Any, Any]:
    """`batch` with the same statistics gathered while the first action over it runs (no job of its own)."""
    from pyspark.sql import Observation

    observation = Observation()
    return batch.observe(observation, *_stats_columns()), observation


def observed_stats(observation: Any, batch: Any) -> dict[str, Any]:
    """The observed statistics, or `batch_stats` if the action did not report them.

    pyspark's `Observation.get` waits forever for metrics that never come; the JVM's
    `getRowOrEmpty` waits briefly instead, and the cached batch answers the rest.
    """
    from pyspark.serializers import CPickleSerializer

    found = observation._jo.getRowOrEmpty()
    if not found.isDefined():
        log.warning("batch statistics were not observed; counting the cached batch")
        return batch_stats(batch)
    utils = batch.sparkSession.sparkContext._jvm.org.apache.spark.sql.api.python.PythonSQLUtils
    row = CPickleSerializer().loads(utils.toPyRow(found.get()))
    return dict(row.asDict(recursive=False))


def _bounds(alias: str, lo: str, hi: str) -> str:
    return f"{alias}.source_ts >= {_ts_literal(lo)} AND {alias}.source_ts <= {_ts_literal(hi)}"


#: Stream appends write from the tasks that parsed and deduplicated the rows as they come: no
#: shuffle by partition and no sort into the table's order (vs_currency, coin_id, source_ts),
#: which cost every row ~2.5 us of a micro-batch's CPU. The fanout writer keeps one file open
#: per month the task touches (a micro-batch touches one or two; a 13-year backfill batch ~160,
#: where the earlier day partitions needed ~4,750). Compaction (coinstream.lakehouse.maintain)
#: rewrites them sorted. The table's zstd stays: snappy measured no cheaper (10.8 vs 10.7 us/row).
STREAM_WRITE_OPTIONS = {"use-table-distribution-and-ordering": "false", "fanout-enabled": "true"}


def append(df: Any, table: str, props: dict[str, str]) -> None:
    df.writeTo(table).options(**STREAM_WRITE_OPTIONS, **commits.write_options(props)).append()


def merge_checked(spark: Any, quotes: Any, table: str, lo: str, hi: str, props: dict[str, str]) -> None:
    """Insert the quotes not in `table`, as a conflict-checked row-level MERGE.

    An insert-only MERGE is planned as an anti-join plus a blind append, which Iceberg
    does not validate. The never-true MATCHED clause makes it a row-level operation:
    under serializable isolation its commit fails if another writer added a file in the
    scanned time range meanwhile; the batch then re-runs against the new table state.
    """
    view = f"coinstream_merge_{props[commits.WRITER]}"
    quotes.createOrReplaceTempView(view)
    on = " AND ".join(f"t.{c} = s.{c}" for c in IDENTITY)
    sql = (
        f"MERGE INTO {table} t USING {view} s ON {on} AND {_bounds('t', lo, hi)} "
        "WHEN MATCHED AND t.kafka_offset < 0 THEN DELETE WHEN NOT MATCHED THEN INSERT *"
    )
    for attempt in range(1, CONFLICT_RETRIES + 1):
        try:
            with commits.session_snapshot_properties(spark, props):
                spark.sql(sql)
            return
        except Exception as exc:
            if attempt == CONFLICT_RETRIES or not commits.lost_commit_race(exc):
                raise
            log.info("concurrent commit in range, retrying", table=table, attempt=attempt)
            time.sleep(random.uniform(0.2, 1.5))


def merge_quarantine(spark: Any, bad: Any, table: str, rows: int) -> dict[tuple[str, str], int]:
    """Quarantine the batch's bad rows (once per Kafka position); their count per (topic, reason)."""
    if not rows:
        return {}
    counts = {
        (r["kafka_topic"], r["reason"]): int(r["n"])
        for r in bad.groupBy("kafka_topic", "reason").count().withColumnRenamed("count", "n").collect()
    }
    bad.createOrReplaceTempView("coinstream_batch_quarantine")
    on = " AND ".join(f"t.{c} <=> s.{c}" for c in QUARANTINE_KEY)
    spark.sql(f"MERGE INTO {table} t USING coinstream_batch_quarantine s ON {on} WHEN NOT MATCHED THEN INSERT *")
    return counts


@dataclass
class BatchWriter:
    """foreachBatch sink: one writer (checkpoint) of the quotes and quarantine tables."""

    cfg: LakeConfig
    registration: Registration
    #: Counted after the quarantine commit. A batch replayed after a crash counts again in the
    #: new process, whose counters start at zero: Prometheus' increase() sees a reset, not a rise.
    metrics: StreamMetrics = field(default_factory=StreamMetrics)
    #: Per batch, for profiling: seconds in a statistics job of its own (checked paths only), in the
    #: quote writes (Kafka read, parse and dedup run inside the first one) and in the quarantine,
    #: and when the sink began and when the quotes were committed (epoch seconds).
    timings: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=2000))
    _last: tuple[int, str] | None = None
    _last_batch: int | None = None
    _second_pass: bool = False
    _late_pass: bool = False

    @property
    def writer(self) -> str:
        return self.registration.writer

    def __call__(self, batch: Any, batch_id: int) -> None:
        spark = batch.sparkSession
        reg = self.registration
        horizon = self.cfg.dedup_window_seconds
        with reg.lock:
            t0 = time.time()
            shared = reg.shared()
            marked = mark_paths(batch, reg.since, horizon)
            # A second pass over the batch (quarantine, late rows checked against the table, the
            # shared path's statistics) recomputes it from Kafka unless it is cached, and caching
            # costs every row a copy: cache when the last batch needed a second pass.
            cached = shared or self._second_pass
            if cached:
                marked = marked.persist()
            try:
                if shared:
                    st = batch_stats(marked)
                    t1 = time.time()
                    if st["fresh"] + st["late"]:
                        good = _typed_quotes(marked.where("path != 'bad'"))
                        props = commits.snapshot_properties(self.writer, batch_id, "done")
                        merge_checked(spark, good, self.cfg.quotes, st["lo"], st["hi"], props)
                else:
                    st = self._append(spark, marked, batch_id, horizon)
                    t1 = t0  # the batch is computed inside its first write
                t2 = time.time()
                quarantined = merge_quarantine(spark, _quarantined(marked), self.cfg.quarantine, int(st["bad"]))
                t3 = time.time()
            finally:
                if cached:
                    marked.unpersist()
        self._second_pass = bool(st["bad"]) or self._late_pass
        for (topic, reason), n in quarantined.items():
            self.metrics.quarantined.labels(topic, reason).inc(n)
        self.metrics.batches_committed.inc()
        bad = sum(quarantined.values())
        timing = {
            "batch": batch_id, "fresh": st["fresh"], "late": st["late"], "bad": bad, "shared": shared,
            "stats_s": t1 - t0, "write_s": t2 - t1, "quarantine_s": t3 - t2, "started_at": t0, "written_at": t2,
        }  # fmt: skip
        self.timings.append(timing)
        log.info("batch committed", **timing)

    def _last_commit(self, batch_id: int) -> tuple[int, str] | None:
        """This writer's newest commit. Read from the table's history for the first batch this sink
        sees (a restart may replay a batch whose commit Spark did not record); after that the sink
        knows it, since Spark runs one query's batches in order and only a restart repeats one."""
        if self._last_batch is None or batch_id <= self._last_batch:
            self._last = commits.last_commit(self.registration.table(), self.writer)
        self._last_batch = batch_id
        return self._last

    def _commit(self, df: Any, batch_id: int, part: str) -> None:
        append(df, self.cfg.quotes, commits.snapshot_properties(self.writer, batch_id, part))
        self._last = (batch_id, part)

    def _append(self, spark: Any, marked: Any, batch_id: int, horizon: int) -> dict[str, Any]:
        """The exclusive path: append, reading the table only for late rows it may already hold.

        The common case is one Spark job: the first write computes the batch (Kafka read, parse,
        dedup) and gathers the batch's statistics on the way (an observation, not a job of its
        own). Late rows that may be in the table already take a second write, after the check.
        """
        last = self._last_commit(batch_id)
        # Commits of this writer after `as_of` hold only identities that arrived within the
        # dedup horizon, which the in-stream dedup has already removed from this batch. The
        # registry thread's view of the table (seconds old) holds every snapshot that old.
        as_of = max(int(time.time() * 1000) - horizon * 500, self.registration.since)
        snapshot = commits.snapshot_as_of(spark, self.registration.recent_table(), as_of)
        self._late_pass = False
        if commits.done(last, batch_id, "fresh"):
            st = batch_stats(marked)  # a replay: the first part is in already
        else:
            watched, observation = observed(marked)
            if snapshot is None:  # nothing in the table a late row could collide with
                self._commit(_typed_quotes(watched.where("path != 'bad'")), batch_id, "done")
            else:
                self._commit(_typed_quotes(watched.where("path = 'fresh'")), batch_id, "live")
            st = observed_stats(observation, marked)
        if st["late"] and not commits.done(self._last, batch_id, "late"):
            self._late_pass = True
            late = _typed_quotes(marked.where("path = 'late'"))
            if snapshot is not None:
                # Identifiers come from the validated LakeConfig, bounds from Spark's own formatting.
                existing = spark.sql(
                    f"SELECT {', '.join(IDENTITY)} FROM {self.cfg.quotes} VERSION AS OF {snapshot} AS t "  # noqa: S608
                    f"WHERE {_bounds('t', st['late_lo'], st['late_hi'])}"
                )
                late = late.join(existing, list(IDENTITY), "left_anti")
            self._commit(late, batch_id, "done")
        return st


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
    # Spark splits each partition into round(its share x minPartitions) ranges: 3 equal
    # partitions and 2 cores need 6 to give both cores equal work.
    min_partitions = cfg.min_partitions or 3 * spark.sparkContext.defaultParallelism
    reader = reader.option("minPartitions", str(min_partitions))
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


def start_stream(
    spark: Any, cfg: LakeConfig, ack_timeout: float = ACK_HORIZON_SECONDS + 60, metrics: StreamMetrics | None = None
) -> Any:
    """Create or evolve the tables, register as a writer and start the query; returns the StreamingQuery."""
    return launch(spark, cfg, ack_timeout, metrics)[0]


def launch(
    spark: Any, cfg: LakeConfig, ack_timeout: float = ACK_HORIZON_SECONDS + 60, metrics: StreamMetrics | None = None
) -> tuple[Any, BatchWriter]:
    """`start_stream`, also returning the sink (its per-batch timings are the benchmark's profile)."""
    ensure_tables(spark, cfg)
    location = checkpoint_location(cfg, topic_identities(spark, cfg))
    reg = Registration(spark, cfg.quotes, writer_id(location), float(cfg.dedup_window_seconds))
    reg.register()
    reg.start()
    try:
        reg.wait_for_acks(ack_timeout)
    except BaseException:
        reg.stop()
        raise
    writer = build_stream(spark, cfg).writeStream.queryName(f"coinstream-{cfg.table}-{reg.writer}")
    if cfg.trigger == "availableNow":
        writer = writer.trigger(availableNow=True)
    elif cfg.trigger == "once":
        writer = writer.trigger(once=True)
    else:
        writer = writer.trigger(processingTime=cfg.trigger)
    sink = BatchWriter(cfg, reg, metrics or StreamMetrics())
    query = writer.option("checkpointLocation", location).foreachBatch(sink).start()
    reg.query = query  # the registry thread signs off when the query ends
    log.info(
        "stream started", table=cfg.quotes, topics=cfg.topics, trigger=cfg.trigger, checkpoint=location,
        writer=reg.writer,
    )  # fmt: skip
    return query, sink
