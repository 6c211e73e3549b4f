"""The cluster flow on the real node: the real charts (Strimzi 1.2.0, spark-operator 2.5.2 and
the platform with its laptop profile) installed into a `restricted` namespace, a simulated
CoinFeed applied with kubectl, its records acknowledged by the real Strimzi-run Kafka broker,
and the NetworkPolicies enforced. Phase timings and per-pod peak memory go to the report
(`-s` shows them; tests/system/realnode/README.md records the measured ones).

What this check does not run yet (no stand-in images for them): HDFS, the Hive metastore and
PostgreSQL, Trino and the notebook (tests/system/realnode/values-standins.yaml switches them off).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import upstream_charts as upstream
from tests.support.realnode import RealNode

REPO = Path(__file__).resolve().parents[3]
NS = "coinstream"
STANDINS = Path(__file__).with_name("values-standins.yaml")
PYTHON_IMAGE = "coinstream-local/python:3.11-bookworm"
TIMINGS: dict[str, float] = {}


def _helm_bin() -> Path:
    out = subprocess.run(["bash", str(REPO / "tools/build.sh"), "helm"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1]) / "helm"


def run_sh(*args: str, env: dict[str, str] | None = None) -> list[str]:
    out = subprocess.run(
        ["bash", str(REPO / "kind/run.sh"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=True,
    )
    return out.stdout.split()


class Phase:
    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        self.t0 = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        TIMINGS[self.name] = round(time.monotonic() - self.t0, 1)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RealNode, dict[str, Any]]]:
    work = tmp_path_factory.mktemp("platform")
    node = RealNode(work / "node")
    with Phase("node up"):
        node.start()
    try:
        TIMINGS.update({f"node: {k}": v for k, v in node.timings.items()})
        with Phase("images built"):
            images = [line for line in tool_lines("images.sh", "all") if line]
        with Phase("images loaded"):
            for image in [*images, PYTHON_IMAGE]:
                node.load_image(image)
        helm = _helm_bin()
        kubeconfig = str(node.kubeconfig)
        env = {
            **os.environ,
            "KUBECONFIG": kubeconfig,
            "HELM_CACHE_HOME": str(work / "hc"),
            "HELM_CONFIG_HOME": str(work / "hf"),
            "HELM_DATA_HOME": str(work / "hd"),
        }
        context = yaml.safe_load(Path(kubeconfig).read_text())["current-context"]
        node.apply([restricted_namespace()])
        chart = upstream.real_chart(work, helm)

        def install(release: str, path: Path, *args: str) -> None:
            subprocess.run(
                [str(helm), "upgrade", "--install", release, str(path), "-n", NS, "--wait", "--timeout", "15m", *args],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )

        with Phase("platform installed"):
            install(
                "coinstream-crds",
                REPO / "charts/coinstream-crds",
                "-f",
                str(REPO / "charts/coinstream-crds/values-kind.yaml"),
            )
            api = run_sh("api-server-sets", env={"KUBECONFIG": kubeconfig, "KUBE_CONTEXT": context})
            install(
                "coinstream",
                chart,
                "-f",
                str(chart / "values-kind.yaml"),
                "-f",
                str(STANDINS),
                *run_sh("chart-sets", "coinstream"),
                *api,
            )
            install(
                "coinstream-operator",
                REPO / "charts/coinstream-operator",
                "-f",
                str(REPO / "charts/coinstream-operator/values-kind.yaml"),
                *run_sh("chart-sets", "coinstream-operator"),
            )
        with Phase("kafka ready"):
            node.kubectl("wait", "kafka/coinstream", "-n", NS, "--for=condition=Ready", "--timeout=900s", timeout=960)
        yield node, {"helm": helm, "env": env}
    finally:
        print("\nphase timings (s):", json.dumps(TIMINGS, indent=1))
        with Phase("teardown"):
            node.stop()
        print("teardown (s):", TIMINGS["teardown"])


def tool_lines(script: str, *args: str) -> list[str]:
    out = subprocess.run(["bash", str(REPO / "tools/realnode" / script), *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.splitlines()


def restricted_namespace() -> dict[str, Any]:
    labels = {
        f"pod-security.kubernetes.io/{mode}{suffix}": value
        for mode in ("enforce", "warn")
        for suffix, value in (("", "restricted"), ("-version", "latest"))
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "labels": labels}}


def pods(node: RealNode) -> list[dict[str, Any]]:
    return list(node.kubectl_json("get", "pods", "-n", NS)["items"])


def peak_memory_mib(node: RealNode) -> dict[str, float]:
    """Per pod: the cgroup's high-water mark (cgroup v1 memory.max_usage_in_bytes)."""
    out = {}
    for pod in pods(node):
        uid = pod["metadata"]["uid"]
        for qos in ("", "burstable/", "besteffort/"):
            f = Path(f"/sys/fs/cgroup/memory/kubepods/{qos}pod{uid}/memory.max_usage_in_bytes")
            if f.exists():
                out[pod["metadata"]["name"]] = round(int(f.read_text()) / 2**20, 1)
    return out


def test_coinfeed_records_reach_the_strimzi_kafka(platform: tuple[RealNode, dict[str, Any]]) -> None:
    node, _ = platform
    with Phase("coinfeed applied -> records acked"):
        node.kubectl("apply", "-n", NS, "-f", str(REPO / "examples/coinfeed-simulated.yaml"))
        topic = node.wait_for(
            "the feed's KafkaTopic Ready",
            lambda: next(
                (
                    t["spec"]["topicName"]
                    for t in node.kubectl_json("get", "kafkatopics", "-n", NS)["items"]
                    if any(
                        c["type"] == "Ready" and c["status"] == "True"
                        for c in t.get("status", {}).get("conditions", [])
                    )
                    and t["metadata"]["labels"].get("app.kubernetes.io/instance") == "majors-sim"
                ),
                None,
            ),
            timeout=600,
        )

        def end_offsets() -> int:
            out = node.kubectl(
                "exec",
                "-n",
                NS,
                "coinstream-dual-role-0",
                "--",
                "/opt/kafka/bin/kafka-get-offsets.sh",
                "--bootstrap-server",
                "localhost:9092",
                "--topic",
                topic,
                check=False,
            )
            return sum(int(line.rsplit(":", 1)[1]) for line in out.splitlines() if line.count(":") == 2)

        acked = node.wait_for("records in the feed's topic", end_offsets, timeout=600, interval=5)
    print(f"\nrecords in {topic}: {acked}")
    assert acked > 0


def test_network_policies_keep_strangers_out_of_kafka(platform: tuple[RealNode, dict[str, Any]]) -> None:
    node, _ = platform
    probe = """
import socket, sys
s = socket.socket(); s.settimeout(5)
try:
    s.connect(("coinstream-kafka-bootstrap", 9092)); print("connected")
except OSError as exc:
    print("refused", exc); sys.exit(4)
"""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "stranger", "namespace": NS, "labels": {"app.kubernetes.io/name": "stranger"}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "probe",
                    "image": PYTHON_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-c", probe],
                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "readOnlyRootFilesystem": True,
                    },
                }
            ],
        },
    }
    node.apply([pod])
    phase = node.wait_for(
        "the probe pod to finish",
        lambda: (
            node.kubectl_json("get", "pod", "stranger", "-n", NS)["status"].get("phase") in ("Succeeded", "Failed")
            and node.kubectl_json("get", "pod", "stranger", "-n", NS)["status"]["phase"]
        ),
        timeout=120,
    )
    logs = node.kubectl("logs", "stranger", "-n", NS, check=False)
    assert phase == "Failed" and "refused" in logs, logs


def test_no_pending_pods_and_no_restarts(platform: tuple[RealNode, dict[str, Any]]) -> None:
    node, _ = platform
    state = {
        p["metadata"]["name"]: (
            p["status"].get("phase"),
            sum(c.get("restartCount", 0) for c in p["status"].get("containerStatuses", [])),
        )
        for p in pods(node)
        if p["metadata"]["name"] != "stranger"
    }
    print("\npods:", json.dumps(state, indent=1))
    print("peak memory (MiB):", json.dumps(peak_memory_mib(node), indent=1))
    assert not [n for n, (phase, _) in state.items() if phase == "Pending"], state
    assert not [n for n, (_, restarts) in state.items() if restarts], state
