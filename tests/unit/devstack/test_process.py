"""Local service plumbing: clear errors when Java or Maven is missing, pid-file lifecycle."""

from __future__ import annotations

import sys

import pytest

from coinstream.devstack.jars import resolve_jars
from coinstream.devstack.jvm import JavaError, java_bin
from coinstream.devstack.process import Service, ServiceError, free_port, pid_alive, port_open


def test_missing_java_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JavaError, match="install a JDK 17"):
        java_bin()


def test_missing_maven_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("COINSTREAM_CACHE", str(tmp_path / "cache"))
    with pytest.raises(JavaError, match="install Maven"):
        resolve_jars("kafka", "4.3.1")


def test_service_lifecycle_and_failed_start(tmp_path):
    port = free_port()
    svc = Service("web", tmp_path, [port])
    server = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    pid = svc.start(server, lambda: port_open(port), timeout=30)
    assert svc.running() and svc.start(server, lambda: True) == pid, "start is idempotent"
    assert svc.stop() and not svc.running() and not pid_alive(pid)
    assert not svc.stop(), "stopping a stopped service is a no-op"
    crash = Service("crash", tmp_path, [free_port()])
    with pytest.raises(ServiceError, match="exited with 3"):
        crash.start([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], lambda: False, timeout=30)
    assert "boom" in crash.log_tail()
