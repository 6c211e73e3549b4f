"""Run an iterator one step ahead in a thread, so producing the next item overlaps consuming this one.

The backfill's items are API answers that a rate limit spaces seconds apart; committing one to
Kafka takes CPU and round trips of its own. Done in turn, the two add up; done at once, the
commit hides inside the wait for the next call's token.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()


class Prefetch(Generic[T]):
    """Items of `items`, computed in a background thread at most `depth` ahead of the reader.

    An exception raised while producing is re-raised to the reader after the items produced
    before it, so nothing fetched is lost to a later failure. `close()` stops the producer
    before its next item (one already being computed still finishes) and waits for it: the
    source is never used by two threads once the reader has moved on.
    """

    def __init__(self, items: Iterator[T], depth: int = 1) -> None:
        self._queue: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items,), name="prefetch", daemon=True)
        self._thread.start()

    def _run(self, items: Iterator[T]) -> None:
        try:
            while not self._stop.is_set():
                try:
                    item = next(items)
                except StopIteration:
                    self._put((_DONE, None))
                    return
                except BaseException as exc:
                    self._put((_DONE, exc))
                    return
                self._put((item, None))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def _put(self, entry: tuple[object, BaseException | None]) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[T]:
        while True:
            item, exc = self._queue.get()
            if exc is not None:
                raise exc
            if item is _DONE:
                return
            yield item  # type: ignore[misc]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
