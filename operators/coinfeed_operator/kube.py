"""A small synchronous Kubernetes client for exactly the calls the operator makes.

Server-side apply needs `application/apply-patch+yaml` with a field manager; the generated
`kubernetes` client hides that behind internals that change between releases, so this speaks HTTP
(requests, one pooled session) and borrows only the kubeconfig/in-cluster credential loading.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from coinstream.errors import OperationalError

#: (apiVersion, kind) -> plural. The operator touches nothing else (see rbac.py).
RESOURCES: dict[tuple[str, str], str] = {
    ("v1", "ConfigMap"): "configmaps",
    ("v1", "Pod"): "pods",
    ("apps/v1", "Deployment"): "deployments",
    ("batch/v1", "Job"): "jobs",
    ("kafka.strimzi.io/v1", "KafkaTopic"): "kafkatopics",
    ("kafka.strimzi.io/v1", "Kafka"): "kafkas",
    ("kafka.strimzi.io/v1", "KafkaUser"): "kafkausers",
    ("sparkoperator.k8s.io/v1beta2", "SparkApplication"): "sparkapplications",
    ("coinstream.io/v1alpha1", "CoinFeed"): "coinfeeds",
}


class KubeError(OperationalError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Credentials:
    server: str
    ca_path: str | None
    cert_path: str | None
    key_path: str | None
    verify: bool
    configuration: Any  # kubernetes.client.Configuration: refreshes rotated in-cluster tokens

    def authorization(self) -> str | None:
        cfg = self.configuration
        header: str | None = cfg.get_api_key_with_prefix("BearerToken") or cfg.get_api_key_with_prefix("authorization")
        return header


def load_credentials(kubeconfig: Path | None) -> Credentials:
    """From a kubeconfig file if given, else the pod's ServiceAccount."""
    import kubernetes

    cfg = kubernetes.client.Configuration()
    if kubeconfig is not None:
        kubernetes.config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    else:
        kubernetes.config.load_incluster_config(client_configuration=cfg)
    return Credentials(
        server=cfg.host.rstrip("/"),
        ca_path=cfg.ssl_ca_cert,
        cert_path=cfg.cert_file,
        key_path=cfg.key_file,
        verify=bool(cfg.verify_ssl),
        configuration=cfg,
    )


def resource_path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    plural = RESOURCES[(api_version, kind)]
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    path = f"{base}/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


class KubeClient:
    def __init__(self, creds: Credentials, field_manager: str, pool: int = 32) -> None:
        self.creds = creds
        self.field_manager = field_manager
        self._local = threading.local()
        self._pool = pool

    @property
    def _session(self) -> requests.Session:
        # One session per worker thread: requests.Session is not documented as thread-safe.
        s: requests.Session | None = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            s.mount("https://", HTTPAdapter(pool_connections=1, pool_maxsize=self._pool))
            # Talk to the API server directly: no proxies, no REQUESTS_CA_BUNDLE from the env
            # (with trust_env the env bundle would silently replace the cluster CA).
            s.trust_env = False
            s.verify = (self.creds.ca_path or True) if self.creds.verify else False
            if self.creds.cert_path and self.creds.key_path:
                s.cert = (self.creds.cert_path, self.creds.key_path)
            self._local.session = s
        return s

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any] | None:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        if (auth := self.creds.authorization()) is not None:
            headers["Authorization"] = auth
        resp = self._session.request(
            method,
            self.creds.server + path,
            params=params,
            data=None if body is None else json.dumps(body),
            headers=headers,
            timeout=(5, 30),
        )
        if resp.status_code == 404 and method in {"GET", "DELETE"}:
            return None
        if resp.status_code >= 400:
            try:
                message = resp.json().get("message", resp.text)
            except ValueError:
                message = resp.text
            raise KubeError(resp.status_code, message)
        out: dict[str, Any] = resp.json()
        return out

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self._request("GET", resource_path(api_version, kind, namespace, name))

    def list(self, api_version: str, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        out = self._request("GET", resource_path(api_version, kind, namespace), params={"labelSelector": selector})
        return list((out or {}).get("items", []))

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply as our field manager; `force` takes fields back from hand edits."""
        meta = obj["metadata"]
        out = self._request(
            "PATCH",
            resource_path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"]),
            body=obj,
            params={"fieldManager": self.field_manager, "force": "true", "fieldValidation": "Strict"},
            content_type="application/apply-patch+yaml",
        )
        assert out is not None
        return out

    def merge_patch(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        patch: dict[str, Any],
        status: bool = False,
    ) -> dict[str, Any]:
        path = resource_path(api_version, kind, namespace, name) + ("/status" if status else "")
        out = self._request(
            "PATCH",
            path,
            body=patch,
            params={"fieldManager": self.field_manager},
            content_type="application/merge-patch+json",
        )
        assert out is not None
        return out

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        return self._request("DELETE", resource_path(api_version, kind, namespace, name), body=body) is not None
