"""Table maintenance on a table written by many small micro-batches."""

# ruff: noqa: S608  # table identifiers come from validated LakeConfig fields, not user input

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow.parquet as pq
import pytest
from tests.support.lake import Lake
from tests.support.lake_data import market_history, produce

from coinstream.lakehouse.maintain import files_per_partition, maintain

pytestmark = pytest.mark.integration


def test_compaction_expiry_and_orphan_cleanup(lake: Lake, spark: Any, run_stream: Any, now: dt.datetime) -> None:
    topic = "coinstream.quotes.maint"
    lake.kafka.ensure_topic(topic, 2)
    quotes = market_history(now, ("bitcoin", "ethereum"), days=35, tick_seconds=120)
    produce(lake.kafka.bootstrap, topic, quotes)
    cfg = lake.config("maint", max_offsets_per_trigger=400)
    run_stream(cfg)
    before = files_per_partition(spark, cfg.quotes)
    assert max(before.values()) > 1, "expected several files per month from several micro-batches"
    # The stream writes files as its rows come (no sort per micro-batch): maintenance sorts.
    orders = {r[0] for r in spark.sql(f"SELECT DISTINCT sort_order_id FROM {cfg.quotes}.files").collect()}
    assert orders <= {0, None}, f"stream files claim a sort order: {orders}"
    location = spark.sql(f"DESCRIBE TABLE EXTENDED {cfg.quotes}").where("col_name = 'Location'").collect()[0][1]
    orphan = Path(urlparse(location).path) / "data" / "orphan-from-a-crashed-writer.parquet"
    orphan.write_bytes(b"PAR1 not committed")
    four_days_ago = time.time() - 4 * 86400
    os.utime(orphan, (four_days_ago, four_days_ago))

    started = dt.datetime.now(dt.UTC)
    result = maintain(spark, cfg, cfg.table, keep_snapshots=1, snapshot_age=dt.timedelta(0))
    assert result.max_files_per_partition == 1
    assert result.files_after == len(before) < result.files_before
    assert result.orphans_removed >= 1 and not orphan.exists()
    assert spark.sql(f"SELECT count(*) FROM {cfg.quotes}").collect()[0][0] == len({q.identity for q in quotes})
    # Compaction wrote each month's file in the table's order (what the investor queries prune by).
    files = spark.sql(f"SELECT file_path, sort_order_id FROM {cfg.quotes}.files").collect()
    assert {f.sort_order_id for f in files} == {1}, [f.sort_order_id for f in files]
    for f in files:
        rows = pq.read_table(urlparse(f.file_path).path, columns=["vs_currency", "coin_id", "source_ts"]).to_pylist()
        keys = [(r["vs_currency"], r["coin_id"], r["source_ts"]) for r in rows]
        assert keys == sorted(keys), f"{f.file_path} is not sorted"
    # Every snapshot from before maintenance is expired (compaction's own commits remain).
    old = spark.sql(
        f"SELECT count(*) FROM {cfg.quotes}.snapshots WHERE committed_at < TIMESTAMP '{started:%Y-%m-%d %H:%M:%S}'"
    ).collect()[0][0]
    assert old == 0
