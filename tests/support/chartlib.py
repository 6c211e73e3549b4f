"""Render the charts with the pinned helm, offline.

The umbrella chart's upstream dependencies (Strimzi, spark-operator, Trino) cannot be downloaded
here, so `prepared_chart` copies the chart and puts an empty stand-in chart of the pinned name and
version in its charts/ directory: helm's dependency check passes and the umbrella's OWN templates
render completely; the upstream charts' templates are not rendered or validated by these tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "charts"
NAMESPACE = "coinstream"
RELEASE = "coinstream"
#: chart -> release name, as `make kind-up` installs them.
RELEASES = {
    "coinstream-crds": "coinstream-crds",
    "coinstream-operator": "coinstream-operator",
    "coinstream": RELEASE,
}

#: chart -> the values profiles every test renders (None: the chart's defaults).
PROFILES: dict[str, list[str | None]] = {
    "coinstream-crds": [None, "values-kind.yaml"],
    "coinstream-operator": [None, "values-kind.yaml", "values-external-kafka.yaml"],
    "coinstream": [None, "values-kind.yaml", "values-production.yaml", "values-external-kafka.yaml"],
}
CASES = [(chart, profile) for chart, profiles in PROFILES.items() for profile in profiles]


def kind_run(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    """`kind/run.sh <args>` of the checkout at `cwd`: the same script users run, so the tests use
    its image tag and `--set`s instead of repeating how they are made."""
    out = subprocess.run(
        ["bash", str(cwd / "kind/run.sh"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
        timeout=timeout,
    )
    if out.returncode != 0:
        raise RuntimeError(f"kind/run.sh {' '.join(args)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out.stdout.strip()


def case_id(case: tuple[str, str | None]) -> str:
    return f"{case[0]}[{case[1] or 'defaults'}]"


class HelmError(AssertionError):
    pass


@dataclass
class Helm:
    binary: Path
    home: Path
    _prepared: dict[str, Path] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
            env[var] = str(self.home / var.lower())
        return env

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            env=self.env(),
            check=False,
            timeout=120,
        )
        if check and out.returncode != 0:
            raise HelmError(f"helm {' '.join(args)} failed ({out.returncode}):\n{out.stderr}")
        return out

    def chart(self, name: str) -> Path:
        """The chart directory to hand to helm (a prepared copy for charts with dependencies)."""
        if name not in self._prepared:
            self._prepared[name] = prepared_chart(CHARTS / name, self.home / "charts")
        return self._prepared[name]

    def template_args(
        self, chart: str, profile: str | None, sets: Iterable[str] = (), values: Iterable[Path] = ()
    ) -> list[str]:
        path = self.chart(chart)
        args = ["template", RELEASES[chart], str(path), "--namespace", NAMESPACE, "--kube-version", "1.34.4"]
        if profile:
            args += ["-f", str(path / profile)]
        for v in values:
            args += ["-f", str(v)]
        for s in sets:
            args += ["--set", s]
        return args

    def template(
        self, chart: str, profile: str | None = None, sets: Iterable[str] = (), values: Iterable[Path] = ()
    ) -> str:
        return self.run(*self.template_args(chart, profile, sets, values)).stdout

    def objects(
        self, chart: str, profile: str | None = None, sets: Iterable[str] = (), values: Iterable[Path] = ()
    ) -> list[dict[str, Any]]:
        return [d for d in yaml.safe_load_all(self.template(chart, profile, sets, values)) if d]


def prepared_chart(src: Path, workdir: Path) -> Path:
    meta = yaml.safe_load((src / "Chart.yaml").read_text())
    deps = meta.get("dependencies") or []
    if not deps:
        return src
    dest = workdir / src.name
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest)
    shutil.rmtree(dest / "charts", ignore_errors=True)  # real archives from a `helm dependency build`
    for dep in deps:
        stub = dest / "charts" / dep["name"]
        stub.mkdir(parents=True, exist_ok=True)
        (stub / "Chart.yaml").write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v2",
                    "name": dep["name"],
                    "version": dep["version"],
                    "description": "offline stand-in for the pinned upstream chart (tests only)",
                }
            )
        )
    return dest


def pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod spec(s) inside a workload object (empty for everything else)."""
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "Pod":
        return [spec]
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        return [spec["template"]["spec"]]
    if kind == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    return []


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for ps in pod_specs(obj) for c in ps.get("initContainers", []) + ps.get("containers", [])]


def by_kind_name(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for o in objs:
        if o["kind"] == kind and o["metadata"]["name"] == name:
            return o
    raise AssertionError(f"{kind}/{name} not rendered; have {[(o['kind'], o['metadata']['name']) for o in objs]}")


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) against a pod's labels."""
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True
