"""The cluster flow on the real node, shared by its runs (tests/system/realnode): the platform
installed with the laptop profile into a `restricted` namespace, the simulated CoinFeed with a
short backfill, Trino as the analyst through a port-forward, the table's rows, the pods' state,
peak memory and requests, and the phase timings that docs/realnode.md records.

`platform()` brings the node up, builds and loads the images, installs the charts and tears it
all down again; a run passes what differs (Strimzi or an external Kafka) as chart arguments and
an `around` context that lives while the node does (e.g. a broker on the node's address).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from coinstream.devstack.process import free_port
from coinstream.platform.trino_auth import TrinoAuth
from coinstream.platform.trino_rules import ANALYST_CATALOG
from tests.support import upstream_charts as upstream
from tests.support.chartlib import kind_run
from tests.support.realnode import RealNode

REPO = Path(__file__).resolve().parents[2]
NS = "coinstream"
STANDINS = REPO / "tests/system/realnode/values-standins.yaml"
PYTHON_IMAGE = "coinstream-local/python:3.11-bookworm"
#: The images whose tag follows the code (kind/run.sh image-tag).
PROJECT_REPOSITORIES = ("ghcr.io/coinstream/coinstream", "ghcr.io/coinstream/coinstream-spark")
FEED = "majors-sim"
TOPIC = f"coinstream.quotes.{FEED}"
TRINO_SVC = "svc/coinstream-trino"
SPARK_OPERATOR = "app.kubernetes.io/name=spark-operator"
#: What a run hands its tests: the helm binary and environment, the app image, the work dir, and
#: whatever its `around` context yielded ("extra").
Ctx = dict[str, Any]


class Timings(dict[str, float]):
    """Phase name -> seconds (and a few counts), printed at teardown."""

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        try:
            yield
        finally:
            self[name] = round(time.monotonic() - t0, 1)


def helm_bin() -> Path:
    out = subprocess.run(["bash", str(REPO / "tools/build.sh"), "helm"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1]) / "helm"


def run_sh(*args: str, env: dict[str, str] | None = None) -> list[str]:
    return kind_run(*args, env=env).split()


def tool_lines(script: str, *args: str) -> list[str]:
    out = subprocess.run(["bash", str(REPO / "tools/realnode" / script), *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    print(out.stderr.strip())  # the build times
    return out.stdout.splitlines()


def restricted_namespace() -> dict[str, Any]:
    labels = {
        f"pod-security.kubernetes.io/{mode}{suffix}": value
        for mode in ("enforce", "warn")
        for suffix, value in (("", "restricted"), ("-version", "latest"))
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "labels": labels}}


@contextlib.contextmanager
def platform(
    work: Path,
    timings: Timings,
    *,
    images: tuple[str, ...],
    platform_args: tuple[str, ...] = (),
    operator_args: tuple[str, ...] = (),
    strimzi: bool = True,
    around: Callable[[RealNode], contextlib.AbstractContextManager[Any]] | None = None,
) -> Iterator[tuple[RealNode, Ctx]]:
    """Node up, `images` (tools/realnode/images.sh groups) built and loaded, the namespace, then
    `around(node)` entered, the CRDs, the platform chart (laptop profile + stand-ins +
    `platform_args`) and the operator chart (laptop profile + `operator_args`) installed with
    `--wait`; with `strimzi`, until its Kafka is Ready. Everything is undone on exit, `around`
    before the node."""
    node = RealNode(work / "node")
    try:
        with timings.phase("node up"):
            node.start()
        timings.update({f"node: {k}": v for k, v in node.timings.items()})
        with timings.phase("images built"):
            built = [line for line in tool_lines("images.sh", *images) if line]
        print("superseded images dropped:", node.drop_superseded(built, PROJECT_REPOSITORIES))
        with timings.phase("images loaded"):
            for image in [*built, PYTHON_IMAGE]:
                node.load_image(image)
        helm = helm_bin()
        kubeconfig = str(node.kubeconfig)
        env = {
            **os.environ,
            "KUBECONFIG": kubeconfig,
            "HELM_CACHE_HOME": str(work / "hc"),
            "HELM_CONFIG_HOME": str(work / "hf"),
            "HELM_DATA_HOME": str(work / "hd"),
        }
        context = yaml.safe_load(Path(kubeconfig).read_text())["current-context"]
        node.apply([restricted_namespace()])
        with around(node) if around is not None else contextlib.nullcontext() as extra:
            chart = upstream.real_chart(work, helm)

            def install(release: str, path: Path, *args: str) -> None:
                subprocess.run(
                    [str(helm), "upgrade", "--install", release, str(path), "-n", NS, "--wait", "--timeout", "15m",
                     *args],
                    env=env, check=True, capture_output=True, text=True,
                )  # fmt: skip

            with timings.phase("platform installed"):
                spark_crds = [c for c in upstream.third_party_crds(helm) if c.parent.name.startswith("spark-operator")]
                assert spark_crds, "no spark-operator CRDs in the pinned archive"
                for crd in spark_crds:
                    node.kubectl("apply", "--server-side", "-f", str(crd))
                install(
                    "coinstream-crds",
                    REPO / "charts/coinstream-crds",
                    "-f",
                    str(REPO / "charts/coinstream-crds/values-kind.yaml"),
                )
                api = run_sh("api-server-sets", env={"KUBECONFIG": kubeconfig, "KUBE_CONTEXT": context})
                install(
                    "coinstream",
                    chart,
                    "-f",
                    str(chart / "values-kind.yaml"),
                    "-f",
                    str(STANDINS),
                    *run_sh("chart-sets", "coinstream"),
                    *api,
                    # `helm test` runs after rows have landed: it must count some.
                    "--set",
                    "test.minRows=1",
                    *platform_args,
                )
                install(
                    "coinstream-operator",
                    REPO / "charts/coinstream-operator",
                    "-f",
                    str(REPO / "charts/coinstream-operator/values-kind.yaml"),
                    *run_sh("chart-sets", "coinstream-operator"),
                    *operator_args,
                )
            if strimzi:
                with timings.phase("kafka ready"):
                    node.kubectl(
                        "wait", "kafka/coinstream", "-n", NS, "--for=condition=Ready", "--timeout=900s", timeout=960
                    )
            app_image = next(i for i in built if i.startswith("ghcr.io/coinstream/coinstream:"))
            yield node, {"helm": helm, "env": env, "app_image": app_image, "work": work, "extra": extra}
    finally:
        print("\nphase timings (s):", json.dumps(timings, indent=1))
        with timings.phase("teardown"):
            node.stop()  # also after a failed start: it removes whatever start made
        print("teardown (s):", timings["teardown"])


# -- the feed ---------------------------------------------------------------------------------------

#: The example's backfill reaches back 13 years of days. With day partitions its first micro-batch
#: wrote ~4,750 files: ~30 min on the loaded 2-core node (2.7 files/s to HDFS) before the first
#: commit (the table is month-partitioned since, ~160 files; not re-measured on the node). The runs
#: load the last weeks only, to keep them short; everything else is the example's.
BACKFILL_DAYS = 30


def feed_file(work: Path) -> Path:
    """examples/coinfeed-simulated.yaml with its backfill shortened to BACKFILL_DAYS."""
    path = work / "coinfeed.yaml"
    if not path.exists():
        feed = yaml.safe_load((REPO / "examples/coinfeed-simulated.yaml").read_text())
        since = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=BACKFILL_DAYS)
        feed["spec"]["backfill"]["from"] = since.isoformat()
        path.write_text(yaml.safe_dump(feed))
    return path


def feed_ready_since(node: RealNode) -> dt.datetime | None:
    feed = node.kubectl_json("get", "coinfeed", FEED, "-n", NS)
    for c in feed.get("status", {}).get("conditions", []):
        if c["type"] == "Ready" and c["status"] == "True":
            return dt.datetime.fromisoformat(c["lastTransitionTime"].replace("Z", "+00:00"))
    return None


# -- Trino ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def trino_port_forward(node: RealNode, work: Path) -> Iterator[tuple[int, Path, Path]]:
    """`kubectl port-forward` from the host to the release's Trino (what `make trino-port-forward`
    does): (local port, the analyst's password file, the release CA), as a user copies them from
    the `coinstream-trino-users` Secret and the `coinstream-trino-ca` ConfigMap."""
    secret = node.kubectl_json("get", "secret", "coinstream-trino-users", "-n", NS)
    password = work / "trino-analyst"
    password.write_text(base64.b64decode(secret["data"]["analyst"]).decode())
    password.chmod(0o600)
    ca = work / "trino-ca.crt"
    ca.write_text(node.kubectl_json("get", "configmap", "coinstream-trino-ca", "-n", NS)["data"]["ca.crt"])
    port = free_port()
    forward = subprocess.Popen(
        ["kubectl", f"--kubeconfig={node.kubeconfig}", "port-forward", "-n", NS, TRINO_SVC, f"{port}:8443"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline()
        assert "Forwarding from" in line, line + (forward.stdout.read() if forward.poll() is not None else "")
        yield port, password, ca
    finally:
        forward.terminate()
        forward.wait(timeout=30)


@contextlib.contextmanager
def trino_as_analyst(node: RealNode, work: Path) -> Iterator[Any]:
    """A DB-API connection to the release's Trino as `analyst`, over HTTPS (the release CA,
    hostname `localhost` in the certificate) through the port-forward."""
    with trino_port_forward(node, work) as (port, password, ca):
        # The product's client: requests would let REQUESTS_CA_BUNDLE (set on this machine for its
        # TLS-inspecting proxy) replace a plain session's CA, and the release CA would not be used.
        auth = TrinoAuth.from_parts("analyst", None, password, ca)
        yield auth.connect("localhost", port, catalog=ANALYST_CATALOG, schema="coinstream")


def query(conn: Any, sql: str, *params: Any) -> list[Any]:
    cur = conn.cursor()
    cur.execute(sql, params or None)
    return list(cur.fetchall())


def stream_ready_after_first_commit(node: RealNode, ctx: Ctx, timings: Timings) -> None:
    """The feed's SparkApplication's driver and executor run (none Pending); the CoinFeed turns
    Ready, and not before the stream's first micro-batch is committed to the Iceberg table."""
    selector = f"coinstream.io/feed={FEED}"

    def spark_pods_running() -> dict[str, str] | None:
        found = {
            p["metadata"]["labels"].get("spark-role", ""): p["status"].get("phase", "")
            for p in node.kubectl_json("get", "pods", "-n", NS, "-l", f"{selector},spark-role")["items"]
        }
        return found if found.get("driver") == "Running" and found.get("executor") == "Running" else None

    with timings.phase("spark driver + executor running"):
        try:
            roles = node.wait_for("Spark driver and executor Running", spark_pods_running, timeout=900, interval=5)
        except Exception:
            apps = node.kubectl("get", "sparkapplications", "-n", NS, "-o", "yaml", check=False)
            pods_now = node.kubectl("get", "pods", "-n", NS, "-o", "wide", check=False)
            ctl = node.kubectl("logs", "-n", NS, "-l", SPARK_OPERATOR, "--tail=60", check=False)
            raise AssertionError(f"{pods_now}\n{apps[-4000:]}\n{ctl[-4000:]}") from None
    print(f"\nspark pods: {roles}")
    with timings.phase("coinfeed Ready"):
        try:
            ready_since = node.wait_for("the CoinFeed Ready", lambda: feed_ready_since(node), timeout=900, interval=5)
        except Exception:
            feed = node.kubectl("get", "coinfeed", FEED, "-n", NS, "-o", "yaml", check=False)
            driver = node.kubectl("logs", "-n", NS, "-l", f"{selector},spark-role=driver", "--tail=60", check=False)
            raise AssertionError(f"{feed[-3000:]}\n{driver[-5000:]}") from None
    with trino_as_analyst(node, ctx["work"]) as conn:
        first_commit = query(conn, 'SELECT min(committed_at) FROM "quotes$snapshots"')[0][0]
    print(f"first Iceberg commit {first_commit}, CoinFeed Ready since {ready_since}")
    assert first_commit is not None, "the CoinFeed is Ready but the table has no snapshot"
    # lastTransitionTime has whole seconds.
    assert first_commit <= ready_since + dt.timedelta(seconds=1), (first_commit, ready_since)


ROWS_SQL = (
    "SELECT kafka_partition, kafka_offset, vs_currency, coin_id, source, "
    "CAST(round(to_unixtime(source_ts) * 1000) AS bigint) FROM quotes WHERE kafka_topic = ?"
)


def table_rows(node: RealNode, ctx: Ctx, topic: str) -> list[tuple[Any, ...]]:
    """(partition, offset, *identity) of every row of `topic` in the table, through Trino."""
    with trino_as_analyst(node, ctx["work"]) as conn:
        return [tuple(r) for r in query(conn, ROWS_SQL, topic)]


def wait_for_rows(node: RealNode, ctx: Ctx, topic: str, want: set[tuple[Any, ...]]) -> list[Any]:
    """The table's rows of `topic` once they hold every identity in `want` (the stream commits
    every few seconds; a backlog takes a few micro-batches)."""

    def covered() -> list[tuple[Any, ...]] | None:
        rows = table_rows(node, ctx, topic)
        return rows if {r[2:] for r in rows} >= want else None

    try:
        rows: list[tuple[Any, ...]] = node.wait_for("the table to hold every acked record", covered, 600, 15)
    except Exception:
        missing = want - {r[2:] for r in table_rows(node, ctx, topic)}
        raise AssertionError(
            f"{len(missing)} of {len(want)} acked quotes not in the table: {sorted(missing)[:9]}"
        ) from None
    return rows


# -- pods -------------------------------------------------------------------------------------------


def pods(node: RealNode) -> list[dict[str, Any]]:
    return list(node.kubectl_json("get", "pods", "-n", NS)["items"])


def peak_memory_mib(node: RealNode) -> dict[str, float]:
    """Per pod: the cgroup's high-water mark (cgroup v1 memory.max_usage_in_bytes)."""
    out = {}
    for pod in pods(node):
        uid = pod["metadata"]["uid"]
        for qos in ("", "burstable/", "besteffort/"):
            f = Path(f"/sys/fs/cgroup/memory/kubepods/{qos}pod{uid}/memory.max_usage_in_bytes")
            if f.exists():
                out[pod["metadata"]["name"]] = round(int(f.read_text()) / 2**20, 1)
    return out


def quantity(value: str) -> float:
    """CPU in cores or memory in MiB, from a Kubernetes quantity."""
    units = {"m": 1e-3, "Ki": 2**-10, "Mi": 1, "Gi": 2**10, "k": 1e3 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    for unit, factor in sorted(units.items(), key=lambda kv: -len(kv[0])):
        if value.endswith(unit):
            return float(value[: -len(unit)]) * factor
    return float(value)


def requests(items: list[dict[str, Any]]) -> dict[str, float]:
    """Summed requests of the running pods (what the laptop profile asks of the node)."""
    cpu = mem = 0.0
    for pod in items:
        if pod["status"].get("phase") != "Running":
            continue
        for c in pod["spec"]["containers"]:
            req = c.get("resources", {}).get("requests", {})
            cpu += quantity(req.get("cpu", "0"))
            mem += quantity(req.get("memory", "0"))  # the charts give memory with a unit
    return {"cpu": round(cpu, 2), "memory_mib": round(mem)}


def why_pending(node: RealNode) -> str:
    """What keeps pods Pending: each one's scheduler and kubelet events, and what the node has
    allocated against its allocatable (the scheduler's view, with every pod's requests)."""
    lines = []
    for p in pods(node):
        if p["status"].get("phase") != "Pending":
            continue
        name = p["metadata"]["name"]
        conditions = [
            f"{c.get('type')}={c.get('status')} {c.get('reason', '')} {c.get('message', '')}".strip()
            for c in p["status"].get("conditions", [])
        ]
        waiting = [
            f"{c['name']}: {c['state']['waiting'].get('reason')} {c['state']['waiting'].get('message', '')}"
            for c in p["status"].get("containerStatuses", []) + p["status"].get("initContainerStatuses", [])
            if "waiting" in c.get("state", {})
        ]
        events = node.kubectl(
            "get", "events", "-n", NS, "--field-selector", f"involvedObject.name={name}",
            "-o", "custom-columns=AGE:.lastTimestamp,REASON:.reason,FROM:.source.component,MESSAGE:.message",
            check=False,
        )  # fmt: skip
        lines += [f"--- Pending {name}", *conditions, *waiting, events.strip()]
    if not lines:
        return ""
    described = node.kubectl("describe", "nodes", check=False)
    allocated = described[described.find("Allocated resources:") :][:1500]
    return "\n".join([*lines, "--- node", allocated])


def check_pods(node: RealNode, ignore: tuple[str, ...] = ()) -> dict[str, float]:
    """No Pending pod, no Failed pod (a Job's failed try is a new pod, not a restart), no restart
    (the test's own probe pods, `ignore`, aside); prints every pod's state and peak memory and the
    running pods' requests; returns the peaks (MiB)."""
    state = {
        p["metadata"]["name"]: (
            p["status"].get("phase"),
            sum(c.get("restartCount", 0) for c in p["status"].get("containerStatuses", [])),
        )
        for p in pods(node)
        if p["metadata"]["name"] not in ignore
    }
    print("\npods:", json.dumps(state, indent=1))
    peaks = peak_memory_mib(node)
    print("peak memory (MiB):", json.dumps(peaks, indent=1), "sum:", round(sum(peaks.values())))
    print("requests of the running pods:", json.dumps(requests(pods(node))))
    failed = [p for p in pods(node) if p["status"].get("phase") == "Failed"]
    logs = {
        p["metadata"]["name"]: node.kubectl("logs", p["metadata"]["name"], "-n", NS, "--tail=30", check=False)
        for p in failed
    }
    assert not [n for n, (phase, _) in state.items() if phase == "Pending"], (state, why_pending(node))
    assert not failed, (state, logs)
    restarted = [n for n, (_, restarts) in state.items() if restarts]
    # What the container said before it was restarted: the pod is gone by the next test.
    previous = {n: node.kubectl("logs", n, "-n", NS, "--previous", "--tail=30", check=False) for n in restarted}
    assert not restarted, (state, previous)
    return peaks
