"""The investor analytics on a known market (tests/support/known_market.py), streamed through the real
write path into Iceberg and read by both engines; each answer is compared with an independent
pandas computation of its definition (tests/support/analytics_expected.py).

Cases x engines is the analytics test matrix: every case runs on real Trino and on embedded DuckDB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest
from tests.support.analytics_cases import CASES
from tests.support.known_market import deliveries, known_quotes
from tests.support.lake import Lake
from tests.support.lake_data import produce

from coinstream.platform.trino_auth import ANALYST
from coinstream.sql import DuckDBEngine, Investor, TrinoEngine

pytestmark = pytest.mark.integration

Frame = pd.DataFrame


@pytest.fixture(scope="module")
def known_table(lake: Lake, run_stream: Callable[..., None]) -> str:
    """Stream the known market in two runs (the late row second); returns the table name."""
    cfg = lake.config("known")
    topic = "coinstream.quotes.known"
    lake.kafka.ensure_topic(topic, 3)
    first, late = deliveries()
    produce(lake.kafka.bootstrap, topic, first)
    run_stream(cfg)
    produce(lake.kafka.bootstrap, topic, late)
    run_stream(cfg)
    return cfg.table


@pytest.fixture(scope="module", params=["trino", "duckdb"])
def engine(request: pytest.FixtureRequest, lake: Lake, known_table: str) -> Iterator[Any]:
    if request.param == "trino":
        eng: Any = TrinoEngine("127.0.0.1", lake.trino.port, auth=lake.trino.auth(ANALYST))
        yield _Renamed(eng, known_table)
    else:
        eng = DuckDBEngine(lake.metastore.uri, lake.warehouse, tables={"quotes": known_table})
        assert eng.scan_mode["quotes"] == "parquet", "DuckDB should scan the Iceberg data files itself"
        yield eng
    eng.close()


class _Renamed:
    """Trino reads the test's own table under the name the queries use."""

    def __init__(self, engine: TrinoEngine, table: str) -> None:
        self.engine, self.table, self.name = engine, table, engine.name

    def query(self, sql: str, params: Any = ()) -> Frame:
        return self.engine.query(sql.replace("FROM quotes", f"FROM {self.table}"), params)


@pytest.fixture(scope="module")
def quotes() -> list[Any]:
    return known_quotes()


@pytest.mark.parametrize("case", list(CASES))
def test_known_market(engine: Any, quotes: list[Any], case: str) -> None:
    CASES[case](Investor(engine, source="simulated", series_ttl=3600), quotes)


def test_stream_removed_the_duplicates(engine: Any, quotes: list[Any]) -> None:
    sent, late = deliveries()
    got = engine.query("SELECT count(*) AS n FROM quotes")
    assert int(got["n"].iloc[0]) == len(quotes) < len(sent) + len(late)
