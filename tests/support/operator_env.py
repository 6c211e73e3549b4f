"""Helpers to run the operator against a test control plane (tests and bench/reconcile.py).

The operator runs in-process (kopf's KopfRunner) as its own ServiceAccount, bound to exactly the
ClusterRole in rbac.py, so a missing permission fails the tests like it would fail a cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from coinfeed_operator.rbac import cluster_role
from tests.support.kubeapi import KubeControlPlane, shared_crds_dir

REPO = Path(__file__).resolve().parents[2]  # the checkout (CRD file lives in charts/)
VERBOSE = ["--verbose"] if os.environ.get("COINSTREAM_OPERATOR_VERBOSE") else []
KAFKA_CLUSTER = "test-kafka"
DRIFT_SECONDS = 2
OPERATOR_NS = "coinstream-system"
OPERATOR_SA = "coinfeed-operator"


@dataclass
class Env:
    kube: KubeControlPlane
    operator_kubeconfig: Path

    def kubectl(self, *args: str, **kw: Any) -> Any:
        return self.kube.kubectl(*args, **kw)

    def get(self, kind: str, name: str, ns: str) -> dict[str, Any] | None:
        out = self.kube.kubectl("get", kind, name, "-n", ns, "-o", "json", check=False)
        return json.loads(out.stdout) if out.returncode == 0 else None

    def apply(self, doc: dict[str, Any]) -> None:
        self.kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))

    def wait(self, what: str, check: Any, timeout: float = 90) -> Any:
        """Generous by default: a wait returns as soon as the operator gets there, and on a loaded
        CI machine kopf's reaction to a watch event can take tens of seconds."""
        return self.kube.wait_for(what, check, timeout=timeout)


def install_operator_crds(kube: KubeControlPlane) -> None:
    shared = shared_crds_dir()
    kube.install_crds(
        REPO / "charts/coinstream-crds/files/coinfeeds.coinstream.io.yaml",
        shared / "strimzi-1.2.0" / "040-Crd-kafka.yaml",
        shared / "strimzi-1.2.0" / "043-Crd-kafkatopic.yaml",
        shared / "strimzi-1.2.0" / "044-Crd-kafkauser.yaml",
        shared / "spark-operator-2.5.2" / "sparkoperator.k8s.io_sparkapplications.yaml",
    )


def install_operator_identity(kube: KubeControlPlane) -> Path:
    """ServiceAccount + the generated ClusterRole + binding; returns the SA's kubeconfig."""
    role = cluster_role()
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": role["metadata"]["name"]},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": role["metadata"]["name"],
        },
        "subjects": [{"kind": "ServiceAccount", "name": OPERATOR_SA, "namespace": OPERATOR_NS}],
    }
    sa = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": OPERATOR_SA, "namespace": OPERATOR_NS},
    }
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NS}}
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([ns, sa, role, binding]))
    return kube.serviceaccount_kubeconfig(OPERATOR_NS, OPERATOR_SA)


def kafka_cluster(ns: str) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "Kafka",
        "metadata": {"name": KAFKA_CLUSTER, "namespace": ns},
        "spec": {
            "kafka": {
                "version": "4.3.1",
                "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": False}],
            },
            "entityOperator": {"topicOperator": {}},
        },
    }


@contextlib.contextmanager
def run_operator(namespaces: list[str] | None = None) -> Iterator[Any]:
    """Cluster-wide by default; tests delete their feeds, so each sees only its own."""
    from kopf.testing import KopfRunner

    scope = [f"--namespace={ns}" for ns in namespaces] if namespaces else ["--all-namespaces"]
    args = ["run", "--standalone", *scope, "-m", "coinfeed_operator.handlers", *VERBOSE]
    with KopfRunner(args, timeout=60) as runner:
        yield runner


def feed(name: str, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "coins": ["bitcoin", "ethereum"],
        "source": {"type": "simulated", "seed": 7},
        "pollIntervalSeconds": 10,
        "backfill": {"from": "2024-01-01", "granularity": "daily"},
    }
    base.update(spec)
    return {
        "apiVersion": "coinstream.io/v1alpha1",
        "kind": "CoinFeed",
        "metadata": {"name": name},
        "spec": base,
    }


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for c in ((obj or {}).get("status") or {}).get("conditions", []):
        if c["type"] == type_:
            return dict(c)
    return None


def configure_operator_env(kubeconfig: Path, drift_seconds: float) -> None:
    """Operator settings come from the environment, read when the handlers module is imported."""
    os.environ["COINSTREAM_OPERATOR_KUBECONFIG"] = str(kubeconfig)
    os.environ["COINSTREAM_OPERATOR_KAFKA_CLUSTER"] = KAFKA_CLUSTER
    os.environ["COINSTREAM_OPERATOR_DRIFT_INTERVAL_SECONDS"] = str(drift_seconds)


READY = json.dumps({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})


def mark_strimzi_ready(env: Env, namespace: str) -> None:
    """What Strimzi's topic and user operators write once a topic exists and a user's credentials
    and ACLs are in the broker: a Ready condition on every KafkaTopic and KafkaUser still without
    one (this control plane runs neither operator)."""
    for kind in ("kafkatopics", "kafkausers"):
        out = env.kubectl("get", kind, "-n", namespace, "-o", "json", check=False)
        for obj in json.loads(out.stdout)["items"] if out.returncode == 0 else []:
            conditions = (obj.get("status") or {}).get("conditions") or []
            if not any(c.get("type") == "Ready" for c in conditions):
                env.kubectl(
                    "patch", kind, obj["metadata"]["name"], "-n", namespace, "--subresource=status",
                    "--type=merge", "-p", READY, check=False,
                )  # fmt: skip


@contextlib.contextmanager
def strimzi_standin(env: Env, namespace: str, interval: float = 1.0) -> Iterator[None]:
    """`mark_strimzi_ready` every `interval` seconds while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            mark_strimzi_ready(env, namespace)

    thread = threading.Thread(target=loop, name="strimzi-standin", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
