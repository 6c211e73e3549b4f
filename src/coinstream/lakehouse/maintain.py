"""Iceberg table maintenance: compact small files, expire snapshots, remove orphan files.

Streaming writes one file per day touched per micro-batch; compaction rewrites them
into few large files per day, snapshot expiry lets old files go, and orphan cleanup
removes files of writes that crashed before committing (e.g. a kill -9 mid-batch).
Runs as a batch job (locally or as a scheduled SparkApplication) beside the stream:
Iceberg's optimistic commits keep both correct.
"""

# ruff: noqa: S608  # table identifiers come from validated LakeConfig fields, not user input

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from coinstream.lakehouse.config import LakeConfig
from coinstream.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class MaintenanceResult:
    table: str
    files_before: int
    files_after: int
    max_files_per_partition: int
    rewritten: int
    expired: int
    orphans_removed: int


def files_per_partition(spark: Any, table: str) -> dict[str, int]:
    rows = spark.sql(f"SELECT partition, file_count FROM {table}.partitions").collect()
    return {str(r["partition"]): int(r["file_count"]) for r in rows}


def _ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def maintain(spark: Any, cfg: LakeConfig, table: str, *, keep_snapshots: int = 5,
             snapshot_age: dt.timedelta = dt.timedelta(hours=1),
             orphan_age: dt.timedelta = dt.timedelta(days=3)) -> MaintenanceResult:  # fmt: skip
    """Compact, expire and clean one table. Ages are minimums: files younger than
    `orphan_age` may belong to a commit in flight and are never touched (Iceberg's
    procedure refuses less than 24 h)."""
    full = f"{cfg.catalog}.{cfg.namespace}.{table}"
    ident = f"{cfg.namespace}.{table}"
    before = files_per_partition(spark, full)
    now = dt.datetime.now(dt.UTC)
    sys_ = f"{cfg.catalog}.system"
    rw = spark.sql(
        f"CALL {sys_}.rewrite_data_files(table => '{ident}', "
        "options => map('min-input-files', '2', 'target-file-size-bytes', '134217728', "
        "'partial-progress.enabled', 'true'))"
    ).collect()[0]
    spark.sql(f"CALL {sys_}.rewrite_manifests(table => '{ident}')").collect()
    ex = spark.sql(
        f"CALL {sys_}.expire_snapshots(table => '{ident}', "
        f"older_than => TIMESTAMP '{_ts(now - snapshot_age)}', retain_last => {int(keep_snapshots)})"
    ).collect()[0]
    orphans = spark.sql(
        f"CALL {sys_}.remove_orphan_files(table => '{ident}', older_than => TIMESTAMP '{_ts(now - orphan_age)}')"
    ).collect()
    after = files_per_partition(spark, full)
    result = MaintenanceResult(
        table=full,
        files_before=sum(before.values()),
        files_after=sum(after.values()),
        max_files_per_partition=max(after.values(), default=0),
        rewritten=int(rw["rewritten_data_files_count"]),
        expired=int(ex["deleted_data_files_count"]),
        orphans_removed=len(orphans),
    )
    log.info("maintained", **result.__dict__)
    return result
