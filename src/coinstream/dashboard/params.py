"""The page's URL parameters (`?vs=usd&coins=bitcoin,ethereum&interval=5m`), checked.

A link is user input: an unknown name or a malformed value is refused here with a
sentence the page shows in place of the panels. Values that need the data to judge
(is this coin known?) are checked by the SQL layer, which says so just as plainly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs

from coinstream.sql import QueryError
from coinstream.sql.windows import INTERVALS

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
KNOWN = ("vs", "coins", "source", "interval", "candle", "hours")
#: The page's candle sizes: the SQL layer's intraday intervals (daily candles are the report's).
PAGE_INTERVALS = tuple(name for name, (seconds, _) in INTERVALS.items() if seconds < 86400)


@dataclass(frozen=True)
class ViewParams:
    vs_currency: str = "usd"
    coins: tuple[str, ...] | None = None
    source: str | None = None
    interval: str = "5m"
    candle_coin: str | None = None
    candle_hours: int = 6


def _one(values: dict[str, list[str]], name: str) -> str | None:
    got = values.get(name)
    if not got:
        return None
    if len(got) > 1:
        raise QueryError(f"parameter {name!r} given {len(got)} times; give it once")
    return got[0].strip()


def _name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise QueryError(f"{what} {value!r} is not a valid id (lowercase letters, digits, '-', '_', '.')")
    return value


def parse_params(search: str | None) -> ViewParams:
    """`search` is the URL's query string, with or without the leading `?`."""
    values = parse_qs((search or "").lstrip("?"), keep_blank_values=True)
    unknown = sorted(set(values) - set(KNOWN))
    if unknown:
        raise QueryError(f"unknown parameter(s) {', '.join(map(repr, unknown))}; use {', '.join(KNOWN)}")
    kw: dict[str, object] = {}
    if (vs := _one(values, "vs")) is not None:
        if not vs.isalpha() or not 2 <= len(vs) <= 10:
            raise QueryError(f"vs must be a currency code like 'usd', got {vs!r}")
        kw["vs_currency"] = vs.lower()
    if (coins := _one(values, "coins")) is not None:
        names = tuple(dict.fromkeys(c.strip() for c in coins.split(",") if c.strip()))
        if not names:
            raise QueryError("coins is empty; give ids like coins=bitcoin,ethereum or leave it out for all")
        kw["coins"] = tuple(_name(c, "coin") for c in names)
    if (source := _one(values, "source")) is not None:
        kw["source"] = _name(source, "source")
    if (interval := _one(values, "interval")) is not None:
        if interval not in PAGE_INTERVALS:
            raise QueryError(f"interval {interval!r} is not one of {', '.join(PAGE_INTERVALS)}")
        kw["interval"] = interval
    if (candle := _one(values, "candle")) is not None:
        kw["candle_coin"] = _name(candle, "candle coin")
    if (hours := _one(values, "hours")) is not None:
        if not hours.isdigit() or not 1 <= int(hours) <= 168:
            raise QueryError(f"hours must be a whole number from 1 to 168, got {hours!r}")
        kw["candle_hours"] = int(hours)
    return ViewParams(**kw)  # type: ignore[arg-type]
