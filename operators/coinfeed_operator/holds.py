"""Backfill Jobs held until Strimzi marks their Kafka objects Ready, released by the watch.

A new feed's pass applies its KafkaTopics and KafkaUser and holds the Job until they are Ready
(reconcile.kafka_not_ready). Instead of retrying the whole pass blindly after 2, 4, 8 s (kopf's
TemporaryError: a full pass and an annotation PATCH each time, and an ERROR log line for a normal
wait), the pass ends and registers the hold here with what it observed; the operator's watch on
KafkaTopics and KafkaUsers reports each one that turns Ready, and once the last of them is, the
feed it belongs to is released: its Job applied and its status updated from the holding pass's
observations (reconcile.release), not a whole pass again.

Every Ready object the watch reports is kept (the latest per object), so a pass that is still
running can use a Ready that arrived after it applied the object (`seen_ready`), and a release can
report the objects as Ready without reading them again.

The race this closes: an object can turn Ready while a pass is running, after that pass read it
as not Ready and before the pass registered its hold. Every Ready event is stamped per object, and
`hold` tells the pass to release at once when all it waits for turned Ready since the pass started.
The drift timer (which re-runs every feed) stays the fallback when a release itself fails.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from coinstream.models import API_GROUP, KIND

FeedRef = tuple[str, str]  # namespace, name
P = TypeVar("P")


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


def _slim(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What a release reads of a Ready object (its identity and status), as a copy: the watch's
    body is kopf's, and a full one per object would keep every spec and managedFields too."""
    meta = obj.get("metadata", {})
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj["kind"],
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid") if k in meta},
        "status": copy.deepcopy(dict(obj.get("status") or {})),
    }


@dataclass
class _Held(Generic[P]):
    feed: FeedRef
    waiting: set[str]
    #: What the holding pass observed, handed to the release.
    payload: P


@dataclass(frozen=True)
class Released(Generic[P]):
    """A held feed whose Kafka objects are all Ready now."""

    feed: FeedRef
    payload: P
    #: The Ready objects the watch reported for this feed, by `object_key`.
    ready: dict[str, dict[str, Any]] = field(default_factory=dict)


class Holds(Generic[P]):
    """Feeds whose backfill Job is held and the objects each waits for; each Kafka object of a
    feed as last seen Ready, and when.

    A feed is released once every object its pass waited for is Ready: one release per feed, not
    one per object. Handlers run in kopf's worker threads: one lock guards both maps, which are
    bounded by the feeds and objects that exist (`forget` on the feed's deletion)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, _Held[P]] = {}
        self._ready: dict[str, dict[str, tuple[float, dict[str, Any]]]] = {}
        self._clock = clock

    def now(self) -> float:
        return float(self._clock())

    def hold(self, uid: str, feed: FeedRef, since: float, waiting: Iterable[str], payload: P) -> Released[P] | None:
        """Register a Job held for `waiting` after a pass that started at `since`. Not None: each
        of them turned Ready during that pass (after the pass read it; no event will come for
        them), and the caller releases the feed now."""
        with self._lock:
            seen = self._ready.get(uid, {})
            keys = set(waiting)
            left = {key for key in keys if seen.get(key, (float("-inf"), {}))[0] < since}
            if not left:
                self._held.pop(uid, None)
                return Released(feed, payload, {key: seen[key][1] for key in keys})
            self._held[uid] = _Held(feed, left, payload)
            return None

    def release(self, uid: str) -> None:
        """A pass found nothing to hold (the Job is applied, or the feed has none)."""
        with self._lock:
            self._held.pop(uid, None)

    def ready(self, uid: str, obj: Mapping[str, Any]) -> Released[P] | None:
        """Feed `uid`'s Kafka object `obj` is Ready. Not None: the last object a held feed waited
        for is Ready, release it now. (A Ready seen before a pass started and lost since releases
        nothing: `hold` keeps waiting for whatever that pass found not Ready.)"""
        key = object_key(obj)
        with self._lock:
            objects = self._ready.setdefault(uid, {})
            objects[key] = (self.now(), _slim(obj))
            held = self._held.get(uid)
            if held is None:
                return None
            held.waiting.discard(key)
            if held.waiting:
                return None
            del self._held[uid]
            return Released(held.feed, held.payload, {k: o for k, (_, o) in objects.items()})

    def seen_ready(self, uid: str, obj: Mapping[str, Any], since: float) -> dict[str, Any] | None:
        """The watch's Ready copy of `obj` (the same object: same uid) if it arrived after `since`:
        a pass that started then can count on it although its own read of `obj` was older."""
        with self._lock:
            at, seen = self._ready.get(uid, {}).get(object_key(obj), (float("-inf"), {}))
        same = seen.get("metadata", {}).get("uid") == obj.get("metadata", {}).get("uid")
        return seen if at >= since and same else None

    def forget(self, uid: str) -> None:
        with self._lock:
            self._held.pop(uid, None)
            self._ready.pop(uid, None)

    def held(self) -> dict[str, tuple[FeedRef, set[str]]]:
        with self._lock:
            return {uid: (h.feed, set(h.waiting)) for uid, h in self._held.items()}
