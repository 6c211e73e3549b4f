"""Backfill Jobs held until Strimzi marks their Kafka objects Ready, released by the watch.

A new feed's pass applies its KafkaTopics and KafkaUser and holds the Job until they are Ready
(reconcile.kafka_not_ready). Instead of retrying the whole pass blindly after 2, 4, 8 s (kopf's
TemporaryError: a full pass and an annotation PATCH each time, and an ERROR log line for a normal
wait), the pass ends and registers the hold here; the operator's watch on KafkaTopics and
KafkaUsers reports each one that turns Ready, and once the last of them is, the feed it belongs
to is reconciled at once.

The race this closes: an object can turn Ready while a pass is running, after that pass read it
as not Ready and before the pass registered its hold. Every Ready event is stamped per object, and
`hold` tells the pass to run again when all it waits for turned Ready since the pass started. The drift timer
(which re-runs every feed) stays the fallback when a release pass itself fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from coinstream.models import API_GROUP, KIND

FeedRef = tuple[str, str]  # namespace, name


def object_key(obj: Mapping[str, Any]) -> str:
    """How a held Kafka object is named, in status messages and here: `KafkaTopic <name>`."""
    return f"{obj['kind']} {obj['metadata']['name']}"


def owning_feed(obj: Mapping[str, Any]) -> str | None:
    """The uid of the CoinFeed that controls `obj` (the operator sets that owner reference)."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == KIND and str(ref.get("apiVersion", "")).startswith(API_GROUP):
            uid = ref.get("uid")
            return str(uid) if uid else None
    return None


@dataclass
class _Held:
    feed: FeedRef
    waiting: set[str]


class Holds:
    """Feeds whose backfill Job is held and the objects each waits for; when each Kafka object of
    a feed was last seen turning Ready.

    A feed is released once every object its pass waited for is Ready: one release pass per
    feed, not one per object. Handlers run in kopf's worker threads: one lock guards both maps,
    which are bounded by the feeds and objects that exist (`forget` on the feed's deletion)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, _Held] = {}
        self._ready_at: dict[str, dict[str, float]] = {}
        self._clock = clock

    def now(self) -> float:
        return float(self._clock())

    def hold(self, uid: str, feed: FeedRef, since: float, waiting: Iterable[str]) -> bool:
        """Register a Job held for `waiting` after a pass that started at `since`. True: each of
        them turned Ready during that pass (after the pass read it), so the caller runs the pass
        again (no event will come for them)."""
        with self._lock:
            seen = self._ready_at.get(uid, {})
            left = {key for key in waiting if seen.get(key, float("-inf")) < since}
            if not left:
                self._held.pop(uid, None)
                return True
            self._held[uid] = _Held(feed, left)
            return False

    def release(self, uid: str) -> None:
        """A pass found nothing to hold (the Job is applied, or the feed has none)."""
        with self._lock:
            self._held.pop(uid, None)

    def ready(self, uid: str, key: str) -> FeedRef | None:
        """Feed `uid`'s Kafka object `key` is Ready. Returns the held feed to reconcile now: the
        last object it waited for is Ready. (A Ready seen before a pass started and lost since
        releases nothing: `hold` keeps waiting for whatever that pass found not Ready.)"""
        with self._lock:
            self._ready_at.setdefault(uid, {})[key] = self.now()
            held = self._held.get(uid)
            if held is None:
                return None
            held.waiting.discard(key)
            if held.waiting:
                return None
            del self._held[uid]
            return held.feed

    def forget(self, uid: str) -> None:
        with self._lock:
            self._held.pop(uid, None)
            self._ready_at.pop(uid, None)

    def held(self) -> dict[str, tuple[FeedRef, set[str]]]:
        with self._lock:
            return {uid: (h.feed, set(h.waiting)) for uid, h in self._held.items()}
