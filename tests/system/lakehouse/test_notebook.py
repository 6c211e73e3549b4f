"""The investor notebook runs headless against both engines and renders to HTML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.support.lake import Lake, Loaded

from coinstream.report import render

pytestmark = pytest.mark.integration

CHARTS = ("last hour", "market cap and volume", "cumulative growth (log)", "cap-weighted index",
          "drawdown panels", "correlation", "daily candles")  # fmt: skip


@pytest.mark.parametrize("engine", ["duckdb", "trino"])
def test_notebook_renders_report_with_charts(lake: Lake, loaded: Loaded, tmp_path: Path, engine: str) -> None:
    env = {
        "COINSTREAM_LAKE_METASTORE_URI": lake.metastore.uri,
        "COINSTREAM_LAKE_WAREHOUSE": lake.warehouse,
        "COINSTREAM_TRINO_HOST": "127.0.0.1",
        "COINSTREAM_TRINO_PORT": str(lake.trino.port),
        **lake.trino.client_env(),  # the read-only analyst: password file and CA from the state dir
    }
    out = render(tmp_path / "report.html", engine=engine, coins=["bitcoin", "ethereum", "litecoin"],
                 window_days=60, env=env, source="simulated", poll_seconds=30.0)  # fmt: skip
    html = out.read_text()
    charts = re.findall(r'<img[^>]+src="data:image/png;base64', html)
    assert len(charts) == len(CHARTS), f"expected {len(CHARTS)} charts: {', '.join(CHARTS)}"
    assert "Traceback" not in html
    assert f"engine={engine} source=simulated" in html and "Investor overview" in html
    # The seed's three questions come first, in order.
    first = [html.index(h) for h in ("1. Total return", "2. The 5-minute return", "3. The last hour")]
    assert first == sorted(first) and first[-1] < html.index("Returns by window")
