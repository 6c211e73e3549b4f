"""`coinstream dashboard`: the live investor page over the lakehouse (Dash, served by waitress).

DuckDB over the embedded stack's Iceberg tables on one machine, Trino in the cluster:
the same SQL layer either way.
"""

from __future__ import annotations

from collections.abc import Callable

from coinstream.dashboard.app import Reader, create_app, serve
from coinstream.platform.trino_auth import TrinoAuth
from coinstream.sql import Engine

__all__ = ["Reader", "create_app", "embedded_engine", "serve", "trino_engine"]


def embedded_engine(
    metastore_uri: str, warehouse: str, properties: dict[str, str] | None = None
) -> Callable[[], Engine]:
    """DuckDB over the Iceberg tables the local stack's metastore knows."""

    def open_() -> Engine:
        from coinstream.sql import DuckDBEngine

        return DuckDBEngine(metastore_uri, warehouse, hadoop_conf=properties)

    return open_


def trino_engine(host: str, port: int, *, auth: TrinoAuth | None = None) -> Callable[[], Engine]:
    """Trino over https as `auth` (default: the settings' user and password, read-only `analyst`)."""

    def open_() -> Engine:
        from coinstream.sql import TrinoEngine

        return TrinoEngine(host, port, auth=auth)

    return open_
