"""Operator latency: `kubectl apply` of CoinFeeds -> all children applied and status written.

Runs a real control plane (etcd + kube-apiserver + kube-controller-manager, tools/build.sh), the
operator in-process under its least-privilege ServiceAccount, and measures per feed the time
from the apply to the watch event carrying a status that names every child (the operator writes
status only after every child was applied; the backfill Job alone waits for Strimzi to mark the
feed's KafkaTopics and KafkaUser Ready), and, in a second run with a stand-in that marks them Ready
as Strimzi would, to the backfill Job's creation (every child). Baseline in the same run:
the same reconcile pass called directly, one feed after another (no kopf, no watch): what the API
server's writes alone cost.
Target: p50 <= 2 s per feed with 50 feeds applied at once.

    python bench/reconcile.py [--feeds 1 50] [--write-readme]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tests.support.kubeapi import KubeControlPlane
from tests.support.operator_env import (
    Env,
    configure_operator_env,
    feed,
    install_operator_crds,
    install_operator_identity,
    kafka_cluster,
    run_operator,
)

from coinfeed_operator.builders import FEED_LABEL
from coinstream.models.coinfeed_status import ChildNames

README = Path(__file__).resolve().parent / "README.md"
TARGET_P50 = 2.0


def _namespace(env: Env, name: str) -> str:
    env.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    env.apply(kafka_cluster(name))
    return name


def _feeds(ns: str, n: int, prefix: str) -> list[dict[str, Any]]:
    docs = []
    for i in range(n):
        doc = feed(f"{prefix}{i:03d}")
        doc["metadata"]["namespace"] = ns
        docs.append(doc)
    return docs


#: Every child the status names once the pass is complete (the status model's own fields).
CHILD_KEYS = tuple(f.alias or k for k, f in ChildNames.model_fields.items())


def _done(item: dict[str, Any]) -> bool:
    status = item.get("status") or {}
    children = status.get("children") or {}
    current = status.get("observedGeneration") == item["metadata"]["generation"]
    return current and all(children.get(k) for k in CHILD_KEYS)


def _session(env: Env) -> tuple[Any, str]:
    import requests

    from coinfeed_operator.kube import load_credentials

    creds = load_credentials(env.kube.admin_kubeconfig)
    session = requests.Session()
    session.trust_env = False
    session.verify = creds.ca_path or True
    session.cert = (creds.cert_path, creds.key_path) if creds.cert_path and creds.key_path else None
    return session, creds.server


def _watch(session: Any, url: str, stop: threading.Event, on_object: Any, timeout: float = 300) -> None:
    """Call `on_object` with every object a watch of `url` reports until `stop` is set."""
    deadline = time.monotonic() + timeout
    version = None
    while not stop.is_set() and time.monotonic() < deadline:
        params = {"watch": "1", "timeoutSeconds": "5", "allowWatchBookmarks": "false"}
        if version:
            params["resourceVersion"] = version
        with session.get(url, params=params, stream=True, timeout=(5, 15)) as resp:
            if resp.status_code == 429:
                # The API server's watch cache of a just-installed CRD is still initialising.
                time.sleep(float(resp.headers.get("Retry-After") or 1))
                continue
            resp.raise_for_status()
            for line in resp.iter_lines():
                event = json.loads(line)
                obj = event["object"]
                if event.get("type") == "ERROR":
                    version = None
                    break
                version = obj.get("metadata", {}).get("resourceVersion", version)
                if event.get("type") in {"ADDED", "MODIFIED"}:
                    on_object(obj)
                if stop.is_set():
                    return


def api_requests(env: Env) -> dict[str, float]:
    """The API server's own count of the requests it served so far, per resource (every client:
    the operator, kopf, the controller manager, this benchmark's watches and kubectl)."""
    out: dict[str, float] = {}
    text = env.kubectl("get", "--raw", "/metrics").stdout
    for line in text.splitlines():
        if line.startswith("apiserver_request_total{"):
            labels, value = line[len("apiserver_request_total{") :].rsplit("} ", 1)
            fields = dict(kv.split("=", 1) for kv in labels.split('",') if "=" in kv)
            resource = fields.get("resource", "").strip('"')
            out[resource] = out.get(resource, 0.0) + float(value)
    return out


@dataclass
class StandIn:
    """What the Strimzi stand-in did, filled as it goes."""

    #: feed -> monotonic time the Ready patch of its last Kafka object was answered
    marked: dict[str, float] = field(default_factory=dict)
    #: seconds each Ready patch took (the stand-in patches one object at a time per kind)
    patch_seconds: list[float] = field(default_factory=list)


@contextlib.contextmanager
def strimzi_standin(env: Env, ns: str) -> Iterator[StandIn]:
    """What Strimzi's topic and user operators write once a topic exists and a user's credentials
    are in the broker: a Ready condition, here as soon as the object appears (one status PATCH
    each, on the same API server). Watches, not polling, so its own load is what Strimzi's is."""
    session, server = _session(env)
    stop = threading.Event()
    ready = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    done = StandIn()

    def mark(obj: dict[str, Any]) -> None:
        conditions = (obj.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" for c in conditions):
            return
        started = time.monotonic()
        plural = {"KafkaTopic": "kafkatopics", "KafkaUser": "kafkausers"}[obj["kind"]]
        url = f"{server}/apis/kafka.strimzi.io/v1/namespaces/{ns}/{plural}/{obj['metadata']['name']}/status"
        headers = {"Content-Type": "application/merge-patch+json"}
        session.patch(url, data=json.dumps(ready), headers=headers, timeout=(5, 30))
        now = time.monotonic()
        done.patch_seconds.append(now - started)
        feed_name = (obj["metadata"].get("labels") or {}).get(FEED_LABEL, "")
        done.marked[feed_name] = max(done.marked.get(feed_name, 0.0), now)

    threads = [
        threading.Thread(
            target=_watch,
            args=(session, f"{server}/apis/kafka.strimzi.io/v1/namespaces/{ns}/{plural}", stop, mark),
            daemon=True,
        )
        for plural in ("kafkatopics", "kafkausers")
    ]
    for t in threads:
        t.start()
    try:
        yield done
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)


def passes() -> dict[tuple[str, str], float]:
    """The in-process operator's own count of its passes and releases, by (trigger, outcome)."""
    from prometheus_client import REGISTRY

    out: dict[tuple[str, str], float] = {}
    for metric in REGISTRY.collect():
        if metric.name == "coinstream_operator_reconcile_seconds":
            for sample in metric.samples:
                if sample.name.endswith("_count"):
                    out[(sample.labels["trigger"], sample.labels["outcome"])] = sample.value
    return out


def measure_operator(env: Env, ns: str, n: int, strimzi: bool = False, timeout: float = 300) -> Measured:
    """Apply n feeds in one `kubectl apply`; seconds until each one's status names its children
    and, with `strimzi` (a stand-in marks the Kafka objects Ready), until its backfill Job exists.

    Observed through watches (one stream per kind): polling lists would load the API server we measure.
    """
    session, server = _session(env)
    url = f"{server}/apis/coinstream.io/v1alpha1/namespaces/{ns}/coinfeeds"
    docs = _feeds(ns, n, "op")
    jobs: dict[str, float] = {}
    all_jobs = threading.Event()
    stop = threading.Event()

    def job_seen(obj: dict[str, Any]) -> None:
        feed_name = (obj["metadata"].get("labels") or {}).get(FEED_LABEL)
        if feed_name and feed_name not in jobs:
            jobs[feed_name] = time.monotonic() - t0
            if len(jobs) == n:
                all_jobs.set()

    before, passes_before = api_requests(env), passes()
    job_url = f"{server}/apis/batch/v1/namespaces/{ns}/jobs"
    watchers = [threading.Thread(target=_watch, args=(_session(env)[0], job_url, stop, job_seen), daemon=True)]
    with strimzi_standin(env, ns) if strimzi else contextlib.nullcontext(StandIn()) as standin:
        for w in watchers:
            w.start()
        t0 = time.monotonic()
        apply = subprocess.Popen(
            ["kubectl", f"--kubeconfig={env.kube.admin_kubeconfig}", "apply", "-f", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        assert apply.stdin is not None
        apply.stdin.write(yaml.safe_dump_all(docs))
        apply.stdin.close()
        seen: dict[str, float] = {}
        while len(seen) < n:
            left = timeout - (time.monotonic() - t0)
            if left <= 0:
                raise TimeoutError(f"only {len(seen)}/{n} feeds reconciled after {timeout}s")
            params = {"watch": "1", "timeoutSeconds": str(int(left) + 1)}
            with session.get(url, params=params, stream=True, timeout=(5, left + 10)) as resp:
                if resp.status_code == 429:
                    time.sleep(float(resp.headers.get("Retry-After") or 1))
                    continue
                resp.raise_for_status()
                for line in resp.iter_lines():
                    obj = json.loads(line)["object"]
                    name = obj.get("metadata", {}).get("name")
                    if obj.get("kind") == "CoinFeed" and name not in seen and _done(obj):
                        seen[name] = time.monotonic() - t0
                        if len(seen) == n:
                            break
        if strimzi and not all_jobs.wait(max(1.0, timeout - (time.monotonic() - t0))):
            raise TimeoutError(f"only {len(jobs)}/{n} backfill Jobs after {timeout}s")
        stop.set()
    after = api_requests(env)
    counted = {k: v - passes_before.get(k, 0.0) for k, v in passes().items() if v > passes_before.get(k, 0.0)}
    requests_per_feed = {k: (v - before.get(k, 0.0)) / n for k, v in after.items() if v > before.get(k, 0.0)}
    for w in watchers:
        w.join(timeout=30)
    if apply.wait(timeout=60) != 0:
        raise RuntimeError("kubectl apply failed")
    kinds = "kafkatopics,kafkausers,configmaps,deployments,sparkapplications"
    children = env.kube.kubectl_json("get", kinds, "-n", ns, "-l", "app.kubernetes.io/managed-by=coinfeed-operator")
    # Per feed: its quotes and backfill-coverage ledger topics, its KafkaUser, a ConfigMap, the
    # producer Deployment and the SparkApplication; the backfill Job once the Kafka objects are Ready.
    per_feed = 6
    assert len(children["items"]) == per_feed * n, f"expected {per_feed * n} children, found {len(children['items'])}"
    if not strimzi:
        assert not jobs, f"{len(jobs)} backfill Jobs made before their Kafka objects were Ready"
    ready = {f: t - t0 for f, t in standin.marked.items()}
    return Measured(
        sorted(seen.values()),
        sorted(jobs.values()),
        requests_per_feed,
        ready=sorted(ready.values()),
        reaction=sorted(jobs[f] - ready[f] for f in jobs if f in ready),
        patch_seconds=sorted(standin.patch_seconds),
        passes=counted,
    )


@dataclass(frozen=True)
class Measured:
    status: list[float]  # per feed, sorted: apply -> every child but the Job applied, status written
    jobs: list[float]  # per feed, sorted: apply -> its backfill Job exists (with the Strimzi stand-in)
    #: API requests served per feed from the apply to the last completion, per resource (all clients)
    requests: dict[str, float]
    #: With the stand-in, per feed, sorted: apply -> its last Kafka object marked Ready...
    ready: list[float] = field(default_factory=list)
    #: ...and from then to its backfill Job (the operator's reaction).
    reaction: list[float] = field(default_factory=list)
    #: Each Ready patch of the stand-in (one at a time per kind).
    patch_seconds: list[float] = field(default_factory=list)
    #: The operator's passes and releases in the run, by (trigger, outcome).
    passes: dict[tuple[str, str], float] = field(default_factory=dict)

    @property
    def requests_total(self) -> float:
        return sum(self.requests.values())


def measure_direct(env: Env, ns: str, n: int) -> list[float]:
    """Baseline: the same reconcile pass, called directly and sequentially (no kopf)."""
    from coinfeed_operator.config import OperatorConfig
    from coinfeed_operator.kube import KubeClient, load_credentials
    from coinfeed_operator.reconcile import reconcile

    config = OperatorConfig(kafka_cluster="test-kafka")
    api = KubeClient(load_credentials(env.operator_kubeconfig), "coinfeed-bench")
    docs = _feeds(ns, n, "direct")
    env.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    bodies = env.kube.kubectl_json("get", "coinfeeds", "-n", ns)["items"]
    out = []
    for body in bodies:
        t = time.monotonic()
        reconcile(api, config, body)
        out.append(time.monotonic() - t)
    return sorted(out)


def wait_collected(env: Env, ns: str, timeout: float = 300) -> None:
    """Until the garbage collector removed the deleted feeds' children and their pods: otherwise
    the next measurement shares the API server with hundreds of cascading deletes."""
    kinds = "kafkatopics,configmaps,deployments,replicasets,jobs,pods,sparkapplications"
    deadline = time.monotonic() + timeout
    while env.kube.kubectl_json("get", kinds, "-n", ns)["items"]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"children in {ns} not collected after {timeout}s")
        time.sleep(0.5)


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, nargs="+", default=[1, 50])
    ap.add_argument("--rounds", type=int, default=3, help="baseline and operator back to back, medians reported")
    ap.add_argument("--write-readme", action="store_true", help="record the results in bench/README.md")
    args = ap.parse_args()
    runs: dict[int, list[Run]] = {n: [] for n in args.feeds}
    with tempfile.TemporaryDirectory(prefix="coinstream-bench-op-") as tmp:
        t_cp = time.monotonic()
        with KubeControlPlane(Path(tmp)) as kube:
            install_operator_crds(kube)
            kubeconfig = install_operator_identity(kube)
            startup = time.monotonic() - t_cp
            configure_operator_env(kubeconfig, drift_seconds=300)  # no drift passes during the runs
            env = Env(kube, kubeconfig)
            for r in range(args.rounds):
                for n in args.feeds:
                    # Baseline with no operator watching (it would reconcile those feeds too).
                    ns = _namespace(env, f"direct-{n}-{r}")
                    direct = measure_direct(env, ns, n)
                    env.kubectl("delete", "coinfeeds", "--all", "-n", ns)
                    wait_collected(env, ns)
                    measured: dict[bool, Measured] = {}
                    loads: list[float] = []
                    for strimzi in (False, True):
                        with run_operator():
                            ns = _namespace(env, f"bench-{n}-{r}-{'strimzi' if strimzi else 'alone'}")
                            measured[strimzi] = measure_operator(env, ns, n, strimzi=strimzi)
                            loads.append(os.getloadavg()[0])
                            env.kubectl("delete", "coinfeeds", "--all", "-n", ns, "--timeout=300s", timeout=330)
                        wait_collected(env, ns)
                    alone, standin = measured[False], measured[True]
                    run = Run(
                        alone.status, direct, loads[0], standin.status, standin.jobs, loads[1],
                        alone.requests_total, standin.requests_total,
                    )  # fmt: skip
                    runs[n].append(run)
                    print(
                        f"round {r + 1}: {n:>3} feeds: operator p50 {run.p50:.2f}s all done {run.op[-1]:.2f}s "
                        f"(load {run.load:.1f}) | with Strimzi stand-in: p50 {statistics.median(run.op_strimzi):.2f}s, "
                        f"Job p50 {statistics.median(run.jobs):.2f}s, all Jobs {run.jobs[-1]:.2f}s "
                        f"(load {run.load_strimzi:.1f}) | direct sum {sum(direct):.2f}s | API requests per feed "
                        f"{run.requests:.1f} alone, {run.requests_strimzi:.1f} with the stand-in",
                        flush=True,
                    )
                    med = statistics.median
                    print(
                        f"    with the stand-in: last Kafka object of a feed Ready p50 {med(standin.ready):.2f}s "
                        f"after the apply (max {standin.ready[-1]:.2f}s), its Job p50 {med(standin.reaction):.2f}s "
                        f"after that (max {standin.reaction[-1]:.2f}s); a Ready patch p50 "
                        f"{med(standin.patch_seconds) * 1000:.0f} ms, {sum(standin.patch_seconds):.2f}s in all"
                    )
                    print(
                        "    operator passes with the stand-in: "
                        + ", ".join(f"{t}/{o} {v:.0f}" for (t, o), v in sorted(standin.passes.items()))
                    )
                    top = sorted(standin.requests.items(), key=lambda kv: -kv[1])[:8]
                    print("    per feed, with the stand-in: " + ", ".join(f"{k or '-'} {v:.1f}" for k, v in top))
    section = render(runs, startup, args.rounds)
    print(section)
    if args.write_readme:
        write_section(section)
        print(f"recorded in {README}")
    # A goal, not a test: report it, don't fail a loaded machine's run.
    print(_verdict(runs))


@dataclass(frozen=True)
class Run:
    op: list[float]  # per feed, sorted: apply -> children + status (no Strimzi: the Job stays held)
    direct: list[float]  # per feed: the bare reconcile pass
    load: float
    op_strimzi: list[float]  # the same with the Strimzi stand-in marking Kafka objects Ready
    jobs: list[float]  # per feed, sorted: apply -> backfill Job applied (every child), with the stand-in
    load_strimzi: float
    requests: float  # API requests served per feed during the operator's run (all clients)
    requests_strimzi: float

    @property
    def p50(self) -> float:
        return statistics.median(self.op)


def _verdict(runs: dict[int, list[Run]]) -> str:
    n = max(runs)
    p50 = statistics.median(r.p50 for r in runs[n])
    jobs = statistics.median(statistics.median(r.jobs) for r in runs[n])
    met = "met" if p50 <= TARGET_P50 else "NOT met"
    met_jobs = "met" if jobs <= TARGET_P50 else "NOT met"
    return (
        f"Target p50 <= {TARGET_P50:.0f} s per feed at {n} feeds: {met} in this run ({p50:.2f} s); "
        f"with the backfill Job too (Strimzi stand-in): {met_jobs} ({jobs:.2f} s)."
    )


def render(runs: dict[int, list[Run]], startup: float, rounds: int) -> str:
    lines = [
        "## Operator",
        "",
        "`make bench-operator` (bench/reconcile.py): `kubectl apply` of N CoinFeeds at once -> every child",
        "(quotes and ledger KafkaTopics, KafkaUser, ConfigMap, Deployment, SparkApplication) server-side",
        "applied and the status written naming them and the backfill Job, which is held until Strimzi marks",
        "the Kafka objects Ready, on the test control plane (etcd + kube-apiserver v1.34.4 + controller",
        "manager), operator in-process as its least-privilege ServiceAccount, completion seen through",
        "watches. Two operator runs per round: alone (no Strimzi: every Job stays held, and the run checks",
        "that none is made), and with a Strimzi stand-in that marks each KafkaTopic and KafkaUser Ready as",
        "soon as it appears (one status PATCH each, on the same API server), where the time to the backfill",
        "Job is every child applied. Baseline, back to back in each round: the same reconcile pass called",
        "directly, sequentially (the bare API writes). Target: p50 <= 2 s per feed at 50 feeds.",
        "",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {_cpus()} cores "
        f"(load average per row below); medians of {rounds} rounds; control plane + CRDs up in {startup:.1f} s.",
        "",
        "| feeds | p50 | p95 | all done | load | stand-in: p50 status / Job | all Jobs | load "
        "| direct, sequential (sum) | all done / direct | API requests per feed, alone / stand-in |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    med = statistics.median
    for n, rs in runs.items():
        total = med(sum(r.direct) for r in rs)
        lines.append(
            f"| {n} | {med(r.p50 for r in rs):.2f} s | {med(pct(r.op, 0.95) for r in rs):.2f} s | "
            f"{med(r.op[-1] for r in rs):.2f} s | {med(r.load for r in rs):.1f} | "
            f"{med(med(r.op_strimzi) for r in rs):.2f} / {med(med(r.jobs) for r in rs):.2f} s | "
            f"{med(r.jobs[-1] for r in rs):.2f} s | {med(r.load_strimzi for r in rs):.1f} | "
            f"{total:.2f} s ({total / n * 1000:.0f} ms/feed) | {med(r.op[-1] / sum(r.direct) for r in rs):.2f}x | "
            f"{med(r.requests for r in rs):.0f} / {med(r.requests_strimzi for r in rs):.0f} |"
        )
    lines += [
        "",
        _verdict(runs),
        "",
        "A new feed's first pass makes 7 API calls (6 server-side applies: the quotes and ledger",
        "KafkaTopics, KafkaUser, ConfigMap, Deployment, SparkApplication; 1 status patch; the Kafka lookup",
        "is cached per namespace) and kopf 1 (the finalizer its timer needs). When the operator's watch",
        "reports the feed's Kafka objects Ready while that pass runs, the pass applies the backfill Job",
        "too (8 calls). Otherwise the pass holds the Job (no kopf retry, no retry annotation), and when",
        "the last object it waits for turns Ready the release (on threads of its own) reads the feed,",
        "applies the Job and patches the status, conditional on the feed's resourceVersion: 3 calls, no",
        "whole pass (operators/coinfeed_operator/holds.py, reconcile.release). kopf's diff-base stays in memory",
        "(operators/coinfeed_operator/storage.py). The kube-controller-manager adds its own ~13 requests",
        "per feed (ReplicaSet, pods, status updates, events) on the same API server; the API requests",
        "column is the API server's own count (apiserver_request_total) over the run, every client included.",
        '"all done / direct" compares the operator\'s throughput with the bare writes of the same pass;',
        "the absolute p50 is bound by how much CPU the shared machine leaves the API server.",
    ]
    return "\n".join(lines) + "\n"


def _cpus() -> int:
    return os.cpu_count() or 0


def write_section(section: str) -> None:
    """Replace the "## Operator" section, keeping every other section as it is."""
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    start = text.find("## Operator\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + ("\n" + text[end + 1 :] if end != -1 else "")
    README.write_text(text)


if __name__ == "__main__":
    main()
