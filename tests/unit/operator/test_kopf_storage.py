"""What kopf writes per feed: a handled change costs no PATCH of kopf's own; retries still persist."""

from __future__ import annotations

from typing import Any

import kopf

from coinfeed_operator.reconcile import first_pass
from coinfeed_operator.storage import MemoryDiffBaseStorage, UnbrandedProgressStorage


def _body(uid: str = "u1", **meta: Any) -> kopf.Body:
    return kopf.Body({"metadata": {"name": "f", "namespace": "n", "uid": uid, "annotations": {}, **meta}})


def test_a_first_time_success_leaves_nothing_to_patch() -> None:
    storage, body, patch = UnbrandedProgressStorage(prefix="coinstream.io"), _body(), kopf.Patch()
    storage.store(key=kopf.HandlerId("reconcile_feed"), record={"success": True}, body=body, patch=patch)
    storage.purge(key=kopf.HandlerId("reconcile_feed"), body=body, patch=patch)
    assert not patch, patch


def test_a_retry_is_still_recorded_in_an_annotation() -> None:
    storage, body, patch = UnbrandedProgressStorage(prefix="coinstream.io"), _body(), kopf.Patch()
    storage.store(key=kopf.HandlerId("reconcile_feed"), record={"retries": 1, "delayed": "x"}, body=body, patch=patch)
    annotations = dict(patch["metadata"]["annotations"])
    assert list(annotations) == ["coinstream.io/reconcile_feed"]
    assert '"retries":1' in annotations["coinstream.io/reconcile_feed"]


def test_the_diff_base_is_remembered_per_feed_and_forgotten_on_deletion() -> None:
    storage, patch = MemoryDiffBaseStorage(), kopf.Patch()
    a, b = _body("a"), _body("b")
    assert storage.fetch(body=a) is None  # unseen (or after a restart): handled as a create
    essence = storage.build(body=kopf.Body({**a, "spec": {"coins": ["bitcoin"]}}))
    storage.store(body=a, patch=patch, essence=essence)
    assert storage.fetch(body=a) == essence and storage.fetch(body=b) is None
    assert not patch, "nothing is written to the object"
    storage.store(body=_body("a", deletionTimestamp="2026-01-01T00:00:00Z"), patch=patch, essence=essence)
    assert storage.fetch(body=a) is None


def test_first_pass_only_before_any_status_and_spec_change() -> None:
    def feed(generation: int, status: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"metadata": {"name": "f", "namespace": "n", "uid": "u", "generation": generation}, "status": status}

    assert first_pass(feed(1))
    assert first_pass(feed(1, {}))
    assert not first_pass(feed(1, {"observedGeneration": 1})), "a later pass reads Jobs and Pods"
    assert not first_pass(feed(2)), "a Job of an earlier spec may exist"
