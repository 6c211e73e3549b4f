"""Idempotent micro-batch commits: each commit names its writer, batch and part.

Spark replays a micro-batch whose commit it did not record (a kill -9 between the
Iceberg commit and the checkpoint's commits/<n>). Like Iceberg's own streaming
sink (which stores the query id and epoch id in the snapshot summary and skips an
epoch already committed), every commit here carries `coinstream.writer`,
`coinstream.batch` and `coinstream.part` in its snapshot summary; a replay finds
them by walking the table's history back to this writer's newest commit and skips
the parts already done. The walk stops at the writer's newest snapshot, so it
costs one or two steps when the writer is alone.

A batch commits at most two parts; the part names which of its good rows are in
the table so far: `live` (the fresh ones; the late ones still to be checked against
the table), then `done` (all). A batch with nothing to check commits `done` at once.
`late` and `fresh` are the parts of the earlier order (late rows first, then the
rest), still read so that a replay across an upgrade skips exactly what was committed.
"""

from __future__ import annotations

from typing import Any

WRITER = "coinstream.writer"
BATCH = "coinstream.batch"
PART = "coinstream.part"
#: Which rows of its batch (fresh, late) are in the table once a part is committed.
COVERS: dict[str, frozenset[str]] = {
    "live": frozenset({"fresh"}),
    "done": frozenset({"fresh", "late"}),
    "late": frozenset({"late"}),
    "fresh": frozenset({"fresh", "late"}),
}
_SESSION_PREFIX = "spark.sql.iceberg.snapshot-property."
MAX_WALK = 10_000


def lost_commit_race(exc: BaseException) -> bool:
    """True when another writer committed first: Iceberg refused this commit, re-running is safe."""
    text = str(exc)
    return "ValidationException" in text or "CommitFailed" in text


def snapshot_properties(writer: str, batch_id: int, part: str) -> dict[str, str]:
    return {WRITER: writer, BATCH: str(batch_id), PART: part}


def write_options(props: dict[str, str]) -> dict[str, str]:
    """DataFrameWriterV2 options that put `props` into the snapshot summary."""
    return {f"snapshot-property.{k}": v for k, v in props.items()}


class session_snapshot_properties:
    """Snapshot summary entries for SQL commands (MERGE) run on `spark` inside the block."""

    def __init__(self, spark: Any, props: dict[str, str]) -> None:
        self.spark, self.props = spark, props

    def __enter__(self) -> None:
        for k, v in self.props.items():
            self.spark.conf.set(_SESSION_PREFIX + k, v)

    def __exit__(self, *exc: object) -> None:
        for k in self.props:
            self.spark.conf.unset(_SESSION_PREFIX + k)


def last_commit(table: Any, writer: str) -> tuple[int, str] | None:
    """(batch id, part) of `writer`'s newest commit in the current history, if any."""
    snapshot = table.currentSnapshot()
    steps = 0
    while snapshot is not None and steps < MAX_WALK:
        summary = snapshot.summary()
        if summary.get(WRITER) == writer:
            return int(summary.get(BATCH)), str(summary.get(PART))
        parent = snapshot.parentId()
        snapshot = table.snapshot(parent) if parent is not None else None
        steps += 1
    return None


def done(last: tuple[int, str] | None, batch_id: int, rows: str) -> bool:
    """Are batch `batch_id`'s `rows` (fresh or late) committed, given the writer's newest commit `last`?"""
    if last is None:
        return False
    last_batch, last_part = last
    if last_batch != batch_id:
        return last_batch > batch_id
    return rows in COVERS.get(last_part, frozenset())


def snapshot_as_of(spark: Any, table: Any, millis: int) -> int | None:
    """Id of the newest snapshot committed at or before `millis` (None: the table was empty then)."""
    util = spark.sparkContext._jvm.org.apache.iceberg.util.SnapshotUtil
    try:
        return int(util.snapshotIdAsOfTime(table, millis))
    except Exception:  # IllegalArgumentException: no snapshot that old
        return None
