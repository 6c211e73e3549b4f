"""The CoinGecko client against a local server speaking CoinGecko's formats and faults."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import time

import pytest
from pydantic import SecretStr
from tests.support.fake_coingecko import FakeCoinGecko, Fault
from tests.support.fake_coingecko import fast_client as client

from coinstream.ingest.sources.coingecko import history_chunks
from coinstream.ingest.sources.errors import (
    AuthError,
    HistoryLimitError,
    MalformedResponseError,
    RetryableError,
    UnknownCoinsError,
)
from coinstream.models import Quote

KEY = "CG-test-key-123"
UTC = dt.UTC


def test_markets_parse_real_shapes_with_nulls(server):
    quotes = client(server).markets(["bitcoin", "ethereum", "tether"], "usd", "f")
    assert {q.coin_id for q in quotes} == {"bitcoin", "ethereum", "tether"}
    btc = next(q for q in quotes if q.coin_id == "bitcoin")
    assert btc.symbol == "btc" and btc.name == "Bitcoin" and btc.price > 0
    assert btc.source_ts.tzinfo is UTC and btc.source_ts.microsecond % 1000 == 0
    assert btc.origin == "live" and btc.source == "coingecko" and btc.vs_currency == "usd"
    assert btc.high_24h > btc.low_24h


def test_key_goes_in_the_plan_header_never_the_url(server, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    c = client(server)
    c.markets(["bitcoin"], "usd", "f")
    server.inject(Fault("500"))
    c.markets(["bitcoin"], "usd", "f")
    req = server.calls("/coins/markets")[0]
    assert req.headers.get("x-cg-demo-api-key") == KEY
    assert "x-cg-pro-api-key" not in {k.lower() for k in req.headers}
    for r in server.requests:
        assert KEY not in r.path and KEY not in str(r.params)
    captured = capsys.readouterr()
    assert KEY not in caplog.text + captured.out + captured.err


def test_ids_are_batched_at_250_per_call(server):
    server.extra_coins = {f"coin-{i}": (f"c{i}", f"Coin {i}", 1.0 + i, None) for i in range(300)}
    coins = [f"coin-{i}" for i in range(300)]
    quotes = client(server).markets(coins, "usd", "f")
    calls = server.calls("/coins/markets")
    assert len(quotes) == 300
    assert [len(c.params["ids"].split(",")) for c in calls] == [250, 50]
    assert all(c.params["per_page"] == "250" for c in calls)


def test_429_with_retry_after_is_honoured(server):
    server.inject(Fault("429", retry_after="1"))
    t0 = time.monotonic()
    quotes = client(server).markets(["bitcoin"], "usd", "f")
    calls = server.calls("/coins/markets")
    assert len(quotes) == 1 and [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 0.9, "retried before Retry-After elapsed"
    assert time.monotonic() - t0 < 3


def test_429_without_retry_after_backs_off_exponentially(server):
    c = client(server)
    server.inject(Fault("429"), Fault("429"), Fault("429"))
    c.markets(["bitcoin"], "usd", "f")
    calls = server.calls("/coins/markets")
    assert [r.status for r in calls] == [429, 429, 429, 200]
    gaps = [b.at - a.at for a, b in itertools.pairwise(calls)]
    assert sum(gaps) >= (0.05 + 0.1 + 0.2) * 0.9, gaps  # waits of 0.05, 0.1, 0.2 s (+ jitter)
    assert gaps[2] > gaps[0], gaps
    assert c.metrics.value("coinstream_api_rate_limited_total") == 3


def test_5xx_burst_is_retried(server):
    c = client(server)
    server.inject(Fault("500"), Fault("503"), Fault("502"))
    assert len(c.markets(["bitcoin", "ethereum"], "usd", "f")) == 2
    assert [r.status for r in server.calls("/coins/markets")] == [500, 503, 502, 200]
    assert c.metrics.value("coinstream_api_calls_total", endpoint="coins_markets", status="503") == 1


def test_persistent_outage_gives_up_within_the_deadline(server):
    server.inject(*[Fault("503") for _ in range(200)])
    c = client(server, deadline=1.5)
    t0 = time.monotonic()
    with pytest.raises(RetryableError):
        c.markets(["bitcoin"], "usd", "f")
    assert time.monotonic() - t0 < 1.5 + 1.5, "ran past its deadline (slack for a loaded machine)"
    assert len(server.calls("/coins/markets")) >= 4


def test_stall_past_read_timeout_is_retried(server):
    server.inject(Fault("stall", seconds=5.0))
    c = client(server, read_timeout=0.5)
    t0 = time.monotonic()
    assert len(c.markets(["bitcoin"], "usd", "f")) == 1
    assert 0.5 <= time.monotonic() - t0 < 4.0, "waited for the stalled answer instead of retrying"
    assert c.metrics.value("coinstream_api_errors_total", endpoint="coins_markets", kind="timeout") == 1


def test_truncated_and_malformed_bodies_are_counted_not_fatal(server):
    c = client(server)
    server.inject(Fault("truncate"), Fault("malformed"))
    assert len(c.markets(["bitcoin"], "usd", "f")) == 1
    assert c.metrics.value("coinstream_api_errors_total", endpoint="coins_markets", kind="malformed") == 1
    assert len(server.calls("/coins/markets")) == 3
    server.inject(*[Fault("malformed") for _ in range(100)])
    with pytest.raises(MalformedResponseError):
        client(server, deadline=0.5).markets(["bitcoin"], "usd", "f")


def test_a_request_cut_short_by_the_deadline_reports_the_failure_before_it(server):
    """Under load the last attempt is often the one the deadline cuts short; the user should
    still learn that the source answered garbage, not that a read timed out."""
    server.inject(Fault("malformed"), Fault("stall", seconds=6.0))
    c = client(server, deadline=1.0, read_timeout=8.0)
    t0 = time.monotonic()
    with pytest.raises(MalformedResponseError):
        c.markets(["bitcoin"], "usd", "f")
    assert time.monotonic() - t0 < 4.0
    assert c.metrics.value("coinstream_api_errors_total", endpoint="coins_markets", kind="deadline") == 1
    assert c.metrics.value("coinstream_api_errors_total", endpoint="coins_markets", kind="timeout") == 0


def test_bad_entries_are_skipped_and_counted(server, monkeypatch):
    original = server.market_row

    def row(coin, vs):
        r = original(coin, vs)
        if coin == "ethereum":
            r["current_price"] = None
        if coin == "tether":
            r["last_updated"] = "yesterday"
        return r

    monkeypatch.setattr(server, "market_row", row)
    c = client(server)
    quotes = c.markets(["bitcoin", "ethereum", "tether"], "usd", "f")
    assert [q.coin_id for q in quotes] == ["bitcoin"]
    assert c.metrics.value("coinstream_quotes_invalid_total", source="coingecko", reason="type") == 1  # null price
    assert c.metrics.value("coinstream_quotes_invalid_total", source="coingecko", reason="invalid") == 1


def test_unknown_ids_listed_in_one_error(server):
    with pytest.raises(UnknownCoinsError) as err:
        client(server).check_coins(["bitcoin", "btc", "not-a-coin"])
    assert err.value.unknown == ["btc", "not-a-coin"]
    assert "btc, not-a-coin" in str(err.value)


def test_wrong_host_for_key_explains_the_fix():
    with FakeCoinGecko(plan="demo", api_key=KEY) as demo_host, pytest.raises(AuthError, match="plan: pro"):
        client(demo_host, plan="pro").ping()
    with FakeCoinGecko(plan="pro", api_key=KEY) as pro_host:
        with pytest.raises(AuthError, match="plan: demo"):
            client(pro_host, plan="demo").ping()
        with pytest.raises(AuthError, match="check the API key"):
            client(pro_host, api_key=SecretStr("wrong")).ping()
        assert len(pro_host.requests) == 2  # auth errors are final: no retries


def test_rate_limiter_is_sized_from_key_and_spaces_requests():
    with FakeCoinGecko(plan="pro", api_key=KEY, rate_limit_per_minute=600) as pro:
        c = client(pro, calls_per_minute=None)
        assert c.plan_calls_per_minute() == 600  # 10 calls/s
        for _ in range(5):
            c.ping()
        pings = pro.calls("/ping")
        # Arrival times carry scheduling jitter; the budget shows in the span of the whole run.
        assert pings[-1].at - pings[0].at >= 4 * 0.1 * 0.9, [p.at for p in pings]


def test_key_endpoint_unavailable_falls_back_to_plan_default(server):
    c = client(server, calls_per_minute=None)
    assert c.plan_calls_per_minute() == 30


def test_demo_history_limit_is_a_clear_error(server):
    c = client(server)
    start = dt.datetime.now(UTC) - dt.timedelta(days=400)
    with pytest.raises(HistoryLimitError, match="past 365 days"):
        list(c.history("bitcoin", "usd", start, start + dt.timedelta(days=200), "daily", "f"))
    assert c.history_start_limit() > start


def test_daily_history_chunks_keep_daily_granularity(server):
    pro = FakeCoinGecko(plan="pro", api_key=KEY)
    with pro:
        c = client(pro)
        end = dt.datetime.now(UTC)
        start = (end - dt.timedelta(days=800)).replace(hour=0, minute=0, second=0, microsecond=0)
        chunks = list(c.history("bitcoin", "usd", start, end, "daily", "f"))
    points = [q for ch in chunks for q in ch]
    stamps = [q.source_ts for q in points]
    assert len(chunks) == 3
    assert all(ts.hour == ts.minute == ts.second == 0 for ts in stamps)
    assert stamps == sorted(set(stamps)), "overlapping chunks must not repeat points"
    assert len(points) == (end.date() - start.date()).days + 1  # both midnights inclusive
    assert {q.granularity for q in points} == {"daily"} and points[0].symbol == "btc"
    for call in pro.calls("/market_chart/range"):
        assert int(call.params["to"]) - int(call.params["from"]) > 90 * 86400


def test_hourly_history_chunks_stay_within_90_days(server):
    c = client(server)
    end = dt.datetime.now(UTC)
    start = end - dt.timedelta(days=200)
    points = [q for ch in c.history("ethereum", "eur", start, end, "hourly", "f") for q in ch]
    spans = [int(r.params["to"]) - int(r.params["from"]) for r in server.calls("/market_chart/range")]
    assert len(spans) == 3 and all(86400 < s <= 90 * 86400 for s in spans)
    assert 200 * 24 - 3 <= len(points) <= 200 * 24 + 1
    assert {q.granularity for q in points} == {"hourly"} and {q.vs_currency for q in points} == {"eur"}
    # Points are built without per-point validation: each must still be exactly what validation gives.
    assert all(Quote.model_validate(q.model_dump()) == q for q in points)
    assert all(type(q.price) is float and q.source_ts.tzinfo == UTC for q in points)


def test_history_chunks_pad_a_short_tail():
    start = dt.datetime(2020, 1, 1, tzinfo=UTC)
    chunks = history_chunks(start, start + dt.timedelta(days=400), "daily")
    assert [(c[1] - c[0]).days for c in chunks] == [365, 35]
    assert (chunks[1][1] - chunks[1][2]).days == 91  # queried over 91 days to stay daily
    assert history_chunks(start, start + dt.timedelta(hours=5), "auto")[0][3] == "5m"
    assert history_chunks(start, start, "daily") == []
