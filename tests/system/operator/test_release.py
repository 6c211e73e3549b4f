"""The release of a held backfill Job, against a real API server: the Job's apply and one
conditional status patch, not a whole pass; a whole pass whenever the feed changed since the hold.

The passes are called directly (no kopf), as its own ServiceAccount, so every request they make
is recorded here; the watch's part (which Ready event releases which feed) is tests/unit/operator/test_holds.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.support.operator_env import KAFKA_CLUSTER, Env, condition, feed, mark_strimzi_ready

from coinfeed_operator.config import OperatorConfig
from coinfeed_operator.holds import object_key
from coinfeed_operator.kube import KubeClient, load_credentials
from coinfeed_operator.reconcile import Result, reconcile, release


class RecordingClient(KubeClient):
    """The operator's client, recording each request as (method, path below the namespace)."""

    def __init__(self, env: Env) -> None:
        super().__init__(load_credentials(env.operator_kubeconfig), "coinfeed-operator")
        self.calls: list[tuple[str, str]] = []

    def _request(self, method: str, path: str, **kw: Any) -> dict[str, Any] | None:
        self.calls.append((method, path.split("/namespaces/", 1)[1].split("/", 1)[1]))
        return super()._request(method, path, **kw)


@pytest.fixture
def api(env: Env) -> RecordingClient:
    return RecordingClient(env)


CONFIG = OperatorConfig(kafka_cluster=KAFKA_CLUSTER)


def _feed(env: Env, ns: str, name: str, **spec: Any) -> dict[str, Any]:
    doc = feed(name, **spec)
    doc["metadata"]["namespace"] = ns
    env.apply(doc)
    body = env.get("coinfeed", name, ns)
    assert body is not None
    return body


def _kafka_objects(env: Env, ns: str) -> dict[str, dict[str, Any]]:
    """The feed's Kafka objects as the operator's watch reports them."""
    items = env.kube.kubectl_json("get", "kafkatopics,kafkausers", "-n", ns)["items"]
    return {object_key(o): o for o in items}


def _held(env: Env, api: RecordingClient, ns: str, name: str) -> tuple[Result, dict[str, Any]]:
    """A pass that holds the Job (nothing is Ready), then Strimzi's Ready: the release's inputs."""
    result = reconcile(api, CONFIG, _feed(env, ns, name))
    assert set(result.held) == {f"KafkaTopic coinstream.quotes.{name}", f"KafkaTopic coinstream.ingest.coverage.{name}",
                                f"KafkaUser {name}-kafka"}  # fmt: skip
    assert env.kube.kubectl_json("get", "jobs", "-n", ns)["items"] == []
    mark_strimzi_ready(env, ns)
    api.calls.clear()
    return result, _kafka_objects(env, ns)


def test_a_release_applies_the_held_job_and_patches_the_status_only(env: Env, namespace: str, api: Any) -> None:
    held, ready = _held(env, api, namespace, "rel")
    before = env.get("coinfeed", "rel", namespace)
    assert before is not None
    assert "backfill Job waits for" in condition(before, "Ready")["message"]  # type: ignore[index]

    result = release(api, CONFIG, before, held, ready)

    assert result is not None
    job_name = before["status"]["children"]["backfillJob"]
    assert api.calls == [("PATCH", f"jobs/{job_name}"), ("PATCH", "coinfeeds/rel/status")], api.calls
    job = env.get("job", job_name, namespace)
    assert job is not None
    (ref,) = job["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["uid"], ref["controller"]) == ("CoinFeed", before["metadata"]["uid"], True)
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][:2] == ["coinstream", "backfill"]

    after = env.get("coinfeed", "rel", namespace)
    assert after is not None
    status = after["status"]
    assert status["children"] == before["status"]["children"], "the same children, the Job among them"
    assert status["topicReady"] is True and status["backfillSucceeded"] is False
    ready_cond = condition(after, "Ready")
    assert ready_cond is not None and ready_cond["status"] == "False"
    # What the pass read of the rest still stands; the wait for Kafka is over.
    assert "backfill Job waits" not in ready_cond["message"] and "KafkaTopic not Ready" not in ready_cond["message"]
    assert "producer 0/1" in ready_cond["message"]
    generation = after["metadata"]["generation"]
    assert status["observedGeneration"] == generation
    assert all(c["observedGeneration"] == generation for c in status["conditions"])
    for type_ in ("Ready", "Progressing", "Degraded", "DataFresh"):  # no condition flipped
        old, new = condition(before, type_), condition(after, type_)
        assert old and new and old["lastTransitionTime"] == new["lastTransitionTime"], type_

    # Released once: the same inputs again find the status moved on and touch nothing.
    assert release(api, CONFIG, after, held, ready) is None
    assert api.calls[2:] == []
    # A later whole pass agrees with what the release wrote: nothing to re-write.
    api.calls.clear()
    again = reconcile(api, CONFIG, after)
    assert again.status.model_dump() == result.status.model_dump()
    assert ("PATCH", "coinfeeds/rel/status") not in api.calls


def test_a_release_leaves_a_changed_spec_to_a_whole_pass(env: Env, namespace: str, api: Any) -> None:
    held, ready = _held(env, api, namespace, "spec")
    changed = _feed(env, namespace, "spec", coins=["bitcoin", "ethereum", "solana"])
    assert changed["metadata"]["generation"] == 2

    assert release(api, CONFIG, changed, held, ready) is None
    assert api.calls == [], "no Job of the previous spec, no status for it"
    assert env.kube.kubectl_json("get", "jobs", "-n", namespace)["items"] == []
    # The whole pass applies the current spec's Job.
    result = reconcile(api, CONFIG, changed)
    assert not result.held and result.status.observed_generation == 2
    (job,) = env.kube.kubectl_json("get", "jobs", "-n", namespace)["items"]
    assert job["metadata"]["name"] == result.status.children.backfill_job != held.status.children.backfill_job


def test_a_feed_changed_while_releasing_keeps_its_status_and_the_retry_reuses_the_job(
    env: Env, namespace: str, api: Any
) -> None:
    held, ready = _held(env, api, namespace, "race")
    body = env.get("coinfeed", "race", namespace)
    assert body is not None
    # Written after the release read the feed (kopf's own annotations, say): the status patch
    # must not land on a feed it did not read.
    env.kubectl("annotate", "coinfeed", "race", "-n", namespace, "example.org/touched=1")

    assert release(api, CONFIG, body, held, ready) is None
    job_name = body["status"]["children"]["backfillJob"]
    assert api.calls == [("PATCH", f"jobs/{job_name}"), ("PATCH", "coinfeeds/race/status")]
    unchanged = env.get("coinfeed", "race", namespace)
    assert unchanged is not None and unchanged["status"] == body["status"]
    job = env.get("job", job_name, namespace)
    assert job is not None

    # On a fresh read: the Job already there is kept (the same object), the status written.
    api.calls.clear()
    assert release(api, CONFIG, unchanged, held, ready) is not None
    assert env.get("job", job_name, namespace)["metadata"]["uid"] == job["metadata"]["uid"]  # type: ignore[index]
    assert env.get("coinfeed", "race", namespace)["status"]["topicReady"] is True  # type: ignore[index]


def test_a_ready_the_watch_reports_during_the_pass_applies_the_job_in_that_pass(
    env: Env, namespace: str, api: Any
) -> None:
    body = _feed(env, namespace, "quick")
    uids: dict[str, str] = {}

    def seen_ready(obj: dict[str, Any]) -> dict[str, Any] | None:
        """Strimzi marked everything Ready while the pass applied the other children."""
        mark_strimzi_ready(env, namespace)
        fresh = _kafka_objects(env, namespace)[object_key(obj)]
        uids[object_key(obj)] = fresh["metadata"]["uid"]
        return fresh

    result = reconcile(api, CONFIG, body, seen_ready=seen_ready)

    assert result.held == () and len(uids) == 3
    assert result.status.topic_ready is True
    job_name = result.status.children.backfill_job
    assert job_name in result.applied and env.get("job", job_name, namespace) is not None  # type: ignore[arg-type]
    statuses = [c for c in api.calls if c[1].endswith("/status")]
    assert statuses == [("PATCH", "coinfeeds/quick/status")], "one status, written once"
    ready_cond = json.dumps(result.status.model_dump(mode="json"))
    assert "backfill Job waits" not in ready_cond
