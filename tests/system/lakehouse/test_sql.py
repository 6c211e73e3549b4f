"""The investor queries: Trino and embedded DuckDB return identical results from the same
Iceberg tables (the stream's main table, with a wall-clock 'now'); Spark and Trino read and
write the same tables. Answers against independent expectations: test_analytics.py."""

# ruff: noqa: S608  # table identifiers come from validated LakeConfig fields, not user input

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.support.lake import Lake, Loaded

from coinstream.platform.trino_auth import ANALYST
from coinstream.sql import DuckDBEngine, Investor, TrinoEngine

pytestmark = pytest.mark.integration

CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "latest": ("latest", {}),
    "returns": ("returns", {}),
    "total_return": ("total_return", {}),
    "check_24h": ("check_24h", {}),
    "candles_5m": ("candles", {"interval": "5m", "periods": 20}),
    "cap_index": ("cap_index", {"days": 120}),
    "ohlc": ("ohlc", {"days": 60}),
    "volatility_30d": ("volatility", {}),
    "drawdowns": ("drawdowns", {}),
    "max_drawdown": ("max_drawdown", {}),
    "correlation": ("correlation", {"days": 180}),
    "moving_averages": ("moving_averages", {}),
    "last_hour": ("last_hour", {}),
    "cumulative_returns": ("cumulative_returns", {}),
}


@pytest.fixture(scope="module")
def engines(lake: Lake, loaded: Loaded) -> Iterator[dict[str, Investor]]:
    trino = TrinoEngine("127.0.0.1", lake.trino.port, auth=lake.trino.auth(ANALYST))
    duck = DuckDBEngine(lake.metastore.uri, lake.warehouse)
    yield {"trino": Investor(trino), "duckdb": Investor(duck)}
    trino.close()
    duck.close()


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=range(len(df)))
    for col in df.columns:
        s = df[col].reset_index(drop=True)
        sample = s.dropna().iloc[0] if s.notna().any() else None
        if isinstance(sample, (dt.date, dt.datetime, pd.Timestamp)) or pd.api.types.is_datetime64_any_dtype(s):
            s = pd.to_datetime(s, utc=True).dt.tz_convert("UTC").astype("datetime64[us, UTC]")
        elif pd.api.types.is_numeric_dtype(s) or isinstance(sample, (int, float, np.number)):
            s = s.astype("float64")
        out[col] = s
    return out


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b) > 0
    a, b = _normalise(a), _normalise(b)
    for col in a.columns:
        if pd.api.types.is_float_dtype(a[col]):
            assert np.allclose(a[col], b[col], rtol=1e-9, atol=1e-12, equal_nan=True), col
        else:  # NULL comes back as None, NaN, NaT or pd.NA depending on the engine and type
            same = [None if pd.isna(v) else v for v in a[col]] == [None if pd.isna(v) else v for v in b[col]]
            assert same, col


@pytest.mark.parametrize("name", list(CALLS))
def test_trino_and_duckdb_agree(engines: dict[str, Investor], name: str) -> None:
    method, kwargs = CALLS[name]
    trino = getattr(engines["trino"], method)("usd", **kwargs)
    duck = getattr(engines["duckdb"], method)("usd", **kwargs)
    assert_same(trino, duck)


def test_latest_matches_what_was_sent(engines: dict[str, Investor], loaded: Loaded) -> None:
    df = engines["trino"].latest("usd").set_index("coin_id")
    for coin in df.index:
        last = max((q for q in loaded.quotes if q.coin_id == coin), key=lambda q: q.source_ts)
        assert df.loc[coin, "price"] == pytest.approx(last.price, rel=1e-12)


def test_spark_and_trino_read_and_write_the_same_tables(lake: Lake, spark: Any) -> None:
    from coinstream.lakehouse.tables import ensure_tables

    cfg = lake.config("shared")
    ensure_tables(spark, cfg)
    trino = lake.trino
    trino.query(
        "INSERT INTO quotes_shared (coin_id, symbol, name, vs_currency, price, source, source_ts, ingest_ts, feed,"
        " origin, granularity, schema_version) VALUES ('bitcoin', 'btc', 'Bitcoin', 'usd', 42.5, 'simulated',"
        " TIMESTAMP '2026-01-02 03:04:05.678 UTC', TIMESTAMP '2026-01-02 03:04:06 UTC', 'shared', 'live', 'tick', 1)"
    )
    row = spark.sql(f"SELECT price, source_ts FROM {cfg.quotes}").collect()
    assert [(r.price, r.source_ts) for r in row] == [(42.5, dt.datetime(2026, 1, 2, 3, 4, 5, 678000))]
    spark.sql(
        f"INSERT INTO {cfg.quotes} (coin_id, symbol, name, vs_currency, price, source, source_ts, ingest_ts, feed,"
        " origin, granularity, schema_version) VALUES ('ethereum', 'eth', 'Ethereum', 'usd', 7.25, 'simulated',"
        " TIMESTAMP '2026-01-03 00:00:00', TIMESTAMP '2026-01-03 00:00:01', 'shared', 'live', 'tick', 1)"
    )
    got = trino.query("SELECT coin_id, price FROM quotes_shared ORDER BY coin_id")
    assert got == [("bitcoin", 42.5), ("ethereum", 7.25)]
    # A table Trino creates (day-partitioned, as ours were) is readable by Spark.
    trino.query(
        "CREATE TABLE trino_made (id BIGINT, ts TIMESTAMP(6) WITH TIME ZONE) WITH (partitioning = ARRAY['day(ts)'])"
    )
    trino.query("INSERT INTO trino_made VALUES (1, TIMESTAMP '2026-05-01 10:00:00 UTC')")
    assert spark.sql("SELECT id FROM lake.coinstream.trino_made").collect()[0][0] == 1
