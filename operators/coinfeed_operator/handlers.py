"""kopf wiring, deliberately thin: every event and the drift timer run the same reconcile pass.

Run: `kopf run --standalone --all-namespaces -m coinfeed_operator.handlers`
(or `python -m coinfeed_operator`).
"""

from __future__ import annotations

import time
from typing import Any

import kopf
from prometheus_client import Histogram, start_http_server

from coinfeed_operator.config import OperatorConfig
from coinfeed_operator.kafka_admin import KafkaUnreachable
from coinfeed_operator.kube import KubeClient, load_credentials
from coinfeed_operator.reconcile import NotWorkableYet, SpecCannotWork, cleanup, reconcile
from coinfeed_operator.storage import MemoryDiffBaseStorage, UnbrandedProgressStorage
from coinfeed_operator.topics import Claim, claimed_topics
from coinstream.models import API_GROUP, API_VERSION, PLURAL

# Only the timer interval is read at import (the decorator needs it); everything else is read
# again at each start-up into memo.config.
CONFIG = OperatorConfig()
RESOURCE = (API_GROUP, API_VERSION, PLURAL)
MAX_BACKOFF = 300.0
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
    # Conditions on the CoinFeed are the user-facing signal; kopf's Events would repeat them
    # every drift interval and need one more permission.
    settings.posting.enabled = False
    if config.serve_metrics:
        start_http_server(config.metrics_port)
    memo.api = KubeClient(load_credentials(config.kubeconfig), config.field_manager, pool=config.max_workers)


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
    memo: kopf.Memo, body: kopf.Body, retry: int, claims: kopf.Index[str, Claim], timer: bool = False
) -> dict[str, Any]:
    trigger, outcome, started = ("timer" if timer else "change"), "ok", time.monotonic()
    try:
        result = reconcile(memo.api, memo.config, body, claims)
    except SpecCannotWork as exc:
        outcome = "spec_cannot_work"
        if timer:
            # Already Degraded in status and reported by the change handler; re-checked each
            # interval (a backfill start in the future becomes valid), but not re-reported.
            return {"applied": []}
        raise kopf.PermanentError(str(exc)) from None
    except (NotWorkableYet, KafkaUnreachable) as exc:
        outcome = "not_workable_yet" if isinstance(exc, NotWorkableYet) else "kafka_unreachable"
        raise kopf.TemporaryError(str(exc), delay=min(MAX_BACKOFF, 5.0 * 2**retry)) from None
    except Exception:
        outcome = "error"
        raise
    finally:
        RECONCILE_SECONDS.labels(trigger, outcome).observe(time.monotonic() - started)
    if result.retry and not timer:
        # Strimzi makes topics and users Ready within seconds: look again soon (status says why).
        raise kopf.TemporaryError("waiting for Kafka objects to be Ready", delay=min(MAX_BACKOFF, 2.0 * 2**retry))
    return {"applied": result.applied}


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE, field="spec")
def reconcile_feed(body: kopf.Body, memo: kopf.Memo, retry: int, logger: kopf.Logger, **kw: Any) -> None:
    out = _run(memo, body, retry, kw["topic_claims"])
    logger.info("reconciled %s", ", ".join(out["applied"]))


@kopf.timer(*RESOURCE, interval=CONFIG.drift_interval_seconds, initial_delay=CONFIG.drift_interval_seconds)
def repair_drift(body: kopf.Body, memo: kopf.Memo, **kw: Any) -> None:
    """Re-apply desired state: restores deleted or hand-edited children, refreshes health."""
    _run(memo, body, retry=0, claims=kw["topic_claims"], timer=True)


@kopf.on.delete(*RESOURCE)
def delete_outside_children(body: kopf.Body, memo: kopf.Memo, retry: int, **kw: Any) -> None:
    """A stream in a shared Spark namespace, an external Kafka's topics; the finalizer this
    needs is the timer's anyway. (Every handler gets kopf's index as `topic_claims`.)"""
    try:
        cleanup(memo.api, memo.config, body, kw["topic_claims"])
    except KafkaUnreachable as exc:
        raise kopf.TemporaryError(str(exc), delay=min(MAX_BACKOFF, 5.0 * 2**retry)) from None
