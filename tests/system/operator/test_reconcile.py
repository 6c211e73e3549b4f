"""Create, update, drift and restart: the operator against a real API server (no mocks)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY
from tests.support.operator_env import (
    KAFKA_CLUSTER,
    OPERATOR_NS,
    Env,
    condition,
    feed,
    mark_strimzi_ready,
    run_operator,
    strimzi_standin,
)

from coinfeed_operator.builders import FEED_LABEL, PRODUCER_HASH


def _apply_feed(env: Env, ns: str, name: str, **spec: Any) -> dict[str, Any]:
    doc = feed(name, **spec)
    doc["metadata"]["namespace"] = ns
    env.apply(doc)
    return doc


def _reconciled(env: Env, ns: str, name: str) -> dict[str, Any] | None:
    """The CoinFeed once its status reflects the current generation."""
    cf = env.get("coinfeed", name, ns)
    status = (cf or {}).get("status") or {}
    if cf and status.get("observedGeneration") == cf["metadata"]["generation"] and status.get("conditions"):
        return cf
    return None


def _children(env: Env, ns: str, name: str) -> dict[str, list[str]]:
    kinds = "kafkatopics,configmaps,deployments,jobs,sparkapplications"
    out = env.kube.kubectl_json("get", kinds, "-n", ns, "-l", f"{FEED_LABEL}={name}")
    found: dict[str, list[str]] = {}
    for item in out["items"]:
        found.setdefault(item["kind"], []).append(item["metadata"]["name"])
    return found


def test_create_makes_every_child_valid_and_owned(env: Env, namespace: str, operator_without_strimzi: Any) -> None:
    _apply_feed(env, namespace, "majors")
    cf = env.wait("status of majors", lambda: _reconciled(env, namespace, "majors"))
    # The backfill Job waits for its topics and user: Strimzi writes the user's Secret before the
    # broker has its credentials and ACLs, and the Job's one try would fail on them.
    assert env.get("job", cf["status"]["children"]["backfillJob"], namespace) is None
    ready = condition(cf, "Ready")
    assert ready and "backfill Job waits for KafkaTopic coinstream.quotes.majors" in ready["message"], ready
    assert "KafkaUser majors-kafka" in ready["message"]

    def released() -> float:
        labels = {"trigger": "release", "outcome": "released"}
        return REGISTRY.get_sample_value("coinstream_operator_reconcile_seconds_count", labels) or 0

    before = released()
    mark_strimzi_ready(env, namespace)
    env.wait("the backfill Job", lambda: env.get("job", cf["status"]["children"]["backfillJob"], namespace))
    # Released by the watch on its KafkaTopics and KafkaUser, not by a retry or the drift timer,
    # and by the Job's apply and a status patch, not a whole pass (tests/system/operator/test_release.py).
    env.wait("a release", lambda: released() > before)
    uid = cf["metadata"]["uid"]
    children = cf["status"]["children"]
    assert children["topic"] == "coinstream.quotes.majors"
    assert children["deployment"] == "majors-producer"
    assert children["sparkApplication"] == "majors-stream"
    assert children["backfillJob"].startswith("majors-backfill-")

    topic = env.get("kafkatopic", children["topic"], namespace)
    assert topic is not None
    assert topic["metadata"]["labels"]["strimzi.io/cluster"] == KAFKA_CLUSTER
    assert topic["spec"]["partitions"] == 3 and topic["spec"]["topicName"] == "coinstream.quotes.majors"

    # The backfill's coverage ledger: compacted, sized like the feed's topic (Strimzi's CRD accepted it).
    ledger = env.get("kafkatopic", "coinstream.ingest.coverage.majors", namespace)
    assert ledger is not None
    assert ledger["metadata"]["labels"]["strimzi.io/cluster"] == KAFKA_CLUSTER
    assert ledger["spec"]["topicName"] == "coinstream.ingest.coverage.majors"
    assert ledger["spec"]["config"]["cleanup.policy"] == "compact"
    assert ledger["spec"]["replicas"] == topic["spec"]["replicas"]

    cm = env.get("configmap", children["configMap"], namespace)
    assert cm is not None
    stored = yaml.safe_load(cm["data"]["feed.yaml"])
    assert stored["kind"] == "CoinFeed" and stored["spec"]["coins"] == ["bitcoin", "ethereum"]

    dep = env.get("deployment", "majors-producer", namespace)
    assert dep is not None
    assert dep["spec"]["replicas"] == 1
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["coinstream", "feed", "run", "-f", "/etc/coinstream/feed.yaml", "--no-ensure-topic"]
    assert container["livenessProbe"] and container["readinessProbe"] and container["resources"]["limits"]

    job = env.get("job", children["backfillJob"], namespace)
    assert job is not None
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][:2] == ["coinstream", "backfill"]

    app = env.get("sparkapplication", "majors-stream", namespace)
    assert app is not None
    assert app["spec"]["restartPolicy"]["type"] == "Always" and app["spec"]["suspend"] is False
    assert "--checkpoint" in app["spec"]["arguments"]

    for obj in (topic, ledger, cm, dep, job, app):
        (ref,) = obj["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["uid"], ref["controller"]) == ("CoinFeed", uid, True)

    # Children were server-side applied with fieldValidation=Strict: the real schemas accepted
    # them. The pod templates must also pass Pod Security "restricted" (enforced on this namespace).
    for obj in (dep, job):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"psa-{obj['kind'].lower()}", "namespace": namespace},
            "spec": obj["spec"]["template"]["spec"],
        }
        env.kubectl("create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(pod))

    # Nothing is healthy without Strimzi/spark-operator/kubelet: Ready=False says why.
    ready, progressing, degraded = (condition(cf, t) for t in ("Ready", "Progressing", "Degraded"))
    assert ready and ready["status"] == "False" and ready["reason"] == "ChildrenNotReady"
    assert "KafkaTopic not Ready" in ready["message"] and "producer 0/1" in ready["message"]
    assert progressing and progressing["status"] == "True"
    assert degraded and degraded["status"] == "False"
    assert all(c["observedGeneration"] == cf["metadata"]["generation"] for c in cf["status"]["conditions"])

    labels = {"trigger": "change", "outcome": "ok"}
    assert (REGISTRY.get_sample_value("coinstream_operator_reconcile_seconds_count", labels) or 0) >= 1


def test_coin_change_rolls_producer_and_makes_a_new_backfill_job_only_after_the_running_one(
    env: Env, namespace: str, operator: Any
) -> None:
    _apply_feed(env, namespace, "alts")
    cf = env.wait("first reconcile", lambda: _reconciled(env, namespace, "alts"))
    job_name = cf["status"]["children"]["backfillJob"]
    job_uid = env.wait("the backfill Job", lambda: env.get("job", job_name, namespace))["metadata"]["uid"]
    dep = env.get("deployment", "alts-producer", namespace)
    old_hash = dep["spec"]["template"]["metadata"]["annotations"][PRODUCER_HASH]  # type: ignore[index]
    app_gen = env.get("sparkapplication", "alts-stream", namespace)["metadata"]["generation"]  # type: ignore[index]

    _apply_feed(env, namespace, "alts", coins=["bitcoin", "ethereum", "solana"])
    env.wait(
        "ConfigMap with solana",
        lambda: "solana" in env.get("configmap", "alts-feed", namespace)["data"]["feed.yaml"],  # type: ignore[index]
    )
    env.wait(
        "producer template re-hashed",
        lambda: (
            env.get("deployment", "alts-producer", namespace)["spec"]["template"]["metadata"]["annotations"][  # type: ignore[index]
                PRODUCER_HASH
            ]
            != old_hash
        ),
    )
    cf = env.wait("second reconcile", lambda: _reconciled(env, namespace, "alts"))
    assert cf["status"]["coinCount"] == 3
    new_name = cf["status"]["children"]["backfillJob"]
    assert new_name != job_name, "a new coin has history to load: a new backfill Job"
    # The stream does not read coins: its spec is untouched.
    assert env.get("sparkapplication", "alts-stream", namespace)["metadata"]["generation"] == app_gen  # type: ignore[index]
    ready = condition(cf, "Ready")
    assert ready["status"] == "False" and "still running" in ready["message"]
    running = env.get("job", job_name, namespace)
    assert running is not None and running["metadata"]["uid"] == job_uid, "a running Job is never killed"
    assert env.get("job", new_name, namespace) is None, "the new Job waits for the running one"

    # Once it has finished, the drift timer deletes it and creates the new one; a failed Job makes the
    # feed Degraded (BackfillFailed): tests/unit/operator/test_health.py. This cluster has no kubelet,
    # so no Job here ever finishes.


def test_trigger_change_updates_stream_but_not_producer(env: Env, namespace: str, operator: Any) -> None:
    _apply_feed(env, namespace, "trig")
    env.wait("first reconcile", lambda: _reconciled(env, namespace, "trig"))
    dep_gen = env.get("deployment", "trig-producer", namespace)["metadata"]["generation"]  # type: ignore[index]
    _apply_feed(env, namespace, "trig", sink={"trigger": "30 seconds"})
    env.wait(
        "stream trigger updated",
        lambda: "30 seconds" in env.get("sparkapplication", "trig-stream", namespace)["spec"]["arguments"],  # type: ignore[index]
    )
    env.wait("reconciled", lambda: _reconciled(env, namespace, "trig"))
    assert env.get("deployment", "trig-producer", namespace)["metadata"]["generation"] == dep_gen  # type: ignore[index]


def test_deleted_and_hand_edited_children_are_restored(env: Env, namespace: str, operator: Any) -> None:
    _apply_feed(env, namespace, "drift")
    env.wait("first reconcile", lambda: _reconciled(env, namespace, "drift"))
    old_uid = env.get("deployment", "drift-producer", namespace)["metadata"]["uid"]  # type: ignore[index]
    env.kubectl("delete", "deployment", "drift-producer", "-n", namespace)
    env.kubectl("delete", "sparkapplication", "drift-stream", "-n", namespace)
    env.kubectl("delete", "configmap", "drift-feed", "-n", namespace)
    env.wait(
        "deployment restored",
        lambda: (d := env.get("deployment", "drift-producer", namespace)) and d["metadata"]["uid"] != old_uid,
        timeout=60,
    )
    env.wait("stream restored", lambda: env.get("sparkapplication", "drift-stream", namespace), timeout=60)
    env.wait("configmap restored", lambda: env.get("configmap", "drift-feed", namespace), timeout=60)

    env.kubectl("scale", "deployment", "drift-producer", "-n", namespace, "--replicas=3")
    env.kubectl("set", "image", "deployment/drift-producer", "-n", namespace, "producer=example.org/evil:1.0")
    env.wait(
        "hand edits reverted",
        lambda: (
            (d := env.get("deployment", "drift-producer", namespace))
            and d["spec"]["replicas"] == 1
            and d["spec"]["template"]["spec"]["containers"][0]["image"] != "example.org/evil:1.0"
        ),
        timeout=60,
    )


def test_restart_mid_reconcile_leaves_no_duplicates(env: Env, namespace: str) -> None:
    _apply_feed(env, namespace, "restart")
    with run_operator():
        env.wait("first child", lambda: _children(env, namespace, "restart"), timeout=90)
    # Stopped mid-way (or just after): a new operator finishes without duplicating anything.
    with run_operator(), strimzi_standin(env, namespace):
        env.wait("reconciled after restart", lambda: _reconciled(env, namespace, "restart"))
        found = env.wait("the backfill Job too", lambda: (c := _children(env, namespace, "restart")).get("Job") and c)
    assert {k: len(v) for k, v in found.items()} == {
        "KafkaTopic": 2,  # the quotes and the backfill's coverage ledger
        "ConfigMap": 1,
        "Deployment": 1,
        "Job": 1,
        "SparkApplication": 1,
    }, found


def test_delete_feed_garbage_collects_children(env: Env, namespace: str, operator: Any) -> None:
    _apply_feed(env, namespace, "gone")
    env.wait("reconciled", lambda: _reconciled(env, namespace, "gone"))
    env.wait("every child, the Job too", lambda: len(_children(env, namespace, "gone")) == 5)
    env.kubectl("delete", "coinfeed", "gone", "-n", namespace)
    env.wait("children collected", lambda: _children(env, namespace, "gone") == {}, timeout=90)


def test_shared_spark_namespace_is_applied_and_cleaned_up(env: Env, namespace: str) -> None:
    """Operator config `sparkNamespace`: reconcile and the delete handler's cleanup, as the operator SA."""
    from coinfeed_operator.config import OperatorConfig
    from coinfeed_operator.kube import KubeClient, load_credentials
    from coinfeed_operator.reconcile import cleanup, reconcile

    spark_ns = f"{namespace}-spark"
    env.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": spark_ns}})
    try:
        _apply_feed(env, namespace, "shared")
        body = env.get("coinfeed", "shared", namespace)
        config = OperatorConfig(kafka_cluster=KAFKA_CLUSTER, spark_namespace=spark_ns)
        api = KubeClient(load_credentials(env.operator_kubeconfig), "coinfeed-operator")
        result = reconcile(api, config, body)  # type: ignore[arg-type]
        ref = result.status.children.spark_application
        assert ref is not None and ref.startswith(f"{spark_ns}/shared-")
        app = env.get("sparkapplication", ref.split("/")[1], spark_ns)
        assert app is not None and "ownerReferences" not in app["metadata"]
        assert env.get("sparkapplication", "shared-stream", namespace) is None
        assert cleanup(api, config, body)  # type: ignore[arg-type]
        assert env.get("sparkapplication", ref.split("/")[1], spark_ns) is None
    finally:
        env.kubectl("delete", "namespace", spark_ns, "--wait=false", check=False)


def test_namespaced_mode_needs_only_a_rolebinding(env: Env, namespace: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--namespace=<ns>` with the ClusterRole bound by a RoleBinding in <ns> only (the chart's default)."""
    sa = "coinfeed-scoped"
    env.kubectl("create", "serviceaccount", sa, "-n", OPERATOR_NS)
    env.kubectl(
        "create", "rolebinding", sa, "-n", namespace, "--clusterrole=coinfeed-operator",
        f"--serviceaccount={OPERATOR_NS}:{sa}",
    )  # fmt: skip
    monkeypatch.setenv("COINSTREAM_OPERATOR_KUBECONFIG", str(env.kube.serviceaccount_kubeconfig(OPERATOR_NS, sa)))
    _apply_feed(env, namespace, "scoped")
    try:
        with run_operator([namespace]), strimzi_standin(env, namespace):
            env.wait("reconciled by the namespaced operator", lambda: _reconciled(env, namespace, "scoped"))
            env.wait("every child, the Job too", lambda: len(_children(env, namespace, "scoped")) == 5)
            env.kubectl("delete", "coinfeed", "scoped", "-n", namespace, "--timeout=180s")
    finally:
        env.kubectl("delete", "serviceaccount", sa, "-n", OPERATOR_NS, check=False)
