"""The generated CRD at work: the real API server rejects bad CoinFeeds, naming the field.

Each case is also fed to the pydantic model where the rule is one pydantic can express, so the
model (the single source) and the CRD (generated from it) are shown to agree on it.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from tests.support.operator_env import REPO, Env, feed

from coinstream.models import CoinFeedError, parse_coinfeed


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    *parents, leaf = path.split(".")
    node = out
    for p in parents:
        node = node.setdefault(p, {})
    if value is _DELETE:
        node.pop(leaf, None)
    else:
        node[leaf] = value
    return out


_DELETE = object()
PUBLIC = {"type": "coingecko", "plan": "public"}
KEYED = {"type": "coingecko", "plan": "demo", "apiKeySecretRef": {"name": "cg"}}
ONLY_COINGECKO = "the API key is sent only over https to CoinGecko"
EVIL, PLAIN = "https://evil.example/api/v3", "http://api.coingecko.com/api/v3"
# (id, path to change, new value, text the API server's message must contain, pydantic rejects too)
CASES = [
    ("no-coins", "spec.coins", [], "spec.coins", True),
    ("missing-coins", "spec.coins", _DELETE, "spec.coins", True),
    ("duplicate-coin", "spec.coins", ["bitcoin", "bitcoin"], "spec.coins[1]", True),
    ("uppercase-coin", "spec.coins", ["Bitcoin"], "spec.coins[0]", True),
    ("bad-currency", "spec.vsCurrencies", ["US$"], "spec.vsCurrencies[0]", True),
    ("unknown-source", "spec.source.type", "binance", "spec.source.type", True),
    ("unknown-plan", "spec.source", {"type": "coingecko", "plan": "gold"}, "spec.source.plan", True),
    ("demo-without-key", "spec.source", {"type": "coingecko", "plan": "demo"}, "spec.source.apiKeySecretRef", False),
    ("simulated-with-url", "spec.source.baseUrl", "https://example.org", "a simulated source calls no API", False),
    ("bad-base-url", "spec.source", {**PUBLIC, "baseUrl": "ftp://x"}, "spec.source.baseUrl", True),
    ("key-to-foreign-host", "spec.source", {**KEYED, "baseUrl": EVIL}, ONLY_COINGECKO, True),
    ("key-over-http", "spec.source", {**KEYED, "baseUrl": PLAIN}, "spec.source.baseUrl", True),
    ("bad-secret-name", "spec.source", {**PUBLIC, "apiKeySecretRef": {"name": "Bad_"}}, "apiKeySecretRef.name", True),
    ("missing-source", "spec.source", _DELETE, "spec.source", False),
    ("poll-too-fast", "spec.pollIntervalSeconds", 1, "spec.pollIntervalSeconds", True),
    ("poll-not-int", "spec.pollIntervalSeconds", "often", "spec.pollIntervalSeconds", True),
    ("backfill-before-history", "spec.backfill.from", "2010-01-01", "spec.backfill.from", True),
    ("backfill-not-a-date", "spec.backfill.from", "yesterday", "spec.backfill.from", True),
    ("backfill-without-from", "spec.backfill", {"granularity": "daily"}, "spec.backfill.from", True),
    ("bad-granularity", "spec.backfill.granularity", "minutely", "spec.backfill.granularity", True),
    ("zero-partitions", "spec.kafka", {"partitions": 0}, "spec.kafka.partitions", True),
    ("too-many-replicas", "spec.kafka", {"replicas": 9}, "spec.kafka.replicas", True),
    ("bad-topic", "spec.kafka", {"topic": "Quotes!"}, "spec.kafka.topic", True),
    ("bad-table", "spec.sink", {"table": "quotes"}, "spec.sink.table", True),
    ("bad-trigger", "spec.sink", {"trigger": "fast"}, "spec.sink.trigger", True),
    ("unknown-field", "spec.colour", "blue", 'unknown field "spec.colour"', True),
    ("name-starts-with-digit", "metadata.name", "1feed", "metadata.name", True),
    ("name-too-long", "metadata.name", "f" * 41, "metadata.name", True),
]  # fmt: skip


@pytest.mark.parametrize(("path", "value", "field", "model_rejects"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_api_server_rejects_invalid_coinfeed(
    env: Env, module_namespace: str, path: str, value: Any, field: str, model_rejects: bool
) -> None:
    doc = _set(feed("bad"), path, value)
    doc["metadata"]["namespace"] = module_namespace
    out = env.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(doc), check=False)
    assert out.returncode != 0, f"API server accepted an invalid CoinFeed ({path}={value!r})"
    assert field in out.stderr, out.stderr
    print(f"{path}: {out.stderr.strip()}")
    if model_rejects:
        with pytest.raises(CoinFeedError):
            parse_coinfeed(doc)


def test_valid_examples_are_accepted_and_defaults_match_the_model(env: Env, module_namespace: str) -> None:
    namespace = module_namespace
    minimal = {
        "apiVersion": "coinstream.io/v1alpha1",
        "kind": "CoinFeed",
        "metadata": {"name": "minimal", "namespace": namespace},
        "spec": {"coins": ["bitcoin"], "source": {"type": "simulated"}},
    }
    out = env.kubectl("apply", "--dry-run=server", "-o", "yaml", "-f", "-", input=yaml.safe_dump(minimal))
    defaulted = yaml.safe_load(out.stdout)["spec"]
    model = parse_coinfeed(minimal).spec.model_dump(by_alias=True, mode="json", exclude_none=True)
    assert defaulted == model
    # A key reference with CoinGecko's own host, or a keyless feed with any host, is accepted.
    for source in (
        {**KEYED, "baseUrl": "https://pro-api.coingecko.com/api/v3"},
        {**PUBLIC, "baseUrl": "https://m.example"},
    ):
        keyed = {**minimal, "spec": {"coins": ["bitcoin"], "source": source}}
        env.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(keyed))
    for example in ("examples/coinfeed-simulated.yaml", "examples/coinfeed-coingecko.yaml"):
        env.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(REPO / example))
