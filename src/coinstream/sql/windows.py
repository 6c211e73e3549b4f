"""Return windows, candle intervals and the staleness tolerance, as plain values.

A windowed figure is only as good as its two reference prices. Each reference is
the last quote at or before its target time (the window end, the window start) and
no older than the tolerance; otherwise the figure is NULL with a reason. The bounds
are computed here, in Python, and bound into the SQL as parameters: the engines
then prune files and row groups on `source_ts` instead of scanning all history.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

#: Return windows: name -> seconds.
WINDOWS: dict[str, int] = {
    "5m": 300,
    "1h": 3600,
    "24h": 86400,
    "7d": 7 * 86400,
    "30d": 30 * 86400,
}

#: Candle intervals: name -> (seconds, SQL bucket of `source_ts`).
#: A quote exactly on a boundary closes the bucket that ends there (it is the price *as of*
#: that instant): the 00:00 UTC daily point of day D is the close of D-1. Hence the 1 ms
#: shift: quotes carry millisecond timestamps (the Quote model serialises milliseconds).
_SHIFTED = "date_add('millisecond', -1, source_ts)"
INTERVALS: dict[str, tuple[int, str]] = {
    "1m": (60, f"date_trunc('minute', {_SHIFTED})"),
    "5m": (
        300,
        f"date_add('minute', CAST(floor(minute({_SHIFTED}) / 5e0) AS INTEGER) * 5, date_trunc('hour', {_SHIFTED}))",
    ),
    "1h": (3600, f"date_trunc('hour', {_SHIFTED})"),
    "1d": (86400, f"date_trunc('day', {_SHIFTED})"),
}


@dataclass(frozen=True)
class Tolerance:
    """How far before its target a reference quote may be: `fraction` of the window, at least
    `min_seconds` (set it to the feed's poll interval: a 5-minute return cannot demand a quote
    fresher than the feed polls). `fraction` also bounds the missing days a calendar window may
    have (30-day volatility needs 27 of its 30 daily returns at 10 %)."""

    fraction: float = 0.10
    min_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not (0 <= self.fraction < 1) or not math.isfinite(self.fraction):
            raise ValueError(f"tolerance fraction must be in [0, 1), got {self.fraction!r}")
        if self.min_seconds < 0 or not math.isfinite(self.min_seconds):
            raise ValueError(f"tolerance min_seconds must be >= 0, got {self.min_seconds!r}")

    def seconds(self, window_seconds: float) -> float:
        """Never more than half the window: the start and end references must not overlap."""
        return min(max(self.fraction * window_seconds, self.min_seconds), window_seconds / 2)

    def min_count(self, n: int) -> int:
        """Observations a calendar window of `n` days needs to give a value."""
        return max(1, math.ceil(n * (1 - self.fraction) - 1e-9))


@dataclass(frozen=True)
class WindowBounds:
    name: str
    ord: int
    seconds: int
    tolerance_seconds: float
    start_target: dt.datetime
    start_lo: dt.datetime
    end_lo: dt.datetime
    end_hi: dt.datetime

    def row(self) -> list[object]:
        return [self.name, self.ord, self.seconds, self.tolerance_seconds,
                self.start_target, self.start_lo, self.end_lo, self.end_hi]  # fmt: skip


def window_bounds(names: list[str], now: dt.datetime, tolerance: Tolerance) -> list[WindowBounds]:
    out = []
    for i, name in enumerate(names):
        seconds = WINDOWS[name]
        tol = dt.timedelta(seconds=tolerance.seconds(seconds))
        start = now - dt.timedelta(seconds=seconds)
        out.append(WindowBounds(name, i, seconds, tol.total_seconds(), start, start - tol, now - tol, now))
    return out
