"""The CoinFeed CustomResourceDefinition, generated from the pydantic models.

`make generate` writes it to charts/coinstream-crds/files/; a unit test regenerates it and fails when
the committed file and the model disagree, so schema drift cannot reach a cluster.
Pydantic's JSON Schema is turned into a *structural* OpenAPI v3 schema: $refs inlined, Optional
unwrapped (absent, not null), titles dropped, defaults kept (nested objects get their expanded
default, so `kubectl get -o yaml` shows what the operator will use).
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from coinstream.models.coinfeed import API_GROUP, API_VERSION, KIND, PLURAL, CoinFeed, CoinFeedSpec
from coinstream.models.coinfeed_status import CoinFeedStatus
from coinstream.platform.generated import write_generated

CRD_NAME = f"{PLURAL}.{API_GROUP}"
_KEEP = {
    "type",
    "description",
    "properties",
    "required",
    "items",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "format",
    "default",
}

PRINTER_COLUMNS = [
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Fresh", "type": "string", "jsonPath": '.status.conditions[?(@.type=="DataFresh")].status'},
    {"name": "Source", "type": "string", "jsonPath": ".spec.source.type"},
    {"name": "Coins", "type": "integer", "jsonPath": ".status.coinCount"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


class _WithFactoryDefaults(GenerateJsonSchema):
    """Emit defaults for `default_factory` fields too, fully expanded (the API server checks
    CEL rules against a default as written, before nested defaults apply)."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        factory = schema.get("default_factory")
        if factory is None or schema.get("default_factory_takes_data"):
            return super().default_schema(schema)
        inner = self.generate_inner(schema["schema"])
        value = factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            value = value.model_dump(by_alias=True, mode="json", exclude_none=True)
        return {**inner, "default": self.encode_default(value)}


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[1]]
        extra = {k: v for k, v in node.items() if k != "$ref"}
        return _structural({**target, **extra}, defs)
    if "anyOf" in node:
        branches = [b for b in node["anyOf"] if b.get("type") != "null"]
        if len(branches) != 1:
            raise ValueError(f"cannot express a union of {len(branches)} types structurally: {node}")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if rest.get("default", ...) is None:
            rest.pop("default")
        return _structural({**branches[0], **rest}, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out[key] = {name: _structural(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out[key] = _structural(value, defs)
        elif key in _KEEP or key.startswith("x-kubernetes-"):
            out[key] = value
    return out


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model as a structural OpenAPI v3 schema (camelCase field names, as on the wire)."""
    raw = model.model_json_schema(by_alias=True, mode="validation", schema_generator=_WithFactoryDefaults)
    schema: dict[str, Any] = _structural(raw, raw.get("$defs", {}))
    return schema


def coinfeed_crd() -> dict[str, Any]:
    extra = CoinFeed.model_config.get("json_schema_extra")
    assert isinstance(extra, dict), "CoinFeed's CEL rules are a dict of x-kubernetes-validations"
    root_rules = extra.get("x-kubernetes-validations", [])
    spec = openapi_schema(CoinFeedSpec)
    spec["description"] = "What to track, where to publish it and how to stream it into the lakehouse"
    status = openapi_schema(CoinFeedStatus)
    status["description"] = "Observed state, written by the coinfeed operator"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "labels": {"app.kubernetes.io/name": "coinstream", "app.kubernetes.io/component": "crd"},
        },
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": ["cf"],
                "categories": ["coinstream"],
            },
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A feed of crypto market quotes into Kafka and the lakehouse",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                            "x-kubernetes-validations": root_rules,
                        }
                    },
                }
            ],
        },
    }


def render() -> str:
    header = "# Generated by `make generate` from coinstream.models (CoinFeedSpec, CoinFeedStatus). Do not edit.\n"
    return header + yaml.safe_dump(coinfeed_crd(), sort_keys=False, width=100)


if __name__ == "__main__":
    write_generated(render)
