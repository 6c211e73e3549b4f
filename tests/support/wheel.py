"""The package as a user gets it: the wheel built from the tree, installed into an empty venv.

Dependencies come from the lock file with their hashes (through the shared uv cache, so no
network once warm); the package itself only from the wheel, never from the checkout.
"""

from __future__ import annotations

import glob
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def uv() -> str:
    from coinstream.settings import get_settings

    found = sorted(glob.glob(str(get_settings().cache_dir / "uv-*" / "bin" / "uv")))
    assert found, "uv is not in the cache: run `make venv` first"
    return found[-1]


def build_wheel(out: Path) -> Path:
    subprocess.run([uv(), "build", "--wheel", "-q", "-o", str(out), str(ROOT)], check=True, timeout=600)
    (wheel,) = out.glob("coinstream-*.whl")
    return wheel


def install_wheel(wheel: Path, venv: Path, lock: Path = ROOT / "requirements.lock") -> Path:
    """A fresh venv holding the locked dependencies and the wheel; returns its bin directory."""
    subprocess.run([uv(), "venv", "-q", "--python", "python3.11", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    subprocess.run([uv(), "pip", "sync", "-q", "--python", python, str(lock)], check=True, timeout=1200)
    subprocess.run([uv(), "pip", "install", "-q", "--no-deps", "--python", python, str(wheel)], check=True, timeout=300)
    return venv / "bin"
