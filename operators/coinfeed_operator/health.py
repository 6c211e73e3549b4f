"""Pure status logic: observed children -> conditions, so every rule is unit-testable.

Ready: every child exists and is healthy (topic Ready, producer available, stream RUNNING;
a suspended feed only needs its topic). Progressing: children exist but are not healthy yet.
Degraded: the spec cannot work as written (missing Secret, unknown Kafka cluster, bad spec).
lastTransitionTime only moves when a condition's status flips, as kubectl and alerting expect.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from coinstream.models import CoinFeed
from coinstream.models.coinfeed_status import ChildNames, CoinFeedStatus, Condition, ConditionType

HEALTHY_SPARK_STATES = {"RUNNING"}


@dataclass(frozen=True)
class Observed:
    """What the operator read back from the API server after applying."""

    topic: dict[str, Any] | None = None
    deployment: dict[str, Any] | None = None
    spark_app: dict[str, Any] | None = None
    job: dict[str, Any] | None = None
    suspended: bool = False
    problems: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)


def topic_ready(topic: dict[str, Any] | None) -> bool | None:
    if topic is None:
        return None
    for cond in topic.get("status", {}).get("conditions", []) or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def available_replicas(deployment: dict[str, Any] | None) -> int | None:
    if deployment is None:
        return None
    return int(deployment.get("status", {}).get("availableReplicas", 0) or 0)


def spark_state(app: dict[str, Any] | None) -> str | None:
    if app is None:
        return None
    state = app.get("status", {}).get("applicationState", {}).get("state")
    return str(state) if state else None


def job_succeeded(job: dict[str, Any] | None) -> bool | None:
    if job is None:
        return None
    return any(
        c.get("type") in {"Complete", "SuccessCriteriaMet"} and c.get("status") == "True"
        for c in job.get("status", {}).get("conditions", []) or []
    )


def job_failure(job: dict[str, Any] | None) -> str | None:
    """Why a backfill Job failed (its Failed condition), None while it has not."""
    if job is None:
        return None
    for c in job.get("status", {}).get("conditions", []) or []:
        if c.get("type") == "Failed" and c.get("status") == "True":
            detail = c.get("message") or c.get("reason") or "no reason given"
            return f"backfill Job {job['metadata']['name']} failed: {detail} (see its pod's log)"
    return None


def job_finished(job: dict[str, Any]) -> bool:
    return bool(job_succeeded(job)) or job_failure(job) is not None


def not_ready_reasons(obs: Observed) -> list[str]:
    reasons = list(obs.waiting)
    if topic_ready(obs.topic) is not True:
        reasons.append("KafkaTopic not Ready yet (is the Strimzi topic operator running?)")
    if not obs.suspended:
        avail = available_replicas(obs.deployment) or 0
        if avail < 1:
            reasons.append(f"producer {avail}/1 replicas available")
        state = spark_state(obs.spark_app)
        if state not in HEALTHY_SPARK_STATES:
            reasons.append(f"SparkApplication state {state or 'not reported yet'} (want RUNNING)")
    return reasons


def _config_errors(pod: dict[str, Any]) -> list[str]:
    status = pod.get("status") or {}
    out = []
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") == "CreateContainerConfigError":
            out.append(str(waiting.get("message") or "CreateContainerConfigError"))
    return out


def pod_problems(pods: list[dict[str, Any]], feed: CoinFeed, namespace: str) -> list[str]:
    """The kubelet's word on the API-key Secret the operator may not read: a pod that cannot start
    because the Secret or its key is missing (CreateContainerConfigError) makes the feed Degraded."""
    ref = feed.spec.source.api_key_secret_ref
    if ref is None:
        return []
    problems = []
    for pod in pods:
        for message in _config_errors(pod):
            # The kubelet's wording: `secret "<name>" not found`, `couldn't find key <k> in Secret <ns>/<name>`.
            if f'secret "{ref.name}"' in message or message.endswith(f"Secret {namespace}/{ref.name}"):
                problems.append(
                    f"spec.source.apiKeySecretRef: pod {pod['metadata']['name']} cannot start: {message}; "
                    f"create it with `kubectl create secret generic {ref.name} -n {namespace} "
                    f"--from-literal={ref.key}=<key>`"
                )
    return sorted(set(problems))


def _condition(
    old: CoinFeedStatus | None,
    type_: ConditionType,
    ok: bool,
    reason: str,
    message: str,
    generation: int,
    now: dt.datetime,
) -> Condition:
    status = "True" if ok else "False"
    prev = old.condition(type_) if old else None
    since = prev.last_transition_time if prev is not None and prev.status == status else now
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )


def compute_status(
    *,
    old: CoinFeedStatus | None,
    generation: int,
    children: ChildNames,
    coin_count: int | None,
    observed: Observed,
    now: dt.datetime | None = None,
) -> CoinFeedStatus:
    """The whole new status; `observed.problems` non-empty means Degraded."""
    now = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
    waiting = not_ready_reasons(observed)
    failure = job_failure(observed.job)
    problems = [*observed.problems, *([failure] if failure else [])]
    degraded = bool(problems)
    reason = "SpecCannotWork" if observed.problems else "BackfillFailed"
    if degraded:
        ready = (False, reason, "; ".join(problems))
        progressing = (False, "WaitingForFix", "fix the spec or its references; retrying with backoff")
    elif waiting:
        ready = (False, "ChildrenNotReady", "; ".join(waiting))
        progressing = (True, "Reconciling", "children applied, waiting for them to become healthy")
    else:
        msg = "suspended: producer at 0 replicas, stream suspended" if observed.suspended else "all children healthy"
        ready = (True, "Suspended" if observed.suspended else "AllChildrenReady", msg)
        progressing = (False, "Reconciled", f"generation {generation} applied")
    conditions = [
        _condition(old, "Ready", *ready, generation, now),
        _condition(old, "Progressing", *progressing, generation, now),
        _condition(
            old,
            "Degraded",
            degraded,
            reason if degraded else "AsExpected",
            "; ".join(problems) if degraded else "",
            generation,
            now,
        ),
    ]
    own = observed.job if observed.job and observed.job["metadata"].get("name") == children.backfill_job else None
    succeeded = job_succeeded(own)
    if succeeded is None and old is not None and old.children.backfill_job == children.backfill_job:
        succeeded = old.backfill_succeeded  # the Job may be gone; remember that it finished
    return CoinFeedStatus(
        observed_generation=generation,
        conditions=conditions,
        children=children,
        coin_count=coin_count,
        topic_ready=topic_ready(observed.topic),
        producer_available_replicas=available_replicas(observed.deployment),
        spark_state=spark_state(observed.spark_app),
        backfill_succeeded=succeeded if children.backfill_job else None,
    )
