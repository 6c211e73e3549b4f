"""The cluster's path: the dashboard reading through Trino (as the chart deploys it) shows the
same answers as through DuckDB, and its /healthz answers with a query through Trino."""

from __future__ import annotations

import datetime as dt
import threading
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from coinstream.dashboard import Reader, create_app, embedded_engine, serve, trino_engine
from coinstream.devstack.process import free_port
from coinstream.devstack.trino import LocalTrino
from coinstream.platform.trino_auth import ANALYST

from .conftest import Served

pytestmark = pytest.mark.integration


def test_trino_and_duckdb_give_the_page_the_same_numbers(served: Served, tmp_path: Path) -> None:
    trino = LocalTrino(tmp_path / "trino", served.metastore.uri, served.metastore.warehouse, port=free_port())
    trino.up(timeout=600)  # a loaded 2-core machine needs minutes
    try:
        now = dt.datetime.now(dt.UTC)
        via_trino = Reader(trino_engine("127.0.0.1", trino.port, auth=trino.auth(ANALYST)), stale_after_s=600)
        via_duckdb = Reader(embedded_engine(served.metastore.uri, served.metastore.warehouse), stale_after_s=600)
        try:
            assert via_trino.poll() != "" and not via_trino.poll().startswith("unavailable|")
            a = via_trino._snapshot_at("?interval=5m", now)
            b = via_duckdb._snapshot_at("?interval=5m", now)
            for name in ("latest", "returns", "last_hour", "candles", "freshness", "check_24h"):
                left, right = getattr(a, name), getattr(b, name)
                assert len(left) > 0, name
                pd.testing.assert_frame_equal(_norm(left), _norm(right), check_dtype=False, rtol=1e-9, obj=name)
            assert a.flags == b.flags

            server = serve(create_app(via_trino, refresh_seconds=5), "127.0.0.1", 0)
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{server.effective_port}/healthz", timeout=60) as r:
                    assert r.status == 200 and r.read().decode().startswith("ok ")
            finally:
                server.close()
                thread.join(10)
        finally:
            via_trino.close()
            via_duckdb.close()
    finally:
        trino.down()


def _norm(df: pd.DataFrame) -> pd.DataFrame:
    """Engines differ in timestamp types (tz-aware vs naive UTC) and row order of ties: align both."""
    out = df.copy()
    for col in out.columns:
        values = out[col]
        if values.isna().all():  # NULL is None, NaN or <NA> depending on the driver and dtype
            out[col] = float("nan")
        elif pd.api.types.is_datetime64_any_dtype(values) or values.map(lambda v: isinstance(v, dt.datetime)).any():
            out[col] = pd.to_datetime(values, utc=True)
        elif values.dtype == object and values.map(lambda v: v is None or isinstance(v, int | float)).all():
            out[col] = pd.to_numeric(values).astype("float64")  # Trino's NULL double is None, DuckDB's NaN
    return out.sort_values(list(out.columns[:2])).reset_index(drop=True)
