"""Fixtures for the operator tests: one control plane per session (tests/system/conftest.py),
one namespace and one in-process operator per test, so tests cannot see each other's feeds.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.kubeapi import KubeControlPlane
from tests.support.operator_env import (
    DRIFT_SECONDS,
    Env,
    configure_operator_env,
    install_operator_crds,
    install_operator_identity,
    kafka_cluster,
    run_operator,
    strimzi_standin,
)


@pytest.fixture(scope="session")
def env(kube_control_plane: KubeControlPlane) -> Env:
    install_operator_crds(kube_control_plane)
    kubeconfig = install_operator_identity(kube_control_plane)
    # Read once, when the first KopfRunner imports coinfeed_operator.handlers.
    configure_operator_env(kubeconfig, DRIFT_SECONDS)
    return Env(kube_control_plane, kubeconfig)


@contextlib.contextmanager
def fresh_namespace(env: Env) -> Iterator[str]:
    """A new namespace enforcing Pod Security "restricted", with the Kafka cluster present."""
    ns = f"t-{uuid.uuid4().hex[:8]}"
    env.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
        }
    )
    env.apply(kafka_cluster(ns))
    yield ns
    # Feeds still here had no operator to remove kopf's finalizer: drop it, then the namespace.
    for name in env.kubectl("get", "coinfeeds", "-n", ns, "-o", "name").stdout.split():
        env.kubectl("patch", name, "-n", ns, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False)
    env.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.fixture
def namespace(env: Env) -> Iterator[str]:
    with fresh_namespace(env) as ns:
        yield ns


@pytest.fixture(scope="module")
def module_namespace(env: Env) -> Iterator[str]:
    """For tests that only dry-run: no operator, nothing left behind."""
    with fresh_namespace(env) as ns:
        yield ns


@pytest.fixture
def operator(env: Env, namespace: str) -> Iterator[Any]:
    """The operator, with Strimzi's Ready conditions stood in (the backfill Job waits for them)."""
    with run_operator() as runner, strimzi_standin(env, namespace):
        yield runner
        # While the operator runs, so it releases its finalizer (kopf timers need one).
        env.kubectl("delete", "coinfeeds", "--all", "-n", namespace, "--timeout=120s", check=False, timeout=150)


@pytest.fixture
def operator_without_strimzi(env: Env, namespace: str) -> Iterator[Any]:
    """The operator alone: no KafkaTopic or KafkaUser turns Ready unless the test says so."""
    with run_operator() as runner:
        yield runner
        env.kubectl("delete", "coinfeeds", "--all", "-n", namespace, "--timeout=120s", check=False, timeout=150)
