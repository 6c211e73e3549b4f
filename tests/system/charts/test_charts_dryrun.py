"""Every rendered object against a real kube-apiserver (v1.34, RBAC, Pod Security admission).

`kubectl apply --dry-run=server` runs the whole server-side path except persistence: schema and
CEL validation of the Strimzi, spark-operator and CoinFeed CRDs, defaulting, admission. The
namespace enforces and warns `restricted`: any Pod Security warning fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tests.support.chartlib import CASES, NAMESPACE, REPO, Helm, case_id
from tests.support.kubeapi import KubeControlPlane, shared_crds_dir

RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/warn-version": "latest",
}


@pytest.fixture(scope="module")
def kube(
    kube_control_plane: KubeControlPlane, helm: Helm, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KubeControlPlane]:
    """Strimzi and spark-operator CRDs, plus the CoinFeed CRD exactly as the crds chart renders it."""
    kube = kube_control_plane
    crd = [o for o in helm.objects("coinstream-crds") if o["kind"] == "CustomResourceDefinition"]
    assert len(crd) == 1
    crd_file = tmp_path_factory.mktemp("crd") / "coinfeed-crd.yaml"
    crd_file.write_text(yaml.safe_dump(crd[0]))
    kube.install_crds(*sorted(shared_crds_dir().glob("*/*.yaml")), crd_file)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": RESTRICTED}}
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(namespace))
    yield kube


def dry_run(kube: KubeControlPlane, manifest: str) -> tuple[int, str]:
    # Pods are admitted only if their ServiceAccount exists: create those for real first.
    accounts = [d for d in yaml.safe_load_all(manifest) if d and d["kind"] == "ServiceAccount"]
    if accounts:
        kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(accounts))
    # Server-side apply, as helm 4 installs by default.
    out = kube.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=helm", "--dry-run=server", "-f", "-",
        input=manifest, check=False, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Warning" not in out.stderr and "would violate PodSecurity" not in out.stderr, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.endswith("(server dry run)")]
    return len(lines), out.stderr


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_object_passes_server_side_dry_run(
    kube: KubeControlPlane, helm: Helm, case: tuple[str, str | None]
) -> None:
    manifest = helm.template(*case)
    expected = len([d for d in yaml.safe_load_all(manifest) if d])
    applied, _ = dry_run(kube, manifest)
    assert applied == expected, f"{applied} of {expected} objects accepted"


def test_example_feeds_validate_against_the_generated_crd(kube: KubeControlPlane, helm: Helm) -> None:
    manifest = helm.template("coinstream", "values-kind.yaml", ["exampleFeed.enabled=true"])
    assert "kind: CoinFeed" in manifest
    dry_run(kube, manifest)
    for example in sorted((REPO / "examples").glob("coinfeed-*.yaml")):
        text = example.read_text()
        assert dry_run(kube, text)[0] >= 1, example


def test_the_generated_crd_rejects_a_bad_feed(kube: KubeControlPlane) -> None:
    """The dry-run would be worthless if the CRD accepted anything: a wrong type must fail."""
    bad = {
        "apiVersion": "coinstream.io/v1alpha1",
        "kind": "CoinFeed",
        "metadata": {"name": "bad", "namespace": NAMESPACE},
        "spec": {"coins": "bitcoin", "pollIntervalSeconds": 1},
    }
    out = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(bad), check=False)
    assert out.returncode != 0 and "spec.coins" in out.stderr, out.stderr


def test_crd_key_hosts_come_from_the_administrator(kube: KubeControlPlane, helm: Helm, tmp_path: Path) -> None:
    """The CRD refuses a key sent to an unlisted host; the crds chart's apiKeyHosts allows one."""
    source = {
        "type": "coingecko",
        "plan": "demo",
        "apiKeySecretRef": {"name": "cg"},
        "baseUrl": "https://proxy.example/v3",
    }
    feed = {
        "apiVersion": "coinstream.io/v1alpha1",
        "kind": "CoinFeed",
        "metadata": {"name": "k", "namespace": NAMESPACE},
        "spec": {"coins": ["bitcoin"], "source": source},
    }

    def apply() -> tuple[int, str]:
        out = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(feed), check=False)
        return out.returncode, out.stderr

    def install(crd: dict[str, object]) -> None:
        # An update of an Established CRD: no need to wait for Established again, the dry-runs poll.
        (tmp_path / "crd.yaml").write_text(yaml.safe_dump(crd))
        kube.apply_files(tmp_path / "crd.yaml")

    code, err = apply()
    assert code != 0 and "the API key is sent only over https to CoinGecko" in err, err
    (default_crd,) = [o for o in helm.objects("coinstream-crds") if o["kind"] == "CustomResourceDefinition"]
    (widened,) = [o for o in helm.objects("coinstream-crds", None, ["apiKeyHosts={proxy.example}"])
                  if o["kind"] == "CustomResourceDefinition"]  # fmt: skip
    install(widened)
    try:
        # A changed CRD reaches the API server's handlers asynchronously: poll.
        kube.wait_for("the widened CRD accepts proxy.example", lambda: apply()[0] == 0, timeout=120)
    finally:
        install(default_crd)
        kube.wait_for("the default CRD refuses again", lambda: apply()[0] != 0, timeout=120)


def test_a_privileged_pod_is_refused_in_the_namespace(kube: KubeControlPlane) -> None:
    """Proves the namespace really enforces `restricted` (so the zero-warning results mean something),
    and with it that the control plane runs the Pod Security admission (the only test of it)."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root", "namespace": NAMESPACE},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.37.0"}]},
    }
    out = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(pod), check=False)
    assert out.returncode != 0 and 'violates PodSecurity "restricted' in out.stderr, out.stderr


def test_operator_rbac_is_least_privilege(kube: KubeControlPlane, helm: Helm, tmp_path: Path) -> None:
    """Install the operator chart's RBAC for real and ask the API server what its ServiceAccount may do."""
    objs = [
        o
        for o in helm.objects("coinstream-operator")
        if o["kind"] in {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "RoleBinding"}
        and "helm.sh/hook" not in (o["metadata"].get("annotations") or {})
    ]
    manifest = tmp_path / "rbac.yaml"
    manifest.write_text(yaml.safe_dump_all(objs))
    kube.kubectl("apply", "-f", str(manifest))
    try:
        sa = f"system:serviceaccount:{NAMESPACE}:coinstream-operator"

        def can(verb: str, resource: str, namespace: str | None = NAMESPACE) -> bool:
            """A SubjectAccessReview: RBAC's answer, without kubectl's discovery lookups."""
            plural_group, _, sub = resource.partition("/")
            plural, _, group = plural_group.partition(".")
            attrs = {"verb": verb, "resource": plural, "group": group, "subresource": sub}
            if namespace:
                attrs["namespace"] = namespace
            review = {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "user": sa,
                    "groups": [
                        "system:serviceaccounts",
                        f"system:serviceaccounts:{NAMESPACE}",
                        "system:authenticated",
                    ],
                    "resourceAttributes": attrs,
                },
            }
            out = kube.kubectl("create", "-f", "-", "-o", "json", input=json.dumps(review))
            return bool(json.loads(out.stdout)["status"].get("allowed"))

        allowed = [
            ("create", "kafkatopics.kafka.strimzi.io"),
            ("patch", "deployments.apps"),
            ("create", "sparkapplications.sparkoperator.k8s.io"),
            ("patch", "coinfeeds.coinstream.io/status"),
            ("create", "jobs.batch"),
            ("watch", "coinfeeds.coinstream.io"),
        ]
        for verb, resource in allowed:
            assert can(verb, resource), f"operator cannot {verb} {resource}"
        assert not can("list", "customresourcedefinitions.apiextensions.k8s.io", None), "nothing cluster-wide"
        # Nothing outside its namespace, nothing it does not need.
        for verb, resource in allowed:
            assert not can(verb, resource, "default"), f"operator may {verb} {resource} in default"
        denied = [
            ("delete", "deployments.apps"),
            ("list", "secrets"),
            ("create", "pods"),
            ("create", "rolebindings.rbac.authorization.k8s.io"),
            ("delete", "coinfeeds.coinstream.io"),
            ("get", "secrets"),  # the kubelet resolves the API-key Secret, not the operator
            ("get", "pods"),
        ]
        for verb, resource in denied:
            assert not can(verb, resource), f"operator may {verb} {resource}"
        assert can("list", "pods"), "the operator reads its pods' status (a missing Secret)"
        assert not can("get", "secrets", "default")
        assert not can("create", "clusterroles.rbac.authorization.k8s.io", None)
        assert not can("list", "namespaces", None)
    finally:
        kube.kubectl("delete", "--ignore-not-found", "-f", str(manifest))
