"""One idempotent reconcile pass: check references, apply every child, read health, write status.

Used by the create/update/resume handlers and by the drift timer alike; running it twice (or
after an operator restart mid-pass) converges on the same objects, because children have
deterministic names and are server-side applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from coinfeed_operator import builders
from coinfeed_operator.config import OperatorConfig
from coinfeed_operator.health import Observed, compute_status
from coinfeed_operator.kube import KubeClient
from coinstream.models import API_GROUP, API_VERSION, KIND, CoinFeed, CoinFeedError, parse_coinfeed
from coinstream.models.coinfeed_status import ChildNames, CoinFeedStatus

FEED_API = f"{API_GROUP}/{API_VERSION}"


class SpecCannotWork(Exception):
    """The spec passed the API server's schema but can never work (e.g. a backfill in the future)."""


class NotWorkableYet(Exception):
    """A reference the spec needs is missing (Secret, Kafka cluster); creating it fixes the feed."""


@dataclass(frozen=True)
class Result:
    status: CoinFeedStatus
    applied: list[str]


def old_status(body: Mapping[str, Any]) -> CoinFeedStatus | None:
    try:
        return CoinFeedStatus.model_validate(body.get("status") or {})
    except ValidationError:
        return None


def parse(body: Mapping[str, Any]) -> CoinFeed:
    meta = body["metadata"]
    doc = {
        "apiVersion": FEED_API,
        "kind": KIND,
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        "spec": dict(body.get("spec") or {}),
    }
    try:
        return parse_coinfeed(doc, origin=f"CoinFeed {meta['namespace']}/{meta['name']}")
    except CoinFeedError as exc:
        raise SpecCannotWork(str(exc).replace("\n", " ")) from None


def preflight(api: KubeClient, feed: CoinFeed, namespace: str, config: OperatorConfig) -> list[str]:
    """References the API server cannot check; each problem says what to fix."""
    problems = []
    ref = feed.spec.source.api_key_secret_ref
    if ref is not None and feed.spec.source.type == "coingecko":
        secret = api.get("v1", "Secret", namespace, ref.name)
        if secret is None:
            problems.append(
                f"spec.source.apiKeySecretRef: Secret {namespace}/{ref.name} not found; create it with "
                f"`kubectl create secret generic {ref.name} -n {namespace} --from-literal={ref.key}=<key>`"
            )
        elif ref.key not in (secret.get("data") or {}) and ref.key not in (secret.get("stringData") or {}):
            problems.append(
                f"spec.source.apiKeySecretRef: Secret {namespace}/{ref.name} has no key {ref.key!r}"
            )
    if api.get("kafka.strimzi.io/v1", "Kafka", namespace, config.kafka_cluster) is None:
        problems.append(
            f"Kafka cluster {config.kafka_cluster!r} not found in namespace {namespace}: deploy it there "
            "(Strimzi Kafka CR) or point the operator at yours with COINSTREAM_OPERATOR_KAFKA_CLUSTER"
        )
    return problems


def _write_status(
    api: KubeClient, namespace: str, name: str, old: CoinFeedStatus | None, new: CoinFeedStatus
) -> None:
    # lastQuoteTime belongs to the producer: never overwrite it from a stale read.
    fields = {"last_quote_time"}
    if old is not None and old.model_dump(exclude=fields) == new.model_dump(exclude=fields):
        return
    body = new.model_dump(by_alias=True, mode="json", exclude=fields)
    api.merge_patch(FEED_API, KIND, namespace, name, {"status": body}, status=True)


def _sync_backfill(
    api: KubeClient, feed: CoinFeed, owner: builders.Owner, config: OperatorConfig, old: CoinFeedStatus | None
) -> dict[str, Any] | None:
    """Create the Job for this backfill spec once; delete Jobs of earlier specs."""
    name = builders.backfill_job_name(feed)
    selector = f"{builders.FEED_LABEL}={feed.name},app.kubernetes.io/component=backfill"
    for job in api.list("batch/v1", "Job", owner.namespace, selector):
        refs = job["metadata"].get("ownerReferences", [])
        if job["metadata"]["name"] != name and any(r.get("uid") == owner.uid for r in refs):
            api.delete("batch/v1", "Job", owner.namespace, job["metadata"]["name"])
    if name is None:
        return None
    job = api.get("batch/v1", "Job", owner.namespace, name)
    if job is not None:
        # The pod template is immutable; only suspension follows the feed.
        if bool(job["spec"].get("suspend")) != feed.spec.suspend:
            job = api.merge_patch(
                "batch/v1", "Job", owner.namespace, name, {"spec": {"suspend": feed.spec.suspend}}
            )
        return job
    if old is not None and old.children.backfill_job == name and old.backfill_succeeded:
        return None  # it ran to completion and was cleaned up: history is loaded, don't load it again
    manifest = builders.backfill_job(feed, owner, config)
    assert manifest is not None
    return api.apply(manifest)


def reconcile(api: KubeClient, config: OperatorConfig, body: Mapping[str, Any]) -> Result:
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    generation = int(meta.get("generation", 0))
    owner = builders.Owner(name=name, namespace=namespace, uid=meta["uid"])
    old = old_status(body)
    try:
        feed = parse(body)
    except SpecCannotWork as exc:
        status = compute_status(
            old=old,
            generation=generation,
            children=ChildNames(),
            coin_count=None,
            observed=Observed(problems=[str(exc)]),
        )
        _write_status(api, namespace, name, old, status)
        raise
    children = ChildNames(
        topic=feed.topic,
        config_map=builders.configmap_name(feed),
        deployment=builders.deployment_name(feed),
        backfill_job=builders.backfill_job_name(feed),
        spark_application=builders.spark_app_name(feed),
    )
    problems = preflight(api, feed, namespace, config)
    if problems:
        status = compute_status(
            old=old,
            generation=generation,
            children=children,
            coin_count=len(feed.spec.coins),
            observed=Observed(problems=problems),
        )
        _write_status(api, namespace, name, old, status)
        raise NotWorkableYet("; ".join(problems))
    topic = api.apply(builders.kafka_topic(feed, owner, config))
    api.apply(builders.config_map(feed, owner))
    deployment = api.apply(builders.producer_deployment(feed, owner, config))
    spark_app = api.apply(builders.spark_application(feed, owner, config))
    job = _sync_backfill(api, feed, owner, config, old)
    observed = Observed(
        topic=topic, deployment=deployment, spark_app=spark_app, job=job, suspended=feed.spec.suspend
    )
    status = compute_status(
        old=old, generation=generation, children=children, coin_count=len(feed.spec.coins), observed=observed
    )
    _write_status(api, namespace, name, old, status)
    applied = [
        n for n in (children.topic, children.config_map, children.deployment, children.spark_application) if n
    ]
    return Result(status=status, applied=applied + ([children.backfill_job] if job else []))
