"""What the local JVM services share: finding Java, their log config, and one up/down/status.

Kafka, the Hive metastore and Trino differ only in their command line, their readiness
probe and what their status reports; `JvmService` owns the rest (idempotent `up` through
the pid file, `down`, the common status fields), so `coinstream local status` reads them
all alike.
"""

from __future__ import annotations

import os
import shutil
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from coinstream.devstack.process import Service
from coinstream.errors import OperationalError


class JavaError(OperationalError):
    """A JVM tool (java, mvn) is missing, or Maven could not resolve a pinned component."""


def require(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise JavaError(f"`{tool}` not found on PATH: {hint}")
    return path


def java_bin(home: str | Path | None = None) -> str:
    """`java` from `home` (or JAVA_HOME), else PATH; a clear error when there is none."""
    base = home or os.environ.get("JAVA_HOME")
    if base and (Path(base) / "bin" / "java").exists():
        return str(Path(base) / "bin" / "java")
    return require("java", "install a JDK 17+ (apt-get install openjdk-17-jdk-headless)")


def log4j2_file_config(log_file: Path, root_level: str, loggers: dict[str, str]) -> str:
    """A log4j2 properties file sending everything to `log_file` (the JVM services' own log)."""
    lines = [
        "status = warn",
        "appender.file.type = File",
        "appender.file.name = file",
        f"appender.file.fileName = {log_file}",
        "appender.file.layout.type = PatternLayout",
        "appender.file.layout.pattern = %d{ISO8601} %p %c{1} - %m%n",
        f"rootLogger.level = {root_level}",
        "rootLogger.appenderRef.file.ref = file",
    ]
    for i, (name, level) in enumerate(loggers.items()):
        lines += [f"logger.l{i}.name = {name}", f"logger.l{i}.level = {level}"]
    return "\n".join(lines) + "\n"


class JvmService(ABC):
    """One local JVM process: subclasses say how to run it and how to tell it is ready."""

    home: Path
    start_timeout: ClassVar[float] = 120.0
    stop_timeout: ClassVar[float] = 30.0

    @property
    @abstractmethod
    def service(self) -> Service: ...

    @abstractmethod
    def argv(self) -> list[str]:
        """The command line; writes the config (and formats storage) it needs first."""

    @abstractmethod
    def _ready(self) -> bool:
        """A real round trip to the service, not just an open port."""

    def describe(self) -> dict[str, object]:
        """Status fields known without asking the process (address, version)."""
        return {}

    def probe(self) -> dict[str, object]:
        """Status fields read from the running process (may raise: reported as `error`)."""
        return {}

    def up(self, timeout: float | None = None) -> int:
        """Start unless running (idempotent); returns the pid once ready."""
        if (pid := self.service.pid()) is not None:
            return pid
        self.home.mkdir(parents=True, exist_ok=True)
        return self.service.start(self.argv(), self._ready, timeout=timeout or self.start_timeout)

    def down(self) -> bool:
        return self.service.stop(timeout=self.stop_timeout)

    def status(self) -> dict[str, object]:
        pid = self.service.pid()
        out: dict[str, object] = {"running": pid is not None, "pid": pid, **self.describe()}
        if pid is not None:
            try:
                out.update(self.probe())
            except Exception as exc:
                out["error"] = str(exc)
        return out
