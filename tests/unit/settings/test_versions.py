"""One versions file: the Makefile, the scripts and the code read it; nothing pins a version again."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from coinstream import versions
from coinstream.devstack.kafka import KAFKA_VERSION
from coinstream.lakehouse.jars import SPARK_VERSION

ROOT = Path(__file__).resolve().parents[3]
ENV = ROOT / "src/coinstream/versions.env"


def _pinned() -> dict[str, str]:
    return dict(re.findall(r"^([A-Z_]+)=(\S+)$", ENV.read_text(), re.M))


def test_code_reads_the_file() -> None:
    pinned = _pinned()
    assert KAFKA_VERSION == versions.KAFKA_VERSION == pinned["KAFKA_VERSION"]
    assert pinned["SPARK_VERSION"] == SPARK_VERSION


def test_no_script_or_module_assigns_a_pinned_version_again() -> None:
    files = subprocess.run(["git", "ls-files", "Makefile", "mk", "tools/*.sh", "kind/*.sh", "src", "tests/support"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    pinned = _pinned()
    again = []
    for name in files:
        if name.endswith((".py", ".sh", ".mk", "Makefile")):
            text = (ROOT / name).read_text()
            again += [
                f"{name}: {v}"
                for v in pinned.values()
                if re.search(rf"[=:]\s*[\"']?{re.escape(v)}[\"']?\s*$", text, re.M)
            ]
    assert again == []


def test_make_reads_the_file() -> None:
    out = subprocess.run(["make", "-s", "-C", str(ROOT), "--eval=print-uv: ; @echo $(UV)", "print-uv"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert f"uv-{_pinned()['UV_VERSION']}/bin/uv" in out
