"""Resolve a pinned Java component and its dependencies into the cache, once.

Maven does the transitive resolution with strict checksums; the result is a
directory of jars keyed by component, version and the POM's own hash, so a
changed POM never reuses a stale classpath.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from coinstream.cache import cache_dir, maven_central
from coinstream.devstack.jvm import JavaError, require


def resolve_jars(component: str, version: str, package: str = "coinstream.devstack", **extra: str) -> Path:
    """Directory holding `component`'s runtime classpath at `version` (POM: `package`/poms/`component`.xml)."""
    template = resources.files(package).joinpath(f"poms/{component}.xml").read_text()
    pom = template.replace("@VERSION@", version)
    for k, v in extra.items():
        pom = pom.replace(f"@{k.upper()}@", v)
    digest = hashlib.sha256(pom.encode()).hexdigest()[:10]
    out = cache_dir() / "jars" / f"{component}-{version}-{digest}"
    if (out / ".done").exists():
        return out
    mvn = require("mvn", "install Maven (apt-get install maven) to fetch pinned jars from Maven Central")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pom_path = Path(tmp) / "pom.xml"
        pom_path.write_text(pom)
        cmd = [
            mvn, "-B", "-q", "--strict-checksums", "-f", str(pom_path),
            f"-Dmaven.repo.local={cache_dir() / 'm2'}",
            "-DremoteRepositories=" + maven_central(),
            "dependency:copy-dependencies", f"-DoutputDirectory={out}", "-DincludeScope=runtime",
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            shutil.rmtree(out, ignore_errors=True)
            raise JavaError(f"resolving {component} {version} failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    (out / ".done").touch()
    return out


def classpath(directory: Path) -> str:
    return ":".join(str(p) for p in sorted(directory.glob("*.jar")))
