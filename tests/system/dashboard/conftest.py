"""A real Hive metastore with an Iceberg quotes table, and the dashboard serving it.

The table holds a simulated market (daily and hourly history, then 30 s ticks up to
now); tests append more quotes while the page is open, as the streaming job would.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.iceberg_quotes import append, quotes_table
from tests.support.lake_data import market_history

from coinstream.dashboard import Reader, create_app, embedded_engine, serve
from coinstream.devstack.metastore import LocalMetastore
from coinstream.devstack.process import free_port
from coinstream.models.quote import Quote

COINS = ("bitcoin", "ethereum", "litecoin")


@dataclass
class Served:
    url: str
    metastore: LocalMetastore
    table: Any
    quotes: list[Quote]
    now: dt.datetime


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home: Path = tmp_path_factory.mktemp("dashboard")
    metastore = LocalMetastore(home / "metastore", (home / "warehouse").as_uri(), port=free_port())
    metastore.up()
    try:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        quotes = market_history(now, COINS, days=40, feed="majors-sim")
        table = quotes_table(metastore.uri, metastore.warehouse)
        append(table, quotes)
        reader = Reader(embedded_engine(metastore.uri, metastore.warehouse), stale_after_s=600, check_every_s=1.0)
        server = serve(create_app(reader, refresh_seconds=1.0), "127.0.0.1", 0)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            yield Served(f"http://127.0.0.1:{server.effective_port}/", metastore, table, quotes, now)
        finally:
            server.close()
            thread.join(10)
            reader.close()
    finally:
        metastore.down()
