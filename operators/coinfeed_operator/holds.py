"""Backfill Jobs held until Strimzi marks their Kafka objects Ready, released by the watch.

A new feed's pass applies its KafkaTopics and KafkaUser and holds the Job until they are Ready
(reconcile.kafka_not_ready). Instead of retrying the whole pass blindly after 2, 4, 8 s (kopf's
TemporaryError: a full pass and an annotation PATCH each time, and an ERROR log line for a normal
wait), the pass ends and registers the hold here; the operator's watch on KafkaTopics and
KafkaUsers reports each one that turns Ready, and the feed it belongs to is reconciled at once.

The race this closes: an object can turn Ready while a pass is running, after that pass read it
as not Ready and before the pass registered its hold. Every Ready event is stamped per feed, and
`hold` tells the pass to run again when one arrived since the pass started. The drift timer
(which re-runs every feed) stays the fallback when a release pass itself fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from coinstream.models import API_GROUP, KIND

FeedRef = tuple[str, str]  # namespace, name


def owning_feed(obj: Mapping[str, Any]) -> str | None:
    """The uid of the CoinFeed that controls `obj` (the operator sets that owner reference)."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == KIND and str(ref.get("apiVersion", "")).startswith(API_GROUP):
            uid = ref.get("uid")
            return str(uid) if uid else None
    return None


class Holds:
    """Feeds whose backfill Job is held, and when a Kafka object of each last turned Ready.

    Handlers run in kopf's worker threads: one lock guards both maps. Both are bounded by the
    feeds that exist (`forget` on deletion)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, FeedRef] = {}
        self._ready_at: dict[str, float] = {}
        self._clock = clock

    def now(self) -> float:
        return float(self._clock())

    def hold(self, uid: str, feed: FeedRef, since: float) -> bool:
        """Register a held Job after a pass that started at `since`. True: one of the feed's Kafka
        objects turned Ready during that pass, so the caller runs the pass again (nothing else will)."""
        with self._lock:
            if self._ready_at.get(uid, float("-inf")) >= since:
                self._held.pop(uid, None)
                return True
            self._held[uid] = feed
            return False

    def release(self, uid: str) -> None:
        """A pass found nothing to hold (the Job is applied, or the feed has none)."""
        with self._lock:
            self._held.pop(uid, None)

    def ready(self, uid: str) -> FeedRef | None:
        """A Kafka object of feed `uid` is Ready: the held feed to reconcile now, if any."""
        with self._lock:
            self._ready_at[uid] = self.now()
            return self._held.pop(uid, None)

    def forget(self, uid: str) -> None:
        with self._lock:
            self._held.pop(uid, None)
            self._ready_at.pop(uid, None)

    def held(self) -> dict[str, FeedRef]:
        with self._lock:
            return dict(self._held)
