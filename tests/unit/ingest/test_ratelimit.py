"""Token bucket schedule, checked on a fake clock (no real waiting)."""

from __future__ import annotations

import pytest

from coinstream.ingest.ratelimit import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


def test_spaces_calls_at_the_rate():
    c = FakeClock()
    bucket = TokenBucket.per_minute(30, clock=c.now, sleep=c.sleep)  # one call per 2 s
    stamps = []
    for _ in range(5):
        bucket.acquire()
        stamps.append(c.t)
    assert stamps == pytest.approx([0, 2, 4, 6, 8])


def test_burst_then_steady():
    c = FakeClock()
    bucket = TokenBucket(1.0, capacity=3, clock=c.now, sleep=c.sleep)
    for _ in range(3):
        assert bucket.acquire() == 0
    assert bucket.acquire() == pytest.approx(1.0)
    c.t += 10  # idle time refills only up to capacity
    for _ in range(3):
        assert bucket.acquire() == 0
    assert bucket.acquire() > 0


def test_pause_after_429_delays_next_call():
    c = FakeClock()
    bucket = TokenBucket(10.0, clock=c.now, sleep=c.sleep)
    bucket.acquire()
    bucket.pause(5.0)
    waited = bucket.acquire()
    assert waited >= 5.0


def test_rejects_nonsense():
    with pytest.raises(ValueError):
        TokenBucket(0)
    with pytest.raises(ValueError):
        TokenBucket(1, capacity=0.5)
