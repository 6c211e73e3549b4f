"""Local service plumbing: clear errors when Java or Maven is missing, pid-file lifecycle."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from coinstream.devstack.jars import resolve_jars
from coinstream.devstack.jvm import JavaError, java_bin
from coinstream.devstack.process import Service, ServiceError, free_port, pid_alive, port_open, start_time


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


def test_a_slow_starter_that_keeps_logging_gets_patience_a_silent_one_does_not(tmp_path):
    """Under load a daemon may need longer than `timeout` to come up; its log shows progress."""
    marker = tmp_path / "ready"
    slow = (
        "import sys, time, pathlib\n"
        "for i in range(12):\n    print('starting', i, flush=True); time.sleep(0.25)\n"
        f"pathlib.Path({str(marker)!r}).touch()\ntime.sleep(60)\n"
    )
    svc = Service("slow", tmp_path, [free_port()])
    with pytest.raises(ServiceError, match="not ready"):
        svc.start([sys.executable, "-c", slow], marker.exists, timeout=1.0)
    assert not svc.running()
    svc.start([sys.executable, "-c", slow], marker.exists, timeout=1.0, patience=30.0)
    assert svc.running() and marker.exists()
    svc.stop()
    marker.unlink()
    silent = Service("silent", tmp_path, [free_port()])
    began = time.monotonic()
    with pytest.raises(ServiceError, match="not ready"):
        silent.start([sys.executable, "-c", "import time; time.sleep(60)"], marker.exists, timeout=1.0, patience=30.0)
    assert time.monotonic() - began < 10, "a silent service fails after `timeout`, not `patience`"


def test_a_stale_pid_file_never_signals_an_unrelated_process(tmp_path):
    """The pid in a stale file may now belong to someone else: `local down` must leave it alone."""
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        svc = Service("kafka", tmp_path, [free_port()])
        svc.pid_file.write_text(f"{bystander.pid} 1")  # same pid, another process's start time
        assert svc.pid() is None and not svc.running()
        assert not svc.stop()
        svc.pid_file.write_text(str(bystander.pid))  # an old file without a start time proves nothing
        assert not svc.stop()
        assert bystander.poll() is None, "the unrelated process was signalled"
        svc.pid_file.write_text(f"{bystander.pid} {start_time(bystander.pid)}")
        assert svc.pid() == bystander.pid, "the recorded process itself is recognised"
    finally:
        bystander.kill()
        bystander.wait()


def test_free_port_never_hands_out_a_port_twice(monkeypatch):
    """The kernel may give the same ephemeral port to two binds in a row (nothing holds it until
    the service starts): a broker and its controller must still get two ports."""
    from coinstream.devstack import process

    given = iter([41000, 41000, 41000, 41001])

    class Socket:
        def __init__(self, *args):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def bind(self, address):
            self.port = next(given)

        def getsockname(self):
            return ("127.0.0.1", self.port)

    monkeypatch.setattr(process, "_HANDED_OUT", set())
    monkeypatch.setattr(process.socket, "socket", Socket)
    assert [free_port(), free_port()] == [41000, 41001]


def test_free_ports_are_distinct_and_bindable():
    import socket

    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[-1]))
