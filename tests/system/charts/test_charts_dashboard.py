"""The dashboard in the umbrella chart: reads Trino, reachable only by the flows listed, restricted."""

from __future__ import annotations

from typing import Any

from tests.support.chartlib import RELEASE, Helm, by_kind_name, matches


def test_dashboard_reads_trino_behind_its_own_flows(helm: Helm) -> None:
    objs = helm.objects("coinstream", None)
    dep = by_kind_name(objs, "Deployment", f"{RELEASE}-dashboard")
    svc = by_kind_name(objs, "Service", f"{RELEASE}-dashboard")
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    args = c["args"]
    assert args[:2] == ["coinstream", "dashboard"] and "--engine=trino" in args
    trino = by_kind_name(objs, "Pod", f"{RELEASE}-test-trino-query")["spec"]["containers"][0]["env"]
    trino_host = next(e["value"] for e in trino if e["name"] == "COINSTREAM_TRINO_HOST")
    assert f"--trino-host={trino_host}" in args and "--trino-port=8443" in args
    assert c["readinessProbe"]["httpGet"]["path"] == "/healthz"  # ready = a query through Trino answers
    assert svc["spec"]["ports"][0]["port"] == 8050 and {"name": "http", "containerPort": 8050} in c["ports"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] and c["securityContext"]["readOnlyRootFilesystem"]
    nps = {o["metadata"]["name"]: o["spec"] for o in objs if o["kind"] == "NetworkPolicy"}
    labels = dep["spec"]["template"]["metadata"]["labels"]
    egress = nps[f"{RELEASE}-dashboard-trino-egress"]
    assert all(labels.get(k) == v for k, v in egress["podSelector"]["matchLabels"].items())
    assert egress["egress"][0]["ports"] == [{"protocol": "TCP", "port": 8443}]  # https only
    ingress = [n for n, spec in nps.items() if n.endswith("-ingress") and _selects(spec, labels)]
    assert ingress == [f"{RELEASE}-helmtest-dashboard-ingress"], ingress  # port-forward is the way in
    test_pod = by_kind_name(objs, "Pod", f"{RELEASE}-test-dashboard")
    env = {e["name"]: e["value"] for e in test_pod["spec"]["containers"][0]["env"]}
    assert env["URL"] == f"http://{svc['metadata']['name']}:8050/healthz"


def _selects(spec: dict[str, Any], labels: dict[str, str]) -> bool:
    selector = spec["podSelector"]
    return bool(selector) and matches(selector, labels)


def test_dashboard_off_or_without_trino_renders_nothing(helm: Helm) -> None:
    for switch in ("dashboard.enabled=false", "trino.enabled=false"):
        objs = helm.objects("coinstream", None, sets=[switch])
        # (its NetworkPolicies stay, like every flow's: they select no pod then)
        workloads = [o for o in objs if o["kind"] != "NetworkPolicy" and "dashboard" in o["metadata"]["name"]]
        assert not workloads, switch
