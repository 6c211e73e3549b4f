"""The real node itself: pods run, Services and DNS resolve, NetworkPolicies are enforced, a
`restricted` namespace admits hardened pods, and teardown leaves the host as it was."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.realnode import NODE_LINK, POD_BRIDGE, RUN, RealNode

PYTHON_IMAGE = "coinstream-local/python:3.11-bookworm"
NS = "node-check"
HARDENED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
}
POD_SECURITY = {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}}
# Tries until it gets through or its patience (argv[2], seconds) runs out: kube-proxy writes a new
# Service's rules a moment after its endpoints, longer on a loaded node, so an allowed client may
# need a second try; a refused client fails every try.
CLIENT = """
import socket, sys, time, urllib.request
host, patience = sys.argv[1], float(sys.argv[2])
try:
    print("resolved", socket.gethostbyname(host))
except OSError as exc:
    print("dns-failed", exc); sys.exit(3)
deadline = time.monotonic() + patience
while True:
    try:
        print(urllib.request.urlopen(f"http://{host}:8080/", timeout=5).status)
        break
    except OSError as exc:
        print("connect-failed", exc, flush=True)
        if time.monotonic() > deadline:
            sys.exit(4)
        time.sleep(1)
"""
#: An allowed client's patience; a refused one tries for REFUSED_PATIENCE and must fail each time.
ALLOWED_PATIENCE = 60
REFUSED_PATIENCE = 15


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealNode]:
    with RealNode(tmp_path_factory.mktemp("node")) as n:
        n.load_image(PYTHON_IMAGE)
        n.apply(
            [
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {
                        "name": NS,
                        "labels": {
                            "pod-security.kubernetes.io/enforce": "restricted",
                            "pod-security.kubernetes.io/enforce-version": "latest",
                        },
                    },
                }
            ]
        )
        yield n
    # stop() ran: nothing of the node is left on the host.
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert POD_BRIDGE not in links and NODE_LINK not in links
    for table in ("filter", "nat", "mangle"):
        rules = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True).stdout
        left = [r for r in rules.splitlines() if any(m in r for m in ("KUBE-", "CNI-", "COINSTREAM-"))]
        assert not left, f"{table}: {left}"
    nft = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert "kube-network-policies" not in nft, nft
    mounts = Path("/proc/self/mounts").read_text()
    assert str(n.kubelet_root) not in mounts and f"{RUN}/node" not in mounts
    assert not list(Path("/sys/fs/cgroup").glob("*/kubepods")), "pod cgroups left behind"
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "cni-" not in netns, netns


def _pod(name: str, labels: dict[str, str], command: list[str], restart: str = "Never") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {
            "restartPolicy": restart,
            "securityContext": POD_SECURITY,
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "main",
                    "image": PYTHON_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": command,
                    "securityContext": HARDENED,
                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
                }
            ],
        },
    }


def _finished(node: RealNode, name: str) -> tuple[str, str]:
    def phase() -> str | None:
        p = node.kubectl_json("get", "pod", name, "-n", NS)["status"].get("phase")
        return p if p in ("Succeeded", "Failed") else None

    result = node.wait_for(f"pod {name} to finish", phase, timeout=120)
    return result, node.kubectl("logs", name, "-n", NS, check=False)


def _client(
    node: RealNode, name: str, labels: dict[str, str], host: str, patience: int = ALLOWED_PATIENCE
) -> tuple[str, str]:
    node.kubectl("delete", "pod", name, "-n", NS, "--ignore-not-found", "--wait=true")
    node.apply([_pod(name, labels, ["python3", "-c", CLIENT, host, str(patience)])])
    return _finished(node, name)


def test_node_runs_the_pinned_kubernetes(node: RealNode) -> None:
    info = node.kubectl_json("get", "node")["items"][0]["status"]["nodeInfo"]
    assert info["kubeletVersion"] == "v1.34.4"
    assert info["containerRuntimeVersion"].startswith("containerd://")
    version = json.loads(node.kubectl("version", "-o", "json"))
    assert version["serverVersion"]["gitVersion"] == "v1.34.4"


def test_service_dns_and_network_policies(node: RealNode) -> None:
    server = _pod("server", {"app": "server"}, ["python3", "-m", "http.server", "8080", "-d", "/tmp"], "Always")
    server["spec"]["containers"][0]["securityContext"] = {**HARDENED, "readOnlyRootFilesystem": False}
    node.apply(
        [
            server,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "server", "namespace": NS},
                "spec": {"selector": {"app": "server"}, "ports": [{"port": 8080, "targetPort": 8080}]},
            },
        ]
    )
    node.kubectl("wait", "pod/server", "-n", NS, "--for=condition=Ready", "--timeout=120s")
    # Through CoreDNS (a pod) and kube-proxy's ClusterIP rules, before any policy exists.
    phase, logs = _client(node, "open", {"role": "client"}, f"server.{NS}.svc.cluster.local")
    assert phase == "Succeeded" and "200" in logs, logs

    deny_all_but_clients = [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": NS},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "dns", "namespace": NS},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "clients-to-server", "namespace": NS},
            "spec": {
                "podSelector": {"matchLabels": {"app": "server"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {"from": [{"podSelector": {"matchLabels": {"role": "client"}}}], "ports": [{"port": 8080}]}
                ],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "clients-egress", "namespace": NS},
            "spec": {
                "podSelector": {"matchLabels": {"role": "client"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "server"}}}], "ports": [{"port": 8080}]}],
            },
        },
    ]
    node.apply(deny_all_but_clients)
    time.sleep(2)  # the policy engine syncs asynchronously
    phase, logs = _client(node, "allowed", {"role": "client"}, "server")
    assert phase == "Succeeded" and "200" in logs, logs
    phase, logs = _client(node, "stranger", {"role": "other"}, "server", REFUSED_PATIENCE)
    assert phase == "Failed" and "connect-failed" in logs, logs  # DNS allowed, the server not


def test_restricted_namespace_refuses_a_root_pod(node: RealNode) -> None:
    pod = _pod("root", {}, ["true"])
    pod["spec"]["securityContext"] = {}
    out = node.kubectl("apply", "-f", "-", input=json.dumps(pod), check=False)
    refused = node.kubectl("get", "pod", "root", "-n", NS, "--ignore-not-found", "-o", "name")
    assert refused.strip() == "", out


def test_claims_get_local_volumes(node: RealNode) -> None:
    node.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data", "namespace": NS},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            }
        ]
    )
    node.wait_for(
        "the claim bound",
        lambda: node.kubectl_json("get", "pvc", "data", "-n", NS)["status"].get("phase") == "Bound",
        timeout=60,
    )
