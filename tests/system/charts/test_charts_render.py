"""What `helm template` renders, checked object by object for every chart and values profile."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from tests.support.chartlib import CASES, CHARTS, RELEASE, RELEASES, Helm, by_kind_name, case_id, containers, pod_specs

#: The Kubernetes version the charts target (the same as the test control plane).
KUBE_MINOR = "1.34"
STANDARD_LABELS = (
    "helm.sh/chart",
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
)
#: registry/repo:tag, optionally @sha256:digest; the tag must be a version, never `latest`.
PINNED_IMAGE = re.compile(
    r"^[a-z0-9.-]+(?::[0-9]+)?(?:/[a-z0-9._-]+)*:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]*)(?:@sha256:[a-f0-9]{64})?$"
)
#: API groups kubernetes-validate knows (core Kubernetes); everything else is a custom resource.
CORE_GROUPS = {
    "",
    "apps",
    "batch",
    "rbac.authorization.k8s.io",
    "networking.k8s.io",
    "policy",
    "apiextensions.k8s.io",
}


@pytest.fixture(scope="module")
def rendered(helm: Helm) -> dict[tuple[str, str | None], list[dict[str, Any]]]:
    return {case: helm.objects(*case) for case in CASES}


def _group(obj: dict[str, Any]) -> str:
    api = obj["apiVersion"]
    return api.split("/")[0] if "/" in api else ""


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_core_objects_pass_strict_schema_validation(rendered: dict, case: tuple[str, str | None]) -> None:
    core = [o for o in rendered[case] if _group(o) in CORE_GROUPS]
    assert core, "nothing rendered"
    for obj in core:
        try:
            kubernetes_validate.validate(obj, KUBE_MINOR, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(
                f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}"
            ) from None


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_object_has_the_standard_labels(rendered: dict, case: tuple[str, str | None]) -> None:
    for obj in rendered[case]:
        labels = obj["metadata"].get("labels") or {}
        missing = [k for k in STANDARD_LABELS if k not in labels]
        assert not missing, f"{obj['kind']}/{obj['metadata']['name']} lacks {missing}"
        assert labels["app.kubernetes.io/instance"] == RELEASES[case[0]]
        if pod_specs(obj) and obj["kind"] != "Pod":
            tmpl = obj["spec"]["template"]["metadata"]["labels"]
            assert "app.kubernetes.io/name" in tmpl and "app.kubernetes.io/instance" in tmpl


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_image_is_pinned(rendered: dict, case: tuple[str, str | None]) -> None:
    images = [c["image"] for o in rendered[case] for c in containers(o)]
    assert images, "no container rendered"
    for image in images:
        m = PINNED_IMAGE.match(image)
        assert m, f"image {image!r} is not repository:tag[@sha256:digest]"
        assert m.group("tag") != "latest", image


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_pods_are_hardened(rendered: dict, case: tuple[str, str | None]) -> None:
    """Non-root, no privilege escalation, no capabilities, RuntimeDefault seccomp, resource limits."""
    for obj in rendered[case]:
        for spec in pod_specs(obj):
            where = f"{obj['kind']}/{obj['metadata']['name']}"
            psc = spec.get("securityContext") or {}
            assert psc.get("runAsNonRoot") is True, where
            assert (psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", where
            assert not spec.get("hostNetwork") and not spec.get("hostPID"), where
            for c in spec.get("initContainers", []) + spec["containers"]:
                sc = c.get("securityContext") or {}
                assert sc.get("allowPrivilegeEscalation") is False, f"{where}/{c['name']}"
                assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}/{c['name']}"
                assert not sc.get("privileged"), f"{where}/{c['name']}"
                assert "memory" in (c.get("resources") or {}).get("limits", {}), f"{where}/{c['name']}: no memory limit"


def test_crd_is_the_generated_file_with_chart_labels(rendered: dict) -> None:
    generated = yaml.safe_load((CHARTS / "coinstream-crds/files/coinfeeds.coinstream.io.yaml").read_text())
    crd = by_kind_name(rendered[("coinstream-crds", None)], "CustomResourceDefinition", "coinfeeds.coinstream.io")
    assert crd["spec"] == generated["spec"], "the template must not change the generated schema"
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    kind_crd = by_kind_name(
        rendered[("coinstream-crds", "values-kind.yaml")], "CustomResourceDefinition", crd["metadata"]["name"]
    )
    assert "helm.sh/resource-policy" not in (kind_crd["metadata"].get("annotations") or {})


def test_operator_deployment_and_least_privilege_rbac(rendered: dict) -> None:
    objs = rendered[("coinstream-operator", None)]
    dep = by_kind_name(objs, "Deployment", "coinstream-operator")
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert container["command"][:3] == ["kopf", "run", "--standalone"]
    assert "--namespace=coinstream" in container["args"] and "--all-namespaces" not in container["args"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["COINSTREAM_OPERATOR_METRICS_PORT"] == "9100"
    assert env["COINSTREAM_OPERATOR_KAFKA_BOOTSTRAP"] == "coinstream-kafka-bootstrap:9093"  # TLS + SCRAM
    rules = yaml.safe_load((CHARTS / "coinstream-operator/files/clusterrole-rules.yaml").read_text())
    assert by_kind_name(objs, "ClusterRole", "coinstream-operator")["rules"] == rules
    # The resource rules are granted only in the watched namespace, never cluster-wide.
    assert by_kind_name(objs, "RoleBinding", "coinstream-operator")["metadata"]["namespace"] == "coinstream"
    assert not [o for o in objs if o["kind"] == "ClusterRoleBinding" and o["roleRef"]["name"] == "coinstream-operator"]
    assert not [o for o in objs if o["kind"] == "ClusterRoleBinding"], "nothing cluster-wide by default"
    assert env["COINSTREAM_OPERATOR_SERVE_METRICS"] == "true"
    svc = by_kind_name(objs, "Service", "coinstream-operator-metrics")
    assert svc["spec"]["ports"][0]["targetPort"] == "metrics"


def test_operator_watching_all_namespaces_binds_cluster_wide(helm: Helm) -> None:
    objs = helm.objects("coinstream-operator", sets=["watch.allNamespaces=true"])
    assert by_kind_name(objs, "ClusterRoleBinding", "coinstream-operator")["roleRef"]["name"] == "coinstream-operator"
    assert not [o for o in objs if o["kind"] == "RoleBinding"]
    (container,) = by_kind_name(objs, "Deployment", "coinstream-operator")["spec"]["template"]["spec"]["containers"]
    assert "--all-namespaces" in container["args"]


def test_operator_notes_say_the_next_command(helm: Helm) -> None:
    out = helm.run(
        "install",
        "coinstream-operator",
        str(helm.chart("coinstream-operator")),
        "--dry-run=client",
        "--namespace",
        "coinstream",
    ).stdout
    assert "kubectl -n coinstream apply -f examples/coinfeed-simulated.yaml" in out


def test_kafka_is_kraft_with_the_local_broker_version(rendered: dict) -> None:
    from coinstream.devstack.kafka import KAFKA_VERSION

    for profile, replicas in ((None, 3), ("values-kind.yaml", 1)):
        objs = rendered[("coinstream", profile)]
        kafka = by_kind_name(objs, "Kafka", "coinstream")
        pool = by_kind_name(objs, "KafkaNodePool", "dual-role")
        assert kafka["spec"]["kafka"]["version"] == KAFKA_VERSION
        assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "coinstream"
        assert sorted(pool["spec"]["roles"]) == ["broker", "controller"] and pool["spec"]["replicas"] == replicas
        assert "zookeeper" not in kafka["spec"]
        for key, value in kafka["spec"]["kafka"]["config"].items():
            if key.endswith("replication.factor"):
                assert value <= replicas, key


def test_replication_beyond_the_node_count_fails_rendering(helm: Helm, tmp_path: Path) -> None:
    out = helm.run(
        *helm.template_args("coinstream", "values-kind.yaml", ["kafka.config.default\\.replication\\.factor=3"]),
        check=False,
    )
    assert out.returncode != 0 and "exceeds kafka.replicas" in out.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"hdfs": {"config": {"hdfsSite": {"dfs.replication": "2"}}}}))
    out = helm.run(*helm.template_args("coinstream", "values-kind.yaml", values=[bad]), check=False)
    assert out.returncode != 0 and "exceeds hdfs.datanode.replicas" in out.stderr


def test_hdfs_uses_the_official_image_and_one_config_block(rendered: dict) -> None:
    """The keys shared with the local stack (generated files/hdfs-site.yaml) reach every HDFS pod."""
    shared = yaml.safe_load((CHARTS / "coinstream/files/hdfs-site.yaml").read_text())
    values = yaml.safe_load((CHARTS / "coinstream/values.yaml").read_text())
    assert values["hdfs"]["image"]["tag"] == shared["hadoopVersion"]
    objs = rendered[("coinstream", None)]
    conf = by_kind_name(objs, "ConfigMap", "coinstream-hadoop-config")["data"]
    for section, doc in (("coreSite", "core-site.xml"), ("hdfsSite", "hdfs-site.xml")):
        for key, value in shared[section].items():
            assert f"<name>{key}</name><value>{value}</value>" in conf[doc], key
    assert "<name>fs.defaultFS</name><value>hdfs://coinstream-hdfs-namenode:8020</value>" in conf["core-site.xml"]
    assert (
        "<name>dfs.namenode.datanode.registration.ip-hostname-check</name><value>false</value>" in conf["hdfs-site.xml"]
    )
    for name in ("coinstream-hdfs-namenode", "coinstream-hdfs-datanode"):
        sts = by_kind_name(objs, "StatefulSet", name)
        assert all(c["image"] == "apache/hadoop:3.5.0" for c in containers(sts))
        assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
        mounts = sts["spec"]["template"]["spec"]["volumes"]
        assert {"name": "conf", "configMap": {"name": "coinstream-hadoop-config"}} in mounts


def test_metastore_password_only_from_the_secret(rendered: dict) -> None:
    objs = rendered[("coinstream", None)]
    template = by_kind_name(objs, "ConfigMap", "coinstream-metastore-config")["data"]["hive-site.xml.template"]
    assert "<name>javax.jdo.option.ConnectionPassword</name><value>@DB_PASSWORD@</value>" in template
    assert "jdbc:postgresql://coinstream-metastore-db:5432/metastore" in template
    dep = by_kind_name(objs, "Deployment", "coinstream-metastore")
    env = {e["name"]: e for c in containers(dep) for e in c.get("env", [])}
    assert env["SERVICE_NAME"]["value"] == "metastore" and env["DB_DRIVER"]["value"] == "postgres"
    assert "Password" not in env["SERVICE_OPTS"]["value"]
    assert env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "coinstream-metastore-db",
        "key": "password",
    }
    prod = rendered[("coinstream", "values-production.yaml")]
    assert not [o for o in prod if o["kind"] == "Secret" and o["metadata"]["name"] == "coinstream-metastore-db"]
    dep = by_kind_name(prod, "Deployment", "coinstream-metastore")
    env = {e["name"]: e for c in containers(dep) for e in c.get("env", [])}
    assert env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "coinstream-metastore-db-credentials"


def test_trino_catalog_is_the_local_stacks_on_the_rendered_metastore(rendered: dict) -> None:
    """Same catalogs as coinstream.devstack.trino (HDFS flavour), pointing at this release's metastore:
    the writable admin catalog and the read-only one every client uses, under the local names."""
    from coinstream.devstack.trino import catalog_properties
    from coinstream.platform.trino_rules import ADMIN_CATALOG, ANALYST_CATALOG

    values = yaml.safe_load((CHARTS / "coinstream/values.yaml").read_text())
    chart = yaml.safe_load((CHARTS / "coinstream/Chart.yaml").read_text())
    catalogs = {
        name: dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        for name, text in values["trino"]["catalogs"].items()
        if text is not None  # null drops one of the Trino chart's default catalogs
    }
    assert set(catalogs) == {ADMIN_CATALOG, ANALYST_CATALOG}
    props = catalogs[ADMIN_CATALOG]
    assert catalogs[ANALYST_CATALOG] == {**props, "iceberg.security": "READ_ONLY"}
    assert "iceberg.security" not in props
    objs = rendered[("coinstream", None)]
    svc = by_kind_name(objs, "Service", f"{RELEASE}-metastore")
    assert props["hive.metastore.uri"] == f"thrift://{svc['metadata']['name']}:{svc['spec']['ports'][0]['port']}"
    mounts = {m["path"]: m for m in values["trino"]["configMounts"]}
    resources = props["hive.config.resources"].split(",")
    hadoop = by_kind_name(objs, "ConfigMap", f"{RELEASE}-hadoop-config")
    for resource in resources:
        folder, _, name = resource.rpartition("/")
        assert mounts[folder]["configMap"] == hadoop["metadata"]["name"], resource
        assert name in hadoop["data"], resource
    # File (subPath) mounts below Trino's config dir (a ConfigMap mount itself) failed at container
    # start on a real node ("not a directory"): the Hadoop config is a directory mount of its own.
    assert not [m for m in mounts.values() if m.get("subPath")], mounts
    local = catalog_properties(props["hive.metastore.uri"], "hdfs://coinstream-hdfs-namenode:8020/warehouse", None)
    assert {k: v for k, v in props.items() if k != "hive.config.resources"} == local
    assert values["trino"]["image"]["tag"] == "476"
    pins = {d["name"]: (d["version"], d["repository"]) for d in chart["dependencies"]}
    assert pins["strimzi-kafka-operator"][0] == "1.2.0" and pins["spark-operator"][0] == "2.5.2"
    assert all(v[1].startswith(("https://", "oci://")) for v in pins.values())


def test_network_policies_default_deny_and_allow_list(rendered: dict) -> None:
    objs = rendered[("coinstream", None)]
    nps = {o["metadata"]["name"]: o["spec"] for o in objs if o["kind"] == "NetworkPolicy"}
    deny = nps["coinstream-default-deny"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = nps["coinstream-allow-dns"]["egress"][0]
    assert {p["port"] for p in dns["ports"]} == {53}
    out = nps["coinstream-producer-coingecko-egress"]
    (rule,) = out["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 443}]
    assert "10.0.0.0/8" in rule["to"][0]["ipBlock"]["except"]
    # Each pod-to-pod flow opens both ends: egress on the client, ingress on the server.
    for flow in (
        "producer-kafka",
        "spark-kafka",
        "spark-namenode",
        "spark-datanode",
        "spark-metastore",
        "trino-metastore",
        "trino-namenode",
        "trino-datanode",
    ):
        eg, ing = nps[f"coinstream-{flow}-egress"], nps[f"coinstream-{flow}-ingress"]
        assert eg["egress"][0]["ports"] == ing["ingress"][0]["ports"]
        assert eg["egress"][0]["to"][0]["podSelector"] == ing["podSelector"]
        assert ing["ingress"][0]["from"][0]["podSelector"] == eg["podSelector"]
    kafka_in = nps["coinstream-producer-kafka-ingress"]["podSelector"]["matchLabels"]
    assert kafka_in["strimzi.io/cluster"] == "coinstream"  # templated group selector
    # Nobody but the listed clients reaches the metastore database.
    assert [n for n in nps if n.endswith("-ingress") and "metastore-db" in n] == ["coinstream-metastore-db-ingress"]


def test_kind_profile_fits_a_laptop(rendered: dict) -> None:
    """Memory limits of everything the kind profile runs stay under 6.5 GiB, leaving room for a
    CoinFeed's producer and Spark driver/executor inside ~8 GB."""
    objs = rendered[("coinstream", "values-kind.yaml")]
    values = yaml.safe_load((CHARTS / "coinstream/values.yaml").read_text())
    kind = yaml.safe_load((CHARTS / "coinstream/values-kind.yaml").read_text())
    total = 0.0
    for o in objs:
        if o["kind"] in {"Deployment", "StatefulSet"}:
            per_pod = sum(_gib(c["resources"]["limits"]["memory"]) for c in pod_specs(o)[0]["containers"])
            total += per_pod * o["spec"].get("replicas", 1)
    pool = by_kind_name(objs, "KafkaNodePool", "dual-role")
    kafka = by_kind_name(objs, "Kafka", "coinstream")
    total += _gib(pool["spec"]["resources"]["limits"]["memory"]) * pool["spec"]["replicas"]
    total += _gib(kafka["spec"]["entityOperator"]["topicOperator"]["resources"]["limits"]["memory"])
    total += _gib(kind["strimzi"]["resources"]["limits"]["memory"])
    trino = kind["trino"]
    total += _gib(trino["coordinator"]["resources"]["limits"]["memory"])
    total += trino["server"]["workers"] * _gib(values["trino"]["worker"]["resources"]["limits"]["memory"])
    total += 2 * _gib("128Mi")  # spark-operator controller + webhook (chart defaults are smaller)
    assert total <= 6.5, f"kind profile needs {total:.2f} GiB"


def _gib(q: str) -> float:
    units = {"Ki": 2**-20, "Mi": 2**-10, "Gi": 1.0}
    return float(q[:-2]) * units[q[-2:]]


def test_example_feed_and_helm_test_pod(helm: Helm) -> None:
    objs = helm.objects("coinstream", "values-kind.yaml", ["exampleFeed.enabled=true"])
    feed = by_kind_name(objs, "CoinFeed", "majors-sim")
    assert feed["apiVersion"] == "coinstream.io/v1alpha1" and feed["spec"]["source"]["type"] == "simulated"
    test = by_kind_name(objs, "Pod", "coinstream-test-trino-query")
    assert test["metadata"]["annotations"]["helm.sh/hook"] == "test"
    env = {e["name"]: e.get("value") for e in test["spec"]["containers"][0]["env"]}
    assert env["QUERY"] == "SELECT count(*) FROM lake.coinstream.quotes"
    assert env["COINSTREAM_TRINO_CATALOG"] == "lake"
    assert env["COINSTREAM_TRINO_HOST"] == "coinstream-trino"


def test_dependencies_can_all_be_disabled(helm: Helm) -> None:
    """The conditions work: without the upstream charts the platform's own objects still render."""
    objs = helm.objects(
        "coinstream",
        "values-kind.yaml",
        ["strimzi.enabled=false", "sparkOperator.enabled=false", "trino.enabled=false"],
    )
    kinds = {o["kind"] for o in objs}
    assert {"Kafka", "StatefulSet", "NetworkPolicy"} <= kinds
    assert not [o for o in objs if o["metadata"]["name"] == "coinstream-test-trino-query"]


def test_operator_settings_are_ones_the_operator_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every COINSTREAM_OPERATOR_* value the chart sets is a real OperatorConfig field and validates."""
    from coinfeed_operator.config import OperatorConfig

    values = yaml.safe_load((CHARTS / "coinstream-operator/values.yaml").read_text())
    env = {**values["config"], "COINSTREAM_OPERATOR_METRICS_PORT": str(values["metrics"]["port"])}
    fields = {f"COINSTREAM_OPERATOR_{name.upper()}" for name in OperatorConfig.model_fields}
    assert set(env) <= fields, f"unknown settings: {set(env) - fields}"
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    config = OperatorConfig()
    assert config.metrics_port == values["metrics"]["port"]
    assert config.spark_service_account == "coinstream-spark"
    platform = yaml.safe_load((CHARTS / "coinstream/values.yaml").read_text())
    assert config.spark_service_account == platform["sparkOperator"]["spark"]["serviceAccount"]["name"]


def test_the_kind_profile_writes_the_replication_its_datanodes_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's laptop profile tells the stream the platform profile's dfs.replication: HDFS
    takes replication from the writing client, and a higher one than the DataNodes can hold leaves
    every block under-replicated."""
    from coinfeed_operator.config import OperatorConfig

    kind = yaml.safe_load((CHARTS / "coinstream-operator/values-kind.yaml").read_text())["config"]
    for key, value in kind.items():
        monkeypatch.setenv(key, str(value))
    platform = yaml.safe_load((CHARTS / "coinstream/values-kind.yaml").read_text())
    replication = int(platform["hdfs"]["config"]["hdfsSite"]["dfs.replication"])
    assert OperatorConfig().hdfs_replication == replication <= platform["hdfs"]["datanode"]["replicas"]
