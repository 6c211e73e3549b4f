"""Status as users see it: conditions, child health, Degraded specs, suspend, printer columns, RBAC."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
import yaml
from prometheus_client import start_http_server
from tests.support.operator_env import (
    DRIFT_SECONDS,
    KAFKA_CLUSTER,
    OPERATOR_NS,
    OPERATOR_SA,
    Env,
    condition,
    feed,
    kafka_cluster,
    run_operator,
)

from coinfeed_operator.rbac import RULES
from coinstream.devstack.process import free_port
from coinstream.metrics import Metrics


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
    env.wait("recovered", lambda: _cond(env, namespace, "live", "Degraded", "False"), timeout=120)


def test_unknown_kafka_cluster_is_degraded_until_it_exists(env: Env, namespace: str, operator: Any) -> None:
    env.kubectl("delete", "kafka", KAFKA_CLUSTER, "-n", namespace)
    _apply(env, namespace, "nokafka")
    cf = env.wait("Degraded", lambda: _cond(env, namespace, "nokafka", "Degraded", "True"))
    assert f"Kafka cluster '{KAFKA_CLUSTER}' not found in namespace {namespace}" in condition(cf, "Degraded")["message"]  # type: ignore[index]
    env.apply(kafka_cluster(namespace))
    env.wait("recovered", lambda: _cond(env, namespace, "nokafka", "Degraded", "False"), timeout=120)


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
            # The stand-in marks the KafkaUser Ready on its own schedule (the Job waits for it).
            and "backfill Job waits" not in (condition(c, "Ready") or {}).get("message", "")
            and c
        ),
    )
    ready = condition(cf, "Ready")
    assert ready and ready["status"] == "False"
    # RUNNING is not enough: no driver pod has reported a committed micro-batch.
    assert ready["message"] == (
        "producer 0/1 replicas available; "
        "stream RUNNING, no micro-batch committed to the table yet: no running Spark driver pod yet"
    )

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
    assert header == ["NAME", "READY", "FRESH", "SOURCE", "COINS", "AGE"], table[0]
    row = table[1].split()
    assert row[:5] == ["cols", "False", "Unknown", "simulated", "3"], table[1]


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


def _job_controller_fails(env: Env, ns: str, job: str) -> None:
    """What the job controller writes once a Job's pods have used up its backoffLimit (no kubelet
    runs pods here, so they cannot fail for real): FailureTarget, then Failed, nothing active.
    The controller has started the Job first (startTime set), as it would have."""
    env.wait("Job started", lambda: (j := env.get("job", job, ns)) and j.get("status", {}).get("startTime"))
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    why = {"reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}
    conditions = [
        {"type": t, "status": "True", "lastProbeTime": now, "lastTransitionTime": now, **why}
        for t in ("FailureTarget", "Failed")
    ]
    status = {"conditions": conditions, "active": 0, "ready": 0, "terminating": 0, "failed": 5}
    env.kubectl(
        "patch", "job", job, "-n", ns, "--subresource=status", "--type=merge", "-p", json.dumps({"status": status})
    )


def test_failed_backfill_job_makes_the_feed_degraded_until_a_new_spec(env: Env, namespace: str, operator: Any) -> None:
    _apply(env, namespace, "hist")
    cf = env.wait(
        "backfill Job created",
        lambda: (
            (c := env.get("coinfeed", "hist", namespace))
            and (j := (c.get("status") or {}).get("children", {}).get("backfillJob"))
            and env.get("job", j, namespace)
            and c
        ),
    )
    job = cf["status"]["children"]["backfillJob"]
    uid = env.get("job", job, namespace)["metadata"]["uid"]  # type: ignore[index]
    _job_controller_fails(env, namespace, job)
    cf = env.wait("Degraded", lambda: _cond(env, namespace, "hist", "Degraded", "True", "BackfillFailed"), timeout=120)
    degraded, ready = condition(cf, "Degraded"), condition(cf, "Ready")
    assert degraded["message"] == (  # type: ignore[index]
        f"backfill Job {job} failed: Job has reached the specified backoff limit (see its pod's log)"
    )
    assert (ready["status"], ready["reason"]) == ("False", "BackfillFailed")  # type: ignore[index]
    assert degraded["observedGeneration"] == cf["metadata"]["generation"]  # type: ignore[index]
    assert cf["status"]["backfillSucceeded"] is False
    # The drift timer keeps it Degraded and neither deletes nor re-creates the failed Job (its
    # pods' logs are the evidence): several timer passes later it is the same object.
    time.sleep(3 * DRIFT_SECONDS)
    assert _cond(env, namespace, "hist", "Degraded", "True", "BackfillFailed")
    assert env.get("job", job, namespace)["metadata"]["uid"] == uid  # type: ignore[index]

    # A changed backfill spec is a new Job; the failed one is cleaned up and Degraded clears.
    _apply(env, namespace, "hist", backfill={"from": "2024-06-01", "granularity": "daily"})
    cf = env.wait("recovered", lambda: _cond(env, namespace, "hist", "Degraded", "False", "AsExpected"), timeout=120)
    assert cf["status"]["children"]["backfillJob"] != job
    env.wait("failed Job deleted", lambda: env.get("job", job, namespace) is None, timeout=120)


def _producer_running_at(env: Env, ns: str, ip: str) -> str:
    """The kubelet's report of a running producer pod at `ip` (no kubelet runs here)."""
    pods = env.wait(
        "producer pod created",
        lambda: env.kube.kubectl_json("get", "pods", "-n", ns, "-l", "app.kubernetes.io/component=producer")["items"],
    )
    name = str(pods[0]["metadata"]["name"])
    running = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    status = {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "containerStatuses": [
            {"name": "producer", "image": "x", "imageID": "", "ready": True, "restartCount": 0, "state": running}
        ],
    }
    env.kubectl(
        "patch", "pod", name, "-n", ns, "--subresource=status", "--type=merge", "-p", json.dumps({"status": status})
    )
    return name


def test_data_fresh_follows_the_producers_newest_acknowledged_quote(
    env: Env, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The producer's real /metrics endpoint (coinstream.metrics) stands at the pod's address;
    the operator reads it at every drift pass and DataFresh follows what it says."""
    metrics = Metrics()
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    monkeypatch.setenv("COINSTREAM_OPERATOR_METRICS_PORT", str(port))  # read at operator start-up
    newest = metrics.last_source_ts
    fresh = lambda status, reason: lambda: _cond(env, namespace, "fresh", "DataFresh", status, reason)  # noqa: E731
    try:
        with run_operator():
            try:
                _apply(env, namespace, "fresh", coins=["bitcoin", "ethereum"])
                env.wait("no producer yet", fresh("Unknown", "NoProducerRunning"))
                pod = _producer_running_at(env, namespace, "127.0.0.1")
                cf = env.wait("asked, nothing delivered", fresh("False", "NoQuotesYet"))
                assert condition(cf, "DataFresh")["message"] == (  # type: ignore[index]
                    "no quote acknowledged by Kafka yet for bitcoin/usd, ethereum/usd"
                )

                newest.labels("bitcoin", "usd").set(time.time() - 5)
                newest.labels("ethereum", "usd").set(time.time() - 5)
                cf = env.wait("fresh", fresh("True", "Fresh"))
                assert condition(cf, "DataFresh")["observedGeneration"] == cf["metadata"]["generation"]  # type: ignore[index]
                row = env.kubectl("get", "cf", "fresh", "-n", namespace, "--no-headers").stdout.split()
                assert row[2] == "True", row

                # bitcoin's producer side stalls (the source stops answering for it): an hour old.
                hour_ago = time.time() - 3600
                newest.labels("bitcoin", "usd").set(hour_ago)
                cf = env.wait("stale", fresh("False", "Stale"))
                message = condition(cf, "DataFresh")["message"]  # type: ignore[index]
                stamp = dt.datetime.fromtimestamp(hour_ago, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                assert f"bitcoin/usd (newest {stamp})" in message and "ethereum" not in message, message
                assert "no quote within 300s" in message, message

                # The producer's endpoint stops answering: the operator cannot tell, and says so.
                server.shutdown()
                server.server_close()
                cf = env.wait("unknown", fresh("Unknown", "MetricsUnavailable"), timeout=120)
                assert (
                    f"producer pod {pod}: /metrics on port {port} unreadable" in condition(cf, "DataFresh")["message"]
                )  # type: ignore[index]
            finally:
                env.kubectl("delete", "coinfeeds", "--all", "-n", namespace, "--timeout=120s", check=False, timeout=150)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
