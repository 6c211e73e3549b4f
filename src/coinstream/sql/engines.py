"""Two engines behind one `query(sql, params)`: Trino (cluster) and DuckDB (embedded).

SQL is always written in Trino's dialect with `?` placeholders; DuckDB gets it
translated by sqlglot. Values are bound by the drivers, never formatted into SQL.

DuckDB reads the very same Iceberg tables without materialising them: pyiceberg plans
the current snapshot through the Hive metastore (manifests only) and DuckDB scans the
listed Parquet data files itself, pushing projections and the bound filters (source,
currency, coins, time range) down to row groups and pages. The table's write order
(currency, coin, time within each month partition) keeps those statistics tight. Where
DuckDB cannot read the files itself (a remote warehouse, or row-level delete files,
which the append-only quotes table never has) pyiceberg materialises the snapshot into
Arrow instead.

Both engines offer the quotes table's daily bars (`bars_view()`, coinstream.sql.bars_state)
when they exist, with how current they are; the Investor routes day-granular questions there.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

import pandas as pd

from coinstream.lakehouse.bars import BARS_SUFFIX
from coinstream.platform.trino_auth import TrinoAuth
from coinstream.sql.bars import BarsView
from coinstream.sql.bars_state import iceberg_bars_view, trino_bars_view

TABLES = ("quotes",)

#: How long a query waits out a Trino that has no worker yet (its node list refreshes every few
#: seconds after a start or restart: trinodb/trino#2214) before the error reaches the caller.
NO_NODES_PATIENCE_S = 15.0


class Engine(Protocol):
    name: str

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame: ...


@lru_cache(maxsize=256)
def to_duckdb(sql: str) -> str:
    import sqlglot

    return str(sqlglot.transpile(sql, read="trino", write="duckdb")[0])


class TrinoEngine:
    """Trino over https as `auth.user` (default: the settings' user, `analyst`) on `catalog`
    (default: the settings' catalog, the read-only `lake`); `bars_ttl`: see `bars_view`."""

    name = "trino"

    def __init__(self, host: str, port: int, *, catalog: str | None = None, schema: str = "coinstream",
                 auth: TrinoAuth | None = None, bars_ttl: float = 5.0) -> None:  # fmt: skip
        from coinstream.settings import get_settings

        settings = get_settings()
        auth = auth or settings.trino_auth()
        self._conn = auth.connect(host, port, catalog=catalog or settings.trino_catalog, schema=schema)
        self.bars_ttl = bars_ttl
        self._bars: tuple[float, BarsView | None] | None = None

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """A cursor holding the answer; a query refused for want of a worker node is sent again."""
        from trino.exceptions import TrinoQueryError

        deadline = time.monotonic() + NO_NODES_PATIENCE_S
        while True:
            cur = self._conn.cursor()
            try:
                cur.execute(sql, list(params) if params else None)
                return cur
            except TrinoQueryError as e:
                if e.error_name != "NO_NODES_AVAILABLE" or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        cur = self._execute(sql, params)
        rows = cur.fetchall()
        cols = [d[0] for d in cur.description]
        return pd.DataFrame(rows, columns=cols)

    def rows(self, sql: str) -> list[Any]:
        """The rows as the driver gives them (64-bit ids stay ints; a DataFrame would make them floats)."""
        return list(self._execute(sql).fetchall())

    def bars_view(self) -> BarsView | None:
        """The daily bars, pinned with the quotes to the snapshots checked, when no rows changed since the
        fold. The check is reused for `bars_ttl` seconds: like the embedded engine between refreshes,
        day-granular answers are then as of the snapshots checked (one metadata query per dashboard
        refresh or report, not one per question)."""
        if self._bars is not None and time.monotonic() - self._bars[0] < self.bars_ttl:
            return self._bars[1]
        view = trino_bars_view(self.rows)
        self._bars = (time.monotonic(), view)
        return view

    def close(self) -> None:
        self._conn.close()


class DuckDBEngine:
    """Embedded engine over the Iceberg tables; `refresh()` picks up new snapshots.

    `memory_limit` bounds DuckDB's own memory (it spills beyond it); `threads` defaults to DuckDB's.
    `scan="arrow"` forces the materialising read (the benchmark's baseline)."""

    name = "duckdb"

    def __init__(self, metastore_uri: str, warehouse: str, *, namespace: str = "coinstream",
                 tables: dict[str, str] | None = None, hadoop_conf: dict[str, str] | None = None,
                 memory_limit: str = "2GB", threads: int | None = None, scan: str = "parquet") -> None:  # fmt: skip
        import duckdb
        from pyiceberg.catalog.hive import HiveCatalog

        props = {"uri": metastore_uri, "warehouse": warehouse, **(hadoop_conf or {})}
        self._catalog = HiveCatalog("lake", **props)
        self._namespace = namespace
        self._tables = tables or {t: t for t in TABLES}
        if scan not in ("parquet", "arrow"):
            raise ValueError(f"scan must be 'parquet' or 'arrow', got {scan!r}")
        self._scan = scan
        self._db = duckdb.connect(config={"memory_limit": memory_limit, **({"threads": threads} if threads else {})})
        self._db.execute("SET TimeZone = 'UTC'")
        self._db.execute("SET parquet_metadata_cache = true")
        #: Per view: "parquet" (DuckDB scans the data files) or "arrow" (materialised by pyiceberg).
        self.scan_mode: dict[str, str] = {}
        self._snapshots: dict[str, int | None] = {}
        self._loaded: dict[str, Any] = {}
        self._changes: dict[int, int | None] = {}
        self._bars: BarsView | None = None
        self.refresh()

    def refresh(self) -> bool:
        """Re-read the tables whose current snapshot changed (a metadata read when none did);
        True if any did. A live page calls this every few seconds."""
        from pyiceberg.exceptions import NoSuchTableError

        changed = False
        bars = {f"{view}{BARS_SUFFIX}": f"{table}{BARS_SUFFIX}" for view, table in self._tables.items()}
        for view, table in {**self._tables, **bars}.items():
            try:
                loaded = self._catalog.load_table(f"{self._namespace}.{table}")
            except NoSuchTableError:
                if view not in bars:
                    raise
                changed = self._forget(view) or changed
                continue
            self._loaded[view] = loaded
            snap = loaded.current_snapshot()
            snapshot_id = snap.snapshot_id if snap is not None else None
            if view in self._snapshots and self._snapshots[view] == snapshot_id:
                continue
            files = _local_data_files(loaded) if self._scan == "parquet" else None
            # A registered Arrow table shadows a view of the same name: drop whichever was there.
            self._db.unregister(view)
            self._db.execute(f'DROP VIEW IF EXISTS "{view}"')
            if files:
                self._db.read_parquet(files).create_view(view, replace=True)
                self.scan_mode[view] = "parquet"
            else:
                self._db.register(view, loaded.scan().to_arrow())
                self.scan_mode[view] = "arrow"
            self._snapshots[view] = snapshot_id
            changed = True
        if changed:
            self._bars = self._bars_of("quotes")
        return changed

    def _forget(self, view: str) -> bool:
        if view not in self._snapshots:
            return False
        self._db.execute(f'DROP VIEW IF EXISTS "{view}"')
        self._db.unregister(view)
        del self._snapshots[view]
        self._loaded.pop(view, None)
        return True

    def _bars_of(self, view: str) -> BarsView | None:
        bars = f"{view}{BARS_SUFFIX}"
        if view not in self._loaded or bars not in self._loaded:
            return None
        return iceberg_bars_view(self._loaded[view], self._loaded[bars], self._changes, (view, bars))

    def bars_view(self) -> BarsView | None:
        """The quotes' daily bars as of the last refresh (both tables pinned there), if there are any."""
        return self._bars

    @property
    def version(self) -> str:
        """The snapshot ids being read: equal versions, equal answers."""
        return ",".join(f"{view}@{sid}" for view, sid in sorted(self._snapshots.items()))

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        return self._db.execute(to_duckdb(sql), list(params)).df()

    def close(self) -> None:
        self._db.close()


def _local_data_files(table: Any) -> list[str] | None:
    """Paths of the current snapshot's data files when DuckDB can read them directly, else None."""
    from urllib.parse import unquote, urlparse

    paths = []
    for task in table.scan().plan_files():
        if task.delete_files:
            return None
        uri = urlparse(task.file.file_path)
        if uri.scheme not in ("", "file"):
            return None
        paths.append(unquote(uri.path))
    return paths or None


def open_engine(kind: str, **kw: Any) -> Engine:
    """`trino` (host, port) or `duckdb` (metastore_uri, warehouse); one switch for notebooks."""
    if kind == "trino":
        return TrinoEngine(**kw)
    if kind == "duckdb":
        return DuckDBEngine(**kw)
    raise ValueError(f"unknown engine {kind!r}: use 'trino' or 'duckdb'")
