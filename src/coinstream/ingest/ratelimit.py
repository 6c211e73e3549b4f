"""Client-side rate limiting, so a poll budget is spent evenly instead of in 429s."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """`rate` calls per second on average, bursts up to `capacity`.

    `clock` and `sleep` are injectable so tests check the schedule exactly,
    without waiting in real time.
    """

    def __init__(
        self,
        rate: float,
        capacity: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("rate must be > 0 and capacity >= 1")
        self.rate = rate
        self.capacity = capacity
        self._tokens = capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    @classmethod
    def per_minute(cls, calls: float, burst: float = 1.0, **kw: Callable[..., object]) -> TokenBucket:
        return cls(calls / 60.0, burst, **kw)  # type: ignore[arg-type]

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def acquire(self) -> float:
        """Take one token, sleeping until one is available; returns the time waited."""
        with self._lock:
            self._refill()
            wait = 0.0
            if self._tokens < 1:
                wait = (1 - self._tokens) / self.rate
                self._sleep(wait)
                self._refill()
            self._tokens -= 1
            return wait

    def pause(self, seconds: float) -> None:
        """The server said slow down (429): empty the bucket so the next call waits."""
        with self._lock:
            self._refill()
            self._tokens = min(self._tokens, 1 - seconds * self.rate)
