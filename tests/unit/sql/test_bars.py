"""The daily-bars route gives the very answers the quotes give: on real DuckDB over the known market,
with bars built by pandas (independently of the SQL), fresh or folded before quotes that came later.
The Iceberg path (bars folded by Spark, read by Trino and DuckDB) is tests/system/lakehouse/test_bars.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
from tests.support.analytics_cases import CASES
from tests.support.bars_questions import routed_questions, same_frames
from tests.support.known_market import known_quotes
from tests.unit.sql.test_known_market import MemoryDuckDB

import coinstream.sql.bars as bars
from coinstream.sql import Investor
from coinstream.sql.bars import BarsView

KEYS = ["source", "vs_currency", "coin_id", "day_start"]


def pandas_bars(quotes: pd.DataFrame) -> pd.DataFrame:
    """Per coin and day bucket (a quote on 00:00 closes the day before): first, last, high, low, count."""
    df = quotes.sort_values("source_ts").copy()
    df["day_start"] = (df["source_ts"] - pd.Timedelta(milliseconds=1)).dt.floor("D")
    g = df.groupby(KEYS)
    out = g.agg(
        first_ts=("source_ts", "first"),
        first_price=("price", "first"),
        close_ts=("source_ts", "last"),
        close=("price", "last"),
        high=("price", "max"),
        low=("price", "min"),
        quotes=("price", "size"),
    )
    last_rows = g.tail(1).set_index(KEYS)[["market_cap", "total_volume"]]  # NULL when NULL on the last row
    return out.join(last_rows).reset_index()


class BarsDuckDB(MemoryDuckDB):
    """The known market's quotes, plus daily bars of those before `folded_before` (all: None)."""

    def __init__(self, quotes: list[Any], folded_before: dt.datetime | None = None,
                 dirty_from: dt.datetime | None = None) -> None:  # fmt: skip
        super().__init__(quotes)
        table = self.db.execute("SELECT * FROM quotes").df()
        if folded_before is not None:
            table = table[table["source_ts"] < folded_before]
        self.bars = pandas_bars(table)
        self.db.register("quotes_daily", self.bars)
        self.view = BarsView(dirty_from=dirty_from)
        self.asked: list[str] = []

    def bars_view(self) -> BarsView:
        return self.view

    def query(self, sql: str, params: Any = ()) -> pd.DataFrame:
        self.asked.append(sql)
        return super().query(sql, params)


@pytest.fixture(scope="module")
def quotes() -> list[Any]:
    return known_quotes()


AT = {
    "now": None,
    "midnight": dt.datetime(2026, 3, 8, tzinfo=dt.UTC),
    "mid-day": dt.datetime(2026, 3, 5, 13, 17, 30, tzinfo=dt.UTC),
}
#: Bars folded before these instants; the quotes after them came later (the route must not trust those days).
FOLDED = {
    "all": None,
    "mid-day": dt.datetime(2026, 2, 25, 9, 30, tzinfo=dt.UTC),
    "midnight": dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
    "just after midnight": dt.datetime(2026, 3, 9, 0, 0, 0, 1000, tzinfo=dt.UTC),
}


@pytest.mark.parametrize("folded", list(FOLDED))
@pytest.mark.parametrize("at", list(AT))
def test_bars_route_answers_as_the_quotes_do(quotes: list[Any], folded: str, at: str) -> None:
    engine = BarsDuckDB(quotes, FOLDED[folded], dirty_from=FOLDED[folded])
    routed = Investor(engine, source="simulated")
    raw = Investor(engine, source="simulated", bars=False)
    for name, ask in routed_questions(AT[at]).items():
        engine.asked.clear()
        got = ask(routed)
        assert any("quotes_daily" in sql for sql in engine.asked), f"{name} did not read the bars"
        engine.asked.clear()
        want = ask(raw)
        assert not any("quotes_daily" in sql for sql in engine.asked)
        same_frames(name, got, want)


def test_stale_bars_taken_as_current_would_change_answers(quotes: list[Any]) -> None:
    """The cut is what keeps answers right: bars folded before later quotes, wrongly said current, differ."""
    engine = BarsDuckDB(quotes, FOLDED["mid-day"], dirty_from=None)
    routed = Investor(engine, source="simulated").total_return("usd")
    raw = Investor(engine, source="simulated", bars=False).total_return("usd")
    assert not routed["quotes"].equals(raw["quotes"])


@pytest.mark.parametrize("case", list(CASES))
def test_known_market_through_the_bars(quotes: list[Any], case: str) -> None:
    engine = BarsDuckDB(quotes)
    CASES[case](Investor(engine, source="simulated", series_ttl=3600), quotes)


def test_the_per_coin_scan_is_kept_while_the_pinned_snapshots_hold(quotes: list[Any]) -> None:
    """Over pinned snapshots (Trino's `FOR VERSION AS OF`) a question costs its own query only; an
    unpinned view, or new snapshots, scan again."""
    engine = BarsDuckDB(quotes)
    series_sql = bars.SERIES.format(quotes="quotes", bars="quotes_daily")

    def scans(inv: Investor) -> tuple[int, list[pd.DataFrame]]:
        engine.asked.clear()
        answers = [inv.volatility("usd", days=5), inv.latest("usd"), inv.total_return("usd")]
        return sum(sql == series_sql for sql in engine.asked), answers

    unpinned, want = scans(Investor(engine, source="simulated"))
    assert unpinned == 4  # scope() of each question, and latest() reads the series once more
    pinned = Investor(engine, source="simulated")
    engine.view = BarsView(version="quotes@1,quotes_daily@1")
    count, got = scans(pinned)
    assert count == 1
    for a, b in zip(got, want, strict=True):
        same_frames("pinned", a, b)
    assert scans(pinned)[0] == 0, "same snapshots: nothing to scan"
    engine.view = BarsView(version="quotes@2,quotes_daily@1")
    assert scans(pinned)[0] == 1, "new snapshots: scanned again"
    moment = Investor(engine, source="simulated", series_ttl=3600)
    assert scans(moment)[0] == 1
    engine.view = BarsView(version="quotes@3,quotes_daily@1")
    assert scans(moment)[0] == 0, "a report's one moment (series_ttl) holds across new snapshots"
