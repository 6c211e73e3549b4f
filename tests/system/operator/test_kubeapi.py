"""The test control plane itself enforces what clusters enforce: RBAC, Pod Security, TokenRequest."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from tests.support.kubeapi import ControlPlaneError, KubeControlPlane, shared_crds_dir


def test_serviceaccount_kubeconfig_is_authorized_by_rbac(kube_control_plane: KubeControlPlane) -> None:
    kube = kube_control_plane
    ns = f"sa-{uuid.uuid4().hex[:6]}"
    kube.kubectl("create", "namespace", ns)
    kube.kubectl("create", "serviceaccount", "reader", "-n", ns)
    kubeconfig = kube.serviceaccount_kubeconfig(ns, "reader")
    who = kube.kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}", kubeconfig=kubeconfig)
    assert who.stdout == f"system:serviceaccount:{ns}:reader"
    denied = kube.kubectl("get", "configmaps", "-n", ns, kubeconfig=kubeconfig, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr
    kube.kubectl("create", "role", "cm-reader", "-n", ns, "--verb=list", "--resource=configmaps")
    kube.kubectl("create", "rolebinding", "cm-reader", "-n", ns, "--role=cm-reader", f"--serviceaccount={ns}:reader")
    kube.wait_for(
        "RBAC grant",
        lambda: kube.kubectl("get", "configmaps", "-n", ns, kubeconfig=kubeconfig, check=False).returncode == 0,
    )


def test_missing_shared_crds_say_how_to_get_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINSTREAM_SHARED", str(tmp_path))
    with pytest.raises(ControlPlaneError, match=r"COINSTREAM_SHARED.*strimzi"):
        shared_crds_dir()
