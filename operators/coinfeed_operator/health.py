"""Pure status logic: observed children -> conditions, so every rule is unit-testable.

Ready: every child exists and is healthy (topic Ready, producer available, stream RUNNING and
its first micro-batch committed; a suspended feed only needs its topic).
Progressing: children exist but are not healthy yet.
Degraded: the spec cannot work as written (missing Secret, unknown Kafka cluster, bad spec).
DataFresh: every series of the feed has a quote younger than the freshness window (see
`data_freshness`); a producer that is up but delivers nothing is Ready and not DataFresh.
lastTransitionTime only moves when a condition's status flips, as kubectl and alerting expect.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from coinstream.models import CoinFeed
from coinstream.models.coinfeed_status import ChildNames, CoinFeedStatus, Condition, ConditionType

HEALTHY_SPARK_STATES = {"RUNNING"}
ConditionStatus = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class Verdict:
    """One condition's outcome before it becomes a Condition (which also needs the old status)."""

    status: ConditionStatus
    reason: str
    message: str


@dataclass(frozen=True)
class ProducerReport:
    """What the feed's producer pods said on /metrics (see coinfeed_operator.producer_metrics).

    `newest` is the source time of the newest live quote Kafka acknowledged, per (coin,
    vs_currency), in seconds since the epoch: the producer sets it on acknowledgement only.
    """

    newest: dict[tuple[str, str], float]
    asked: int
    errors: list[str] = field(default_factory=list)


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
    #: The DataFresh verdict (`data_freshness`); None: not measured in this pass.
    freshness: Verdict | None = None
    #: Micro-batches the running driver committed (coinfeed_operator.stream_metrics); None:
    #: unknown, and `stream_problem` says why. A RUNNING stream that committed none is not Ready.
    stream_committed: int | None = None
    stream_problem: str = ""
    #: Bring-your-own Kafka: the topics were brought to their spec through the admin API
    #: (there is no KafkaTopic to read a Ready condition from). None: read `topic`.
    topics_synced: bool | None = None

    @property
    def topic_ready(self) -> bool | None:
        return self.topics_synced if self.topics_synced is not None else topic_ready(self.topic)


#: A series is fresh while its newest quote is younger than this many poll intervals: one poll
#: may find no new snapshot and one delivery may be slow without the feed being stale...
FRESH_POLLS = 3
#: ...but never tighter than this: CoinGecko moves a coin's `last_updated` only every minute or
#: few, so a 10-second poll interval cannot promise 30-second-old quotes.
MIN_FRESH_WINDOW_SECONDS = 300


def freshness_window(poll_interval_seconds: int) -> int:
    return max(FRESH_POLLS * poll_interval_seconds, MIN_FRESH_WINDOW_SECONDS)


def _utc(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def data_freshness(
    report: ProducerReport | None,
    series: list[tuple[str, str]],
    poll_interval_seconds: int,
    now: dt.datetime,
    suspended: bool = False,
) -> Verdict:
    """DataFresh for a feed: True when every (coin, vs_currency) it tracks has a quote younger
    than `freshness_window`, False (Stale, NoQuotesYet, Suspended) when one has not, Unknown
    when nobody could be asked. Messages name timestamps, not ages, so an unchanged verdict
    does not rewrite the status at every drift pass."""
    if suspended:
        return Verdict("False", "Suspended", "suspended: the producer is stopped, no quotes are expected")
    if report is None or report.asked == 0:
        return Verdict("Unknown", "NoProducerRunning", "no running producer pod to ask yet")
    if len(report.errors) >= report.asked:
        return Verdict("Unknown", "MetricsUnavailable", "; ".join(report.errors))
    window = freshness_window(poll_interval_seconds)
    limit = now.timestamp() - window
    missing = [f"{c}/{v}" for c, v in series if (c, v) not in report.newest]
    stale = [
        f"{c}/{v} (newest {_utc(report.newest[(c, v)])})"
        for c, v in series
        if (c, v) in report.newest and report.newest[(c, v)] < limit
    ]
    rule = f"{FRESH_POLLS} x pollIntervalSeconds, at least {MIN_FRESH_WINDOW_SECONDS}s"
    if stale:
        extra = f"; none yet for {', '.join(missing)}" if missing else ""
        return Verdict("False", "Stale", f"no quote within {window}s ({rule}) for {', '.join(stale)}{extra}")
    if missing:
        return Verdict("False", "NoQuotesYet", f"no quote acknowledged by Kafka yet for {', '.join(missing)}")
    return Verdict("True", "Fresh", f"all {len(series)} series quoted within {window}s ({rule})")


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
    if obs.topic_ready is not True:
        reasons.append(
            "topics not in sync with the Kafka yet"
            if obs.topics_synced is not None
            else "KafkaTopic not Ready yet (is the Strimzi topic operator running?)"
        )
    if not obs.suspended:
        avail = available_replicas(obs.deployment) or 0
        if avail < 1:
            reasons.append(f"producer {avail}/1 replicas available")
        state = spark_state(obs.spark_app)
        if state not in HEALTHY_SPARK_STATES:
            reasons.append(f"SparkApplication state {state or 'not reported yet'} (want RUNNING)")
        elif not obs.stream_committed:
            why = f": {obs.stream_problem}" if obs.stream_problem else ""
            reasons.append(f"stream RUNNING, no micro-batch committed to the table yet{why}")
    return reasons


def _config_errors(pod: dict[str, Any]) -> list[str]:
    status = pod.get("status") or {}
    out = []
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") == "CreateContainerConfigError":
            out.append(str(waiting.get("message") or "CreateContainerConfigError"))
    return out


def pod_problems(
    pods: list[dict[str, Any]], feed: CoinFeed, namespace: str, kafka_client_secret: str | None = None
) -> list[str]:
    """The kubelet's word on the Secrets the operator may not read: a pod that cannot start
    because the API-key Secret (or its key), or an external Kafka's client Secret, is missing
    (CreateContainerConfigError) makes the feed Degraded."""
    ref = feed.spec.source.api_key_secret_ref
    problems = []
    for pod in pods:
        for message in _config_errors(pod):
            # The kubelet's wording: `secret "<name>" not found`, `couldn't find key <k> in Secret <ns>/<name>`.
            if ref is not None and (
                f'secret "{ref.name}"' in message or message.endswith(f"Secret {namespace}/{ref.name}")
            ):
                problems.append(
                    f"spec.source.apiKeySecretRef: pod {pod['metadata']['name']} cannot start: {message}; "
                    f"create it with `kubectl create secret generic {ref.name} -n {namespace} "
                    f"--from-literal={ref.key}=<key>`"
                )
            elif kafka_client_secret is not None and f'secret "{kafka_client_secret}"' in message:
                problems.append(
                    f"pod {pod['metadata']['name']} cannot start: {message}; every namespace with CoinFeeds needs "
                    f"the Kafka client Secret {kafka_client_secret} (the same keys as the operator's)"
                )
    return sorted(set(problems))


def _condition(
    old: CoinFeedStatus | None,
    type_: ConditionType,
    ok: bool | ConditionStatus,
    reason: str,
    message: str,
    generation: int,
    now: dt.datetime,
) -> Condition:
    status: ConditionStatus = ok if isinstance(ok, str) else ("True" if ok else "False")
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
    fresh = observed.freshness or Verdict("Unknown", "NotMeasured", "not measured while the feed cannot run")
    conditions.append(_condition(old, "DataFresh", fresh.status, fresh.reason, fresh.message, generation, now))
    own = observed.job if observed.job and observed.job["metadata"].get("name") == children.backfill_job else None
    succeeded = job_succeeded(own)
    if succeeded is None and old is not None and old.children.backfill_job == children.backfill_job:
        succeeded = old.backfill_succeeded  # the Job may be gone; remember that it finished
    return CoinFeedStatus(
        observed_generation=generation,
        conditions=conditions,
        children=children,
        coin_count=coin_count,
        topic_ready=observed.topic_ready,
        topics_held=True if observed.topics_synced or (old is not None and old.topics_held) else None,
        producer_available_replicas=available_replicas(observed.deployment),
        spark_state=spark_state(observed.spark_app),
        backfill_succeeded=succeeded if children.backfill_job else None,
    )
