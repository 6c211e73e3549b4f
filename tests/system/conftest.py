"""Session-wide real services the system tests share, each started only when a test asks for it:
a Kafka broker and a Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager),
both on free ports in temp dirs. Tests isolate themselves by topic or namespace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.kubeapi import KubeControlPlane

from coinstream.devstack.kafka import LocalKafka
from coinstream.devstack.process import free_port


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    broker = LocalKafka(tmp_path_factory.mktemp("kafka"), port=free_port(), controller_port=free_port())
    broker.up()  # fails loudly (Java missing, jars unresolvable, port taken): never a silent skip
    yield broker
    broker.down()


@pytest.fixture(scope="session")
def kube_control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeControlPlane]:
    with KubeControlPlane(tmp_path_factory.mktemp("kube")) as kube:
        yield kube
