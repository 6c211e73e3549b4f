"""Fixtures of the chart tests: the pinned helm (built once into the cache) and rendered charts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.support.chartlib import REPO, Helm


def _helm_binary() -> Path:
    out = subprocess.run(
        ["bash", str(REPO / "tools" / "build.sh"), "helm"], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"tools/build.sh helm failed:\n{out.stderr[-3000:]}")
    binary = Path(out.stdout.strip().splitlines()[-1]) / "helm"
    if not binary.exists():
        raise RuntimeError(f"tools/build.sh helm printed {binary.parent} but no helm binary is there")
    return binary


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(_helm_binary(), tmp_path_factory.mktemp("helm"))
