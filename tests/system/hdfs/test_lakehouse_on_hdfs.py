"""The lakehouse with its warehouse AND checkpoints on hdfs://, against the real services.

feed → Kafka → Spark (the streaming job's own code) → Iceberg on HDFS, catalogued in the
Hive metastore → Trino (HDFS file system) and the embedded engine (pyiceberg over
WebHDFS → DuckDB). Then the DataNode is taken away mid-stream: the job must fail
loudly, recover from its HDFS checkpoint once the DataNode is back, and end with
every quote exactly once.

The only hdfs-specific inputs are configuration: the warehouse/checkpoint URIs and
the pyiceberg FileIO properties. No code path of the job, the metastore or Trino
knows about HDFS.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.hdfs_data import producer, send, ticks
from tests.support.lake import Lake, running_lake, spark_session

from coinstream.models.quote import Quote
from coinstream.platform.hdfs_config import HDFS_CLIENT_SITE

pytestmark = pytest.mark.integration

# Same SQL for Trino and DuckDB; table names come from validated LakeConfig fields.
SUMMARY = (
    "SELECT count(*), count(DISTINCT concat(coin_id, CAST(source_ts AS VARCHAR))), round(sum(price), 4) FROM {table}"
)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    with running_lake(tmp_path_factory.mktemp("hdfs-lake"), hdfs=True) as lake:
        yield lake


@pytest.fixture(scope="module")
def spark(lake: Lake) -> Iterator[Any]:
    with spark_session(lake.config("hdfs"), "coinstream-hdfs-tests") as session:
        yield session


def _identities(spark: Any, table: str) -> Counter[tuple[Any, ...]]:
    rows = spark.sql(f"SELECT vs_currency, coin_id, source, source_ts FROM {table}").collect()  # noqa: S608
    return Counter(tuple(r) for r in rows)


def _want(quotes: list[Quote]) -> set[tuple[Any, ...]]:
    return {(q.vs_currency, q.coin_id, q.source, q.source_ts.replace(tzinfo=None)) for q in quotes}


def test_stream_lands_on_hdfs_and_both_engines_read_it(lake: Lake, spark: Any) -> None:
    from coinstream.lakehouse.stream import start_stream

    cfg = lake.config("hdfs")
    topic = "coinstream.quotes.hdfs"
    lake.kafka.ensure_topic(topic, 3)
    quotes = ticks(dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC), 100)
    send(lake.kafka.bootstrap, topic, [*quotes, *quotes[::10]])  # 10 % re-sent snapshots
    start_stream(spark, cfg).awaitTermination()

    got = _identities(spark, cfg.quotes)
    assert sum(got.values()) == len(quotes) and max(got.values()) == 1
    assert set(got) == _want(quotes)

    # The bytes really are in HDFS: every data file, the metadata and the checkpoint.
    files = [r[0] for r in spark.sql(f"SELECT file_path FROM {cfg.quotes}.files").collect()]  # noqa: S608
    assert files and all(f.startswith(f"{lake.hdfs.uri}/coinstream/warehouse/") for f in files)
    listing = lake.hdfs.dfs("-ls", "-R", "/coinstream").stdout
    assert ".parquet" in listing and ".metadata.json" in listing
    # <checkpoint>/<feed uid, "local" here>/<topic identity>/offsets (coinstream.lakehouse.checkpoint)
    assert re.search(r"/coinstream/checkpoints/hdfs/local/[0-9a-f]{16}/offsets", listing)
    # Every file with the replication one DataNode holds (LocalHDFS.client_site), not the client's
    # default 3, and the session's HDFS client carries the shared settings (hdfs_config.HDFS_CLIENT_SITE).
    assert {line.split()[1] for line in listing.splitlines() if line.startswith("-")} == {"1"}
    hadoop = spark._jsc.hadoopConfiguration()
    assert {k: hadoop.get(k) for k in HDFS_CLIENT_SITE} == HDFS_CLIENT_SITE

    total = round(sum(q.price for q in quotes), 4)
    summary = SUMMARY.format(table=cfg.table)
    trino = lake.trino.query(summary)
    assert trino == [(len(quotes), len(quotes), pytest.approx(total))]

    con = lake.duckdb(cfg.table)
    duck = con.execute(summary).fetchall()
    assert duck == [(len(quotes), len(quotes), pytest.approx(total))]


def test_maintenance_job_compacts_and_removes_orphans_on_hdfs(lake: Lake, spark: Any) -> None:
    """coinstream.lakehouse.jobs.maintain_tables, run as the separate batch job it is in production (its own
    Spark driver), on the first test's table after more small micro-batches."""
    from coinstream.lakehouse.job import job_argv
    from coinstream.lakehouse.stream import start_stream

    cfg = lake.config("hdfs", max_offsets_per_trigger=60)
    more = ticks(dt.datetime(2026, 11, 27, 15, tzinfo=dt.UTC), 60)  # same day: many files per partition
    send(lake.kafka.bootstrap, "coinstream.quotes.hdfs", more)
    start_stream(spark, cfg).awaitTermination()
    rows = _count(spark, cfg.quotes)
    assert rows == 300 + len(more), "runs after the first test, on its table"
    assert _max_files_per_day(spark, cfg.quotes) > 1
    # A file no snapshot references (like one of a batch that died with the DataNode), made old.
    data_dir = f"/coinstream/warehouse/{cfg.namespace}.db/{cfg.table}/data"
    lake.hdfs.dfs("-touchz", f"{data_dir}/orphan-00000.parquet")
    lake.hdfs.dfs("-touch", "-m", "-t", "20250101:000000", f"{data_dir}/orphan-00000.parquet")

    argv = job_argv("maintain_tables", cfg)
    job = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False, cwd=lake.home)
    assert job.returncode == 0, job.stderr[-3000:]

    spark.sql(f"REFRESH TABLE {cfg.quotes}")
    assert _max_files_per_day(spark, cfg.quotes) == 1
    assert "orphan-00000.parquet" not in lake.hdfs.dfs("-ls", "-R", data_dir).stdout
    assert _count(spark, cfg.quotes) == rows
    assert lake.trino.query(f"SELECT count(*) FROM {cfg.table}") == [(rows,)]  # noqa: S608
    assert lake.duckdb(cfg.table).execute(f"SELECT count(*) FROM {cfg.table}").fetchall() == [(rows,)]  # noqa: S608


def _max_files_per_day(spark: Any, table: str) -> int:
    return int(spark.sql(f"SELECT max(file_count) FROM {table}.partitions").collect()[0][0])  # noqa: S608


def test_datanode_outage_mid_stream_recovers_with_nothing_lost_or_duplicated(lake: Lake, spark: Any) -> None:
    from coinstream.lakehouse.stream import start_stream

    cfg = lake.config("outage", trigger="2 seconds")
    topic = "coinstream.quotes.outage"
    lake.kafka.ensure_topic(topic, 3)
    quotes = ticks(dt.datetime(2026, 11, 27, 18, tzinfo=dt.UTC), 300)
    stop_feed = threading.Event()

    def feed() -> None:
        """~40 s of live ticks, every 10th re-sent: the stream never idles during the outage."""
        prod = producer(lake.kafka.bootstrap)
        for i, q in enumerate(quotes):
            if stop_feed.is_set():
                break
            prod.send(topic, key=q.key, value=q.to_json())
            if i % 10 == 0:
                prod.send(topic, key=q.key, value=q.to_json())
            if i % 30 == 29:
                prod.flush()
                time.sleep(4)
        prod.flush()
        prod.close()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    query = start_stream(spark, cfg)
    recovered = None
    try:
        _wait_for(lambda: _count(spark, cfg.quotes) > 0, 120, "first micro-batch never committed")

        before = _count(spark, cfg.quotes)
        t_down = time.monotonic()
        lake.hdfs.datanode_down()
        failure = _await_failure(query, timeout=180)
        assert failure is not None, "the stream kept running without its DataNode: the outage never hit it"
        t_failed = time.monotonic()

        lake.hdfs.datanode_up()
        recovered = start_stream(spark, cfg)  # what the SparkApplication's restartPolicy does
        feeder.join(timeout=300)
        assert not feeder.is_alive()
        _wait_for(lambda: _count(spark, cfg.quotes) >= len(quotes), 240, "recovered stream fell behind")
        _wait_for(lambda: not recovered.status["isDataAvailable"], 60, "stream never drained")
        print(
            f"HDFS-OUTAGE: {before} rows before the outage; query failed {t_failed - t_down:.1f}s after the "
            f"DataNode stopped; caught up {time.monotonic() - t_failed:.1f}s after restart; "
            f"failure: {failure.splitlines()[0][:300]}"
        )
    finally:
        stop_feed.set()
        for q in (query, recovered):
            if q is not None and q.isActive:
                _stop_when_idle(q)
        if not lake.hdfs.datanode.running():
            lake.hdfs.datanode_up()

    got = _identities(spark, cfg.quotes)
    assert sum(got.values()) == len(quotes), f"{len(quotes) - sum(got.values())} rows lost"
    assert max(got.values()) == 1, "duplicated rows after the outage"
    assert set(got) == _want(quotes)
    assert lake.trino.query(f"SELECT count(*) FROM {cfg.table}") == [(len(quotes),)]  # noqa: S608


def _count(spark: Any, table: str) -> int:
    return int(spark.sql(f"SELECT count(*) FROM {table}").collect()[0][0])  # noqa: S608


def _wait_for(cond: Any, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(1)
    raise AssertionError(f"{message} (after {timeout:.0f}s)")


def _stop_when_idle(query: Any, timeout: float = 60) -> None:
    """Stop between micro-batches: interrupting one (even a no-data batch that evicts dedup
    state) mid-commit kills the stream thread and can leave the local scheduler's slots taken."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = query.status
        if not status["isTriggerActive"] and not status["isDataAvailable"]:
            break
        time.sleep(0.1)
    query.stop()


def _await_failure(query: Any, timeout: float) -> str | None:
    """The query's failure message once it dies, None if it is still running at `timeout`."""
    try:
        query.awaitTermination(timeout)
    except Exception as exc:
        return str(exc)[:2000]
    return None if query.isActive else "terminated without an exception"
