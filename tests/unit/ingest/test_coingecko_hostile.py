"""The CoinGecko client against a hostile or broken server: it may fail a call, never hang or crash."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import time

import pytest
from tests.support.fake_coingecko import Fault
from tests.support.fake_coingecko import fast_client as client

from coinstream.ingest.sources.coingecko import CoinGeckoClient, _retry_after
from coinstream.ingest.sources.errors import DeadlineExceeded, ResponseTooLargeError

KEY = "CG-test-key-123"
UTC = dt.UTC


def rejected(c: CoinGeckoClient, reason: str) -> float:
    return c.metrics.value("coinstream_quotes_invalid_total", source="coingecko", reason=reason)


def test_retry_after_values_are_capped_and_sane():
    future = email.utils.format_datetime(dt.datetime(2099, 1, 1, tzinfo=UTC), usegmt=True)
    past = email.utils.format_datetime(dt.datetime(2001, 1, 1, tzinfo=UTC), usegmt=True)
    assert _retry_after("99999999", cap=60) == 60
    assert _retry_after("inf", cap=60) == 60
    assert _retry_after("1e999", cap=60) == 60
    assert _retry_after("-5", cap=60) == 0
    assert _retry_after("nan", cap=60) is None
    assert _retry_after("soon", cap=60) is None
    assert _retry_after(future, cap=60) == 60
    assert _retry_after(past, cap=60) == 0
    assert _retry_after(" 2.5 ", cap=60) == 2.5


@pytest.mark.parametrize("value", ["99999999", "inf", "-5", "Wed, 01 Jan 2099 00:00:00 GMT", "soon"])
def test_hostile_retry_after_neither_sleeps_for_years_nor_crashes(server, value):
    server.inject(Fault("429", retry_after=value))
    c = client(server, retry_after_cap=0.5)
    t0 = time.monotonic()
    assert len(c.markets(["bitcoin"], "usd", "f")) == 1
    assert time.monotonic() - t0 < 4.0, "slept past the Retry-After cap"
    assert [r.status for r in server.calls("/coins/markets")] == [429, 200]


def test_a_trickling_server_cannot_hold_a_call_past_its_deadline(server):
    # One byte every 0.2 s: every single read succeeds within the read timeout.
    server.inject(*[Fault("trickle", seconds=0.2) for _ in range(5)])
    c = client(server, read_timeout=1.0, deadline=1.5)
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        c.markets(["bitcoin"], "usd", "f")
    held = time.monotonic() - t0
    assert held < 1.5 + 1.5, f"held {held:.1f}s with a 1.5s deadline"
    assert c.metrics.value("coinstream_api_errors_total", endpoint="coins_markets", kind="deadline") == 1


def test_oversized_bodies_are_refused_without_reading_them(server):
    c = client(server, max_body_bytes=1 << 20)
    server.inject(Fault("huge", size=50 << 20, declared=True))
    t0 = time.monotonic()
    with pytest.raises(ResponseTooLargeError, match="exceeds"):
        c.markets(["bitcoin"], "usd", "f")
    server.inject(Fault("huge", size=8 << 20))  # no Content-Length: stopped at the cap while reading
    with pytest.raises(ResponseTooLargeError):
        c.markets(["bitcoin"], "usd", "f")
    assert time.monotonic() - t0 < 3
    assert len(server.calls("/coins/markets")) == 2, "an oversized answer is not worth a retry"
    assert c.metrics.value("coinstream_api_errors_total", endpoint="coins_markets", kind="too_large") == 2
    assert len(c.markets(["bitcoin"], "usd", "f")) == 1


def test_malformed_history_points_are_skipped_and_counted(server):
    now = dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now - dt.timedelta(days=3)
    ok = int((start + dt.timedelta(hours=5)).timestamp() * 1000)
    ahead = int((dt.datetime.now(UTC) + dt.timedelta(days=30)).timestamp() * 1000)
    body = (
        f'{{"prices": [[1e999, 1], ["x", 1], [{ok + 1}, "5"], [{ok + 2}, true], [{ok + 3}, 1e999], 5, [{ok}], null,'
        f" [{ok}, 10.5], [{ahead}, 3], [{ok + 4}, 0], [{ok + 5}, -2.5], [{ok + 6}, {'9' * 400}]],"
        f' "market_caps": [[1e999, 1], ["x", 1], [{ok}, "big"]], "total_volumes": "nope"}}'
    )
    server.inject(Fault("raw", path="/market_chart/range", body=body.encode()))
    c = client(server)
    chunks = list(c.history("bitcoin", "usd", start, now, "hourly", "f"))
    points = [q for ch in chunks for q in ch]
    assert [(q.source_ts, q.price, q.market_cap) for q in points] == [
        (dt.datetime.fromtimestamp(ok / 1000, UTC), 10.5, None)
    ]
    assert rejected(c, "type") == 6  # 1e999 and "x" stamps, "5", true, a 1e999 price, a 400-digit one
    assert rejected(c, "invalid") == 2  # prices 0 and -2.5
    assert rejected(c, "shape") == 3  # 5, [ms], null
    assert rejected(c, "future") == 1


def test_markets_take_only_numbers_only_for_coins_asked_only_from_the_past(server):
    rows = [server.market_row(c, "usd") for c in ("bitcoin", "ethereum", "litecoin", "tether", "solana")]
    rows[1]["current_price"] = "3000"  # a string is not a price
    rows[2]["market_cap"] = True  # nor is a boolean
    rows[3]["last_updated"] = "2099-01-01T00:00:00.000Z"  # would silence tether until restart
    rows.append(server.market_row("bitcoin", "usd"))  # the same coin twice
    rows.append({**server.market_row("solana", "usd"), "id": "dogecoin"})  # never asked for
    server.inject(Fault("raw", path="/coins/markets", body=json.dumps(rows).encode()))
    c = client(server)
    quotes = c.markets(["bitcoin", "ethereum", "litecoin", "tether", "solana"], "usd", "f")
    assert sorted(q.coin_id for q in quotes) == ["bitcoin", "solana"]
    assert rejected(c, "type") == 2
    assert rejected(c, "future") == 1
    assert rejected(c, "duplicate") == 1
    assert rejected(c, "unrequested") == 1
    # The next honest answer for tether is taken.
    assert [q.coin_id for q in c.markets(["tether"], "usd", "f")] == ["tether"]
