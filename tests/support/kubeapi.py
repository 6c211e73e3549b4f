"""A real Kubernetes control plane for tests: etcd + kube-apiserver (+ kube-controller-manager).

No kubelet, no scheduler: objects are stored, validated (schemas, CEL, admission incl. Pod
Security), authorized by RBAC, and garbage-collected by owner references, which is everything
an operator or a Helm chart can be tested against without a container engine. The binaries
come from `tools/build.sh` (pinned, built once into the cache); ports are always free ones.

Usage::

    with KubeControlPlane(tmp_path) as kube:
        kube.install_crds(*shared_crds_dir().glob("strimzi-*/*.yaml"))
        kube.kubectl("get", "crd")
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from coinstream.devstack.process import Service, free_port

SERVICE_CIDR = "10.96.0.0/24"
ISSUER = "https://kubernetes.default.svc.cluster.local"
#: The controllers tests need: GC for owner references, namespaces and their default
#: ServiceAccount, and the workload controllers so Deployment/Job status is real.
CONTROLLERS = "garbagecollector,namespace,serviceaccount,deployment,replicaset,job"
_GC_SYNCED = "Garbage collector: all resource monitors have synced"
_REPO = Path(__file__).resolve().parents[2]


class ControlPlaneError(RuntimeError):
    pass


def shared_crds_dir() -> Path:
    """The pinned third-party CRDs (Strimzi, spark-operator) from $COINSTREAM_SHARED/crds."""
    shared = os.environ.get("COINSTREAM_SHARED")
    root = Path(shared) if shared else _REPO.parent / "shared"
    crds = root / "crds"
    if not crds.is_dir() or not any(crds.glob("*/*.yaml")):
        raise ControlPlaneError(
            f"third-party CRDs not found in {crds}. Set COINSTREAM_SHARED to the directory holding "
            "crds/strimzi-1.2.0 and crds/spark-operator-2.5.2 (the Makefile defaults it to ../shared), "
            "or fetch them: Strimzi 1.2.0 install/cluster-operator/04*-Crd-*.yaml from "
            "github.com/strimzi/strimzi-kafka-operator and spark-operator 2.5.2 "
            "charts/spark-operator-chart/crds/*.yaml from github.com/kubeflow/spark-operator"
        )
    return crds


def build_binaries(what: str) -> Path:
    """`tools/build.sh etcd|kube`: the cached bin dir (a cold build takes minutes, then it's free)."""
    script = _REPO / "tools" / "build.sh"
    if not script.exists():
        raise ControlPlaneError(f"{script} is missing: run the tests from a coinstream checkout")
    out = subprocess.run(["bash", str(script), what], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise ControlPlaneError(f"tools/build.sh {what} failed:\n{out.stderr[-3000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


def write_kubeconfig(path: Path, server: str, ca: Path, user: dict[str, str], name: str = "test") -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


class KubeControlPlane:
    """etcd + kube-apiserver (RBAC, Pod Security) [+ kube-controller-manager] on free ports."""

    def __init__(self, workdir: Path, *, controller_manager: bool = True) -> None:
        self.workdir = Path(workdir)
        self.with_controller_manager = controller_manager
        self.etcd_port, self.etcd_peer_port, self.port = free_port(), free_port(), free_port()
        self.server = f"https://127.0.0.1:{self.port}"
        self._services: list[Service] = []
        self._admin: Path | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> KubeControlPlane:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        from tests.support.pki import TestPKI

        etcd_dir, kube_dir = build_binaries("etcd"), build_binaries("kube")
        self.workdir.mkdir(parents=True, exist_ok=True)
        pki = TestPKI(self.workdir / "pki")
        self.ca = pki.ca_cert
        serving = pki.issue(
            "apiserver",
            "kube-apiserver",
            server=True,
            hosts=("127.0.0.1", "localhost", "10.96.0.1", "kubernetes", "kubernetes.default.svc"),
        )
        admin = pki.issue("admin", "coinstream-test-admin", orgs=("system:masters",))
        # The controller manager gets admin rights: it stands in for the whole control plane.
        kcm = pki.issue("kcm", "system:kube-controller-manager", orgs=("system:masters",))
        sa_key, sa_pub = pki.service_account_keys()
        self._admin = write_kubeconfig(
            self.workdir / "admin.kubeconfig",
            self.server,
            self.ca,
            {"client-certificate": str(admin[0]), "client-key": str(admin[1])},
        )
        self._start_etcd(etcd_dir / "etcd")
        self._start_apiserver(kube_dir / "kube-apiserver", serving, sa_key, sa_pub)
        if self.with_controller_manager:
            kcm_config = write_kubeconfig(
                self.workdir / "kcm.kubeconfig",
                self.server,
                self.ca,
                {"client-certificate": str(kcm[0]), "client-key": str(kcm[1])},
            )
            self._start_controller_manager(kube_dir / "kube-controller-manager", kcm_config, sa_key)

    def _service(self, name: str, ports: list[int]) -> Service:
        svc = Service(name, self.workdir, ports)
        self._services.append(svc)
        return svc

    def _start_etcd(self, binary: Path) -> None:
        client, peer = f"http://127.0.0.1:{self.etcd_port}", f"http://127.0.0.1:{self.etcd_peer_port}"
        argv = [
            str(binary),
            "--name=test",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=test={peer}",
            "--log-level=warn",
            # Test data is disposable; fsync would only slow everyone sharing the disk.
            "--unsafe-no-fsync",
        ]
        self._service("etcd", [self.etcd_port, self.etcd_peer_port]).start(
            argv, ready=lambda: _http_ok(f"{client}/health"), timeout=60
        )

    def _start_apiserver(self, binary: Path, serving: tuple[Path, Path], sa_key: Path, sa_pub: Path) -> None:
        argv = [
            str(binary),
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            f"--etcd-prefix=/registry-{self.port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--cert-dir={self.workdir / 'certs'}",
            f"--tls-cert-file={serving[0]}",
            f"--tls-private-key-file={serving[1]}",
            f"--client-ca-file={self.ca}",
            "--authorization-mode=Node,RBAC",
            "--anonymous-auth=false",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--service-account-issuer={ISSUER}",
            f"--service-account-key-file={sa_pub}",
            f"--service-account-signing-key-file={sa_key}",
            # Defaults (NamespaceLifecycle, ServiceAccount, PodSecurity, ...) plus the two that a
            # hardened cluster adds: owner references need permission, kubelets stay in their lane.
            "--enable-admission-plugins=NodeRestriction,OwnerReferencesPermissionEnforcement",
            "--allow-privileged=false",
            "--profiling=false",
            "--watch-cache=true",
            "--v=1",
        ]
        admin = self.admin_kubeconfig
        self._service("kube-apiserver", [self.port]).start(
            argv, ready=lambda: self._raw_ok("/readyz", admin), timeout=180
        )

    def _start_controller_manager(self, binary: Path, kubeconfig: Path, sa_key: Path) -> None:
        argv = [
            str(binary),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--controllers={CONTROLLERS}",
            "--leader-elect=false",
            "--use-service-account-credentials=false",
            f"--service-account-private-key-file={sa_key}",
            f"--root-ca-file={self.ca}",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
            "--concurrent-gc-syncs=5",
            "--v=1",
        ]
        svc = self._service("kube-controller-manager", [])
        svc.start(argv, ready=lambda: _GC_SYNCED in svc.log_tail(2000), timeout=120)

    def stop(self) -> None:
        for svc in reversed(self._services):
            svc.stop(timeout=20)
        self._services.clear()

    # -- clients ---------------------------------------------------------------------------------

    @property
    def admin_kubeconfig(self) -> Path:
        if self._admin is None:
            raise ControlPlaneError("control plane not started")
        return self._admin

    def kubectl(
        self,
        *args: str,
        kubeconfig: Path | None = None,
        check: bool = True,
        input: str | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this API server (as admin unless `kubeconfig` says otherwise)."""
        argv = ["kubectl", f"--kubeconfig={kubeconfig or self.admin_kubeconfig}", *args]
        out = subprocess.run(argv, capture_output=True, text=True, input=input, check=False, timeout=timeout)
        if check and out.returncode != 0:
            raise ControlPlaneError(f"{' '.join(argv[2:])} failed ({out.returncode}):\n{out.stderr}")
        return out

    def kubectl_json(self, *args: str, kubeconfig: Path | None = None) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json", kubeconfig=kubeconfig).stdout)

    def _raw_ok(self, path: str, kubeconfig: Path) -> bool:
        """One readiness probe; a slow answer (a loaded machine) is "not yet", the caller retries."""
        try:
            out = self.kubectl("get", "--raw", path, kubeconfig=kubeconfig, check=False, timeout=10)
        except subprocess.TimeoutExpired:
            return False
        return out.returncode == 0 and out.stdout.strip() == "ok"

    def apply_files(self, *paths: Path | str) -> None:
        """Server-side apply (big CRDs exceed the client-side last-applied annotation limit)."""
        args: list[str] = []
        for p in paths:
            args += ["-f", str(p)]
        self.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=coinstream-tests", *args)

    def install_crds(self, *paths: Path | str, timeout: float = 60) -> list[str]:
        """Apply CRD files and wait until every one is Established; returns the CRD names."""
        names = [
            doc["metadata"]["name"]
            for p in paths
            for doc in yaml.safe_load_all(Path(p).read_text())
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"
        ]
        if not names:
            raise ControlPlaneError(f"no CustomResourceDefinition in {[str(p) for p in paths]}")
        self.apply_files(*paths)

        def established() -> bool:
            # Polled, not `kubectl wait`: that errors out when status.conditions is not set yet.
            items = self.kubectl_json("get", "crd", *names).get("items", [])
            return len(items) == len(names) and all(
                any(
                    c["type"] == "Established" and c["status"] == "True"
                    for c in i.get("status", {}).get("conditions") or []
                )
                for i in items
            )

        self.wait_for(f"CRDs {names} Established", established, timeout=timeout)
        return names

    def serviceaccount_kubeconfig(self, namespace: str, name: str, duration: str = "6h") -> Path:
        """A kubeconfig authenticating as the ServiceAccount via a TokenRequest (must exist)."""
        token = self.kubectl("create", "token", name, "-n", namespace, f"--duration={duration}").stdout.strip()
        return write_kubeconfig(
            self.workdir / f"sa-{namespace}-{name}.kubeconfig",
            self.server,
            self.ca,
            {"token": token},
            name=f"{namespace}-{name}",
        )

    def wait_for(self, what: str, check: Any, timeout: float = 30, interval: float = 0.2) -> Any:
        """Poll `check()` until truthy; fail with `what` and the last value."""
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            last = check()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def _http_ok(url: str) -> bool:
    import requests

    with requests.Session() as session:
        session.trust_env = False  # local etcd: never through an HTTP(S)_PROXY from the env
        try:
            return session.get(url, timeout=1).status_code == 200
        except requests.RequestException:
            return False
