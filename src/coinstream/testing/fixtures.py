"""pytest plugin (entry point `coinstream`): one real control plane per test session.

Starting etcd + kube-apiserver + kube-controller-manager costs seconds, so every test in a
session shares one; tests isolate themselves by namespace.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from coinstream.testing.kubeapi import KubeControlPlane


@pytest.fixture(scope="session")
def kube_control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeControlPlane]:
    with KubeControlPlane(tmp_path_factory.mktemp("kube")) as kube:
        yield kube
