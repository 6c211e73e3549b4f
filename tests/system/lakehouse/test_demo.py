"""The lakehouse half of `coinstream demo`: stream job process → queryable rows → report → summary."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from tests.support.lake_data import market_history, produce
from tests.system.lakehouse.conftest import Lake

from coinstream.app.lakehouse_demo import run_lakehouse_demo

pytestmark = pytest.mark.integration


def test_demo_streams_reports_and_summarises(lake: Lake, now: dt.datetime, tmp_path: Path) -> None:
    topic = "coinstream.quotes.demo"
    lake.kafka.ensure_topic(topic, 2)
    quotes = market_history(now, ("bitcoin", "ethereum"), days=45, tick_seconds=60, feed="demo")
    produce(lake.kafka.bootstrap, topic, quotes)
    # Its own metastore and warehouse, as the demo runs it (no table from other tests is visible).
    seen: list[int] = []
    summary = run_lakehouse_demo(
        lake.kafka.bootstrap, r"coinstream\.quotes\.demo", home=tmp_path / "demo",
        report=tmp_path / "report.html", progress=lambda rows, _s: seen.append(rows),
    )  # fmt: skip
    assert summary.rows == len(quotes) and summary.quarantined == 0
    assert seen and seen[-1] == len(quotes)
    assert summary.report is not None and summary.report.stat().st_size > 10_000
    by_coin = {c.coin_id: c for c in summary.coins}
    assert set(by_coin) == {"bitcoin", "ethereum"}
    last = max((q for q in quotes if q.coin_id == "bitcoin"), key=lambda q: q.source_ts)
    first = min((q for q in quotes if q.coin_id == "bitcoin"), key=lambda q: q.source_ts)
    btc = by_coin["bitcoin"]
    assert btc.latest_price == pytest.approx(last.price)
    assert btc.return_total == pytest.approx(last.price / first.price - 1)
    assert btc.return_24h is not None and btc.volatility_30d is not None and btc.volatility_30d > 0
