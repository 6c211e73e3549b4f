"""Table maintenance on a table written by many small micro-batches."""

# ruff: noqa: S608  # table identifiers come from validated LakeConfig fields, not user input

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

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
    assert max(before.values()) > 1, "expected several files per day from several micro-batches"
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
    # Every snapshot from before maintenance is expired (compaction's own commits remain).
    old = spark.sql(
        f"SELECT count(*) FROM {cfg.quotes}.snapshots WHERE committed_at < TIMESTAMP '{started:%Y-%m-%d %H:%M:%S}'"
    ).collect()[0][0]
    assert old == 0
