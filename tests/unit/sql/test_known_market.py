"""The analytics cases on real DuckDB over the known market's quotes held in memory: the SQL and its
translation checked against pandas in seconds, without services (the Iceberg path on both engines is
tests/system/lakehouse/test_analytics.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import pandas as pd
import pytest
from tests.support.analytics_cases import CASES
from tests.support.known_market import known_quotes

from coinstream.sql import Investor
from coinstream.sql.engines import to_duckdb


class MemoryDuckDB:
    """DuckDB with `quotes` registered from the distinct quotes (what the stream leaves in the table)."""

    name = "duckdb"

    def __init__(self, quotes: list[Any]) -> None:
        rows = {(q.vs_currency, q.coin_id, q.source, q.source_ts): q for q in quotes}
        df = pd.DataFrame([q.model_dump() for q in rows.values()])
        for col in ("source_ts", "ingest_ts"):
            df[col] = pd.to_datetime(df[col], utc=True)
        self.db = duckdb.connect()
        self.db.execute("SET TimeZone = 'UTC'")
        self.db.register("quotes", df)

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        return self.db.execute(to_duckdb(sql), list(params)).df()


@pytest.fixture(scope="module")
def quotes() -> list[Any]:
    return known_quotes()


@pytest.fixture(scope="module")
def engine(quotes: list[Any]) -> MemoryDuckDB:
    return MemoryDuckDB(quotes)


@pytest.mark.parametrize("case", list(CASES))
def test_known_market_in_memory(engine: MemoryDuckDB, quotes: list[Any], case: str) -> None:
    CASES[case](Investor(engine, source="simulated", series_ttl=3600), quotes)
