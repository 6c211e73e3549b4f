"""A local HTTP server that speaks CoinGecko API v3's formats and faults.

Real CoinGecko is unreachable from tests, so this reproduces what the client
must cope with: the JSON shapes (nulls in max_supply/roi, ms timestamps),
plan-specific key headers and their error codes (10010/10011/10012), caching
(the same last_updated for `cache_seconds`), and injected faults: 429 with and
without Retry-After, 5xx bursts, stalls past a read timeout, truncated and
malformed bodies. Every request is recorded for assertions on timing and headers.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

COINS = {
    "bitcoin": ("btc", "Bitcoin", 60000.0, 21e6),
    "ethereum": ("eth", "Ethereum", 3000.0, None),
    "litecoin": ("ltc", "Litecoin", 80.0, 84e6),
    "tether": ("usdt", "Tether", 1.0, None),
    "solana": ("sol", "Solana", 150.0, None),
}
FX = {"usd": 1.0, "eur": 0.9}
DAY_MS = 86_400_000


@dataclass
class Fault:
    kind: str  # "429", "500", "503", "stall", "truncate", "malformed", "trickle", "raw", "huge"
    path: str = ""  # only requests whose path contains this
    retry_after: str | None = None
    seconds: float = 0.0  # stall: how long; trickle: between bytes
    body: bytes = b""  # raw: the 200 answer's body; trickle: what is trickled
    size: int = 0  # huge: bytes streamed (no Content-Length unless declared)
    declared: bool = False  # huge: announce the size in Content-Length up front


@dataclass
class Request:
    at: float
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int


@dataclass
class FakeCoinGecko:
    plan: str = "demo"  # which host this pretends to be: demo/public (api.) or pro (pro-api.)
    api_key: str | None = "CG-test-key-123"
    cache_seconds: float = 60.0
    rate_limit_per_minute: int = 500
    enforce_rate_limit: bool = False  # answer 429 (Retry-After) beyond rate_limit_per_minute in any 60 s
    extra_coins: dict[str, tuple[str, str, float, float | None]] = field(default_factory=dict)
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[Request] = field(default_factory=list)
    now: Any = None  # callable returning epoch seconds (for cache windows); default time.time

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/v3"

    def __enter__(self) -> FakeCoinGecko:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def calls(self, path_part: str = "") -> list[Request]:
        return [r for r in self.requests if path_part in r.path]

    # -- data ----------------------------------------------------------------------------------

    def coins(self) -> dict[str, tuple[str, str, float, float | None]]:
        return {**COINS, **self.extra_coins}

    def _clock(self) -> float:
        return float(self.now()) if self.now else time.time()

    def snapshot_time(self) -> float:
        """Answers are cached: last_updated only moves once per cache window."""
        t = self._clock()
        return math.floor(t / self.cache_seconds) * self.cache_seconds

    def price(self, coin: str, vs: str, t: float) -> float:
        base = self.coins()[coin][2] * FX[vs]
        return round(base * (1 + 0.05 * math.sin(t / 86400.0 + len(coin))), 8)

    def market_row(self, coin: str, vs: str) -> dict[str, Any]:
        symbol, name, _, max_supply = self.coins()[coin]
        t = self.snapshot_time()
        price = self.price(coin, vs, t)
        return {
            "id": coin,
            "symbol": symbol,
            "name": name,
            "image": f"https://assets.coingecko.com/coins/images/1/large/{coin}.png",
            "current_price": price,
            "market_cap": round(price * 19e6),
            "market_cap_rank": 1,
            "fully_diluted_valuation": None if max_supply is None else round(price * max_supply),
            "total_volume": round(price * 5e5),
            "high_24h": round(price * 1.02, 8),
            "low_24h": round(price * 0.97, 8),
            "price_change_24h": round(price * 0.01, 8),
            "price_change_percentage_24h": 1.0123,
            "market_cap_change_24h": 1.0,
            "market_cap_change_percentage_24h": 0.5,
            "circulating_supply": 19e6,
            "total_supply": max_supply,
            "max_supply": max_supply,
            "ath": price * 1.5,
            "ath_change_percentage": -33.3,
            "ath_date": "2021-11-10T14:24:11.849Z",
            "atl": price / 1000,
            "atl_change_percentage": 99999.0,
            "atl_date": "2013-07-06T00:00:00.000Z",
            "roi": {"times": 50.1, "currency": "btc", "percentage": 5010.0} if coin == "ethereum" else None,
            "last_updated": dt.datetime.fromtimestamp(t, dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        }

    def chart(self, coin: str, vs: str, start: int, end: int) -> dict[str, list[list[float]]]:
        """Granularity the way CoinGecko picks it: by the span of one call."""
        span = end - start
        if span <= 86400:
            step, first = 300_000, math.ceil(start * 1000 / 300_000) * 300_000
        elif span <= 90 * 86400:
            step, first = 3_600_000, math.ceil(start * 1000 / 3_600_000) * 3_600_000 + 17_000
        else:
            step, first = DAY_MS, math.ceil(start * 1000 / DAY_MS) * DAY_MS
        now_ms = int(self._clock() * 1000)
        stamps = list(range(first, min(end * 1000, now_ms) + 1, step))
        if step == DAY_MS and end * 1000 >= now_ms and stamps and stamps[-1] < now_ms:
            stamps.append(now_ms)  # the live point CoinGecko appends to daily ranges
        prices = [[ms, self.price(coin, vs, ms / 1000)] for ms in stamps]
        return {
            "prices": prices,
            "market_caps": [[ms, p * 19e6] for ms, p in prices],
            "total_volumes": [[ms, p * 5e5] for ms, p in prices],
        }

    # -- HTTP ----------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                # Recorded before answering, so a test that reads it after the client returns never races.
                self.record = Request(time.monotonic(), url.path, params, dict(self.headers), 0)
                with fake._lock:
                    fake.requests.append(self.record)
                fake._serve(self, url.path, params)

        return Handler

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            for f in list(self.faults):
                if f.path in path:
                    self.faults.remove(f)
                    return f
        return None

    def _over_limit(self) -> float | None:
        """Seconds until a call is allowed again, when the last minute already holds the limit."""
        now = time.monotonic()
        with self._lock:
            recent = [r.at for r in self.requests[:-1] if r.at > now - 60 and r.status != 429]
            if len(recent) < self.rate_limit_per_minute:
                return None
            return max(0.0, recent[-self.rate_limit_per_minute] + 60 - now)

    def _serve(self, h: BaseHTTPRequestHandler, path: str, params: dict[str, str]) -> int:
        if self.enforce_rate_limit and (wait := self._over_limit()) is not None:
            return self._fault(h, Fault("429", retry_after=str(math.ceil(wait))))
        fault = self._next_fault(path)
        if fault is not None:
            return self._fault(h, fault)
        err = self._auth_error(h)
        if err is not None:
            return self._json(h, err[0], err[1])
        route = path.removeprefix("/api/v3")
        if route == "/ping":
            return self._json(h, 200, {"gecko_says": "(V3) To the Moon!"})
        if route == "/key":
            if self.plan != "pro":
                return self._json(h, 401, {"status": {"error_code": 10005, "error_message": "pro only"}})
            return self._json(
                h,
                200,
                {
                    "plan": "Other",
                    "rate_limit_request_per_minute": self.rate_limit_per_minute,
                    "monthly_call_credit": 1000000,
                    "current_total_monthly_calls": len(self.requests),
                    "current_remaining_monthly_calls": 1000000 - len(self.requests),
                },
            )
        if route == "/coins/list":
            return self._json(h, 200, [{"id": c, "symbol": s, "name": n} for c, (s, n, _, _) in self.coins().items()])
        if route == "/coins/markets":
            vs = params.get("vs_currency", "")
            if vs not in FX:
                return self._json(h, 400, {"error": "invalid vs_currency"})
            ids = [i for i in params.get("ids", "").split(",") if i in self.coins()]
            per_page = int(params.get("per_page", 100))
            if per_page > 250:
                return self._json(h, 400, {"error": "per_page must be <= 250"})
            return self._json(h, 200, [self.market_row(c, vs) for c in ids[:per_page]])
        parts = route.split("/")
        if len(parts) == 5 and parts[1] == "coins" and parts[3:] == ["market_chart", "range"]:
            coin = parts[2]
            if coin not in self.coins():
                return self._json(h, 404, {"error": "coin not found"})
            start, end = int(params["from"]), int(params["to"])
            if self.plan in ("demo", "public") and start < self._clock() - 365 * 86400:
                return self._json(
                    h,
                    401,
                    {
                        "error": {
                            "status": {
                                "timestamp": dt.datetime.now(dt.UTC).isoformat(),
                                "error_code": 10012,
                                "error_message": "Your request exceeds the allowed time range. Public API users "
                                "are limited to querying historical data within the past 365 days.",
                            }
                        }
                    },
                )
            return self._json(h, 200, self.chart(coin, params.get("vs_currency", "usd"), start, end))
        return self._json(h, 404, {"error": "Not Found"})

    def _auth_error(self, h: BaseHTTPRequestHandler) -> tuple[int, Any] | None:
        demo_key = h.headers.get("x-cg-demo-api-key")
        pro_key = h.headers.get("x-cg-pro-api-key")
        if self.plan == "pro":
            if demo_key:
                return 400, _status(10011, "If you are using Demo API key, please change your root URL from "
                                    "pro-api.coingecko.com to api.coingecko.com")  # fmt: skip
            if pro_key != self.api_key:
                return 401, {"status": {"error_code": 10002, "error_message": "API Key Missing"}}
        elif self.plan == "demo":
            if pro_key:
                return 400, _status(10010, "If you are using Pro API key, please change your root URL from "
                                    "api.coingecko.com to pro-api.coingecko.com")  # fmt: skip
            if demo_key != self.api_key:
                return 401, {"status": {"error_code": 10002, "error_message": "API Key Missing"}}
        return None

    def _json(self, h: BaseHTTPRequestHandler, status: int, body: Any) -> int:
        h.record.status = status  # type: ignore[attr-defined]
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        h.send_header("Cache-Control", f"public, max-age={int(self.cache_seconds)}")
        h.end_headers()
        h.wfile.write(data)
        return status

    def _fault(self, h: BaseHTTPRequestHandler, f: Fault) -> int:
        h.record.status = 200 if not f.kind.isdigit() else int(f.kind)  # type: ignore[attr-defined]
        if f.kind == "429":
            h.send_response(429)
            if f.retry_after is not None:
                h.send_header("Retry-After", f.retry_after)
            body = b'{"status":{"error_code":429,"error_message":"You\'ve exceeded the Rate Limit."}}'
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return 429
        if f.kind in ("500", "502", "503"):
            body = b"<html><body>Service Unavailable</body></html>"
            h.send_response(int(f.kind))
            h.send_header("Content-Type", "text/html")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return int(f.kind)
        if f.kind == "stall":
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", "1000")
            h.end_headers()
            h.wfile.write(b'[{"id": "bitcoin", ')
            h.wfile.flush()
            time.sleep(f.seconds)
            h.close_connection = True
            return 200
        if f.kind == "truncate":
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", "5000")
            h.end_headers()
            h.wfile.write(b'[{"id": "bitcoin", "symbol": "btc", "current_pr')
            h.close_connection = True
            return 200
        if f.kind == "malformed":
            body = b'[{"id": "bitcoin", "symbol": "btc",, }'
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return 200
        if f.kind == "raw":
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(f.body)))
            h.end_headers()
            h.wfile.write(f.body)
            return 200
        if f.kind == "trickle":
            body = f.body or json.dumps([self.market_row("bitcoin", "usd")]).encode()
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.close_connection = True
            try:
                for i in range(len(body)):
                    h.wfile.write(body[i : i + 1])
                    h.wfile.flush()
                    time.sleep(f.seconds)
            except OSError:
                pass  # the client gave up, as it should
            return 200
        if f.kind == "huge":
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            if f.declared:
                h.send_header("Content-Length", str(f.size))
            h.end_headers()
            h.close_connection = True
            chunk = b" " * 65536
            try:
                h.wfile.write(b"[")
                for _ in range(f.size // len(chunk)):
                    h.wfile.write(chunk)
            except OSError:
                pass
            return 200
        raise ValueError(f"unknown fault {f.kind}")


def _status(code: int, message: str) -> dict[str, Any]:
    return {"status": {"error_code": code, "error_message": message}}


def fast_client(server: FakeCoinGecko, **kw: Any) -> Any:
    """A client of `server` with short timeouts and backoffs, so fault tests take milliseconds."""
    from pydantic import SecretStr

    from coinstream.ingest.sources.coingecko import CoinGeckoClient
    from coinstream.metrics import Metrics

    opts: dict[str, Any] = dict(
        plan=server.plan,
        api_key=SecretStr(server.api_key) if server.api_key else None,
        base_url=server.base_url,
        metrics=Metrics(),
        read_timeout=1.0,
        deadline=8.0,
        calls_per_minute=6000,
        backoff_initial=0.05,
        backoff_max=0.4,
        key_hosts=("127.0.0.1",),
    )
    opts.update(kw)
    return CoinGeckoClient(**opts)
