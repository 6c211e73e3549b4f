"""What kopf keeps per CoinFeed, chosen so that a handled change costs no write of kopf's own.

kopf compares an object with the essence it last handled to tell a create from an update from a
status-only change, and its stock storages write that essence into the object: one more PATCH
(and one more watch event to process) after every handled change, and on a new feed one more for
the `<prefix>/kopf-managed` marker that brands the progress annotations. Of the 11 calls a new
feed cost, 2 were these. Neither has to survive a restart here: create, update and resume run the
same idempotent reconcile pass, so after a restart a feed without a remembered essence is simply
reconciled once more (as a create instead of a resume), which happens for every feed at start-up
anyway. Retry progress (kopf.TemporaryError backoff) still goes to annotations: a restart must
not forget a backoff.
"""

from __future__ import annotations

from typing import Any

import kopf


class MemoryDiffBaseStorage(kopf.DiffBaseStorage):
    """The last handled essence of each feed, by uid, in the operator's memory."""

    def __init__(self) -> None:
        super().__init__()
        self._essences: dict[str, kopf.BodyEssence] = {}

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return self._essences.get(str(body.metadata.uid))

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence, **_: Any) -> None:
        uid = str(body.metadata.uid)
        if body.metadata.deletion_timestamp:
            self._essences.pop(uid, None)  # bounded by the feeds that exist
        else:
            self._essences[uid] = essence


class UnbrandedProgressStorage(kopf.AnnotationsProgressStorage):
    """kopf's annotation progress storage without the `kopf-managed` marker.

    The marker tells *other* kopf operators to ignore our prefix in their diff-bases; none handles
    CoinFeeds, and this operator strips its own progress annotations from its essences anyway
    (kopf's `progress_storage.clear`). kopf adds it on every store, even when the handler succeeded
    at once and its progress record is purged in the same patch, so without this a new feed's
    successful first pass still ends in a PATCH that only adds the marker.
    """

    def _store_marker(self, prefix: str, patch: kopf.Patch, body: kopf.Body) -> None:
        return None
