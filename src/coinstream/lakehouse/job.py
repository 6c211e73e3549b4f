"""Run the streaming job as its own process (what the demo, the crash test and the bench do).

A separate process is what runs in the cluster too, and it can be killed -9 without
taking the caller down. It is a `Service`, so it has a pid file and a log like
every other local component.
"""

from __future__ import annotations

import sys
from pathlib import Path

from coinstream.devstack.process import Service
from coinstream.lakehouse.cli_args import config_to_argv
from coinstream.lakehouse.config import LakeConfig

JOBS_PACKAGE = "coinstream.lakehouse.jobs"


def job_argv(job: str, cfg: LakeConfig) -> list[str]:
    """How a local process runs one of the package's jobs (`stream_quotes`, `maintain_tables`)."""
    return [sys.executable, "-m", f"{JOBS_PACKAGE}.{job}", *config_to_argv(cfg)]


def stream_job_argv(cfg: LakeConfig) -> list[str]:
    return job_argv("stream_quotes", cfg)


def stream_service(home: Path, name: str = "stream") -> Service:
    return Service(name, home, ports=[])


def start_stream_job(cfg: LakeConfig, home: Path, name: str = "stream") -> Service:
    """Start the job detached; returns at once (readiness = the process is alive)."""
    svc = stream_service(home, name)
    svc.start(stream_job_argv(cfg), ready=lambda: True, timeout=30)
    return svc
