"""Status as users see it: conditions, child health, Degraded specs, suspend, printer columns, RBAC."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import yaml
from tests.support.operator_env import (
    KAFKA_CLUSTER,
    OPERATOR_NS,
    OPERATOR_SA,
    Env,
    condition,
    feed,
    kafka_cluster,
)

from coinfeed_operator.rbac import RULES


def _apply(env: Env, ns: str, name: str, **spec: Any) -> None:
    doc = feed(name, **spec)
    doc["metadata"]["namespace"] = ns
    env.apply(doc)


def _cond(env: Env, ns: str, name: str, type_: str, status: str, reason: str | None = None) -> Any:
    cf = env.get("coinfeed", name, ns)
    c = condition(cf, type_)
    if c and c["status"] == status and (reason is None or c["reason"] == reason):
        return cf
    return None


COINGECKO = {"type": "coingecko", "plan": "demo", "apiKeySecretRef": {"name": "coingecko", "key": "apiKey"}}


def _kubelet_reports(env: Env, ns: str, pod: str, waiting: dict[str, str] | None) -> None:
    """What the kubelet writes into a pod's status (no kubelet runs here): waiting on a config
    error, or running."""
    state = {"waiting": waiting} if waiting else {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    status = {
        "phase": "Pending" if waiting else "Running",
        "containerStatuses": [
            {"name": "producer", "image": "x", "imageID": "", "ready": not waiting, "restartCount": 0, "state": state}
        ],
    }
    env.kubectl(
        "patch", "pod", pod, "-n", ns, "--subresource=status", "--type=merge", "-p", json.dumps({"status": status})
    )


def test_missing_secret_is_degraded_from_the_pod_status(env: Env, namespace: str, operator: Any) -> None:
    """The operator cannot read Secrets: it learns of a missing one from the kubelet's pod status."""
    _apply(env, namespace, "live", source=COINGECKO)
    dep = env.wait("producer applied", lambda: env.get("deployment", "live-producer", namespace))
    pod = dep["spec"]["template"]["spec"]
    refs = {e["name"]: e.get("valueFrom") for e in pod["containers"][0]["env"]}
    assert refs["COINSTREAM_COINGECKO_API_KEY"] == {"secretKeyRef": {"name": "coingecko", "key": "apiKey"}}
    pods = env.wait(
        "producer pod created",
        lambda: env.kube.kubectl_json("get", "pods", "-n", namespace, "-l", "app.kubernetes.io/component=producer")[
            "items"
        ],
    )
    name = pods[0]["metadata"]["name"]
    _kubelet_reports(
        env, namespace, name, {"reason": "CreateContainerConfigError", "message": 'secret "coingecko" not found'}
    )
    cf = env.wait("Degraded", lambda: _cond(env, namespace, "live", "Degraded", "True"))
    msg = condition(cf, "Degraded")["message"]  # type: ignore[index]
    assert f'pod {name} cannot start: secret "coingecko" not found' in msg, msg
    assert f"kubectl create secret generic coingecko -n {namespace} --from-literal=apiKey=<key>" in msg
    assert condition(cf, "Ready")["status"] == "False"  # type: ignore[index]

    # The pod starting (the Secret was created) clears it.
    _kubelet_reports(env, namespace, name, None)
    env.wait("recovered", lambda: _cond(env, namespace, "live", "Degraded", "False"), timeout=60)


def test_unknown_kafka_cluster_is_degraded_until_it_exists(env: Env, namespace: str, operator: Any) -> None:
    env.kubectl("delete", "kafka", KAFKA_CLUSTER, "-n", namespace)
    _apply(env, namespace, "nokafka")
    cf = env.wait("Degraded", lambda: _cond(env, namespace, "nokafka", "Degraded", "True"))
    assert f"Kafka cluster '{KAFKA_CLUSTER}' not found in namespace {namespace}" in condition(cf, "Degraded")["message"]  # type: ignore[index]
    env.apply(kafka_cluster(namespace))
    env.wait("recovered", lambda: _cond(env, namespace, "nokafka", "Degraded", "False"), timeout=60)


def test_future_backfill_is_a_permanent_error(
    env: Env, namespace: str, operator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    tomorrow = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)).isoformat()
    _apply(env, namespace, "future", backfill={"from": tomorrow})  # CEL has no clock: accepted
    cf = env.wait("Degraded", lambda: _cond(env, namespace, "future", "Degraded", "True", "SpecCannotWork"))
    assert "backfill start is in the future" in condition(cf, "Degraded")["message"]  # type: ignore[index]
    failures = [r.getMessage() for r in caplog.records if r.name == "kopf.objects" and "failed" in r.getMessage()]
    assert any("'reconcile_feed' failed permanently" in m for m in failures), failures
    assert not any("temporarily" in m for m in failures), "a spec that cannot work is not retried"
    assert env.get("deployment", "future-producer", namespace) is None


def test_child_health_suspend_and_resume(env: Env, namespace: str, operator: Any) -> None:
    _apply(env, namespace, "pause")
    cf = env.wait("reconciled", lambda: _cond(env, namespace, "pause", "Progressing", "True"))
    topic = cf["status"]["children"]["topic"]
    # Stand in for Strimzi and spark-operator: they report health through their status.
    env.kubectl(
        "patch", "kafkatopic", topic, "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
    )  # fmt: skip
    env.kubectl(
        "patch", "sparkapplication", "pause-stream", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"applicationState": {"state": "RUNNING"}, "driverInfo": {}}}),
    )  # fmt: skip
    cf = env.wait(
        "health read back",
        lambda: (
            (c := env.get("coinfeed", "pause", namespace))
            and c["status"].get("topicReady") is True
            and c["status"].get("sparkState") == "RUNNING"
            and c
        ),
    )
    ready = condition(cf, "Ready")
    assert ready and ready["status"] == "False" and ready["message"] == "producer 0/1 replicas available"

    _apply(env, namespace, "pause", suspend=True)
    cf = env.wait("suspended is Ready", lambda: _cond(env, namespace, "pause", "Ready", "True", "Suspended"))
    assert cf["status"]["observedGeneration"] == cf["metadata"]["generation"]
    assert env.get("deployment", "pause-producer", namespace)["spec"]["replicas"] == 0  # type: ignore[index]
    assert env.get("sparkapplication", "pause-stream", namespace)["spec"]["suspend"] is True  # type: ignore[index]
    job = env.get("job", cf["status"]["children"]["backfillJob"], namespace)
    assert job is not None and job["spec"]["suspend"] is True

    _apply(env, namespace, "pause", suspend=False)
    cf = env.wait("resumed", lambda: _cond(env, namespace, "pause", "Ready", "False", "ChildrenNotReady"))
    assert env.get("deployment", "pause-producer", namespace)["spec"]["replicas"] == 1  # type: ignore[index]
    assert env.get("sparkapplication", "pause-stream", namespace)["spec"]["suspend"] is False  # type: ignore[index]
    # Ready flipped twice: its lastTransitionTime moved; Degraded never flipped.
    assert condition(cf, "Degraded")["status"] == "False"  # type: ignore[index]


def test_printer_columns(env: Env, namespace: str, operator: Any) -> None:
    _apply(env, namespace, "cols")
    env.wait("reconciled", lambda: _cond(env, namespace, "cols", "Progressing", "True"))
    _apply(env, namespace, "cols", coins=["bitcoin", "ethereum", "cardano"])
    env.wait(
        "generation 2 reconciled",
        lambda: (c := env.get("coinfeed", "cols", namespace)) and c["status"].get("coinCount") == 3,
    )
    table = env.kubectl("get", "cf", "-n", namespace).stdout.splitlines()
    header = table[0].split()
    assert header == ["NAME", "READY", "SOURCE", "COINS", "AGE"], table[0]
    row = table[1].split()
    assert row[:4] == ["cols", "False", "simulated", "3"], table[1]


def test_operator_serviceaccount_has_least_privilege(env: Env) -> None:
    assert all("*" not in r["verbs"] and "*" not in r["resources"] for r in RULES)
    sa = f"system:serviceaccount:{OPERATOR_NS}:{OPERATOR_SA}"

    def can(*args: str) -> bool:
        out = env.kubectl("auth", "can-i", *args, f"--as={sa}", check=False)
        return out.stdout.strip() == "yes"

    assert can("list", "pods", "-n", "default")
    assert can("patch", "deployments.apps", "-n", "default")
    assert can("patch", "coinfeeds.coinstream.io/status", "-A")
    for denied in (
        ("get", "secrets", "-n", "default"),
        ("list", "secrets", "-A"),
        ("watch", "secrets", "-A"),
        ("get", "pods", "-n", "default"),
        ("delete", "deployments.apps", "-n", "default"),
        ("create", "pods", "-n", "default"),
        ("delete", "kafkatopics.kafka.strimzi.io", "-n", "default"),
        ("create", "clusterroles.rbac.authorization.k8s.io"),
        ("update", "coinfeeds.coinstream.io", "-n", "default"),
        ("delete", "coinfeeds.coinstream.io", "-n", "default"),
    ):
        assert not can(*denied), f"operator may {' '.join(denied)}"
    assert yaml.safe_dump(RULES)  # rules are plain data, as the chart includes them


def test_topic_owned_by_another_feed_is_degraded(env: Env, namespace: str, operator: Any) -> None:
    _apply(env, namespace, "first", kafka={"topic": "shared.quotes"})
    first = env.wait("first reconciled", lambda: _cond(env, namespace, "first", "Progressing", "True"))
    _apply(env, namespace, "second", kafka={"topic": "shared.quotes"})
    cf = env.wait("second Degraded", lambda: _cond(env, namespace, "second", "Degraded", "True"))
    message = condition(cf, "Degraded")["message"]  # type: ignore[index]
    assert (
        message
        == f"KafkaTopic {namespace}/shared.quotes already belongs to CoinFeed first (set another spec.kafka.topic)"
    )
    topic = env.get("kafkatopic", "shared.quotes", namespace)
    assert [r["uid"] for r in topic["metadata"]["ownerReferences"]] == [first["metadata"]["uid"]]  # type: ignore[index]
