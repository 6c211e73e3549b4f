"""Trino in the umbrella chart, rendered with the real Trino chart 1.40.0: HTTPS with the release's
own CA, password authentication from a Secret, the shared secret from a Secret, the generated access
rules, `register_table` off; clients reach it over https as the read-only analyst only."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tests.support import upstream_charts as upstream
from tests.support.chartlib import NAMESPACE, RELEASE, Helm, by_kind_name

from coinstream.platform.trino_rules import ADMIN_CATALOG, ANALYST_CATALOG, access_rules, render
from coinstream.settings import Settings

CLIENTS = {"Deployment": [f"{RELEASE}-dashboard", f"{RELEASE}-notebook"], "Pod": [f"{RELEASE}-test-trino-query"]}


@pytest.fixture(scope="module")
def objs(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    chart = upstream.real_chart(tmp_path_factory.mktemp("trino-sec"), helm.binary)
    out = helm.run("template", RELEASE, str(chart), "--namespace", NAMESPACE, "--kube-version", "1.34.4").stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _props(text: str) -> dict[str, str]:
    return dict(line.strip().split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def _secret(objs: list[dict[str, Any]], name: str) -> dict[str, str]:
    data = by_kind_name(objs, "Secret", name)["data"]
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def test_coordinator_serves_https_with_passwords_rules_and_a_shared_secret(objs: list[dict[str, Any]]) -> None:
    cm = by_kind_name(objs, "ConfigMap", f"{RELEASE}-trino-coordinator")["data"]
    config = _props(cm["config.properties"])
    assert config["http-server.https.enabled"] == "true" and config["http-server.https.port"] == "8443"
    assert config["http-server.authentication.type"] == "PASSWORD"
    assert config["internal-communication.shared-secret"] == "${ENV:TRINO_INTERNAL_SHARED_SECRET}"
    assert _props(cm["password-authenticator.properties"])["password-authenticator.name"] == "file"
    acl = _props(cm["access-control.properties"])
    assert acl["access-control.name"] == "file"
    # The rules Trino reads are the generated ones (coinstream.platform.trino_rules), nothing else.
    rules = by_kind_name(objs, "ConfigMap", f"{RELEASE}-trino-rules")["data"]["rules.json"]
    assert json.loads(rules) == access_rules() and rules.strip() == render().strip()
    for role in ("coordinator", "worker"):
        pod = by_kind_name(objs, "Deployment", f"{RELEASE}-trino-{role}")["spec"]["template"]["spec"]
        (c,) = [c for c in pod["containers"] if c["name"] == "trino-" + role]
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes[mounts[str(Path(acl["security.config-file"]).parent)]]["configMap"]["name"] == (
            f"{RELEASE}-trino-rules"
        )
        secret_env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"] if "valueFrom" in e}
        internal = {"name": f"{RELEASE}-trino-internal", "key": "shared-secret"}
        assert secret_env["TRINO_INTERNAL_SHARED_SECRET"] == internal
        if role == "coordinator":
            keystore = Path(config["http-server.https.keystore.path"])
            assert volumes[mounts[str(keystore.parent)]]["secret"]["secretName"] == f"{RELEASE}-trino-tls"
            password_dir = mounts["/etc/trino/auth/password"]
            assert volumes[password_dir]["secret"]["secretName"] == f"{RELEASE}-trino-password-db"
        else:  # workers never hold the TLS key
            assert all(v.get("secret", {}).get("secretName") != f"{RELEASE}-trino-tls" for v in volumes.values())
    catalogs = {k: _props(v) for k, v in by_kind_name(objs, "ConfigMap", f"{RELEASE}-trino-catalog")["data"].items()}
    for name in (f"{ADMIN_CATALOG}.properties", f"{ANALYST_CATALOG}.properties"):
        assert catalogs[name]["iceberg.register-table-procedure.enabled"] == "false"
    # The clients' catalog refuses writes, DDL and (table) procedures in the connector, to anyone;
    # the writable one is the admin's alone (rules).
    assert catalogs[f"{ANALYST_CATALOG}.properties"]["iceberg.security"] == "READ_ONLY"
    assert "iceberg.security" not in catalogs[f"{ADMIN_CATALOG}.properties"]
    analyst = [r for r in access_rules()["catalogs"] if r["user"] == "analyst"]
    assert [r["catalog"] for r in analyst] == [ANALYST_CATALOG]


def test_password_file_tls_and_clients(objs: list[dict[str, Any]]) -> None:
    users = _secret(objs, f"{RELEASE}-trino-users")
    db = _secret(objs, f"{RELEASE}-trino-password-db")["password.db"]
    entries = dict(line.split(":", 1) for line in db.splitlines() if line)
    assert set(entries) == set(users) == {"analyst", "admin"}
    assert all(h.startswith("$2y$10$") and len(h) == 60 for h in entries.values())  # bcrypt as Trino reads it
    assert not any(pw in db for pw in users.values()) and len(set(users.values())) == 2
    assert len(_secret(objs, f"{RELEASE}-trino-internal")["shared-secret"]) >= 32
    tls = _secret(objs, f"{RELEASE}-trino-tls")
    ca_pem = by_kind_name(objs, "ConfigMap", f"{RELEASE}-trino-ca")["data"]["ca.crt"]
    assert ca_pem.strip() == tls["ca.crt"].strip() and "PRIVATE KEY" not in ca_pem
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    cert = x509.load_pem_x509_certificate(tls["keystore.pem"].encode())
    key = serialization.load_pem_private_key(tls["keystore.pem"].encode(), password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert {f"{RELEASE}-trino", f"{RELEASE}-trino.{NAMESPACE}.svc", "localhost"} <= set(names)
    # Every client: https on 8443 as the analyst, the analyst's key alone mounted, the CA to verify.
    for kind, names_ in CLIENTS.items():
        for name in names_:
            obj = by_kind_name(objs, kind, name)
            pod = obj["spec"]["template"]["spec"] if kind == "Deployment" else obj["spec"]
            env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
            assert env["COINSTREAM_TRINO_PORT"] == "8443" and env["COINSTREAM_TRINO_USER"] == "analyst", name
            assert env["COINSTREAM_TRINO_CATALOG"] == Settings(_env_file=None).trino_catalog, name  # type: ignore[call-arg]
            volumes = {v["name"]: v for v in pod["volumes"]}
            secret = volumes["trino-analyst"]["secret"]
            assert secret["secretName"] == f"{RELEASE}-trino-users" and secret["items"] == [
                {"key": "analyst", "path": "analyst"}
            ], name
            assert env["COINSTREAM_TRINO_PASSWORD_FILE"].endswith("/analyst")
            assert volumes["trino-ca"]["configMap"]["name"] == f"{RELEASE}-trino-ca"


def test_only_trino_pods_reach_the_internal_http_port(objs: list[dict[str, Any]]) -> None:
    """8080 serves the coordinator<->worker calls (shared secret): no client flow opens it."""
    nps = [o["spec"] for o in objs if o["kind"] == "NetworkPolicy"]
    trino = {"app.kubernetes.io/name": "trino"}
    for spec in nps:
        for rule in spec.get("ingress", []):
            if (
                any(p.get("port") == 8080 for p in rule.get("ports", []))
                and spec["podSelector"].get("matchLabels", {}).items() >= trino.items()
            ):
                peers = [p.get("podSelector", {}).get("matchLabels", {}) for p in rule.get("from", [])]
                assert peers and all(p.items() >= trino.items() for p in peers), spec
