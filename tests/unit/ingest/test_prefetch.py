"""Prefetch: the next item is produced while this one is used, in order, and a failure loses nothing before it."""

from __future__ import annotations

import threading
import time

import pytest

from coinstream.ingest.prefetch import Prefetch


def test_items_come_in_order_and_the_next_is_produced_while_this_one_is_used():
    produced: list[int] = []

    def items():
        for i in range(4):
            produced.append(i)
            yield i

    seen = []
    p = Prefetch(items())
    for i in p:
        deadline = time.monotonic() + 5
        while len(produced) < min(i + 2, 4) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(produced) >= min(i + 2, 4), "the next item was not produced ahead"
        seen.append(i)
    p.close()
    assert seen == [0, 1, 2, 3]


def test_a_failure_is_raised_after_the_items_before_it():
    def items():
        yield 1
        yield 2
        raise ValueError("bad answer")

    seen = []
    p = Prefetch(items())
    with pytest.raises(ValueError, match="bad answer"):
        for i in p:
            seen.append(i)
    p.close()
    assert seen == [1, 2]


def test_close_stops_the_producer_before_its_next_item_and_waits_for_it():
    produced: list[int] = []
    closed = threading.Event()

    def items():
        try:
            for i in range(1000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    p = Prefetch(items())
    for _ in p:
        break
    p.close()
    assert closed.is_set(), "the source was not closed when close() returned"
    assert len(produced) <= 3, "the producer ran on after close"
