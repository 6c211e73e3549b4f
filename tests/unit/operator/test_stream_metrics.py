"""The operator's word on the stream: the driver's committed micro-batches, over real HTTP."""

from __future__ import annotations

from typing import Any

from prometheus_client import start_http_server

from coinfeed_operator.stream_metrics import driver_addresses, read_stream
from coinstream.devstack.process import free_port
from coinstream.metrics import StreamMetrics


def _pod(name: str, role: str = "driver", phase: str = "Running", ip: str | None = "127.0.0.1", **meta: str) -> Any:
    return {
        "metadata": {"name": name, "labels": {"spark-role": role}, **meta},
        "status": {"phase": phase, **({"podIP": ip} if ip else {})},
    }


def test_only_running_driver_pods_are_asked() -> None:
    pods = [
        _pod("d1"),
        _pod("exec", role="executor"),
        _pod("pending", phase="Pending", ip=None),
        _pod("going", deletionTimestamp="2026-01-01T00:00:00Z"),
    ]
    assert driver_addresses(pods) == [("d1", "127.0.0.1")]


def test_committed_batches_are_read_from_the_drivers_metrics() -> None:
    metrics = StreamMetrics()
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    try:
        started = read_stream([_pod("d")], port)
        assert (started.committed, started.problem) == (0, "")  # up, nothing committed yet
        metrics.batches_committed.inc()
        metrics.batches_committed.inc()
        assert read_stream([_pod("d")], port).committed == 2
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    gone = read_stream([_pod("d")], port)
    assert gone.committed is None
    assert gone.problem == f"driver pod d: /metrics on port {port} unreadable (ConnectionError)"
    none = read_stream([_pod("e", role="executor")], port)
    assert (none.committed, none.problem) == (None, "no running Spark driver pod yet")
