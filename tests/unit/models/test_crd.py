"""The committed CRD and RBAC files are exactly what the models generate (`make generate`)."""

from __future__ import annotations

from pathlib import Path

from coinfeed_operator import rbac
from coinstream.models import crd

REPO = Path(__file__).resolve().parents[3]
CRD_FILE = REPO / "charts/coinstream-crds/files/coinfeeds.coinstream.io.yaml"
RULES_FILE = REPO / "charts/coinstream-operator/files/clusterrole-rules.yaml"


def test_committed_crd_matches_the_model() -> None:
    committed = CRD_FILE.read_text()
    assert committed == crd.render(), "CoinFeed CRD is stale: run `make generate` and commit the result"


def test_committed_rbac_rules_match_rbac_py() -> None:
    committed = RULES_FILE.read_text()
    assert committed == rbac.render(), "ClusterRole rules are stale: run `make generate` and commit the result"


def test_crd_schema_is_structural() -> None:
    """Every node has a type; no $ref/anyOf/additionalProperties:false survive the conversion."""
    schema = crd.coinfeed_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]

    def walk(node: dict, path: str) -> None:  # type: ignore[type-arg]
        assert "type" in node or path.endswith(".metadata"), path
        for banned in ("$ref", "anyOf", "oneOf", "allOf", "title", "additionalProperties"):
            assert banned not in node, f"{path}: {banned}"
        for name, sub in node.get("properties", {}).items():
            walk(sub, f"{path}.{name}")
        if "items" in node:
            walk(node["items"], f"{path}[]")

    walk(schema, "")
    spec = schema["properties"]["spec"]
    assert spec["required"] == ["coins", "source"]
    assert spec["properties"]["coins"]["x-kubernetes-list-type"] == "set"
    assert spec["properties"]["kafka"]["default"] == {"partitions": 3, "replicas": 1}
    assert schema["properties"]["status"]["properties"]["conditions"]["x-kubernetes-list-map-keys"] == ["type"]


def test_crd_names_and_columns() -> None:
    doc = crd.coinfeed_crd()
    assert doc["metadata"]["name"] == "coinfeeds.coinstream.io"
    assert doc["spec"]["names"]["shortNames"] == ["cf"]
    version = doc["spec"]["versions"][0]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Ready",
        "Fresh",
        "Source",
        "Coins",
        "Age",
    ]
