"""The NetworkPolicy allow-list against the pods that will really exist.

A selector that matches nothing, or a port nobody listens on, silently blocks a flow once the
default deny is in place. So every flow's groups are matched against the pod labels of: the
charts' own workloads, the children the operator builds (its real builders), Spark's driver and
executor pods, and the upstream pods (Strimzi, Trino) with the labels those charts document.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
import yaml
from tests.support.chartlib import CHARTS, REPO, Helm, matches, pod_specs

KAFKA_CLUSTER = "coinstream"
#: Upstream pods this chart's allow-list must reach (labels as Strimzi 1.2.0 / the Trino and
#: spark-operator charts set them; those charts cannot be rendered offline).
UPSTREAM_PODS: dict[str, dict[str, str]] = {
    "kafka-broker": {"strimzi.io/cluster": KAFKA_CLUSTER, "strimzi.io/kind": "Kafka",
                     "strimzi.io/name": f"{KAFKA_CLUSTER}-kafka", "strimzi.io/broker-role": "true",
                     "strimzi.io/controller-role": "true"},
    "entity-operator": {"strimzi.io/cluster": KAFKA_CLUSTER, "strimzi.io/kind": "Kafka",
                        "strimzi.io/name": f"{KAFKA_CLUSTER}-entity-operator"},
    "strimzi-cluster-operator": {"name": "strimzi-cluster-operator", "strimzi.io/kind": "cluster-operator"},
    "trino-coordinator": {"app.kubernetes.io/name": "trino", "app.kubernetes.io/instance": "coinstream",
                          "app.kubernetes.io/component": "coordinator"},
    "spark-operator-controller": {"app.kubernetes.io/name": "spark-operator",
                                  "app.kubernetes.io/component": "controller"},
}  # fmt: skip


def _pods(objs: list[dict[str, Any]]) -> dict[str, tuple[dict[str, str], set[int]]]:
    out = {}
    for o in objs:
        for spec in pod_specs(o):
            labels = o["metadata"]["labels"] if o["kind"] == "Pod" else o["spec"]["template"]["metadata"]["labels"]
            ports = {p["containerPort"] for c in spec["containers"] for p in c.get("ports", [])}
            out[f"{o['kind']}/{o['metadata']['name']}"] = (labels, ports)
    return out


@pytest.fixture(scope="module")
def pods(helm: Helm) -> dict[str, tuple[dict[str, str], set[int]]]:
    from coinfeed_operator.builders import Owner, desired_children
    from coinfeed_operator.config import OperatorConfig
    from coinstream.models import load_coinfeed

    found = {}
    for chart in ("coinstream", "coinstream-operator", "coinstream-crds"):
        found |= _pods(helm.objects(chart))
    feed = load_coinfeed(REPO / "examples/coinfeed-simulated.yaml")
    children = desired_children(feed, Owner(feed.name, "coinstream", "uid-1"), OperatorConfig())
    found |= _pods([c for c in children if c["kind"] in {"Deployment", "Job"}])
    (app,) = [c for c in children if c["kind"] == "SparkApplication"]
    for role in ("driver", "executor"):  # Spark adds spark-role to the labels the operator asks for
        found[f"spark-{role}"] = ({**app["spec"][role]["labels"], "spark-role": role}, set())
    for name, labels in UPSTREAM_PODS.items():
        found[name] = (labels, set())
    return found


@functools.cache
def _values() -> dict[str, Any]:
    return yaml.safe_load((CHARTS / "coinstream/values.yaml").read_text())["networkPolicy"]


@functools.cache
def _group(name: str) -> dict[str, Any]:
    text = yaml.safe_dump(_values()["groups"][name])
    return yaml.safe_load(text.replace('{{ include "coinstream.kafkaCluster" . }}', KAFKA_CLUSTER))


def _matching(pods: dict, group: str) -> list[str]:
    return [name for name, (labels, _) in pods.items() if matches(_group(group), labels)]


@pytest.mark.parametrize("flow", _values()["flows"], ids=lambda f: f["name"])
def test_every_flow_connects_real_pods_on_real_ports(pods: dict, flow: dict[str, Any]) -> None:
    for end in ("from", "to"):
        if end in flow:
            assert _matching(pods, flow[end]), f"group {flow[end]!r} matches no pod"
    if "to" in flow and flow.get("ports"):
        known = [pods[n][1] for n in _matching(pods, flow["to"]) if pods[n][1]]
        for port_set in known:  # pods whose ports we know (ours and the operator's)
            assert set(flow["ports"]) <= port_set, f"{flow['name']}: {flow['ports']} not in {sorted(port_set)}"


def test_the_operators_children_get_their_flows(pods: dict) -> None:
    producer = _matching(pods, "producer")
    assert any(n.startswith("Deployment/") and "producer" in n for n in producer), producer
    assert any(n.startswith("Job/") and "backfill" in n for n in producer), producer
    assert set(_matching(pods, "spark")) == {"spark-driver", "spark-executor"}
    assert _matching(pods, "operator") == ["Deployment/coinstream-operator"]
    helm_tests = _matching(pods, "helmTest")
    assert {n for n in pods if n.startswith("Pod/")} <= set(helm_tests)


def test_every_own_pod_is_allowed_something(pods: dict) -> None:
    """Beyond DNS, each workload the charts render has at least one flow (else it is cut off)."""
    groups = {g for f in _values()["flows"] for g in (f.get("from"), f.get("to")) if g}
    for name, (labels, _) in pods.items():
        if "/" not in name:
            continue
        assert any(matches(_group(g), labels) for g in groups), f"{name} has no allowed flow"
