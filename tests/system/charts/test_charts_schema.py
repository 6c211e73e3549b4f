"""values.schema.json: every profile passes, and bad values are refused before anything renders."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.support.chartlib import CASES, Helm, case_id

#: (chart, bad values, a fragment of the error helm must print)
BAD_VALUES = [
    ("coinstream-operator", {"image": {"tag": "latest"}}, "/image/tag"),
    ("coinstream-operator", {"image": {"digest": "sha256:abc"}}, "/image/digest"),
    ("coinstream-operator", {"logFormat": "xml"}, "/logFormat"),
    ("coinstream-operator", {"watch": {"namespaces": ["Not_A_Namespace"]}}, "/watch/namespaces/0"),
    ("coinstream-operator", {"config": {"lower-case": "x"}}, "lower-case"),
    ("coinstream-operator", {"metrics": {"port": 80}}, "/metrics/port"),
    ("coinstream-crds", {"keep": "yes"}, "/keep"),
    ("coinstream-crds", {"tset": {"enabled": False}}, "tset"),
    ("coinstream", {"kafak": {"replicas": 1}}, "kafak"),
    ("coinstream", {"kafka": {"replicas": 0}}, "/kafka/replicas"),
    ("coinstream", {"kafka": {"version": "3.9.0"}}, "/kafka/version"),
    ("coinstream", {"hdfs": {"image": {"tag": "latest"}}}, "/hdfs/image/tag"),
    ("coinstream", {"metastore": {"db": {"database": "Drop Table"}}}, "/metastore/db/database"),
    ("coinstream", {"hdfs": {"namenode": {"heap": "lots"}}}, "/hdfs/namenode/heap"),
    ("coinstream", {"trino": {"image": {"tag": "latest"}}}, "/trino/image/tag"),
    (
        "coinstream",
        {"networkPolicy": {"apiServer": {"cidrs": ["everywhere"]}}},
        "/networkPolicy/apiServer/cidrs/0",
    ),
    (
        "coinstream",
        {"networkPolicy": {"flows": [{"name": "x", "from": "producer", "ports": [70000]}]}},
        "/networkPolicy/flows/0",
    ),
    (
        "coinstream",
        {"notebook": {"resources": {"limits": {"memory": "a lot"}}}},
        "/notebook/resources/limits/memory",
    ),
]


@pytest.mark.parametrize(("chart", "bad", "where"), BAD_VALUES, ids=[f"{c}:{w}" for c, _, w in BAD_VALUES])
def test_bad_values_are_rejected(helm: Helm, tmp_path: Path, chart: str, bad: dict, where: str) -> None:
    values = tmp_path / "bad.yaml"
    values.write_text(yaml.safe_dump(bad))
    out = helm.run(*helm.template_args(chart, None, values=[values]), check=False)
    assert out.returncode != 0, f"helm accepted {bad}"
    assert "schema" in out.stderr and where in out.stderr, out.stderr


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_profiles_satisfy_the_schema(helm: Helm, case: tuple[str, str | None]) -> None:
    helm.template(*case)  # raises with helm's schema errors if a profile drifts from the schema


@pytest.mark.parametrize("chart", ["coinstream-crds", "coinstream-operator", "coinstream"])
def test_every_value_is_documented(chart: str) -> None:
    """Each leaf the user sets has a `# --` helm-docs comment on itself or on an enclosing key."""
    from tests.support.chartlib import CHARTS

    lines = (CHARTS / chart / "values.yaml").read_text().splitlines()
    documented: list[int] = []  # indents of the keys whose subtree is documented
    undocumented = []
    prev_doc = False
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("- ") or stripped.startswith("-{") or line.startswith(" " * 6 + "-"):
            continue
        if stripped.startswith("# --"):
            prev_doc = True
            continue
        if stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        documented = [i for i in documented if i < indent]
        if ":" not in stripped:
            prev_doc = False
            continue
        key, _, rest = stripped.partition(":")
        if prev_doc:
            documented.append(indent)
        elif not documented and rest.strip() not in ("",):
            undocumented.append(key)
        prev_doc = False
    assert not undocumented, f"{chart}/values.yaml: leaves without a `# --` comment: {undocumented}"
