"""The investor notebook runs headless against the embedded engine and renders to HTML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.support.lake import Lake, Loaded

from coinstream.report import render

pytestmark = pytest.mark.integration


def test_notebook_renders_report_with_charts(lake: Lake, loaded: Loaded, tmp_path: Path) -> None:
    env = {
        "COINSTREAM_LAKE_METASTORE_URI": lake.metastore.uri,
        "COINSTREAM_LAKE_WAREHOUSE": lake.warehouse,
    }
    out = render(tmp_path / "report.html", engine="duckdb", coins=["bitcoin", "ethereum", "litecoin"],
                 window_days=60, env=env)  # fmt: skip
    html = out.read_text()
    charts = re.findall(r'<img[^>]+src="data:image/png;base64', html)
    assert len(charts) == 5, "expected five charts: last hour, cumulative, drawdowns, correlation, candles"
    assert "Traceback" not in html
    assert "bitcoin" in html and "Investor overview" in html
