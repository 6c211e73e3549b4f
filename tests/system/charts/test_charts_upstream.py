"""The umbrella chart rendered with its REAL upstream dependencies (Strimzi, spark-operator, Trino).

The stand-in charts of chartlib only prove the umbrella's own templates; these tests render the
pinned upstream archives too, which is where the defects a real install hits live: invalid object
names from an alias, a subchart's test pod the `restricted` namespace refuses, a NetworkPolicy
selector that matches no upstream pod, a laptop profile that does not fit one node.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import upstream_charts as upstream
from tests.support.chartlib import CHARTS, NAMESPACE, RELEASE, REPO, Helm, containers, pod_specs

from coinfeed_operator.builders import Owner, desired_children, kafka_topic, min_insync_replicas
from coinfeed_operator.config import OperatorConfig
from coinstream.models import parse_coinfeed

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
PROFILES = [None, "values-kind.yaml", "values-production.yaml"]
#: What one small node offers the laptop profile: the Docker VM the README asks for (8 GiB; kind's
#: own control-plane pods take ~0.3 GiB of it) and the CPUs of this machine's real node (2; the
#: kind control plane requests ~0.95 CPU of a 4-CPU Docker VM, which leaves about as much).
LAPTOP_MEMORY_GIB = 7.5
LAPTOP_CPU = 1.9


@pytest.fixture(scope="module")
def real_chart(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return upstream.real_chart(tmp_path_factory.mktemp("upstream"), helm.binary)


def render(helm: Helm, chart: Path, profile: str | None, *sets: str) -> list[dict[str, Any]]:
    args = ["template", RELEASE, str(chart), "--namespace", NAMESPACE, "--kube-version", "1.34.4"]
    if profile:
        args += ["-f", str(chart / profile)]
    for s in sets:
        args += ["--set", s]
    return [d for d in yaml.safe_load_all(helm.run(*args).stdout) if d]


@pytest.fixture(scope="module")
def rendered(helm: Helm, real_chart: Path) -> dict[str | None, list[dict[str, Any]]]:
    return {p: render(helm, real_chart, p) for p in PROFILES}


def test_archives_match_the_pins_and_the_lock(helm: Helm) -> None:
    meta = yaml.safe_load((CHARTS / "coinstream/Chart.yaml").read_text())
    lock = upstream.lock()
    assert [(d["name"], d["version"]) for d in lock["dependencies"]] == [
        (d["name"], d["version"]) for d in meta["dependencies"]
    ]
    # helm dependency build refuses a lock whose digest does not match Chart.yaml.
    assert lock["digest"] == upstream.lock_digest(meta["dependencies"], lock["dependencies"])
    paths = upstream.archives(helm.binary)  # each verified against dependencies.sha256
    assert sorted(p.name for p in paths) == sorted(upstream.pinned_sums())
    tracked = subprocess.run(["git", "ls-files", "*.tgz"], cwd=REPO, capture_output=True, text=True, check=True)
    assert tracked.stdout == "", "chart archives must not be committed"


def test_helm_accepts_the_committed_lock(helm: Helm, real_chart: Path) -> None:
    out = helm.run("dependency", "list", str(real_chart))
    statuses = [line.split()[-1] for line in out.stdout.splitlines()[1:] if line.strip()]
    assert statuses == ["ok", "ok", "ok"], out.stdout


def test_strimzi_comes_from_its_current_chart_location() -> None:
    deps = {d["name"]: d for d in upstream.lock()["dependencies"]}
    # https://strimzi.io/charts/ is deprecated; releases are published as OCI artifacts on quay.io.
    assert deps["strimzi-kafka-operator"]["repository"] == "oci://quay.io/strimzi-helm"


def test_a_tampered_archive_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "trino-1.40.0.tgz").write_bytes(b"not the pinned chart")
    monkeypatch.setenv("COINSTREAM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CHART_MIRROR_DIR", str(mirror))
    with pytest.raises(upstream.UpstreamChartError, match="sha256"):
        upstream.archive("trino", "1.40.0", "https://trinodb.github.io/charts")
    assert not (tmp_path / "cache/charts/trino-1.40.0.tgz").exists()


def test_third_party_crds_come_from_the_archives(helm: Helm) -> None:
    names = {
        doc["metadata"]["name"]
        for path in upstream.third_party_crds(helm.binary)
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "CustomResourceDefinition"
    }
    assert {
        "kafkas.kafka.strimzi.io",
        "kafkatopics.kafka.strimzi.io",
        "sparkapplications.sparkoperator.k8s.io",
    } <= names


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p or "defaults")
def test_every_object_name_is_a_valid_kubernetes_name(rendered: dict, profile: str | None) -> None:
    bad = [
        f"{o['kind']}/{o['metadata']['name']}"
        for o in rendered[profile]
        if not DNS1123_SUBDOMAIN.match(o["metadata"]["name"]) or len(o["metadata"]["name"]) > 253
    ]
    assert not bad, f"invalid object names (helm install would fail): {bad}"


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        present = e["key"] in labels
        if e["operator"] == "In" and labels.get(e["key"]) not in e["values"]:
            return False
        if e["operator"] == "NotIn" and present and labels[e["key"]] in e["values"]:
            return False
        if e["operator"] == "Exists" and not present:
            return False
    return True


def test_network_policies_select_the_upstream_pods(rendered: dict) -> None:
    """The policies for upstream pods match the labels the upstream charts really put on them."""
    objs = rendered["values-kind.yaml"]
    nps = {o["metadata"]["name"]: o["spec"] for o in objs if o["kind"] == "NetworkPolicy"}
    pods = {
        o["metadata"]["name"]: o["spec"]["template"]["metadata"]["labels"]
        for o in objs
        if o["kind"] in {"Deployment", "StatefulSet"}
    }
    expect = {
        "coinstream-sparkoperator-apiserver-egress": [
            "coinstream-spark-operator-controller",
            "coinstream-spark-operator-webhook",
        ],
        "coinstream-strimzi-apiserver-egress": ["strimzi-cluster-operator"],
        "coinstream-notebook-trino-ingress": ["coinstream-trino-coordinator"],
    }
    for policy, deployments in expect.items():
        for d in deployments:
            assert d in pods, f"{d} not rendered; have {sorted(pods)}"
            assert _selects(nps[policy]["podSelector"], pods[d]), f"{policy} does not select {d}: {pods[d]}"


def _restricted_violations(spec: dict[str, Any]) -> list[str]:
    """The `restricted` Pod Security Standard's checks that charts can get wrong."""
    out = []
    psc = spec.get("securityContext") or {}
    for c in spec.get("initContainers", []) + spec.get("containers", []):
        sc = c.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{c['name']}: allowPrivilegeEscalation")
        if "ALL" not in (sc.get("capabilities") or {}).get("drop", []):
            out.append(f"{c['name']}: capabilities.drop ALL")
        if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
            out.append(f"{c['name']}: runAsNonRoot")
        seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{c['name']}: seccompProfile")
    return out


def helm_test_filter() -> list[str]:
    out = subprocess.run(["bash", "kind/run.sh", "helm-test-filter"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p or "defaults")
def test_helm_test_runs_only_pods_the_restricted_namespace_admits(rendered: dict, profile: str | None) -> None:
    """`helm test` as the project runs it: the Trino subchart's own test pod (no securityContext,
    and a query against a `tpch` catalog the platform does not configure) is filtered out."""
    tests = {
        o["metadata"]["name"]: o
        for o in rendered[profile]
        if o["kind"] == "Pod" and "test" in (o["metadata"].get("annotations") or {}).get("helm.sh/hook", "")
    }
    args = helm_test_filter()
    assert args[0] == "--filter"
    selected = {s.split("=", 1)[1] for s in args[1].split(",")}
    assert selected <= set(tests), f"the filter names pods that are not rendered: {selected - set(tests)}"
    assert "coinstream-test-trino-query" in selected
    for name in selected:
        assert not _restricted_violations(tests[name]["spec"]), (name, _restricted_violations(tests[name]["spec"]))
    refused = {n for n, o in tests.items() if _restricted_violations(o["spec"])}
    assert refused.isdisjoint(selected)


def _cpu(q: str | int | float) -> float:
    s = str(q)
    return float(s[:-1]) / 1000 if s.endswith("m") else float(s)


def _gib(q: str) -> float:
    m = re.fullmatch(r"([0-9.]+)([KMGT]i|[kmgt])?", str(q))
    assert m, q
    unit = {"Ki": 2**-20, "Mi": 2**-10, "Gi": 1.0, "Ti": 1024.0, "k": 2**-20, "m": 2**-10, "g": 1.0, "t": 1024.0}
    return float(m.group(1)) * unit.get(m.group(2) or "", 2**-30)


def _requests(resources: dict[str, Any] | None) -> tuple[float, float]:
    req = (resources or {}).get("requests") or {}
    return _cpu(req.get("cpu", 0)), _gib(req.get("memory", "0Mi"))


def _spark_pod(role: dict[str, Any]) -> tuple[float, float]:
    """What Spark on Kubernetes requests for a PySpark driver/executor pod."""
    memory = _gib(role["memory"])
    overhead = _gib(role["memoryOverhead"]) if "memoryOverhead" in role else max(0.4 * memory, 384 / 1024)
    return _cpu(role.get("coreRequest", role["cores"])), memory + overhead


def laptop_requests(objs: list[dict[str, Any]], operator_values: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """(cpu, GiB) requested per pod by the kind profile, plus one simulated CoinFeed."""
    pods: dict[str, tuple[float, float]] = {}
    for o in objs:
        if o["kind"] in {"Deployment", "StatefulSet"}:
            for i in range(o["spec"].get("replicas", 1)):
                reqs = [_requests(c.get("resources")) for c in pod_specs(o)[0]["containers"]]
                pods[f"{o['metadata']['name']}-{i}"] = (sum(r[0] for r in reqs), sum(r[1] for r in reqs))
    for o in objs:  # what Strimzi creates from the Kafka custom resources
        if o["kind"] == "KafkaNodePool":
            for i in range(o["spec"]["replicas"]):
                pods[f"kafka-{o['metadata']['name']}-{i}"] = _requests(o["spec"]["resources"])
        if o["kind"] == "Kafka":
            pods["entity-operator"] = _requests(o["spec"]["entityOperator"]["topicOperator"]["resources"])
    pods["coinstream-operator"] = _requests(operator_values["resources"])
    env = {k: str(v) for k, v in operator_values["config"].items()}
    config = OperatorConfig(**{k.removeprefix("COINSTREAM_OPERATOR_").lower(): v for k, v in env.items()})
    feed = parse_coinfeed(yaml.safe_load((REPO / "examples/coinfeed-simulated.yaml").read_text()))
    owner = Owner(name=feed.name, namespace=NAMESPACE, uid="00000000-0000-0000-0000-000000000000")
    for child in desired_children(feed, owner, config):
        if child["kind"] == "SparkApplication":
            pods["spark-driver"] = _spark_pod(child["spec"]["driver"])
            pods["spark-executor"] = _spark_pod(child["spec"]["executor"])
        for spec in pod_specs(child):
            reqs = [_requests(c.get("resources")) for c in spec["containers"]]
            pods[child["metadata"]["name"]] = (sum(r[0] for r in reqs), sum(r[1] for r in reqs))
    return pods


def test_laptop_profile_fits_one_small_node(rendered: dict) -> None:
    """Requests (what the scheduler must find room for) of the whole kind profile plus one
    CoinFeed, Spark's memory overhead included: a pod that does not fit stays Pending."""
    ops = yaml.safe_load((CHARTS / "coinstream-operator/values.yaml").read_text())
    kind = yaml.safe_load((CHARTS / "coinstream-operator/values-kind.yaml").read_text())
    operator_values = {**ops, **kind, "config": {**ops["config"], **(kind.get("config") or {})}}
    pods = laptop_requests(rendered["values-kind.yaml"], operator_values)
    cpu = sum(p[0] for p in pods.values())
    mem = sum(p[1] for p in pods.values())
    table = "\n".join(f"  {n}: {c:.2f} CPU {m:.2f} GiB" for n, (c, m) in sorted(pods.items()))
    assert cpu <= LAPTOP_CPU, f"the kind profile requests {cpu:.2f} CPUs > {LAPTOP_CPU}:\n{table}"
    assert mem <= LAPTOP_MEMORY_GIB, f"the kind profile requests {mem:.2f} GiB > {LAPTOP_MEMORY_GIB}:\n{table}"
    assert {"spark-driver", "spark-executor", "kafka-dual-role-0", "coinstream-trino-coordinator-0"} <= set(pods)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p or "defaults")
def test_every_upstream_container_has_a_memory_limit(rendered: dict, profile: str | None) -> None:
    for o in rendered[profile]:
        if o["kind"] in {"Deployment", "StatefulSet"}:
            for c in containers(o):
                assert "memory" in ((c.get("resources") or {}).get("limits") or {}), (
                    f"{o['metadata']['name']}/{c['name']}"
                )


@pytest.mark.parametrize("profile", [p for p in PROFILES if p], ids=str)
def test_trino_serves_only_the_lake(rendered: dict, profile: str) -> None:
    """The Trino chart's tpch/tpcds demo catalogs are off in the profiles (a null in our values
    removes them only when a values file is given: Helm keeps a subchart's default against a null
    in the parent's own values.yaml). They need plugins the lake does not (the Trino with only the
    Iceberg plugin refused to start on the real node: "No factory for connector 'tpch'")."""
    served = next(
        o for o in rendered[profile] if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "coinstream-trino-catalog"
    )
    assert set(served["data"]) == {"iceberg.properties", "lake.properties"}, sorted(served["data"])


def test_production_profile_flows_and_replication(rendered: dict) -> None:
    objs = rendered["values-production.yaml"]
    values = yaml.safe_load((CHARTS / "coinstream/values.yaml").read_text())
    prod = yaml.safe_load((CHARTS / "coinstream/values-production.yaml").read_text())
    nps = {o["metadata"]["name"]: o["spec"] for o in objs if o["kind"] == "NetworkPolicy"}
    # dfs.replication 3: each DataNode forwards blocks to the next one on 9866.
    dn = nps["coinstream-datanode-datanode-ingress"]
    assert dn["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9866}]
    assert nps["coinstream-datanode-datanode-egress"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": 9866}]
    # A CoinFeed with the default replicas must be writable (acks=all) on the production brokers:
    # the topic's own min.insync.replicas (else the broker default) may not exceed its replicas.
    broker_min_isr = int({**values["kafka"]["config"], **prod["kafka"].get("config", {})}["min.insync.replicas"])
    feed = parse_coinfeed(yaml.safe_load((REPO / "examples/coinfeed-simulated.yaml").read_text()))
    topic = kafka_topic(feed, Owner(name=feed.name, namespace=NAMESPACE, uid="u"), OperatorConfig())
    effective = int(topic["spec"]["config"].get("min.insync.replicas", broker_min_isr))
    assert effective <= topic["spec"]["replicas"], (effective, topic["spec"]["replicas"])
    for replicas in range(1, 6):
        assert 1 <= min_insync_replicas(replicas) <= replicas
