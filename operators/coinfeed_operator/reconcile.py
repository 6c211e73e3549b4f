"""One idempotent reconcile pass: check references, apply every child, read health, write status.

Used by the create/update/resume handlers and by the drift timer alike; running it twice (or
after an operator restart mid-pass) converges on the same objects, because children have
deterministic names and are server-side applied.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from coinfeed_operator import builders, kafka_admin, topics
from coinfeed_operator.config import OperatorConfig
from coinfeed_operator.health import (
    Observed,
    compute_status,
    data_freshness,
    job_finished,
    pod_problems,
    topic_ready,
)
from coinfeed_operator.holds import object_key
from coinfeed_operator.kube import KubeClient, KubeError
from coinfeed_operator.producer_metrics import read_producers
from coinfeed_operator.stream_metrics import StreamReport, read_stream
from coinstream.errors import OperationalError, UserInputError
from coinstream.models import API_GROUP, API_VERSION, KIND, CoinFeed, CoinFeedError, parse_coinfeed
from coinstream.models.coinfeed_status import ChildNames, CoinFeedStatus

FEED_API = f"{API_GROUP}/{API_VERSION}"
#: topic -> the feeds that claim it (kopf's index of every watched CoinFeed: handlers.topic_claims).
Claims = Mapping[str, Iterable[topics.Claim]]


class SpecCannotWork(UserInputError):
    """The spec passed the API server's schema but can never work (e.g. a backfill in the future)."""


class NotWorkableYet(OperationalError):
    """A reference the spec needs is missing (Secret, Kafka cluster); creating it fixes the feed."""


@dataclass(frozen=True)
class Result:
    status: CoinFeedStatus
    applied: list[str]
    #: The Kafka objects the backfill Job waits for (not Ready yet); empty: nothing is held. The
    #: handlers register the hold, and the watch on those objects releases it (holds.py).
    held: tuple[str, ...] = ()
    #: What the pass read back, for the release of a held Job (`release`).
    observed: Observed | None = None


#: The watch's Ready copy of an applied Kafka object, if one arrived while the pass ran (holds.py).
SeenReady = Callable[[dict[str, Any]], dict[str, Any] | None]


def old_status(body: Mapping[str, Any]) -> CoinFeedStatus | None:
    try:
        return CoinFeedStatus.model_validate(body.get("status") or {})
    except ValidationError:
        return None


def parse(body: Mapping[str, Any], key_hosts: tuple[str, ...] = ()) -> CoinFeed:
    meta = body["metadata"]
    doc = {
        "apiVersion": FEED_API,
        "kind": KIND,
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        "spec": dict(body.get("spec") or {}),
    }
    try:
        return parse_coinfeed(doc, origin=f"CoinFeed {meta['namespace']}/{meta['name']}", key_hosts=key_hosts)
    except CoinFeedError as exc:
        raise SpecCannotWork("; ".join(line.strip() for line in str(exc).splitlines())) from None


#: A Kafka cluster seen recently is not looked up again for every feed in its namespace (50 feeds
#: applied at once would otherwise cost 50 identical GETs); a missing one is re-checked each time.
KAFKA_SEEN_SECONDS = 30.0
_kafka_seen: dict[tuple[str, str, str], float] = {}


def _kafka_exists(api: KubeClient, namespace: str, cluster: str) -> bool:
    key, now = (api.creds.server, namespace, cluster), time.monotonic()
    if _kafka_seen.get(key, 0.0) > now:
        return True
    found = api.get("kafka.strimzi.io/v1", "Kafka", namespace, cluster) is not None
    if found:
        _kafka_seen[key] = now + KAFKA_SEEN_SECONDS
    return found


def preflight(api: KubeClient, feed: CoinFeed, namespace: str, config: OperatorConfig) -> list[str]:
    """References the API server cannot check; each problem says what to fix.

    The API-key Secret is not among them: the operator cannot read Secrets. The kubelet resolves
    it, and a missing one comes back through the pods' status (see `pod_problems`)."""
    problems: list[str] = []
    if config.external_kafka:
        return problems  # the admin API's answers say what is wrong with an external Kafka
    if not _kafka_exists(api, namespace, config.kafka_cluster):
        problems.append(
            f"Kafka cluster {config.kafka_cluster!r} not found in namespace {namespace}: deploy it there "
            "(Strimzi Kafka CR) or point the operator at yours with COINSTREAM_OPERATOR_KAFKA_CLUSTER"
        )
    return problems


def _write_status(api: KubeClient, namespace: str, name: str, old: CoinFeedStatus | None, new: CoinFeedStatus) -> None:
    if old is not None and old.model_dump() == new.model_dump():
        return
    body = new.model_dump(by_alias=True, mode="json")
    api.merge_patch(FEED_API, KIND, namespace, name, {"status": body}, status=True)


def first_pass(body: Mapping[str, Any]) -> bool:
    """No pass over this feed has finished yet and its spec never changed.

    Then no Job of an earlier spec can exist (generation 1: there was no earlier spec), and the
    pods of the Deployment and Job this pass applies are new: nothing to read from them yet. A pass
    that finishes writes status.observedGeneration, so every later pass (the drift timer, a spec
    change, an operator restart) lists Jobs and Pods again. A first pass that failed before its
    status (an API error) is retried as a first pass: the same-named Job is re-applied unchanged,
    and the pods are read by the next pass.
    """
    status = body.get("status") or {}
    return status.get("observedGeneration") is None and int(body["metadata"].get("generation", 0)) <= 1


def kafka_not_ready(objs: Iterable[dict[str, Any] | None]) -> list[str]:
    """The Strimzi objects (KafkaTopics, KafkaUser) among `objs` that are not Ready yet.

    Strimzi's user operator writes the user's Secret in parallel with the broker's SCRAM
    credentials and ACLs (KafkaUserOperator.reconcileCredentialsQuotasAndAcls): the Secret can
    exist, and a pod mounting it start, before the broker accepts the password or grants the
    ACLs. Ready is set only once all of them are done."""
    return [object_key(o) for o in objs if o is not None and topic_ready(o) is not True]


def _sync_backfill(
    api: KubeClient,
    feed: CoinFeed,
    owner: builders.Owner,
    config: OperatorConfig,
    old: CoinFeedStatus | None,
    hold: list[str] | None = None,
    listed: bool = True,
) -> dict[str, Any] | None:
    """Create the Job for this backfill spec once; delete Jobs of earlier specs once they ended.
    A new Job is not created while `hold` names Kafka objects it needs that are not Ready: its
    one try would fail (a failed pod) on credentials, ACLs or a topic the broker has not yet.

    A Job of an earlier spec that is still running is left to finish: killing it mid-chunk
    would waste the calls it paid for, and the new Job only loads what the old one did not
    (coverage ledger). Until it ends it stays the feed's Job; the drift timer comes back.
    `listed=False` (a `first_pass`): there is no earlier Job to look for.
    """
    name = builders.backfill_job_name(feed)
    selector = f"{builders.FEED_LABEL}={feed.name},app.kubernetes.io/component=backfill"
    job = None
    running_older = None
    for existing in api.list("batch/v1", "Job", owner.namespace, selector) if listed else []:
        refs = existing["metadata"].get("ownerReferences", [])
        if existing["metadata"]["name"] == name:
            job = existing
        elif any(r.get("uid") == owner.uid for r in refs):
            if job_finished(existing):
                api.delete("batch/v1", "Job", owner.namespace, existing["metadata"]["name"])
            else:
                running_older = existing
    if job is None and running_older is not None:
        return running_older
    if name is None:
        return None
    if job is not None:
        # The pod template is immutable; only suspension follows the feed.
        if bool(job["spec"].get("suspend")) != feed.spec.suspend:
            job = api.merge_patch("batch/v1", "Job", owner.namespace, name, {"spec": {"suspend": feed.spec.suspend}})
        return job
    if old is not None and old.children.backfill_job == name and old.backfill_succeeded:
        return None  # it ran to completion and was cleaned up: history is loaded, don't load it again
    if hold:
        return None
    manifest = builders.backfill_job(feed, owner, config)
    assert manifest is not None
    return _apply_child(api, manifest, owner)


#: spark-operator labels each pod of an application with its name.
SPARK_APP_LABEL = "sparkoperator.k8s.io/app-name"


def _read_stream(
    api: KubeClient, feed: CoinFeed, owner: builders.Owner, config: OperatorConfig, pods: list[dict[str, Any]]
) -> StreamReport:
    """The feed's driver's committed micro-batches (pods of the feed's namespace are listed already)."""
    app = builders.spark_app_name(feed.name, owner, config)
    namespace = builders.spark_namespace(owner, config)
    if namespace != owner.namespace:
        try:
            pods = api.list("v1", "Pod", namespace, f"{SPARK_APP_LABEL}={app}")
        except KubeError as exc:
            return StreamReport(None, f"cannot list the stream's pods in {namespace}: {exc}")
    return read_stream(
        [p for p in pods if p["metadata"].get("labels", {}).get(SPARK_APP_LABEL) == app], config.metrics_port
    )


def _spark_ref(feed: CoinFeed, owner: builders.Owner, config: OperatorConfig) -> str:
    name = builders.spark_app_name(feed.name, owner, config)
    ns = builders.spark_namespace(owner, config)
    return name if ns == owner.namespace else f"{ns}/{name}"


def claim(body: Mapping[str, Any]) -> topics.Claim:
    return topics.Claim.of(body)


def cleanup(api: KubeClient, config: OperatorConfig, body: Mapping[str, Any], claims: Claims | None = None) -> bool:
    """On CoinFeed deletion: remove what owner references cannot reach: a SparkApplication in
    the shared Spark namespace, and with an external Kafka the feed's topics (as the Strimzi mode's
    KafkaTopics go with the feed, and Strimzi deletes their topics). Everything else in the feed's
    namespace is left to the GC. An unreachable Kafka raises: the finalizer holds the feed until
    the topics are gone. A topic another feed claims (`claims`) stays."""
    meta = body["metadata"]
    if config.external_kafka:
        names = topics.topic_names(meta["name"], body.get("spec") or {})
        kafka_admin.delete_topics(config, topics.unclaimed(claim(body), names, claims or {}))
    owner = builders.Owner(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])
    ns = builders.spark_namespace(owner, config)
    if ns == owner.namespace:
        return False
    name = builders.spark_app_name(meta["name"], owner, config)
    return api.delete("sparkoperator.k8s.io/v1beta2", "SparkApplication", ns, name)


class OwnedByOther(UserInputError):
    """A child's name is taken by an object another controller owns (e.g. two feeds, one topic)."""


def _apply_child(api: KubeClient, obj: dict[str, Any], owner: builders.Owner) -> dict[str, Any]:
    try:
        return api.apply(obj)
    except KubeError as exc:
        # Adding our controller reference to someone else's object is refused (403 by
        # OwnerReferencesPermissionEnforcement, 422 for a second controller): say whose it is.
        if exc.status not in {403, 409, 422}:
            raise
        meta = obj["metadata"]
        existing = api.get(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
        refs = (existing or {}).get("metadata", {}).get("ownerReferences", [])
        theirs = [r for r in refs if r.get("controller") and r.get("uid") != owner.uid]
        if not theirs:
            raise
        hint = " (set another spec.kafka.topic)" if obj["kind"] == "KafkaTopic" else ""
        raise OwnedByOther(
            f"{obj['kind']} {meta['namespace']}/{meta['name']} already belongs to "
            f"{theirs[0]['kind']} {theirs[0]['name']}{hint}"
        ) from None


def _with_seen(objs: list[dict[str, Any] | None], seen_ready: SeenReady | None) -> list[dict[str, Any] | None]:
    """Each object as the pass read it, or the watch's Ready copy of it that came in since."""
    if seen_ready is None:
        return objs
    return [o if o is None or topic_ready(o) is True else (seen_ready(o) or o) for o in objs]


def reconcile(
    api: KubeClient,
    config: OperatorConfig,
    body: Mapping[str, Any],
    claims: Claims | None = None,
    seen_ready: SeenReady | None = None,
) -> Result:
    """`claims`: every watched feed's topics (handlers.topic_claims), for an external Kafka.
    `seen_ready`: the watch's word on Kafka objects that turned Ready after this pass applied
    them (Strimzi is often that quick): then the backfill Job is applied in this pass."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    generation = int(meta.get("generation", 0))
    owner = builders.Owner(name=name, namespace=namespace, uid=meta["uid"])
    old = old_status(body)
    first = first_pass(body)
    try:
        feed = parse(body, config.api_key_hosts)
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
        spark_application=_spark_ref(feed, owner, config),
    )
    problems = preflight(api, feed, namespace, config)
    topic: dict[str, Any] | None = None
    synced: bool | None = None
    if not problems and config.external_kafka:
        problems = topics.topic_conflicts(
            claim(body), topics.claimed_topics(name, body.get("spec") or {}), claims or {}
        )
    if not problems and config.external_kafka:
        # Before the pods that use them, the ledger before the Job that reads and writes it.
        try:
            problems = kafka_admin.sync_topics(config, topics.desired_topics(feed))
            synced = not problems
        except kafka_admin.KafkaRefused as exc:
            problems = [str(exc)]
        except kafka_admin.KafkaUnreachable as exc:
            # Not the spec's fault, and it may come back by itself: not Degraded, retried.
            status = compute_status(
                old=old,
                generation=generation,
                children=children,
                coin_count=len(feed.spec.coins),
                observed=Observed(waiting=[str(exc)], topics_synced=False),
            )
            _write_status(api, namespace, name, old, status)
            raise
    kafka_objects: list[dict[str, Any] | None] = []
    hold: list[str] = []
    if not problems:
        try:
            if not config.external_kafka:
                topic = _apply_child(api, builders.kafka_topic(feed, owner, config), owner)
                ledger = builders.ledger_kafka_topic(feed, owner, config)
                # Before the Job that reads and writes it.
                kafka_objects = [topic, _apply_child(api, ledger, owner) if ledger is not None else None]
            user = builders.kafka_user(feed, owner, config)
            if user is not None:
                kafka_objects.append(_apply_child(api, user, owner))
            _apply_child(api, builders.config_map(feed, owner), owner)
            deployment = _apply_child(api, builders.producer_deployment(feed, owner, config), owner)
            spark_app = _apply_child(api, builders.spark_application(feed, owner, config), owner)
            # Last, so that Strimzi had the other applies' time to mark them Ready.
            kafka_objects = _with_seen(kafka_objects, seen_ready)
            if not config.external_kafka:
                topic = kafka_objects[0]
            hold = kafka_not_ready(kafka_objects)
            job = _sync_backfill(api, feed, owner, config, old, hold, listed=not first)
        except OwnedByOther as exc:
            problems = [str(exc)]
        else:
            pods = [] if first else api.list("v1", "Pod", namespace, f"{builders.FEED_LABEL}={feed.name}")
            problems = pod_problems(
                pods, feed, namespace, config.kafka_client_secret if config.external_kafka else None
            )
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
    waiting = []
    loaded = old is not None and old.children.backfill_job == children.backfill_job and old.backfill_succeeded
    held = job is None and bool(children.backfill_job) and bool(hold) and not loaded
    if held:
        waiting.append(f"backfill Job waits for {', '.join(hold)} to be Ready")
    if job is not None and job["metadata"]["name"] != children.backfill_job:
        waiting.append(
            f"backfill Job {job['metadata']['name']} of the previous spec is still running; "
            f"{children.backfill_job} starts when it ends"
        )
    suspended = feed.spec.suspend
    freshness = data_freshness(
        None if suspended else read_producers(pods, config.metrics_port),
        [(coin, vs) for coin in feed.spec.coins for vs in feed.spec.vs_currencies],
        feed.spec.poll_interval_seconds,
        dt.datetime.now(dt.UTC),
        suspended,
    )
    if suspended:
        stream = StreamReport(None)
    elif first:
        stream = StreamReport(None, "no running Spark driver pod yet")
    else:
        stream = _read_stream(api, feed, owner, config, pods)
    observed = Observed(
        topic=topic,
        deployment=deployment,
        spark_app=spark_app,
        job=job,
        suspended=suspended,
        waiting=waiting,
        freshness=freshness,
        stream_committed=stream.committed,
        stream_problem=stream.problem,
        topics_synced=synced,
    )
    status = compute_status(
        old=old, generation=generation, children=children, coin_count=len(feed.spec.coins), observed=observed
    )
    _write_status(api, namespace, name, old, status)
    names = (children.topic, children.config_map, children.deployment, children.spark_application)
    applied = [n for n in names if n] + ([children.backfill_job] if job and children.backfill_job else [])
    return Result(status=status, applied=applied, held=tuple(hold) if held else (), observed=observed)


def release(
    api: KubeClient,
    config: OperatorConfig,
    body: Mapping[str, Any],
    held: Result,
    ready: Mapping[str, dict[str, Any]],
) -> Result | None:
    """Apply a held backfill Job now that its Kafka objects are Ready (`ready`: their Ready
    copies from the watch), and update the status the holding pass wrote: one apply and one
    status patch, where a whole pass would re-apply and re-read every child.

    Only while nothing changed since that pass (`body`, read afresh, has the status `held` wrote,
    so the same generation; the status patch is conditional on `body`'s resourceVersion): the
    children the status reports on are the pass's reads of a few seconds ago, as in any status.
    None: the feed changed (spec, status, owner of the Job's name): the caller runs a whole pass.
    """
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    old = old_status(body)
    observed = held.observed
    if observed is None or old is None or old.model_dump() != held.status.model_dump():
        return None
    generation = int(meta.get("generation", 0))
    if old.observed_generation != generation:
        return None
    try:
        feed = parse(body, config.api_key_hosts)
    except SpecCannotWork:
        return None
    owner = builders.Owner(name=name, namespace=namespace, uid=meta["uid"])
    manifest = builders.backfill_job(feed, owner, config)
    if manifest is None or manifest["metadata"]["name"] != old.children.backfill_job:
        return None
    try:
        job = _apply_child(api, manifest, owner)
    except OwnedByOther:
        return None  # a whole pass reports it (Degraded)
    topic = observed.topic
    if topic is not None and topic_ready(topic) is not True:
        fresh = ready.get(object_key(topic))
        if fresh is not None and fresh["metadata"].get("uid") == topic["metadata"].get("uid"):
            topic = fresh
    # The holding pass's only wait was the hold itself: a Job of an earlier spec still running
    # is never held (it is the feed's Job until it ends).
    observed = replace(observed, topic=topic, job=job, waiting=[])
    status = compute_status(
        old=old, generation=generation, children=old.children, coin_count=old.coin_count, observed=observed
    )
    # Conditional on the read: a pass that wrote the status since would be overwritten.
    patch = {
        "metadata": {"resourceVersion": meta["resourceVersion"]},
        "status": status.model_dump(by_alias=True, mode="json"),
    }
    try:
        api.merge_patch(FEED_API, KIND, namespace, name, patch, status=True)
    except KubeError as exc:
        if exc.status in {404, 409}:
            return None  # changed or deleted since it was read: a whole pass on a fresh read
        raise
    names = (old.children.topic, old.children.config_map, old.children.deployment, old.children.spark_application)
    applied = [n for n in names if n] + [manifest["metadata"]["name"]]
    return Result(status=status, applied=applied, observed=observed)
