"""Write quotes straight into an Iceberg table (pyiceberg), for tests of readers only.

Page and query tests need rows in a real Iceberg table behind a real metastore, and
new rows landing while they watch; the streaming job is tested on its own. Columns
are the streaming job's (`quote_columns()`), so readers see the table they get in
production.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from coinstream.lakehouse.tables import quote_columns
from coinstream.models.quote import Quote

_ARROW = {
    "STRING": pa.string(),
    "DOUBLE": pa.float64(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    "INT": pa.int32(),
    "BIGINT": pa.int64(),
}


def arrow_schema() -> pa.Schema:
    return pa.schema([pa.field(name, _ARROW[kind]) for name, kind in quote_columns()])


def to_arrow(quotes: Sequence[Quote], *, offset: int = 0, committed: dt.datetime | None = None) -> pa.Table:
    lake_ts = committed or dt.datetime.now(dt.UTC)
    rows = [
        {
            **q.model_dump(),
            "kafka_topic": f"coinstream.quotes.{q.feed}",
            "kafka_partition": 0,
            "kafka_offset": offset + i,
            "lake_ts": lake_ts,
        }
        for i, q in enumerate(quotes)
    ]
    return pa.Table.from_pylist(rows, schema=arrow_schema())


def quotes_table(metastore_uri: str, warehouse: str, ident: str = "coinstream.quotes") -> Any:
    """The table `ident`, created (with its namespace) if missing."""
    from pyiceberg.catalog.hive import HiveCatalog

    # The Hive 2.3 metastore has no "timestamp with local time zone" column type.
    catalog = HiveCatalog("lake", uri=metastore_uri, warehouse=warehouse, **{"hive.hive2-compatible": "true"})
    namespace = ident.split(".")[0]
    if (namespace,) not in catalog.list_namespaces():
        catalog.create_namespace(namespace)
    return catalog.create_table_if_not_exists(ident, schema=arrow_schema())


def append(table: Any, quotes: Sequence[Quote], *, offset: int = 0) -> None:
    """One Iceberg commit with `quotes` (what one streaming micro-batch does)."""
    table.append(to_arrow(quotes, offset=offset))
