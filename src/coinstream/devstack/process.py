"""Background services of the local stack: start detached, track by pid file, stop cleanly.

Every local component (Kafka, the metastore, Trino, HDFS, the streaming job) is one
`Service`: the same pid-file, port and log handling.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from coinstream.errors import OperationalError


class ServiceError(OperationalError):
    pass


@contextlib.contextmanager
def private_files() -> Iterator[None]:
    """Files and dirs created meanwhile are 0600/0700: configs, pid files, stack state."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def private_dir(path: Path) -> Path:
    """mkdir -p with mode 0700 (and tighten an existing one): state dirs hold data and secrets."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        return s.connect_ex((host, port)) == 0


_HANDED_OUT: set[int] = set()
_HANDED_OUT_LOCK = threading.Lock()


def free_port() -> int:
    """A loopback port free now and never handed out before by this process.

    The port is only taken when its service starts, so two calls in a row (a broker's port and
    its controller's) can get the same ephemeral port back from the kernel; the second service
    then fails to start."""
    with _HANDED_OUT_LOCK:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
            if port not in _HANDED_OUT:
                _HANDED_OUT.add(port)
                return port


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; treat it as gone.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, /proc/<pid>/stat field 22), None if gone.

    A pid alone names whoever holds that number now: after a reboot or a long uptime a stale
    pid file can point at an unrelated process. The pid and its start time together name one
    process for good.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] if len(fields) > 19 else None


@dataclass
class Service:
    """One long-running local process, owned through `<home>/<name>.pid`."""

    name: str
    home: Path
    ports: Sequence[int]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid_file(self) -> Path:
        return self.home / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / f"{self.name}.out"

    def pid(self) -> int | None:
        """The service's pid if the process it recorded is still that process, else None."""
        try:
            recorded, started = self.pid_file.read_text().split()
            pid = int(recorded)
        except (FileNotFoundError, ValueError):
            return None  # missing, or written without a start time: nothing can be proven about it
        if not pid_alive(pid) or start_time(pid) != started:
            return None
        return pid

    def running(self) -> bool:
        return self.pid() is not None

    def start(
        self, argv: Sequence[str], ready: Callable[[], bool], timeout: float = 120.0, patience: float | None = None
    ) -> int:
        """Start unless already running; wait until `ready()`; fail with the log tail.

        With `patience`, a service still writing to its log when `timeout` runs out gets more
        time, up to `patience` seconds in all: on a loaded machine a JVM can take minutes to get
        through its start-up, and its log shows it is getting somewhere. It fails once its log has
        been silent for `timeout` seconds, or at `patience`, or at once if it exits.
        """
        if (pid := self.pid()) is not None:
            return pid
        for port in self.ports:
            if port_open(port):
                raise ServiceError(
                    f"{self.name}: port {port} on 127.0.0.1 is already in use by another process; "
                    "stop it or choose other ports (see `coinstream local up --help`)"
                )
        private_dir(self.home)
        private_dir(self.log_file.parent)
        with self.log_file.open("ab") as log:
            self.log_file.chmod(0o600)
            proc = subprocess.Popen(
                list(argv),
                # Everything a service writes (data, logs, configs) is the user's alone.
                umask=0o077,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, **self.env},
                cwd=self.home,
            )
        self.pid_file.write_text(f"{proc.pid} {start_time(proc.pid)}")
        began = time.monotonic()
        deadline = began + timeout
        limit = began + max(timeout, patience or 0.0)
        logged = self._log_size()
        while True:
            if proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise ServiceError(f"{self.name} exited with {proc.returncode}:\n{self.log_tail()}")
            if ready():
                return proc.pid
            now = time.monotonic()
            if patience is not None and (size := self._log_size()) != logged:
                logged, deadline = size, min(now + timeout, limit)
            if now >= deadline:
                break
            time.sleep(0.25)
        self.stop()
        waited = time.monotonic() - began
        raise ServiceError(f"{self.name} not ready after {waited:.0f}s:\n{self.log_tail()}")

    def _log_size(self) -> int:
        try:
            return self.log_file.stat().st_size
        except OSError:
            return 0

    def stop(self, timeout: float = 60.0, sig: int = signal.SIGTERM) -> bool:
        """Graceful stop (SIGTERM, then SIGKILL after `timeout`); True if it was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> None:
        """kill -9, for crash tests: no clean shutdown."""
        self.stop(timeout=5.0, sig=signal.SIGKILL)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"
