"""CoinGecko API v3 client: the few endpoints coinstream needs, hardened.

Why so careful: every call (failed ones too) costs monthly credits, answers are
cached for 20-60 s, rate limits differ by plan and change, and the original
project died on the first 429. So: a token bucket sized from /key (or the plan),
retries on 429/5xx/timeouts/truncated bodies honouring Retry-After within one
deadline, and keys only ever in headers, never in URLs or logs.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import math
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
import urllib3
from pydantic import SecretStr, ValidationError
from tenacity import Retrying, retry_if_exception_type, stop_before_delay, wait_exponential_jitter
from tenacity.wait import wait_base

from coinstream.ingest.ratelimit import TokenBucket
from coinstream.ingest.sources.base import HistoryChunk, HistoryGranularity
from coinstream.ingest.sources.errors import (
    AuthError,
    DeadlineExceeded,
    HistoryLimitError,
    KeyHostError,
    MalformedResponseError,
    ResponseTooLargeError,
    RetryableError,
    SourceError,
    UnknownCoinsError,
)
from coinstream.logs import get_logger
from coinstream.metrics import Metrics
from coinstream.models import Quote
from coinstream.models.coinfeed import COINGECKO_HOSTS

Plan = Literal["public", "demo", "pro"]
HOSTS: dict[str, str] = {plan: f"https://{host}/api/v3" for plan, host in COINGECKO_HOSTS.items()}
KEY_HEADERS = {"demo": "x-cg-demo-api-key", "pro": "x-cg-pro-api-key"}
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
#: Conservative calls/minute when /key cannot tell us (documented plan limits move over time).
DEFAULT_CALLS_PER_MINUTE = {"public": 5, "demo": 30, "pro": 500}
#: Calls are spaced slightly wider than the plan allows: the server counts arrivals, and one call
#: delayed in transit must not make the next one look early (a self-inflicted 429 costs a credit).
RATE_MARGIN = 0.97
#: Public and demo keys only see the past 365 days of history.
HISTORY_DAYS = {"public": 365, "demo": 365, "pro": None}
MARKETS_BATCH = 250
DAY = dt.timedelta(days=1)

log = get_logger(__name__)


#: Longest wait a server's Retry-After may impose: beyond it the call's own deadline decides.
RETRY_AFTER_CAP = 60.0
#: Largest answer read into memory; 250 coins of /coins/markets are ~400 kB, 90 days hourly ~200 kB.
MAX_BODY_BYTES = 16 * 1024 * 1024
#: How far ahead of this machine's clock a source timestamp may be before it is rejected.
FUTURE_SKEW = dt.timedelta(minutes=2)
_CHUNK = 64 * 1024


def _retry_after(value: str | None, cap: float = RETRY_AFTER_CAP) -> float | None:
    """Retry-After as seconds in [0, cap]: a number or an HTTP date; absent or unparseable -> None.

    A server (or a proxy in front of it) can send anything here: `99999999`, `inf`,
    `-5`, `nan`, a date in 2099. None of it may put the client to sleep for years.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), cap)


def _is_number(value: Any) -> bool:
    """A JSON number that is a finite amount: bool, str, inf/nan and integers past float range are not prices."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # a 400-digit JSON integer
        return False


def _epoch_ms(value: Any) -> int | None:
    """A history point's timestamp in ms, or None when it is not a plausible one."""
    if not _is_number(value) or not 0 <= value < 4_102_444_800_000:  # 1970 .. 2100
        return None
    return int(value)


class _wait_retry_after(wait_base):
    """Honour the server's Retry-After when it gave one, else exponential backoff with jitter."""

    def __init__(self, fallback: wait_base, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: Any) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            return min(exc.retry_after, self.cap)
        return float(self.fallback(retry_state))


# A socket timeout sized to what was left of the deadline fires at the deadline, give or take
# the clock's granularity.
_DEADLINE_SLACK = 0.05


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, requests.Timeout | TimeoutError | urllib3.exceptions.TimeoutError) or (
        "timed out" in str(exc)
    )


def _error_code(raw: bytes) -> tuple[int | None, str]:
    """CoinGecko's error bodies: {"status": {"error_code", "error_message"}} or {"error": ...}."""
    text = raw[:200].decode(errors="replace")
    try:
        body = json.loads(raw)
    except ValueError:
        return None, text
    status = body.get("status") if isinstance(body, dict) else None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        status = body["error"].get("status", body["error"])
    if isinstance(status, dict):
        return status.get("error_code"), str(status.get("error_message", ""))
    if isinstance(body, dict) and "error" in body:
        return None, str(body["error"])[:200]
    return None, text


class KeySafeSession(requests.Session):
    """requests drops only `Authorization` on a redirect to another host and forwards every other
    header, so a server could bounce the key header anywhere: drop it too."""

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        super().rebuild_auth(prepared_request, response)
        old_url = response.request.url if response.request is not None else None
        if old_url is None or prepared_request.url is None or self.should_strip_auth(old_url, prepared_request.url):
            for header in KEY_HEADERS.values():
                prepared_request.headers.pop(header, None)


def check_key_host(base_url: str, plan: Plan, key_hosts: tuple[str, ...] | list[str]) -> None:
    """The key goes to the plan's CoinGecko host or to a host the administrator allowed, over
    https (plain http only to an allowed loopback test server), or nowhere."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    allowed = {COINGECKO_HOSTS[plan], *(h.lower() for h in key_hosts)}
    secure = parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK)
    if host not in allowed or not secure:
        raise KeyHostError(
            f"refusing to send the CoinGecko API key to {parts.scheme}://{host}: the key goes only over https "
            f"to {COINGECKO_HOSTS[plan]} (plan {plan}) or to a host an administrator allows in "
            "COINSTREAM_COINGECKO_KEY_HOSTS (operator: COINSTREAM_OPERATOR_API_KEY_HOSTS)"
        )


class CoinGeckoClient:
    name: Literal["coingecko"] = "coingecko"

    def __init__(
        self,
        plan: Plan = "demo",
        api_key: SecretStr | None = None,
        base_url: str | None = None,
        *,
        metrics: Metrics | None = None,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        deadline: float = 120.0,
        max_body_bytes: int = MAX_BODY_BYTES,
        retry_after_cap: float = RETRY_AFTER_CAP,
        calls_per_minute: float | None = None,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        sleep: Callable[[float], None] | None = None,
        key_hosts: tuple[str, ...] | list[str] = (),
    ) -> None:
        if plan in KEY_HEADERS and api_key is None:
            log.warning("coingecko.no_api_key", plan=plan, hint="set COINSTREAM_COINGECKO_API_KEY(_FILE)")
        self.plan: Plan = plan
        self.base_url = (base_url or HOSTS[plan]).rstrip("/")
        if api_key is not None and plan in KEY_HEADERS:
            check_key_host(self.base_url, plan, key_hosts)
        self._api_key = api_key
        self.metrics = metrics or Metrics()
        self.timeout = (connect_timeout, read_timeout)
        self.deadline = deadline
        self.max_body_bytes = max_body_bytes
        self.retry_after_cap = retry_after_cap
        self._sleep = sleep or time.sleep
        self.session = KeySafeSession()
        self.session.headers["accept"] = "application/json"
        self.session.headers["user-agent"] = "coinstream/0.1"
        self._wait = _wait_retry_after(
            wait_exponential_jitter(multiplier=backoff_initial, max=backoff_max, jitter=backoff_initial),
            cap=retry_after_cap,
        )
        self.bucket = TokenBucket.per_minute(
            (calls_per_minute or DEFAULT_CALLS_PER_MINUTE[plan]) * RATE_MARGIN, burst=1, sleep=self._sleep
        )
        self._coins: dict[str, tuple[str, str]] | None = None
        self.calls = 0

    # -- transport ---------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        if self._api_key is None or self.plan not in KEY_HEADERS:
            return {}
        return {KEY_HEADERS[self.plan]: self._api_key.get_secret_value()}

    def _once(self, endpoint: str, path: str, params: dict[str, Any] | None, deadline: float) -> Any:
        self.bucket.acquire()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            self.metrics.api_errors.labels(endpoint, "deadline").inc()
            raise DeadlineExceeded(f"{endpoint}: no answer within the {self.deadline:.0f}s deadline")
        self.calls += 1
        connect, read = self.timeout
        try:
            resp = self.session.get(
                f"{self.base_url}{path}",
                params=params,
                headers=self._headers(),
                timeout=(min(connect, remaining), min(read, remaining)),
                stream=True,
            )
            try:
                body = self._read_body(endpoint, resp, deadline)
            finally:
                resp.close()
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if _is_timeout(exc) and deadline - time.monotonic() < _DEADLINE_SLACK:
                # Cut short by the call's own deadline, not by a slow server: the failure worth
                # reporting is the one before it (see `get`).
                self.metrics.api_errors.labels(endpoint, "deadline").inc()
                raise DeadlineExceeded(f"{endpoint}: no answer within the {self.deadline:.0f}s deadline") from None
            kind = "timeout" if _is_timeout(exc) else "connection"
            self.metrics.api_calls.labels(endpoint, kind).inc()
            self.metrics.api_errors.labels(endpoint, kind).inc()
            raise RetryableError(f"{endpoint}: {kind}: {type(exc).__name__}") from None
        status = resp.status_code
        self.metrics.api_calls.labels(endpoint, str(status)).inc()
        if status == 429:
            retry_after = _retry_after(resp.headers.get("Retry-After"), self.retry_after_cap)
            self.metrics.api_rate_limited.inc()
            log.warning("coingecko.rate_limited", endpoint=endpoint, retry_after=retry_after)
            raise RetryableError(f"{endpoint}: 429 rate limited", retry_after=retry_after)
        if status >= 500:
            self.metrics.api_errors.labels(endpoint, "server").inc()
            raise RetryableError(
                f"{endpoint}: HTTP {status}",
                retry_after=_retry_after(resp.headers.get("Retry-After"), self.retry_after_cap),
            )
        if status >= 400:
            self._raise_client_error(endpoint, resp, body)
        try:
            return json.loads(body)
        except ValueError:
            self.metrics.api_errors.labels(endpoint, "malformed").inc()
            raise MalformedResponseError(f"{endpoint}: malformed JSON ({len(body)} bytes)") from None

    def _read_body(self, endpoint: str, resp: requests.Response, deadline: float) -> bytes:
        """The whole body within the call's deadline and size cap.

        A per-read timeout alone lets a server that trickles one byte a second hold
        a call forever, so every read gets only what is left of the deadline, and a
        body larger than the cap is abandoned before it fills memory.
        """
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            self._too_large(endpoint, int(declared))
        raw = resp.raw
        buf = bytearray()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("deadline reached while reading the body")
            sock = getattr(getattr(raw, "connection", None), "sock", None)
            if sock is not None:
                sock.settimeout(min(self.timeout[1], remaining))
            chunk = raw.read1(_CHUNK)
            if not chunk:
                return bytes(buf)
            buf += chunk
            if len(buf) > self.max_body_bytes:
                self._too_large(endpoint, len(buf))

    def _too_large(self, endpoint: str, size: int) -> None:
        self.metrics.api_errors.labels(endpoint, "too_large").inc()
        raise ResponseTooLargeError(
            f"{endpoint}: answer of {size} bytes exceeds the {self.max_body_bytes}-byte limit "
            "(fewer coins per call, or a proxy returning something else?)"
        )

    def _raise_client_error(self, endpoint: str, resp: requests.Response, body: bytes) -> None:
        code, message = _error_code(body)
        self.metrics.api_errors.labels(endpoint, f"http_{resp.status_code}").inc()
        if code == 10010:
            raise AuthError(f"{message} — this is a pro key: set source.plan: pro (host pro-api.coingecko.com)")
        if code == 10011:
            raise AuthError(f"{message} — this is a demo key: set source.plan: demo (host api.coingecko.com)")
        if code == 10012 or "time range" in message.lower():
            raise HistoryLimitError(
                f"{endpoint}: {message} — the {self.plan} plan serves only the past 365 days of history; "
                "start spec.backfill.from later, or use a paid (pro) key for full history"
            )
        if resp.status_code in (401, 403):
            raise AuthError(
                f"{endpoint}: HTTP {resp.status_code} {message} — check the API key "
                "(COINSTREAM_COINGECKO_API_KEY / the Secret in source.apiKeySecretRef) and source.plan"
            )
        raise SourceError(f"{endpoint}: HTTP {resp.status_code} {message}")

    def get(self, endpoint: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET with rate limiting and retries, all within `self.deadline` seconds, body reads included."""
        deadline = time.monotonic() + self.deadline
        failures: list[BaseException] = []
        retrying = Retrying(
            stop=stop_before_delay(self.deadline),
            wait=self._wait,
            retry=retry_if_exception_type(RetryableError),
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda rs: self._on_retry(rs.outcome.exception() if rs.outcome else None, failures),
        )
        try:
            return retrying(self._once, endpoint, path, params, deadline)
        except DeadlineExceeded:
            if failures:  # what went wrong is worth more to the user than that time ran out
                raise failures[-1] from None
            raise

    def _on_retry(self, exc: BaseException | None, failures: list[BaseException]) -> None:
        if exc is not None:
            failures.append(exc)
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            self.bucket.pause(exc.retry_after)

    # -- endpoints ---------------------------------------------------------------------------------

    def ping(self) -> bool:
        return "gecko_says" in self.get("ping", "/ping")

    def key_info(self) -> dict[str, Any]:
        info = self.get("key", "/key")
        if not isinstance(info, dict):
            raise MalformedResponseError("key: expected an object")
        return info

    def plan_calls_per_minute(self) -> float:
        """Size the rate limiter from /key; fall back to the plan's documented default."""
        try:
            rate = float(self.key_info()["rate_limit_request_per_minute"])
        except (SourceError, KeyError, TypeError, ValueError) as exc:
            log.info("coingecko.key_unavailable", reason=str(exc), plan=self.plan)
            rate = DEFAULT_CALLS_PER_MINUTE[self.plan]
        self.bucket = TokenBucket.per_minute(rate * RATE_MARGIN, burst=1, sleep=self._sleep)
        return rate

    def coins(self) -> dict[str, tuple[str, str]]:
        """id -> (symbol, name), fetched once per client."""
        if self._coins is None:
            listing = self.get("coins_list", "/coins/list")
            if not isinstance(listing, list):
                raise MalformedResponseError("coins_list: expected an array")
            self._coins = {
                c["id"]: (str(c.get("symbol") or c["id"]), str(c.get("name") or c["id"]))
                for c in listing
                if isinstance(c, dict) and isinstance(c.get("id"), str)
            }
        return self._coins

    def check_coins(self, coins: list[str]) -> None:
        known = self.coins()
        unknown = [c for c in coins if c not in known]
        if unknown:
            raise UnknownCoinsError(unknown)

    def markets(self, coins: list[str], vs_currency: str, feed: str) -> list[Quote]:
        out: list[Quote] = []
        for i in range(0, len(coins), MARKETS_BATCH):
            batch = coins[i : i + MARKETS_BATCH]
            rows = self.get(
                "coins_markets",
                "/coins/markets",
                {"vs_currency": vs_currency, "ids": ",".join(batch), "per_page": MARKETS_BATCH, "page": 1},
            )
            if not isinstance(rows, list):
                self.metrics.api_errors.labels("coins_markets", "shape").inc()
                raise MalformedResponseError("coins_markets: expected an array")
            now = dt.datetime.now(dt.UTC)
            wanted, seen = set(batch), set()
            for row in rows:
                coin = row.get("id") if isinstance(row, dict) else None
                if coin not in wanted or coin in seen:
                    # An answer listing coins nobody asked for (or one twice) is not trusted to add rows.
                    self._reject("unrequested" if coin not in wanted else "duplicate", coin)
                    continue
                q = self._market_quote(row, vs_currency, feed, now)
                if q is not None:
                    seen.add(coin)
                    out.append(q)
            missing = wanted - seen
            if missing:
                log.warning("coingecko.coins_missing", coins=sorted(missing), vs_currency=vs_currency)
        self.metrics.quotes_fetched.labels("coingecko", "live").inc(len(out))
        return out

    def _reject(self, reason: str, coin: object, detail: str = "") -> None:
        self.metrics.quotes_invalid.labels("coingecko", reason).inc()
        log.warning("coingecko.bad_entry", coin=str(coin)[:100], reason=reason, error=detail[:200])

    def _market_quote(self, row: dict[str, Any], vs: str, feed: str, now: dt.datetime) -> Quote | None:
        numbers = {
            "price": row.get("current_price"),
            "market_cap": row.get("market_cap"),
            "total_volume": row.get("total_volume"),
            "high_24h": row.get("high_24h"),
            "low_24h": row.get("low_24h"),
            "price_change_pct_24h": row.get("price_change_percentage_24h"),
        }
        bad = [k for k, v in numbers.items() if not (_is_number(v) or (v is None and k != "price"))]
        if bad:
            self._reject("type", row.get("id"), f"not a finite JSON number: {', '.join(bad)}")
            return None
        try:
            q = Quote(
                coin_id=row["id"],
                symbol=row["symbol"],
                name=row["name"],
                vs_currency=vs,
                source="coingecko",
                source_ts=row["last_updated"],
                ingest_ts=now,
                feed=feed,
                origin="live",
                granularity="tick",
                **numbers,
            )
        except (KeyError, TypeError, ValidationError) as exc:
            self._reject("invalid", row.get("id"), str(exc).splitlines()[0])
            return None
        if q.source_ts > now + FUTURE_SKEW:
            # Stored in the dedup memory, a 2099 last_updated would silence the coin until restart.
            self._reject("future", q.coin_id, q.source_ts.isoformat())
            return None
        return q

    # -- history -----------------------------------------------------------------------------------

    def history_start_limit(self) -> dt.datetime | None:
        days = HISTORY_DAYS[self.plan]
        if days is None:
            return None
        # One day of margin: "the past 365 days" is counted by the server, not by us.
        return dt.datetime.now(dt.UTC) - dt.timedelta(days=days - 1)

    def history(
        self,
        coin: str,
        vs_currency: str,
        start: dt.datetime,
        end: dt.datetime,
        granularity: HistoryGranularity,
        feed: str,
        origin: Literal["backfill", "gapfill"] = "backfill",
    ) -> Iterator[HistoryChunk]:
        symbol, name = self.coins().get(coin, (coin, coin))
        for chunk_start, chunk_end, query_start, label in history_chunks(start, end, granularity):
            raw = self.get(
                "market_chart_range",
                f"/coins/{coin}/market_chart/range",
                {
                    "vs_currency": vs_currency,
                    "from": int(query_start.timestamp()),
                    "to": int(chunk_end.timestamp()),
                },
            )
            quotes = self._chart_quotes(
                raw, coin, symbol, name, vs_currency, feed, label, chunk_start, chunk_end, origin
            )
            self.metrics.quotes_fetched.labels("coingecko", origin).inc(len(quotes))
            yield HistoryChunk(quotes, chunk_start, chunk_end, label)

    def _chart_quotes(
        self,
        raw: Any,
        coin: str,
        symbol: str,
        name: str,
        vs: str,
        feed: str,
        label: Literal["5m", "hourly", "daily"],
        start: dt.datetime,
        end: dt.datetime,
        origin: Literal["backfill", "gapfill"],
    ) -> list[Quote]:
        if not isinstance(raw, dict) or not isinstance(raw.get("prices"), list):
            self.metrics.api_errors.labels("market_chart_range", "shape").inc()
            raise MalformedResponseError("market_chart_range: expected {prices: [[ms, value], ...]}")
        caps = self._series(raw.get("market_caps"))
        vols = self._series(raw.get("total_volumes"))
        lo, hi = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        now = dt.datetime.now(dt.UTC)
        future = int((now + FUTURE_SKEW).timestamp() * 1000)
        # What every point of the chunk shares is validated once; per point the checks below
        # establish the rest of Quote's invariants (finite price > 0, finite amounts >= 0 from
        # `_series`, an aware UTC time), so each point is a copy with four fields set, not a
        # validation of seventeen.
        try:
            template: Quote | None = Quote(
                coin_id=coin,
                symbol=symbol,
                name=name,
                vs_currency=vs,
                price=1.0,
                source="coingecko",
                source_ts=now,
                ingest_ts=now,
                feed=feed,
                origin=origin,
                granularity=label,
            )
            invalid = ""
        except ValidationError as exc:
            template, invalid = None, str(exc).splitlines()[0]
        out = []
        for point in raw["prices"]:
            if not isinstance(point, list) or len(point) != 2:
                self._reject("shape", coin, repr(point)[:80])
                continue
            ms, price = _epoch_ms(point[0]), point[1]
            if ms is None or not _is_number(price):
                self._reject("type", coin, repr(point)[:80])
                continue
            if ms > future:
                self._reject("future", coin, str(ms))
                continue
            if not lo <= ms < hi or (label == "daily" and ms % 86_400_000):
                continue  # outside this chunk, or the current day's partial point
            if template is None or price <= 0:
                self._reject("invalid", coin, invalid or f"price {price!r} is not > 0")
                continue
            out.append(
                template.model_copy(
                    update={
                        "price": float(price),
                        "market_cap": caps.get(ms),
                        "total_volume": vols.get(ms),
                        "source_ts": dt.datetime.fromtimestamp(ms / 1000, dt.UTC),
                    }
                )
            )
        return out

    def _series(self, values: Any) -> dict[int, float]:
        """market_caps / total_volumes by timestamp; a malformed point only loses that amount."""
        out: dict[int, float] = {}
        if isinstance(values, list):
            for p in values:
                if isinstance(p, list) and len(p) == 2:
                    ms = _epoch_ms(p[0])
                    if ms is not None and _is_number(p[1]) and p[1] >= 0:
                        out[ms] = float(p[1])
        return out


def history_chunks(
    start: dt.datetime, end: dt.datetime, granularity: HistoryGranularity
) -> list[tuple[dt.datetime, dt.datetime, dt.datetime, Literal["5m", "hourly", "daily"]]]:
    """Split [start, end) so every call returns the granularity asked for.

    CoinGecko picks granularity from the span of one call (5-minute within a day,
    hourly up to 90 days, daily beyond). A short tail chunk would silently switch
    granularity, so its *query* start is moved back (the extra points are filtered
    out). Returns (keep_from, end, query_from, label) per chunk.
    """
    if end <= start:
        return []
    if granularity == "auto":
        span = end - start
        label: Literal["5m", "hourly", "daily"] = "5m" if span <= DAY else "hourly" if span <= 90 * DAY else "daily"
        return [(start, end, start, label)]
    if granularity == "5m":  # served only for ranges within the last day, one day per call
        size, min_span, label = DAY, dt.timedelta(0), "5m"
    elif granularity == "daily":
        size, min_span, label = 365 * DAY, 91 * DAY, "daily"
    else:
        size, min_span, label = 90 * DAY, 2 * DAY, "hourly"
    out: list[tuple[dt.datetime, dt.datetime, dt.datetime, Literal["5m", "hourly", "daily"]]] = []
    cur = start
    while cur < end:
        nxt = min(cur + size, end)
        query_from = min(cur, nxt - min_span)
        out.append((cur, nxt, query_from, label))
        cur = nxt
    return out
