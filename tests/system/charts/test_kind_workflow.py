"""kind/run.sh, the script behind `make kind-up`: what it derives instead of assuming."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.support.chartlib import REPO, Helm, by_kind_name, kind_run, pod_specs


def run_sh(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> str:
    return kind_run(*args, cwd=cwd, env=env, timeout=60)


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_a_code_change_rolls_the_pods(tmp_path: Path, helm: Helm) -> None:
    """`make kind-up` after an edit: new image tags, so new pod templates, so a rollout."""
    clone = tmp_path / "clone"
    (clone / "kind").mkdir(parents=True)
    shutil.copy(REPO / "kind/run.sh", clone / "kind/run.sh")
    (clone / "src/coinstream").mkdir(parents=True)
    shutil.copy(REPO / "src/coinstream/versions.env", clone / "src/coinstream/versions.env")
    (clone / "src/mod.py").write_text("X = 1\n")
    _git(clone, "init", "-q")
    _git(clone, "add", ".")
    _git(clone, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x")
    before = run_sh("image-tag", cwd=clone)
    assert run_sh("image-tag", cwd=clone) == before  # stable while nothing changes
    (clone / "src/mod.py").write_text("X = 2\n")  # uncommitted, as after an edit
    after = run_sh("image-tag", cwd=clone)
    assert after != before and after.startswith("0.1.0-")

    def operator_and_images(tag: str) -> tuple[dict[str, Any], set[str]]:
        sets = run_sh("chart-sets", "coinstream-operator", env={"IMAGE_TAG": tag}).split()
        objs = helm.objects("coinstream-operator", "values-kind.yaml", [s for s in sets if s != "--set"])
        dep = by_kind_name(objs, "Deployment", "coinstream-operator")
        spec = pod_specs(dep)[0]
        env = {e["name"]: e.get("value") for c in spec["containers"] for e in c.get("env", [])}
        images = {c["image"] for c in spec["containers"]}
        cm = [o for o in objs if o["kind"] == "ConfigMap"]
        for o in cm:
            env.update(o.get("data") or {})
        return dep["spec"]["template"], images | {v for k, v in env.items() if k.endswith("_IMAGE") and v}

    t1, images1 = operator_and_images(before)
    t2, images2 = operator_and_images(after)
    assert t1 != t2, "the operator's pod template did not change: nothing would roll"
    assert any(before in i for i in images1) and any(after in i for i in images2)
    assert {i for i in images2 if "coinstream-spark" in i or "coinstream/coinstream:" in i}, images2
    platform = run_sh("chart-sets", "coinstream", env={"IMAGE_TAG": after}).split()
    objs = helm.objects("coinstream", "values-kind.yaml", [s for s in platform if s != "--set"])
    notebook = by_kind_name(objs, "Deployment", "coinstream-notebook")
    assert pod_specs(notebook)[0]["containers"][0]["image"].endswith(f":{after}")
    dashboard = by_kind_name(objs, "Deployment", "coinstream-dashboard")
    assert pod_specs(dashboard)[0]["containers"][0]["image"].endswith(f":{after}")
