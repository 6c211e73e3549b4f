"""The embedded platform listens on loopback only: Kafka, the metastore, Trino (HTTP, and no JMX
agent), the Spark driver and the metrics endpoint, as the kernel reports their sockets (not as
their configs claim)."""

from __future__ import annotations

import os
from typing import Any

from tests.support.sockets import beyond_loopback, listening

from coinstream.devstack.process import free_port
from coinstream.metrics import Metrics

from .conftest import Lake


def test_no_service_listens_beyond_loopback(lake: Lake, spark: Any) -> None:
    services = {
        "kafka": lake.kafka.service.pid(),
        "metastore": lake.metastore.service.pid(),
        "trino": lake.trino.service.pid(),
    }
    port = free_port()
    Metrics().serve(port)  # what `coinstream feed run --metrics-port` does
    for name, pid in services.items():
        assert pid is not None, f"{name} is not running"
        assert listening(pid), f"{name} listens nowhere: the check would prove nothing"
        assert beyond_loopback(pid) == [], f"{name} listens beyond loopback: {beyond_loopback(pid)}"
    # This process: the metrics server and the in-process Spark driver (a child JVM).
    mine = listening(os.getpid())
    assert ("127.0.0.1", port) in mine
    assert beyond_loopback(os.getpid()) == [], (
        f"pytest's own tree listens beyond loopback: {beyond_loopback(os.getpid())}"
    )
