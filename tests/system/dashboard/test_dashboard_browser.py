"""The dashboard in a real headless chromium: its numbers are the SQL answers, new quotes
appear without a reload, and a bad link gets a sentence, not a traceback."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

import pytest
from tests.support.browser import chromium_page
from tests.support.iceberg_quotes import append

from coinstream.dashboard.panels import fmt_pct, fmt_price
from coinstream.dashboard.snapshot import PAGE_WINDOWS
from coinstream.sql import DuckDBEngine, Investor

from .conftest import COINS, Served

pytestmark = pytest.mark.integration


def sql_answers(s: Served) -> tuple[Any, Any, Any, Any]:
    engine = DuckDBEngine(s.metastore.uri, s.metastore.warehouse)
    try:
        inv = Investor(engine)
        return (
            inv.latest("usd").set_index("coin_id"),
            inv.returns("usd", windows=PAGE_WINDOWS),
            engine.query("SELECT feed, count(*) AS n FROM quotes GROUP BY feed").set_index("feed"),
            # The page's default candles: 5-minute, the last 6 hours, of the first coin.
            inv.candles("usd", [COINS[0]], "5m", periods=6 * 12),
        )
    finally:
        engine.close()


def cells(page: Any, selector: str) -> list[dict[str, str]]:
    """Each row of a table as {column class: data-value / text}."""
    return page.eval_on_selector_all(
        selector,
        """rows => rows.map(r => {
             const out = Object.assign({}, r.dataset);
             r.querySelectorAll('td').forEach(td => {
               if (!td.className) return;
               out[td.className] = td.textContent;
               out[td.className + '_value'] = td.dataset.value;
             });
             return out; })""",
    )


def test_page_shows_sql_answers_and_updates_live(served: Served, tmp_path: Path) -> None:
    latest, returns, counts, candles = sql_answers(served)
    with chromium_page() as page:
        began = time.monotonic()
        page.goto(served.url)
        page.wait_for_selector("#latest tr[data-coin]", timeout=240_000)
        load_s = time.monotonic() - began

        shown = {r["coin"]: r for r in cells(page, "#latest tbody tr")}
        assert sorted(shown) == sorted(COINS)
        for coin in COINS:
            assert float(shown[coin]["price_value"]) == float(latest.loc[coin, "price"])
            assert shown[coin]["price"] == fmt_price(latest.loc[coin, "price"])

        rets = {(r["coin"], r["window"]): r for r in cells(page, "#returns tbody tr")}
        assert len(rets) == len(COINS) * len(PAGE_WINDOWS)
        for row in returns.itertuples(index=False):
            got = rets[(row.coin_id, row.window_name)]
            assert float(got["return_value"]) == pytest.approx(float(row.pct_return), rel=1e-12)
            assert got["return"] == fmt_pct(row.pct_return)
            assert dt.datetime.fromisoformat(got["ref_value"]) == row.start_ts.to_pydatetime()
            assert int(got["quotes_value"]) == int(row.quotes) and float(got["elapsed_value"]) == row.elapsed_seconds

        feeds = {r["feed"]: r for r in cells(page, "#freshness tbody tr")}
        assert int(feeds["majors-sim"]["rows_value"]) == int(counts.loc["majors-sim", "n"])
        assert float(feeds["majors-sim"]["lag_value"]) >= 0

        drawn = page.evaluate(
            """() => { const t = document.querySelector('#candles .js-plotly-plot').data[0];
                       return {name: t.name, x: t.x, open: t.open, high: t.high, low: t.low, close: t.close}; }"""
        )
        assert drawn["name"] == COINS[0] and len(drawn["x"]) == len(candles) > 12
        assert drawn["x"] == [t.strftime("%Y-%m-%d %H:%M:%S") for t in candles["bucket_start"]]
        for col in ("open", "high", "low", "close"):
            assert drawn[col] == [float(v) for v in candles[col]], col

        # A new quote lands (one Iceberg commit); the page shows it without reloading.
        page.evaluate("window.__same_page = true")
        last = max((q for q in served.quotes if q.coin_id == "bitcoin"), key=lambda q: q.source_ts)
        new_ts = dt.datetime.now(dt.UTC).replace(microsecond=0)
        price = round(last.price * 1.0123, 2)
        fresh = last.model_copy(update={"price": price, "source_ts": new_ts, "ingest_ts": new_ts})
        committed = time.monotonic()
        append(served.table, [fresh], offset=len(served.quotes))
        page.wait_for_function(
            "v => document.querySelector('#latest tr[data-coin=bitcoin] td.price')?.dataset.value == v",
            arg=repr(float(fresh.price)),
            timeout=90_000,
        )
        update_s = time.monotonic() - committed
        assert page.evaluate("window.__same_page") is True
        last_x = page.evaluate(
            """() => { const g = document.querySelector('#last-hour .js-plotly-plot');
                       const t = g.data.find(d => d.name === 'bitcoin'); return t.x[t.x.length - 1]; }"""
        )
        assert last_x == new_ts.strftime("%Y-%m-%d %H:%M:%S")
        page.wait_for_timeout(1500)  # let the charts finish drawing for the picture
        shot = Path(os.environ.get("COINSTREAM_SCREENSHOT", tmp_path / "dashboard.png"))
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        print(f"\ndashboard: loaded in {load_s:.1f}s, new quote shown {update_s:.1f}s after commit, screenshot {shot}")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?interval=2m", "interval '2m' is not one of 1m, 5m, 1h"),
        ("?coins=bitcoin,notacoin", "unknown coin(s) notacoin"),
        ("?vs=us1", "vs must be a currency code"),
        ("?hours=0", "hours must be a whole number from 1 to 168"),
        ("?colour=red", "unknown parameter(s) 'colour'"),
        ("?vs=eur", "no quotes in 'eur' yet"),
    ],
)
def test_bad_parameters_get_a_clear_error(served: Served, query: str, message: str) -> None:
    with chromium_page() as page:
        page.goto(served.url + query)
        page.wait_for_selector("#error:not([style*=none])", timeout=240_000)
        text = page.inner_text("#error")
        assert message in text
        assert "Traceback" not in page.content()
        assert page.is_hidden("#panels")
