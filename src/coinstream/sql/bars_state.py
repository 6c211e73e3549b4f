"""How current the daily bars are, from Iceberg metadata alone: the engines' `bars_view()`.

The bars name the quotes snapshot they were folded from. Walking the quotes' history back from
the current snapshot to that one, each commit either changed no rows (`replace`: compaction,
manifest rewrites) or added or removed data files; the earliest `source_ts` lower bound among
those files is where the bars may stop being right (`BarsView.dirty_from`). The folded snapshot
not in the current history (expired, or a re-created table), or a commit whose files carry no
bounds or that adds delete files: no bars for this reader, the quotes answer everything.

Embedded (pyiceberg) reads each commit's manifests once (they never change; cached by snapshot
id). Trino sees the same history through the `$snapshots`/`$refs` metadata tables; it uses the
bars only when no commit after the fold added or removed rows, and pins both tables to the
snapshots it checked (`FOR VERSION AS OF`), so a fold or a commit landing meanwhile cannot mix in.
"""

# ruff: noqa: S608  # table names are the engine's own identifiers; snapshot ids are integers

from __future__ import annotations

import datetime as dt
from typing import Any

from coinstream.lakehouse.bars import BARS_SUFFIX, QUOTES_SNAPSHOT
from coinstream.sql.bars import BarsView

#: Per snapshot: None (no rows changed), a lower bound in microseconds, or UNKNOWN.
UNKNOWN = -(2**63)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _changed_from(table: Any, snapshot: Any, field_id: int) -> int | None:
    """Earliest source_ts (µs) among the data files `snapshot` added or removed; None if none."""
    from pyiceberg.conversions import from_bytes
    from pyiceberg.manifest import DataFileContent, ManifestEntryStatus
    from pyiceberg.table.snapshots import Operation
    from pyiceberg.types import TimestamptzType

    if snapshot.summary is not None and snapshot.summary.operation == Operation.REPLACE:
        return None
    low: int | None = None
    for manifest in snapshot.manifests(table.io):
        if manifest.added_snapshot_id != snapshot.snapshot_id:
            continue
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
            if entry.snapshot_id != snapshot.snapshot_id or entry.status == ManifestEntryStatus.EXISTING:
                continue
            bound = (entry.data_file.lower_bounds or {}).get(field_id)
            if entry.data_file.content != DataFileContent.DATA or bound is None:
                return UNKNOWN
            value = int(from_bytes(TimestamptzType(), bound))
            low = value if low is None else min(low, value)
    return low


def iceberg_bars_view(quotes: Any, bars: Any, cache: dict[int, int | None], views: tuple[str, str]) -> BarsView | None:
    """The bars of pyiceberg table `bars` against `quotes` (both as loaded: the reader's snapshots)."""
    folded = bars.current_snapshot()
    wanted = folded.summary.get(QUOTES_SNAPSHOT) if folded is not None and folded.summary is not None else None
    if wanted is None:
        return None
    field_id = quotes.schema().find_field("source_ts").field_id
    snap = quotes.current_snapshot()
    version = f"{views[0]}@{snap.snapshot_id if snap is not None else None},{views[1]}@{folded.snapshot_id}"
    low: int | None = None
    while snap is not None and str(snap.snapshot_id) != wanted:
        if snap.snapshot_id not in cache:
            cache[snap.snapshot_id] = _changed_from(quotes, snap, field_id)
        changed = cache[snap.snapshot_id]
        if changed == UNKNOWN:
            return None
        if changed is not None:
            low = changed if low is None else min(low, changed)
        parent = snap.parent_snapshot_id
        snap = quotes.metadata.snapshot_by_id(parent) if parent is not None else None
    if snap is None:
        return None
    dirty = None if low is None else EPOCH + dt.timedelta(microseconds=low)
    return BarsView(quotes=views[0], bars=views[1], dirty_from=dirty, version=version)


def trino_bars_view(query: Any, table: str = "quotes") -> BarsView | None:
    """Through Trino's metadata tables, in one query; `query(sql)` returns rows. None: no bars, or
    rows changed since the fold."""
    bars = table + BARS_SUFFIX
    try:
        rows = query(
            f"""SELECT 'quotes', snapshot_id, NULL, NULL FROM "{table}$refs" WHERE name = 'main'
            UNION ALL SELECT 'bars', snapshot_id, NULL, NULL FROM "{bars}$refs" WHERE name = 'main'
            UNION ALL SELECT 'folded', snapshot_id, NULL, summary['{QUOTES_SNAPSHOT}'] FROM "{bars}$snapshots"
            UNION ALL SELECT 'history', snapshot_id, parent_id, operation FROM "{table}$snapshots"
            """
        )
    except Exception as exc:  # no bars table yet (TABLE_NOT_FOUND): read the quotes
        if "does not exist" in str(exc) or "TABLE_NOT_FOUND" in str(exc):
            return None
        raise
    refs = {kind: int(sid) for kind, sid, _, _ in rows if kind in ("quotes", "bars")}
    if "quotes" not in refs or "bars" not in refs:
        return None
    folded = {int(sid): value for kind, sid, _, value in rows if kind == "folded"}
    history = {int(sid): (parent, op) for kind, sid, parent, op in rows if kind == "history"}
    if folded.get(refs["bars"]) is None:
        return None
    wanted = int(folded[refs["bars"]])
    snap: int | None = refs["quotes"]
    while snap is not None and snap != wanted:
        if snap not in history or history[snap][1] != "replace":
            return None
        parent = history[snap][0]
        snap = int(parent) if parent is not None else None
    if snap is None:
        return None
    pinned = {kind: f"{name} FOR VERSION AS OF {refs[kind]}" for kind, name in (("quotes", table), ("bars", bars))}
    version = f"{table}@{refs['quotes']},{bars}@{refs['bars']}"
    return BarsView(quotes=pinned["quotes"], bars=pinned["bars"], version=version)
