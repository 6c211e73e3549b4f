"""The umbrella chart's REAL upstream dependencies (Strimzi, spark-operator, Trino), offline.

The archives are the ones `helm dependency build` fetches on a connected machine, pinned by the
SHA256 in `charts/coinstream/dependencies.sha256` and by `Chart.lock`. They are taken from the
coinstream cache; a cold cache is filled from `$CHART_MIRROR_DIR` (a directory of
archives; default `$COINSTREAM_SHARED/charts`) or, on a connected machine, by `helm pull` from the
repository in Chart.lock. Every archive is checked against its pinned checksum before use, and
never copied into the repository. The third-party CRDs (Strimzi, spark-operator) come out of the
same archives, so nothing depends on a directory beside the clone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "coinstream"
SUMS = CHART / "dependencies.sha256"


class UpstreamChartError(AssertionError):
    pass


def cache_dir() -> Path:
    root = os.environ.get("COINSTREAM_CACHE") or str(Path.home() / ".cache" / "coinstream")
    return Path(root) / "charts"


def pinned_sums() -> dict[str, str]:
    """archive file name -> sha256, from dependencies.sha256 (sha256sum format)."""
    sums: dict[str, str] = {}
    for line in SUMS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split()
            sums[name.lstrip("*")] = digest
    return sums


def lock() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((CHART / "Chart.lock").read_text())
    return doc


def lock_digest(requirements: list[dict[str, Any]], locked: list[dict[str, Any]]) -> str:
    """Helm's HashReq: sha256 of the JSON of [Chart.yaml dependencies, locked dependencies].

    Field order and omitempty follow helm's chart.Dependency struct, so `helm dependency build`
    accepts the lock (it refuses a lock whose digest does not match Chart.yaml).
    """
    fields = (
        ("name", False),
        ("version", True),
        ("repository", False),
        ("condition", True),
        ("tags", True),
        ("enabled", True),
        ("import-values", True),
        ("alias", True),
    )

    def go_json(dep: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, omitempty in fields:
            value = dep.get(key, "" if key in ("name", "repository") else None)
            if omitempty and not value:
                continue
            out[key] = value
        return out

    data = json.dumps([[go_json(d) for d in requirements], [go_json(d) for d in locked]], separators=(",", ":"))
    return "sha256:" + hashlib.sha256(data.encode()).hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _mirror() -> Path | None:
    explicit = os.environ.get("CHART_MIRROR_DIR")
    if explicit:
        return Path(explicit)
    # The Makefile points COINSTREAM_SHARED at ../shared; a machine without it pulls the charts.
    shared = os.environ.get("COINSTREAM_SHARED")
    return Path(shared) / "charts" if shared else REPO.parent / "shared" / "charts"


def archive(name: str, version: str, repository: str, helm: Path | None = None) -> Path:
    """The verified archive `<name>-<version>.tgz` in the cache (fetched once)."""
    file = f"{name}-{version}.tgz"
    want = pinned_sums().get(file)
    if want is None:
        raise UpstreamChartError(f"{file} has no pinned checksum in {SUMS.relative_to(REPO)}")
    dest = cache_dir() / file
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(f".{os.getpid()}.tmp")
        mirror = _mirror()
        if mirror is not None and (mirror / file).exists():
            shutil.copyfile(mirror / file, tmp)
        elif helm is not None:
            pull_dir = tmp.with_suffix(".d")
            ref = f"{repository}/{name}" if repository.startswith("oci://") else name
            args = [str(helm), "pull", ref, "--version", version, "-d", str(pull_dir)]
            if not repository.startswith("oci://"):
                args += ["--repo", repository]
            out = subprocess.run(args, capture_output=True, text=True, check=False, timeout=300)
            if out.returncode != 0:
                raise UpstreamChartError(
                    f"{file} is not in the cache, no mirror (CHART_MIRROR_DIR) has it and "
                    f"`helm pull` from {repository} failed:\n{out.stderr}"
                )
            shutil.move(str(pull_dir / file), tmp)
            shutil.rmtree(pull_dir, ignore_errors=True)
        else:
            raise UpstreamChartError(f"{file}: not cached and no CHART_MIRROR_DIR / COINSTREAM_SHARED")
        tmp.replace(dest)
    got = _sha256(dest)
    if got != want:
        dest.unlink()
        raise UpstreamChartError(f"{file}: sha256 {got} != pinned {want} (removed from the cache)")
    return dest


def archives(helm: Path | None = None) -> list[Path]:
    return [archive(d["name"], d["version"], d["repository"], helm) for d in lock()["dependencies"]]


def real_chart(workdir: Path, helm: Path | None = None) -> Path:
    """A copy of charts/coinstream with the verified upstream archives in its charts/ dir."""
    dest = workdir / "coinstream"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(CHART, dest)
    (dest / "charts").mkdir(exist_ok=True)
    for path in archives(helm):
        shutil.copyfile(path, dest / "charts" / path.name)
    return dest


#: chart -> the directory name its CRDs get (what the tests glob for: strimzi-*, spark-operator-*).
CRD_DIRS = {"strimzi-kafka-operator": "strimzi", "spark-operator": "spark-operator"}


def crds_dir(helm: Path | None = None) -> Path:
    """A directory of `strimzi-<v>/` and `spark-operator-<v>/` holding the CRD files of the pinned
    archives (extracted once into the cache, keyed by the archives' checksums)."""
    deps = [d for d in lock()["dependencies"] if d["name"] in CRD_DIRS]
    key = hashlib.sha256("".join(pinned_sums()[f"{d['name']}-{d['version']}.tgz"] for d in deps).encode())
    root = cache_dir() / f"crds-{key.hexdigest()[:12]}"
    if (root / ".done").exists():
        return root
    for dep in deps:
        path = archive(dep["name"], dep["version"], dep["repository"], helm)
        out = root / f"{CRD_DIRS[dep['name']]}-{dep['version']}"
        out.mkdir(parents=True, exist_ok=True)
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                parts = Path(member.name).parts
                if member.isfile() and len(parts) == 3 and parts[1] == "crds" and member.name.endswith(".yaml"):
                    src = tar.extractfile(member)
                    assert src is not None
                    (out / parts[2]).write_bytes(src.read())
    (root / ".done").touch()
    return root


def third_party_crds(helm: Path | None = None) -> list[Path]:
    """The CRD files of the Strimzi and spark-operator archives."""
    return sorted(crds_dir(helm).glob("*/*.yaml"))
