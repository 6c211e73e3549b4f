"""kopf wiring, deliberately thin: every event and the drift timer run the same reconcile pass; a
held backfill Job's release (a feed's KafkaTopic or KafkaUser turning Ready, see holds.py) applies
the Job and updates the status from that pass's reads (reconcile.release).

Run: `kopf run --standalone --all-namespaces -m coinfeed_operator.handlers`
(or `python -m coinfeed_operator`).
"""

from __future__ import annotations

import asyncio
import functools
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
from prometheus_client import Histogram, start_http_server

from coinfeed_operator.builders import MANAGED_BY
from coinfeed_operator.config import OperatorConfig
from coinfeed_operator.health import topic_ready
from coinfeed_operator.holds import FeedRef, Holds, Released, owning_feed
from coinfeed_operator.kafka_admin import KafkaUnreachable
from coinfeed_operator.kube import KubeClient, load_credentials
from coinfeed_operator.reconcile import FEED_API, NotWorkableYet, Result, SpecCannotWork, cleanup, reconcile, release
from coinfeed_operator.storage import MemoryDiffBaseStorage, UnbrandedProgressStorage
from coinfeed_operator.topics import Claim, claimed_topics
from coinstream.models import API_GROUP, API_VERSION, KIND, PLURAL

# Only the timer interval is read at import (the decorator needs it); everything else is read
# again at each start-up into memo.config.
CONFIG = OperatorConfig()
RESOURCE = (API_GROUP, API_VERSION, PLURAL)
MAX_BACKOFF = 300.0
#: Threads for the releases of held backfill Jobs, besides kopf's `max_workers` for the passes.
RELEASE_WORKERS = 2
RECONCILE_SECONDS = Histogram(
    "coinstream_operator_reconcile_seconds",
    "One reconcile pass of a CoinFeed",
    ["trigger", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Retry progress goes to annotations (the CoinFeed status schema is ours alone); the diff-base
    # stays in memory: a handled change costs no PATCH of kopf's own (see storage.py).
    settings.persistence.progress_storage = UnbrandedProgressStorage(prefix=API_GROUP)
    settings.persistence.diffbase_storage = MemoryDiffBaseStorage()
    settings.persistence.finalizer = f"{API_GROUP}/operator"
    # Resources are discovered once at start-up (the CRDs come with the chart, before us): no
    # cluster-wide watch on CRDs or namespaces, so neither needs a permission, and namespaced mode
    # (`--namespace=...`) works with RoleBindings alone.
    settings.scanning.disabled = True
    config = memo.config = OperatorConfig()
    settings.execution.max_workers = config.max_workers
    # Releases get threads of their own: each is a few requests that complete a feed, and behind
    # the passes queued for kopf's workers (a burst of new feeds) they would wait for all of them.
    memo.release_executor = ThreadPoolExecutor(RELEASE_WORKERS, thread_name_prefix="coinfeed-release")
    # Conditions on the CoinFeed are the user-facing signal; kopf's Events would repeat them
    # every drift interval and need one more permission.
    settings.posting.enabled = False
    if config.serve_metrics:
        start_http_server(config.metrics_port)
    memo.holds = Holds[Result]()
    memo.api = KubeClient(load_credentials(config.kubeconfig), config.field_manager, pool=config.max_workers)


@kopf.on.cleanup()
def stop_releases(memo: kopf.Memo, **_: Any) -> None:
    memo.release_executor.shutdown(wait=True, cancel_futures=True)


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    creds = load_credentials(OperatorConfig().kubeconfig)
    header = creds.authorization()
    scheme, token = header.split(" ", 1) if header else (None, None)
    return kopf.ConnectionInfo(
        server=creds.server,
        ca_path=creds.ca_path,
        insecure=not creds.verify,
        scheme=scheme,
        token=token,
        certificate_path=creds.cert_path,
        private_key_path=creds.key_path,
    )


@kopf.index(*RESOURCE)
def topic_claims(body: kopf.Body, **_: Any) -> dict[str, Claim]:
    """Which feed uses which topic, across every watched namespace: an external Kafka is shared by
    all of them (reconcile refuses a topic an older feed has; cleanup keeps a topic another uses).
    kopf fills it from the watch before any other handler runs."""
    mine = Claim.of(body)
    return {topic: mine for topic in claimed_topics(body["metadata"]["name"], body.get("spec") or {})}


def _run(
    memo: kopf.Memo, body: kopf.Body | dict[str, Any], retry: int, claims: kopf.Index[str, Claim], trigger: str
) -> Result | None:
    """One reconcile pass, its outcome mapped to kopf's retry semantics. None: a spec that cannot
    work, already Degraded in status; only a change reports it (the timer and a release re-check
    it each time, since a backfill start in the future becomes valid, but do not re-report it)."""
    outcome, started = "ok", time.monotonic()
    holds: Holds[Result] = memo.holds
    uid, since = str(body["metadata"]["uid"]), holds.now()
    try:
        return reconcile(memo.api, memo.config, body, claims, seen_ready=lambda obj: holds.seen_ready(uid, obj, since))
    except SpecCannotWork as exc:
        outcome = "spec_cannot_work"
        if trigger != "change":
            return None
        raise kopf.PermanentError(str(exc)) from None
    except (NotWorkableYet, KafkaUnreachable) as exc:
        outcome = "not_workable_yet" if isinstance(exc, NotWorkableYet) else "kafka_unreachable"
        raise kopf.TemporaryError(str(exc), delay=min(MAX_BACKOFF, 5.0 * 2**retry)) from None
    except Exception:
        outcome = "error"
        raise
    finally:
        RECONCILE_SECONDS.labels(trigger, outcome).observe(time.monotonic() - started)


#: Passes one call makes at most when a release finds the feed changed and the next pass holds again.
MAX_PASSES = 3


def _current(memo: kopf.Memo, feed: FeedRef, uid: str) -> dict[str, Any] | None:
    """The feed as it is now; None once it is deleted, being deleted, or replaced by a namesake."""
    fresh = memo.api.get(FEED_API, KIND, *feed)
    if fresh is None or fresh["metadata"].get("deletionTimestamp") or fresh["metadata"]["uid"] != uid:
        return None
    return fresh


def _reconcile_holding(
    memo: kopf.Memo,
    body: kopf.Body | dict[str, Any],
    retry: int,
    claims: kopf.Index[str, Claim],
    trigger: str,
    logger: Any,
) -> list[str]:
    """A pass; when it holds the backfill Job, the hold is registered for `release_backfill`.

    A held Job is a normal wait (Strimzi makes topics and users Ready within seconds), not a
    failure: the handler succeeds and logs it at INFO, and the watch brings the feed back."""
    meta = body["metadata"]
    uid, feed = str(meta["uid"]), (str(meta["namespace"]), str(meta["name"]))
    holds: Holds[Result] = memo.holds
    applied: list[str] = []
    for _ in range(MAX_PASSES):
        since = holds.now()
        result = _run(memo, body, retry, claims, trigger)
        if result is None:
            return []
        applied = result.applied
        if not result.held:
            holds.release(uid)
            return applied
        released = holds.hold(uid, feed, since, result.held, result)
        if released is None:
            logger.info("backfill Job waits for %s to be Ready", ", ".join(result.held))
            return applied
        # They turned Ready while the pass ran: their events found no hold yet.
        fresh, outcome = _release(memo, uid, released)
        if outcome is not None:
            return outcome
        if fresh is None:
            return applied
        body, trigger = fresh, "release"
    return applied


def _release(memo: kopf.Memo, uid: str, released: Released[Result]) -> tuple[dict[str, Any] | None, list[str] | None]:
    """Apply a released feed's Job and update its status (reconcile.release). Returns the
    children applied, or (the feed read afresh, None) when it changed since the holding pass
    and needs a whole pass, or (None, None) when it is gone."""
    fresh = _current(memo, released.feed, uid)
    if fresh is None:
        return None, None
    started = time.monotonic()
    result = release(memo.api, memo.config, fresh, released.payload, released.ready)
    if result is not None:
        RECONCILE_SECONDS.labels("release", "released").observe(time.monotonic() - started)
        return None, result.applied
    return _current(memo, released.feed, uid), None


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE, field="spec")
def reconcile_feed(body: kopf.Body, memo: kopf.Memo, retry: int, logger: kopf.Logger, **kw: Any) -> None:
    applied = _reconcile_holding(memo, body, retry, kw["topic_claims"], "change", logger)
    logger.info("reconciled %s", ", ".join(applied))


@kopf.timer(*RESOURCE, interval=CONFIG.drift_interval_seconds, initial_delay=CONFIG.drift_interval_seconds)
def repair_drift(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **kw: Any) -> None:
    """Re-apply desired state: restores deleted or hand-edited children, refreshes health."""
    _reconcile_holding(memo, body, 0, kw["topic_claims"], "timer", logger)


MANAGED = {"app.kubernetes.io/managed-by": MANAGED_BY}


def _ready(body: kopf.Body, **_: Any) -> bool:
    return topic_ready(dict(body)) is True


def _finish_release(
    memo: kopf.Memo, uid: str, released: Released[Result], claims: kopf.Index[str, Claim], logger: Any
) -> None:
    fresh, applied = _release(memo, uid, released)
    if applied is None and fresh is not None:
        applied = _reconcile_holding(memo, fresh, 0, claims, "release", logger)
    if applied is not None:
        logger.info("%s/%s released: %s", *released.feed, ", ".join(applied))


# Only Ready objects reach the handler: kopf drops every other event in its filter, before the
# handler call and its log line.
@kopf.on.event("kafka.strimzi.io", "v1", "kafkatopics", labels=MANAGED, when=_ready)
@kopf.on.event("kafka.strimzi.io", "v1", "kafkausers", labels=MANAGED, when=_ready)
async def release_backfill(type: str | None, body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **kw: Any) -> None:
    """A feed's KafkaTopic or KafkaUser is Ready: once every object a held backfill Job waits for
    is, its Job is applied now, not at its next drift pass. Other Ready events (Strimzi's
    periodic status updates) cost a dictionary update and no API call.

    Recorded on the event loop, not behind the passes queued for a worker thread: a pass that is
    running now sees the Ready at once (`Holds.seen_ready`) and applies the Job itself."""
    if type == "DELETED" or (uid := owning_feed(body)) is None:
        return
    released = memo.holds.ready(uid, body)
    if released is None:
        return
    job = functools.partial(_finish_release, memo, uid, released, kw["topic_claims"], logger)
    await asyncio.get_running_loop().run_in_executor(memo.release_executor, job)


@kopf.on.delete(*RESOURCE)
def delete_outside_children(body: kopf.Body, memo: kopf.Memo, retry: int, **kw: Any) -> None:
    """A stream in a shared Spark namespace, an external Kafka's topics; the finalizer this
    needs is the timer's anyway. (Every handler gets kopf's index as `topic_claims`.)"""
    try:
        cleanup(memo.api, memo.config, body, kw["topic_claims"])
        memo.holds.forget(str(body.metadata.uid))
    except KafkaUnreachable as exc:
        raise kopf.TemporaryError(str(exc), delay=min(MAX_BACKOFF, 5.0 * 2**retry)) from None
