"""Iceberg table maintenance: compact small files, expire snapshots, remove orphan files.

Streaming writes one unsorted file per task and month touched per micro-batch; compaction
rewrites them into few large files per month, sorted in the table's order (vs_currency,
coin_id, source_ts: what the investor queries prune and read by, and what the stream no
longer pays for per row), snapshot expiry lets old files go, and orphan cleanup
removes files of writes that crashed before committing (e.g. a kill -9 mid-batch).
Runs as a batch job (locally or as a scheduled SparkApplication) beside the stream:
Iceberg's optimistic commits keep both correct. Maintaining the quotes table also folds
its daily bars (coinstream.lakehouse.bars) from the compacted snapshot.
"""

# ruff: noqa: S608  # table identifiers come from validated LakeConfig fields, not user input

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass
from typing import Any

from coinstream.lakehouse.bars import fold_bars
from coinstream.lakehouse.commits import lost_commit_race
from coinstream.lakehouse.config import LakeConfig
from coinstream.logs import get_logger

log = get_logger(__name__)

#: A rewrite that loses the race against the stream's commit is re-planned on the new table state.
RACE_RETRIES = 6


@dataclass(frozen=True)
class MaintenanceResult:
    table: str
    files_before: int
    files_after: int
    max_files_per_partition: int
    rewritten: int
    expired: int
    orphans_removed: int
    #: The quotes table's daily bars after the fold (None for other tables).
    bars: int | None = None


def files_per_partition(spark: Any, table: str) -> dict[str, int]:
    rows = spark.sql(f"SELECT partition, file_count FROM {table}.partitions").collect()
    return {str(r["partition"]): int(r["file_count"]) for r in rows}


def _call(spark: Any, sql: str) -> list[Any]:
    """Run one maintenance procedure; the stream commits every few seconds, so a rewrite planned
    before its commit is refused by Iceberg's validation (nothing is lost) and is simply re-run."""
    for attempt in range(1, RACE_RETRIES + 1):
        try:
            return list(spark.sql(sql).collect())
        except Exception as exc:
            if attempt == RACE_RETRIES or not lost_commit_race(exc):
                raise
            log.info("maintenance lost a commit race, retrying", attempt=attempt)
            time.sleep(random.uniform(0.5, 3.0))
    raise AssertionError("unreachable")


def _ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def maintain(spark: Any, cfg: LakeConfig, table: str, *, keep_snapshots: int = 5,
             snapshot_age: dt.timedelta = dt.timedelta(hours=1),
             orphan_age: dt.timedelta = dt.timedelta(days=3)) -> MaintenanceResult:  # fmt: skip
    """Compact, expire and clean one table. Ages are minimums: files younger than
    `orphan_age` may belong to a commit in flight and are never touched (Iceberg's
    procedure refuses less than 24 h)."""
    full = f"{cfg.catalog}.{cfg.namespace}.{table}"
    # Qualified by the catalog: a bare `namespace.table` makes Iceberg try the namespace as a
    # catalog first (a WARN with a stack trace on every call), and picks the wrong table when a
    # catalog has the namespace's name.
    ident = full
    before = files_per_partition(spark, full)
    now = dt.datetime.now(dt.UTC)
    sys_ = f"{cfg.catalog}.system"
    rw = _call(
        spark,
        f"CALL {sys_}.rewrite_data_files(table => '{ident}', strategy => 'sort', "
        "options => map('min-input-files', '2', 'target-file-size-bytes', '134217728', "
        "'partial-progress.enabled', 'true'))",
    )[0]
    _call(spark, f"CALL {sys_}.rewrite_manifests(table => '{ident}')")
    ex = _call(
        spark,
        f"CALL {sys_}.expire_snapshots(table => '{ident}', "
        f"older_than => TIMESTAMP '{_ts(now - snapshot_age)}', retain_last => {int(keep_snapshots)})",
    )[0]
    orphans = _call(
        spark,
        f"CALL {sys_}.remove_orphan_files(table => '{ident}', older_than => TIMESTAMP '{_ts(now - orphan_age)}')",
    )
    after = files_per_partition(spark, full)
    bars = fold_bars(spark, cfg, table).bars if table == cfg.table else None
    result = MaintenanceResult(
        table=full,
        files_before=sum(before.values()),
        files_after=sum(after.values()),
        max_files_per_partition=max(after.values(), default=0),
        rewritten=int(rw["rewritten_data_files_count"]),
        expired=int(ex["deleted_data_files_count"]),
        orphans_removed=len(orphans),
        bars=bars,
    )
    log.info("maintained", **result.__dict__)
    return result
