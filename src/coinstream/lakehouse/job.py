"""Run the streaming job as its own process (what the demo, the crash test and the bench do).

A separate process is what runs in the cluster too, and it can be killed -9 without
taking the caller down. It is a `Service`, so it has a pid file and a log like
every other local component.
"""

from __future__ import annotations

import sys
from pathlib import Path

from coinstream.lakehouse.cli_args import config_to_argv
from coinstream.lakehouse.config import LakeConfig
from coinstream.local.process import Service

JOBS_DIR = Path(__file__).resolve().parents[3] / "jobs"


def stream_job_argv(cfg: LakeConfig) -> list[str]:
    return [sys.executable, str(JOBS_DIR / "stream_quotes.py"), *config_to_argv(cfg)]


def stream_service(home: Path, name: str = "stream") -> Service:
    return Service(name, home, ports=[])


def start_stream_job(cfg: LakeConfig, home: Path, name: str = "stream") -> Service:
    """Start the job detached; returns at once (readiness = the process is alive)."""
    svc = stream_service(home, name)
    svc.start(stream_job_argv(cfg), ready=lambda: True, timeout=30)
    return svc
