"""The analytics cases on the known market (tests/support/known_market.py): each runs one Investor
question and compares it with an independent pandas computation (tests/support/analytics_expected.py).
Used by tests/system/lakehouse/test_analytics.py (Iceberg, both engines) and
tests/unit/sql/test_known_market.py (DuckDB over the quotes in memory)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from coinstream.sql import Investor, QueryError
from coinstream.sql.queries import NO_START, STALE
from tests.support import analytics_expected as ex
from tests.support.known_market import ETH_PCT_OFFSET, NOW

Frame = pd.DataFrame
_NOW = pd.Timestamp(NOW)


def _sim(quotes: list[Any]) -> Frame:
    return ex.frame(quotes, "simulated", "usd")


def _norm(v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT or v is pd.NA:
        return None
    if isinstance(v, pd.Timestamp | dt.date):  # DATE comes back as a date (Trino) or a Timestamp (DuckDB)
        ts = pd.Timestamp(v)
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if isinstance(v, np.bool_ | bool):
        return bool(v)
    if isinstance(v, np.integer | int | float | np.floating) or hasattr(v, "as_tuple"):
        return float(v)
    return v


def assert_frames(got: Frame, want: Frame, keys: list[str], cols: list[str]) -> None:
    assert len(got) == len(want) > 0, f"{len(got)} rows, expected {len(want)}"
    g = got.sort_values(keys).reset_index(drop=True)
    w = want.sort_values(keys).reset_index(drop=True)
    for col in keys + cols:
        for i, (a, b) in enumerate(zip(g[col], w[col], strict=True)):
            a, b = _norm(a), _norm(b)
            if isinstance(a, float) and isinstance(b, float):
                assert a == pytest.approx(b, rel=1e-9, abs=1e-12), f"{col} row {i}: {a} != {b}"
            else:
                assert a == b, f"{col} row {i} ({[g.loc[i, k] for k in keys]}): {a!r} != {b!r}"


def _day(v: Any) -> str:
    return str(pd.Timestamp(v).date())


WINDOWS = {"5m": 300, "1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
RET_COLS = ["start_target", "start_ts", "start_price", "end_ts", "end_price", "elapsed_seconds", "quotes", "pct_return"]


def case_returns(inv: Investor, quotes: list[Any]) -> None:
    got = inv.returns("usd")
    want = ex.returns(_sim(quotes), WINDOWS, _NOW)
    assert_frames(got, want, ["coin_id", "window_name"], RET_COLS)
    reasons = {(r.coin_id, r.window_name): None if pd.isna(r.reason) else r.reason for r in got.itertuples()}
    # The stale feed and the gap give NULLs with their reasons; everything else has a figure.
    for coin, window in [("litecoin", w) for w in ("5m", "1h", "24h", "7d")]:
        assert reasons[(coin, window)] == STALE
    assert reasons[("ethereum", "5m")] == NO_START
    assert reasons[("litecoin", "30d")] is None and reasons[("bitcoin", "5m")] is None


def case_total_return(inv: Investor, quotes: list[Any]) -> None:
    got = inv.total_return("usd")
    want = ex.total_return(_sim(quotes))
    assert_frames(
        got,
        want,
        ["coin_id"],
        ["start_ts", "start_price", "current_ts", "current_price", "days", "quotes", "pct_return"],
    )
    assert [_day(d) for d in got["start_date"]] == ["2025-11-01"] * 3


def case_last_hour(inv: Investor, quotes: list[Any]) -> None:
    got = inv.last_hour("usd")
    df = _sim(quotes)
    want = df[(df["ts"] >= _NOW - pd.Timedelta(hours=1)) & (df["ts"] <= _NOW)]
    assert_frames(got.rename(columns={"source_ts": "ts"}), want, ["coin_id", "ts"], ["price"])
    assert set(got["coin_id"]) == {"bitcoin", "ethereum"}  # litecoin is stale: nothing in the hour


def case_latest(inv: Investor, quotes: list[Any]) -> None:
    got = inv.latest("usd").rename(columns={"source_ts": "ts"})
    want = ex.latest(_sim(quotes), _NOW)
    assert_frames(
        got,
        want,
        ["coin_id"],
        ["ts", "price", "market_cap", "cap_share", "total_volume", "price_change_pct_24h", "age_seconds"],
    )


def case_check_24h(inv: Investor, quotes: list[Any]) -> None:
    got = inv.check_24h("usd").set_index("coin_id")
    r = ex.returns(_sim(quotes), {"24h": 86400}, _NOW).set_index("coin_id")
    for coin in ("bitcoin", "ethereum"):
        assert got.loc[coin, "own_pct"] == pytest.approx(r.loc[coin, "pct_return"] * 100, rel=1e-9)
        assert got.loc[coin, "source_pct"] == pytest.approx(r.loc[coin, "source_pct"], rel=1e-9)
    # Our reference is up to the tolerance older than the source's exact 24 h: close, not equal.
    assert not got.loc["bitcoin", "flagged"] and abs(got.loc["bitcoin", "diff_pp"]) < 1.0
    assert got.loc["ethereum", "flagged"] and abs(got.loc["ethereum", "diff_pp"] + ETH_PCT_OFFSET) < 1.0
    assert pd.isna(got.loc["litecoin", "flagged"]) and got.loc["litecoin", "reason"] == STALE


def _case_candles(interval: str, width: str, periods: int) -> Callable[[Investor, list[Any]], None]:
    def case(inv: Investor, quotes: list[Any]) -> None:
        got = inv.candles("usd", interval=interval, periods=periods)
        want = ex.candles(_sim(quotes), pd.Timedelta(width), periods, _NOW)
        assert_frames(
            got,
            want,
            ["coin_id", "bucket_start"],
            [
                "open",
                "high",
                "low",
                "close",
                "close_ts",
                "quotes",
                "market_cap",
                "volume_24h",
                "gap_before",
                "complete",
            ],
        )
        # Candles chain: each open is the close of the bucket before it when that bucket exists.
        btc = got[got["coin_id"] == "bitcoin"].reset_index(drop=True)
        chained = ~btc["gap_before"].astype(bool)
        chained[0] = False  # its predecessor is not in the output
        assert chained.sum() > 0
        assert (btc["open"][chained].to_numpy() == btc["close"].shift(1)[chained].to_numpy()).all()

    return case


def case_daily_closes(inv: Investor, quotes: list[Any]) -> None:
    got = inv.daily_closes("usd")
    want = ex.daily_closes(_sim(quotes), _NOW)
    assert_frames(got, want, ["coin_id", "day"], ["close", "close_ts", "market_cap", "quotes"])
    days = {(r.coin_id, _day(r.day)) for r in got.itertuples()}
    assert ("ethereum", "2026-01-09") not in days and ("ethereum", "2026-01-10") not in days  # the gap stays a gap
    assert ("bitcoin", "2026-03-09") in days and ("bitcoin", "2026-03-10") not in days  # today is not over
    late = got[(got["coin_id"] == "bitcoin") & (got["day"].map(_day) == "2026-03-01")]
    assert _norm(late["close_ts"].iloc[0]) == pd.Timestamp("2026-03-02", tz="UTC")  # the late row is the close


def case_volatility(inv: Investor, quotes: list[Any]) -> None:
    closes = ex.daily_closes(_sim(quotes), _NOW)
    assert_frames(inv.volatility("usd"), ex.volatility(closes), ["coin_id", "day"], ["volatility_30d", "returns_used"])
    recent = inv.volatility("usd", days=20)
    assert_frames(
        recent,
        ex.volatility(closes).query("day >= @dt.date(2026, 2, 18)"),
        ["coin_id", "day"],
        ["volatility_30d", "returns_used"],
    )


def case_moving_averages(inv: Investor, quotes: list[Any]) -> None:
    closes = ex.daily_closes(_sim(quotes), _NOW)
    assert_frames(
        inv.moving_averages("usd"),
        ex.moving_averages(closes),
        ["coin_id", "day"],
        ["close", "ma_7d", "ma_30d", "ma_200d"],
    )


def case_drawdowns(inv: Investor, quotes: list[Any]) -> None:
    closes = ex.daily_closes(_sim(quotes), _NOW)
    assert_frames(inv.drawdowns("usd"), ex.drawdowns(closes), ["coin_id", "day"], ["close", "peak", "drawdown"])
    assert_frames(inv.max_drawdown("usd"), ex.max_drawdown(closes), ["coin_id"], ["max_drawdown", "trough_day"])


def case_correlation(inv: Investor, quotes: list[Any]) -> None:
    closes = ex.daily_closes(_sim(quotes), _NOW)
    got = inv.correlation("usd", days=90)
    assert_frames(got, ex.correlation(closes, dt.date(2025, 12, 10)), ["coin_a", "coin_b"], ["correlation", "days"])


def case_cumulative(inv: Investor, quotes: list[Any]) -> None:
    closes = ex.daily_closes(_sim(quotes), _NOW)
    got = inv.cumulative_returns("usd", days=70)
    assert_frames(got, ex.cumulative(closes, dt.date(2025, 12, 30)), ["coin_id", "day"], ["close", "cumulative_return"])


def case_cap_index(inv: Investor, quotes: list[Any]) -> None:
    closes = ex.daily_closes(_sim(quotes), _NOW)
    got = inv.cap_index("usd", days=70)
    assert_frames(got, ex.cap_index(closes, dt.date(2025, 12, 30)), ["day"], ["index_return", "index_level", "coins"])


def case_second_source(inv: Investor, quotes: list[Any]) -> None:
    gecko = Investor(inv.engine, source="coingecko", series_ttl=3600)
    df = ex.frame(quotes, "coingecko", "usd")
    now = df["ts"].max()
    assert_frames(gecko.returns("usd"), ex.returns(df, WINDOWS, now), ["coin_id", "window_name"], RET_COLS)
    assert_frames(
        gecko.latest("usd").rename(columns={"source_ts": "ts"}), ex.latest(df, now), ["coin_id"], ["ts", "price"]
    )
    with pytest.raises(QueryError, match="several sources"):
        Investor(inv.engine).latest("usd")


def case_second_currency(inv: Investor, quotes: list[Any]) -> None:
    eur = ex.frame(quotes, "simulated", "eur")
    got = inv.returns("eur")
    assert_frames(got, ex.returns(eur, WINDOWS, eur["ts"].max()), ["coin_id", "window_name"], RET_COLS)
    assert Investor(inv.engine).coins("eur") == ["bitcoin"]  # one source in eur: no choice needed


def case_bad_parameters(inv: Investor, quotes: list[Any]) -> None:
    for call, message in [
        (lambda: inv.latest("usd", ["bitcoin", "dogecoinz"]), "unknown coin(s) dogecoinz"),
        (lambda: inv.returns("usd", windows=["2h"]), "unknown window(s)"),
        (lambda: inv.candles("usd", interval="3m"), "unknown interval"),
        (lambda: inv.ohlc("usd", days=0), "positive whole number"),
        (lambda: inv.latest("usd; DROP TABLE quotes"), "vs_currency must be letters"),
        (lambda: inv.latest("chf"), "no quotes in 'chf'"),
        (lambda: inv.returns("usd", at=dt.datetime(2026, 3, 1)), "timezone-aware"),
        (lambda: inv.check_24h("usd", tolerance_pp=-1), "tolerance_pp"),
        (lambda: Investor(inv.engine, source="x' OR 1=1"), "source must be a name"),
    ]:
        with pytest.raises(QueryError) as err:
            call()
        assert message in str(err.value)


CASES: dict[str, Callable[[Investor, list[Any]], None]] = {
    "returns (gap, stale, tolerance)": case_returns,
    "total return": case_total_return,
    "last hour": case_last_hour,
    "latest + market cap share": case_latest,
    "24h check vs source": case_check_24h,
    "candles 1m": _case_candles("1m", "1min", 10),
    "candles 5m (midnight)": _case_candles("5m", "5min", 30),
    "candles 1h (midnight)": _case_candles("1h", "1h", 30),
    "candles 1d (late row)": _case_candles("1d", "1D", 40),
    "daily closes (late row, gap)": case_daily_closes,
    "volatility 30d": case_volatility,
    "moving averages": case_moving_averages,
    "drawdowns": case_drawdowns,
    "correlation": case_correlation,
    "cumulative returns": case_cumulative,
    "cap-weighted index": case_cap_index,
    "two sources": case_second_source,
    "two currencies": case_second_currency,
    "bad parameters": case_bad_parameters,
}
