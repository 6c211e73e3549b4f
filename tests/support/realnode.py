"""A real single-node Kubernetes on this machine, from processes (no kind, no registry).

The test control plane (etcd, kube-apiserver, kube-controller-manager) plus kube-scheduler,
containerd + runc + the CNI plugins (Debian packages), kubelet, kube-proxy (iptables), CoreDNS
and kube-network-policies (NetworkPolicy enforcement, the engine kind's kindnet uses), and a
small local-path volume provisioner. Everything binds to a private node address
(`NODE_IP`, on a port-less bridge) or loopback; pods get addresses from `POD_CIDR` on their own
bridge and nothing is masqueraded: no traffic leaves the machine.

It needs root (it is the only part of the project that touches host networking), cgroup v1 or
v2, and the packages of `tools/realnode/install-packages.sh`. `stop()` removes exactly what
`start()` made: its pods (so the CNI plugins release their addresses), its processes (by pid
and by its own containerd socket), its iptables chains and nftables table, its links, mounts,
cgroups and CNI state, and restores the two sysctls it set. A crashed run is cleaned up by the
next `start()` (same names), and one lock keeps two nodes from sharing the machine.

Usage::

    with RealNode(tmp_path) as node:
        node.load_image("ghcr.io/coinstream/coinstream:0.1.0")   # from the private dockerd
        node.kubectl("apply", "-f", "pod.yaml")
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from coinstream.devstack.process import Service, free_port
from tests.support.kubeapi import KubeControlPlane, build_binaries, write_kubeconfig

REPO = Path(__file__).resolve().parents[2]
_PINNED = dict(
    line.split("=", 1)
    for line in (REPO / "src/coinstream/versions.env").read_text().splitlines()
    if "=" in line and not line.startswith("#")
)
NODE_NAME = "coinstream-node"
NODE_IP = "10.99.0.1"
NODE_LINK = "csnode0"
POD_BRIDGE = "csbr0"
POD_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/16"
DNS_IP = "10.96.0.10"
CNI_NETWORK = "coinstream"
RUN = Path(os.environ.get("REALNODE_RUN_DIR", "/run/coinstream-realnode"))
#: One per machine, not per run directory: the node's bridges, addresses and chains are global.
NODE_LOCK = Path("/run/lock/coinstream-realnode.lock")
#: How long a run waits for another run's node to go before it gives up.
LOCK_PATIENCE = 45 * 60.0
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
COREDNS_IMAGE = f"coinstream-local/coredns:{_PINNED['COREDNS_VERSION']}"
NETPOL_IMAGE = f"coinstream-local/kube-network-policies:{_PINNED['KUBE_NETWORK_POLICIES_VERSION']}"
STORAGE_CLASS = "standard"
PROVISIONER = "coinstream.io/local-path"
#: Chains kubelet and the CNI plugins create outside kube-proxy's own (`kube-proxy --cleanup`).
EXTRA_CHAINS = {
    "filter": ["KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "CNI-FORWARD", "CNI-ADMIN"],
    "nat": [
        "KUBE-KUBELET-CANARY",
        "CNI-HOSTPORT-DNAT",
        "CNI-HOSTPORT-SNAT",
        "CNI-HOSTPORT-MASQ",
        "CNI-HOSTPORT-SETMARK",
    ],
    "mangle": ["KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY", "COINSTREAM-NETPOL"],
}
#: kube-network-policies' queue; see `_divert_to_policy_engine`.
NETPOL_QUEUE = 100
SYSCTLS = {"net/ipv4/ip_forward": "1", "net/bridge/bridge-nf-call-iptables": "1"}
#: kubelet sets these at start (its kernel tunables); their values are saved and restored.
KUBELET_SYSCTLS = ("vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops")


class RealNodeError(RuntimeError):
    pass


def sh(*argv: str, check: bool = True, input: bytes | None = None, timeout: float = 300) -> str:
    out = subprocess.run(list(argv), capture_output=True, input=input, check=False, timeout=timeout)
    if check and out.returncode != 0:
        raise RealNodeError(
            f"{' '.join(argv)} failed ({out.returncode}): {out.stderr.decode(errors='replace')[-2000:]}"
        )
    return out.stdout.decode(errors="replace")


def tool(script: str, *args: str) -> str:
    """Run tools/realnode/<script>; its last stdout line."""
    out = subprocess.run(["bash", str(REPO / "tools/realnode" / script), *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RealNodeError(f"tools/realnode/{script} {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return (out.stdout.strip().splitlines() or [""])[-1]


def docker_env() -> dict[str, str]:
    host = tool("dockerd.sh", "env").split("=", 1)[1]
    return {**os.environ, "DOCKER_HOST": host}


class RealNode:
    """Control plane + one node; `kubectl()` as admin; `stop()` leaves the host as it was."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.run = RUN / "node"
        self.containerd_sock = self.run / "containerd/containerd.sock"
        self.containerd_root = (
            Path(os.environ.get("COINSTREAM_CACHE", Path.home() / ".cache/coinstream")) / "realnode/containerd"
        )
        self.kubelet_root = self.workdir / "kubelet"
        self.cni_conf = self.run / "cni/net.d"
        self.ipam_dir = self.run / "cni/ipam"
        self.volumes = self.workdir / "volumes"
        self.kube: KubeControlPlane | None = None
        self._services: list[Service] = []
        self._lock: Any = None
        self._sysctls: dict[str, str] = {}
        self._provisioner: threading.Thread | None = None
        self._stopping = threading.Event()
        self.timings: dict[str, float] = {}

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> RealNode:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _timed(self, phase: str, t0: float) -> None:
        self.timings[phase] = round(time.monotonic() - t0, 1)

    def _wait_for_the_machine(self, patience: float = LOCK_PATIENCE) -> None:
        """Two runs on one machine (a developer's e2e and a `make test`) queue for the node rather
        than the second failing at once: the node's names, addresses and chains are per machine."""
        deadline = time.monotonic() + patience
        while True:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError as exc:
                if time.monotonic() > deadline:
                    raise RealNodeError(
                        f"another real node has run on this machine for over {patience:.0f} s ({NODE_LOCK})"
                    ) from exc
                time.sleep(5)

    def start(self) -> None:
        if os.geteuid() != 0:
            raise RealNodeError("the real node needs root (containerd, kubelet, iptables)")
        RUN.mkdir(parents=True, exist_ok=True)
        self._lock = NODE_LOCK.open("w")
        self._wait_for_the_machine()
        t0 = time.monotonic()
        tool("install-packages.sh")
        self._timed("packages", t0)
        t0 = time.monotonic()
        self.bins = {
            "kube": build_binaries("kube"),
            "node": build_binaries("node"),
            "coredns": build_binaries("coredns"),
            "netpol": build_binaries("netpol"),
        }
        self._timed("binaries", t0)
        self.cleanup_host()  # whatever a crashed run left
        self.workdir.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        tool("dockerd.sh", "start")
        tool("base-images.sh")
        self._node_images()
        self._timed("base images", t0)
        t0 = time.monotonic()
        self._network()
        self._containerd()
        for image in (PAUSE_IMAGE, COREDNS_IMAGE, NETPOL_IMAGE):
            self.load_image(image)
        self._control_plane()
        self._kubelet()
        self._kube_proxy()
        self.wait_for("node Ready", self._node_ready, timeout=120)
        self._addons()
        self._timed("node up", t0)

    def stop(self) -> None:
        self._stopping.set()
        if self.kube is not None and self._services:
            with contextlib.suppress(Exception):
                self._delete_all_pods()
        for svc in reversed(self._services):
            svc.stop(timeout=20)
        self._services.clear()
        if self.kube is not None:
            self.kube.stop()
            self.kube = None
        self.cleanup_host()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # -- host state -------------------------------------------------------------------------------

    def cleanup_host(self) -> None:
        """Remove this node's host state (idempotent; also after a crash)."""
        self._kill_pod_processes()
        self._kill_shims()
        proxy = self._bin("node", "kube-proxy")
        if proxy.exists():
            sh(str(proxy), "--cleanup", check=False, timeout=60)
        for table, chains in EXTRA_CHAINS.items():
            for chain in chains:
                self._drop_chain(table, chain)
        sh("nft", "delete", "table", "inet", "kube-network-policies", check=False)
        for link in (POD_BRIDGE, NODE_LINK):
            sh("ip", "link", "delete", link, check=False)
        for veth in self._our_veths():
            sh("ip", "link", "delete", veth, check=False)
        self._unmount_under(self.kubelet_root, self.run, self.containerd_root)
        self._remove_cgroups()
        shutil.rmtree(self.run, ignore_errors=True)
        for key, old in self._sysctls.items():
            with contextlib.suppress(OSError):
                Path("/proc/sys", key).write_text(old)
        self._sysctls.clear()

    def _bin(self, what: str, name: str) -> Path:
        bins = getattr(self, "bins", {})
        return Path(bins[what]) / name if what in bins else Path("/nonexistent")

    def _kill_shims(self) -> None:
        """containerd's shims outlive it by design; ours are the ones started for our socket."""
        needle = f"-address {self.containerd_sock}".encode()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
                if b"containerd-shim" in cmd and needle in cmd:
                    os.kill(int(proc.name), 9)

    def _drop_chain(self, table: str, chain: str) -> None:
        if subprocess.run(["iptables", "-t", table, "-n", "-L", chain], capture_output=True).returncode != 0:
            return
        rules = sh("iptables", "-t", table, "-S", check=False).splitlines()
        for rule in rules:  # every jump into the chain first, then the chain
            if rule.startswith("-A ") and rule.endswith(f"-j {chain}"):
                # shlex: the rules carry quoted comments ("CNI firewall plugin rules").
                sh("iptables", "-t", table, "-D", *shlex.split(rule)[1:], check=False)
        sh("iptables", "-t", table, "-F", chain, check=False)
        sh("iptables", "-t", table, "-X", chain, check=False)

    def _kubepods_cgroups(self) -> list[Path]:
        base = Path("/sys/fs/cgroup")
        tops = [p / "kubepods" for p in base.iterdir() if (p / "kubepods").is_dir()]
        if (base / "kubepods").is_dir():
            tops.append(base / "kubepods")
        tops += [p / "kubepods.slice" for p in base.iterdir() if (p / "kubepods.slice").is_dir()]
        return tops

    def _kill_pod_processes(self) -> None:
        """Containers outlive kubelet, containerd and their shims: SIGKILL what is left in the
        pod cgroups (only this node's kubelet makes `kubepods`), so their network namespaces,
        mounts and cgroups can go."""
        for _ in range(20):
            pids: set[int] = set()
            for top in self._kubepods_cgroups():
                for procs in top.rglob("cgroup.procs"):
                    with contextlib.suppress(OSError, ValueError):
                        pids.update(int(x) for x in procs.read_text().split())
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)

    def _our_veths(self) -> list[str]:
        out = sh("ip", "-o", "link", "show", "master", POD_BRIDGE, check=False)
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]

    def _unmount_under(self, *roots: Path) -> None:
        prefixes = tuple(str(r.resolve()) if r.exists() else str(r) for r in roots)
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
        for target in sorted((m for m in mounts if m.startswith(prefixes)), key=len, reverse=True):
            sh("umount", "-l", target, check=False)

    def _remove_cgroups(self) -> None:
        for top in self._kubepods_cgroups():
            for path, _dirs, _files in sorted(os.walk(top), key=lambda t: len(t[0]), reverse=True):
                with contextlib.suppress(OSError):
                    os.rmdir(path)

    def _network(self) -> None:
        sh("ip", "link", "add", NODE_LINK, "type", "bridge")
        sh("ip", "addr", "add", f"{NODE_IP}/32", "dev", NODE_LINK)
        sh("ip", "link", "set", NODE_LINK, "up")
        for key in KUBELET_SYSCTLS:
            self._sysctls.setdefault(key, Path("/proc/sys", key).read_text().strip())
        for key, value in SYSCTLS.items():
            path = Path("/proc/sys", key)
            self._sysctls.setdefault(key, path.read_text().strip())
            path.write_text(value)
        self.cni_conf.mkdir(parents=True, exist_ok=True)
        self.ipam_dir.mkdir(parents=True, exist_ok=True)
        conflist = {
            "cniVersion": "1.0.0",
            "name": CNI_NETWORK,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": POD_BRIDGE,
                    "isGateway": True,
                    "ipMasq": False,  # nothing leaves the machine
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_CIDR}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(self.ipam_dir),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
                # A FORWARD policy of DROP (Docker's) would drop pod traffic without it.
                {"type": "firewall", "backend": "iptables"},
            ],
        }
        (self.cni_conf / "10-coinstream.conflist").write_text(json.dumps(conflist, indent=2))

    # -- processes --------------------------------------------------------------------------------

    def _service(self, name: str) -> Service:
        svc = Service(name, self.workdir, [])
        self._services.append(svc)
        return svc

    @staticmethod
    def _shared_umask(argv: list[str]) -> list[str]:
        """Node daemons run under umask 022, not a Service's private 077.

        containerd unpacks image layers and kubelet lays out volumes with the process's
        umask: under 077 every directory is root-only, and a pod running as non-root cannot
        even stat its own entrypoint ("stat /coredns: permission denied").
        """
        return ["sh", "-c", 'umask 022 && exec "$@"', "sh", *argv]

    def _containerd(self) -> None:
        state = self.run / "containerd"
        state.mkdir(parents=True, exist_ok=True)
        self.containerd_root.mkdir(parents=True, exist_ok=True)
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        config = f"""version = 2
root = "{self.containerd_root}"
state = "{state / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{self.containerd_sock}"
[ttrpc]
  address = "{self.containerd_sock}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{state / "opt"}"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  # No CAP_SYS_RESOURCE here: a negative oom_score_adj would fail every sandbox.
  restrict_oom_score_adj = true
  # The kernel has no AppArmor.
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  # Pod network namespaces under our state dir, not /run/netns: teardown finds them by path.
  netns_mounts_under_state_dir = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
  [{cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{self.cni_conf}"
"""
        path = self.workdir / "containerd.toml"
        path.write_text(config)
        svc = self._service("containerd")
        svc.start(
            self._shared_umask(["containerd", "--config", str(path), "--log-level", "warn"]),
            ready=lambda: self.ctr("version", check=False) is not None,
            timeout=60,
        )

    def ctr(self, *args: str, check: bool = True, input: bytes | None = None) -> str | None:
        out = subprocess.run(
            ["ctr", "--address", str(self.containerd_sock), "-n", "k8s.io", *args],
            capture_output=True,
            input=input,
            check=False,
            timeout=900,
        )
        if out.returncode != 0:
            if check:
                raise RealNodeError(f"ctr {' '.join(args)}: {out.stderr.decode(errors='replace')}")
            return None
        return out.stdout.decode(errors="replace")

    def load_image(self, image: str) -> None:
        """Copy an image from the private Docker engine into the node (skipped if the same id)."""
        env = docker_env()
        image_id = subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Id}}", image], capture_output=True, text=True, env=env
        ).stdout.strip()
        if not image_id:
            raise RealNodeError(f"image {image} is not in the private Docker engine")
        ref = normalized(image)
        short_id = image_id.split(":")[-1][:12]
        have = self.ctr("images", "ls", f"name=={ref}", check=False) or ""
        if f"coinstream.io/docker-id={short_id}" in have:
            return
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE, env=env)
        out = subprocess.run(
            ["ctr", "--address", str(self.containerd_sock), "-n", "k8s.io", "images", "import", "--no-unpack", "-"],
            stdin=save.stdout,
            capture_output=True,
            check=False,
            timeout=900,
        )
        save.wait()
        if out.returncode != 0 or save.returncode != 0:
            raise RealNodeError(f"loading {image} failed: {out.stderr.decode(errors='replace')}")
        # Label it with the Docker id so a re-load of an unchanged image is skipped.
        self.ctr("images", "label", ref, f"coinstream.io/docker-id={short_id}", check=False)

    def drop_superseded(self, keep: list[str], repositories: tuple[str, ...]) -> list[str]:
        """Remove the other tags of `repositories` from the private Docker engine and the node's
        store: the tag follows the code, so every change leaves a ~1 GB image behind in each, and
        a full disk puts the node under DiskPressure (its pods then stay Pending). Run before the
        images are loaded, not while pods may still run an older tag."""
        env = docker_env()
        wanted = {normalized(i) for i in keep}
        dropped = []
        for repo in repositories:
            tags = subprocess.run(
                ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", repo],
                capture_output=True, text=True, env=env,
            ).stdout.split()  # fmt: skip
            for tag in tags:
                if normalized(tag) not in wanted:
                    subprocess.run(["docker", "rmi", tag], capture_output=True, env=env)
                    dropped.append(tag)
            stored = (self.ctr("images", "ls", "-q", check=False) or "").split()
            for ref in stored:
                if ref.startswith(normalized(repo) + ":") and ref not in wanted:
                    self.ctr("images", "rm", ref, check=False)
                    dropped.append(ref)
        return dropped

    def _node_images(self) -> None:
        """CoreDNS and kube-network-policies: static binaries, one-layer images."""
        env = docker_env()
        for image, binary in (
            (COREDNS_IMAGE, self._bin("coredns", "coredns")),
            (NETPOL_IMAGE, self._bin("netpol", "kube-network-policies")),
        ):
            if subprocess.run(["docker", "image", "inspect", image], capture_output=True, env=env).returncode == 0:
                continue
            tmp = self.workdir / f"img-{binary.name}"
            tmp.mkdir(parents=True, exist_ok=True)
            shutil.copy(binary, tmp / binary.name)
            tar = subprocess.run(["tar", "-C", str(tmp), "-c", binary.name], capture_output=True, check=True).stdout
            subprocess.run(
                ["docker", "import", "-c", f'ENTRYPOINT ["/{binary.name}"]', "-", image],
                input=tar,
                capture_output=True,
                check=True,
                env=env,
            )

    def _control_plane(self) -> None:
        self.kube = KubeControlPlane(
            self.workdir / "control-plane",
            bind_address=NODE_IP,
            service_cidr=SERVICE_CIDR,
            controllers="*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
            apiserver_args=(
                "--allow-privileged=true",  # kube-network-policies runs privileged in kube-system
                "--kubelet-preferred-address-types=InternalIP",
                "--enable-admission-plugins=NodeRestriction,OwnerReferencesPermissionEnforcement",
            ),
        )
        self.kube.start()
        self._node_certificates()
        self._service_scheduler()

    def _node_certificates(self) -> None:
        """kubelet's serving and client certs, kube-proxy's and the scheduler's, from the test CA."""
        pki = self._kube.pki
        self.kubelet_serving = pki.issue("kubelet-serving", NODE_NAME, server=True, hosts=(NODE_IP, NODE_NAME))
        self.kubelet_client = pki.issue("kubelet", f"system:node:{NODE_NAME}", orgs=("system:nodes",))
        self.proxy_client = pki.issue("kube-proxy", "system:kube-proxy", orgs=("system:node-proxier",))
        self.scheduler_client = pki.issue("scheduler", "system:kube-scheduler", orgs=("system:masters",))

    def _service_scheduler(self) -> None:
        kube = self._kube
        config = write_kubeconfig(
            self.workdir / "scheduler.kubeconfig",
            kube.server,
            kube.ca,
            {"client-certificate": str(self.scheduler_client[0]), "client-key": str(self.scheduler_client[1])},
        )
        port = free_port()
        svc = self._service("kube-scheduler")
        svc.start(
            self._shared_umask(
                [
                    str(self._bin("node", "kube-scheduler")),
                    f"--kubeconfig={config}",
                    f"--authentication-kubeconfig={config}",
                    f"--authorization-kubeconfig={config}",
                    "--leader-elect=false",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={port}",
                    "--v=1",
                ]
            ),
            ready=lambda: (
                "Starting Kubernetes Scheduler" in svc.log_tail(200)
                or "Attempting to acquire" in svc.log_tail(200)
                or _tcp(port)
            ),
            timeout=120,
        )

    @property
    def _kube(self) -> KubeControlPlane:
        if self.kube is None:
            raise RealNodeError("control plane not started")
        return self.kube

    def _kubelet(self) -> None:
        kube = self._kube
        self.kubelet_root.mkdir(parents=True, exist_ok=True)
        kubeconfig = write_kubeconfig(
            self.workdir / "kubelet.kubeconfig",
            kube.server,
            kube.ca,
            {"client-certificate": str(self.kubelet_client[0]), "client-key": str(self.kubelet_client[1])},
        )
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "cgroupDriver": "cgroupfs",
            "containerRuntimeEndpoint": f"unix://{self.containerd_sock}",
            "address": NODE_IP,
            "port": 10250,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": free_port(),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(kube.ca)},
            },
            "authorization": {"mode": "Webhook"},
            "tlsCertFile": str(self.kubelet_serving[0]),
            "tlsPrivateKeyFile": str(self.kubelet_serving[1]),
            "clusterDomain": "cluster.local",
            "clusterDNS": [DNS_IP],
            "failSwapOn": False,
            "failCgroupV1": False,
            "resolvConf": str(self._resolv_conf()),
            # Small thresholds: the disk and memory are shared with everything else here.
            "evictionHard": {"memory.available": "200Mi", "nodefs.available": "2%", "imagefs.available": "2%"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "serializeImagePulls": False,
            "maxPods": 60,
            "podPidsLimit": 4096,
            "enableServer": True,
            "volumePluginDir": str(self.workdir / "volume-plugins"),
        }
        path = self.workdir / "kubelet.yaml"
        path.write_text(yaml.safe_dump(config))
        svc = self._service("kubelet")
        svc.start(
            self._shared_umask(
                [
                    str(self._bin("node", "kubelet")),
                    f"--config={path}",
                    f"--kubeconfig={kubeconfig}",
                    f"--hostname-override={NODE_NAME}",
                    f"--node-ip={NODE_IP}",
                    f"--root-dir={self.kubelet_root}",
                    f"--cert-dir={self.workdir / 'kubelet-pki'}",
                    "--v=1",
                ]
            ),
            ready=lambda: (
                self.kube is not None and self.kube.kubectl("get", "node", NODE_NAME, check=False).returncode == 0
            ),
            timeout=120,
        )

    def _resolv_conf(self) -> Path:
        """Pods with dnsPolicy Default get this: no upstream resolver (nothing leaves the machine)."""
        path = self.workdir / "resolv.conf"
        path.write_text(f"nameserver {DNS_IP}\n")
        return path

    def _kube_proxy(self) -> None:
        kube = self._kube
        kubeconfig = write_kubeconfig(
            self.workdir / "kube-proxy.kubeconfig",
            kube.server,
            kube.ca,
            {"client-certificate": str(self.proxy_client[0]), "client-key": str(self.proxy_client[1])},
        )
        health = free_port()
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "mode": "iptables",
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "hostnameOverride": NODE_NAME,
            "bindAddress": NODE_IP,
            "clusterCIDR": POD_CIDR,
            "healthzBindAddress": f"127.0.0.1:{health}",
            "metricsBindAddress": f"127.0.0.1:{free_port()}",
            # NodePorts only on the node's private address, never on the machine's others.
            "nodePortAddresses": [f"{NODE_IP}/32"],
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        }
        path = self.workdir / "kube-proxy.yaml"
        path.write_text(yaml.safe_dump(config))
        self._service("kube-proxy").start(
            self._shared_umask([str(self._bin("node", "kube-proxy")), f"--config={path}", "--v=1"]),
            ready=lambda: _http_ok(f"http://127.0.0.1:{health}/healthz"),
            timeout=60,
        )

    def _node_ready(self) -> bool:
        out = self._kube.kubectl("get", "node", NODE_NAME, "-o", "json", check=False)
        if out.returncode != 0:
            return False
        conds = json.loads(out.stdout).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    # -- add-ons ----------------------------------------------------------------------------------

    def _addons(self) -> None:
        self.apply(addon_manifests())
        self._divert_to_policy_engine()
        self._provisioner = threading.Thread(target=self._provision_loop, name="local-path", daemon=True)
        self._provisioner.start()
        self.wait_for("CoreDNS and kube-network-policies running", self._addons_ready, timeout=180)

    def _divert_to_policy_engine(self) -> None:
        """Send each new pod connection to kube-network-policies' NFQUEUE through iptables.

        The engine installs an nftables `queue` rule for this, and this kernel has no nftables
        queue expression (CONFIG_NFT_QUEUE unset: its sync fails with "netlink receive: no such
        file or directory" and no policy is enforced). The xtables NFQUEUE target is built in,
        so the same verdict path is reached with the upstream rule set written for iptables:
        after DNAT (mangle POSTROUTING, as upstream's postrouting hook), the node's own root
        traffic (kubelet probes) and established flows exempt, pod sources and destinations
        queued, no bypass (fail closed, upstream's default).
        """
        chain = "COINSTREAM-NETPOL"
        self._drop_chain("mangle", chain)
        rules = [
            ["-m", "owner", "--uid-owner", "0", "-j", "RETURN"],
            ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"],
            ["-s", POD_CIDR, "-j", "NFQUEUE", "--queue-num", str(NETPOL_QUEUE)],
            ["-d", POD_CIDR, "-j", "NFQUEUE", "--queue-num", str(NETPOL_QUEUE)],
        ]
        sh("iptables", "-t", "mangle", "-N", chain)
        for rule in rules:
            sh("iptables", "-t", "mangle", "-A", chain, *rule)
        sh("iptables", "-t", "mangle", "-A", "POSTROUTING", "-j", chain)

    def _addons_ready(self) -> bool:
        pods = self.kubectl_json("get", "pods", "-n", "kube-system")["items"]
        ready = {
            p["metadata"]["labels"].get("k8s-app")
            for p in pods
            if any(c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", []))
        }
        return {"kube-dns", "kube-network-policies"} <= ready

    def _provision_loop(self) -> None:
        """Binds each Pending claim of our StorageClass to a new hostPath volume (local-path style)."""
        while not self._stopping.wait(2):
            with contextlib.suppress(Exception):
                self.provision_pending()

    def provision_pending(self) -> None:
        claims = self.kubectl_json("get", "pvc", "-A")["items"]
        for pvc in claims:
            spec, meta = pvc["spec"], pvc["metadata"]
            if pvc.get("status", {}).get("phase") != "Pending" or spec.get("volumeName"):
                continue
            if (spec.get("storageClassName") or STORAGE_CLASS) != STORAGE_CLASS:
                continue
            name = f"pv-{meta['namespace']}-{meta['name']}"[:253]
            path = self.volumes / meta["namespace"] / meta["name"]
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o777)  # hostPath ignores fsGroup; pods run as assorted non-root users
            pv = {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": name, "labels": {"coinstream.io/local-path": "true"}},
                "spec": {
                    "capacity": {"storage": spec["resources"]["requests"]["storage"]},
                    "accessModes": spec.get("accessModes", ["ReadWriteOnce"]),
                    "persistentVolumeReclaimPolicy": "Delete",
                    "storageClassName": STORAGE_CLASS,
                    "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
                    "claimRef": {"namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]},
                    "nodeAffinity": {
                        "required": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": "kubernetes.io/hostname", "operator": "In", "values": [NODE_NAME]}
                                    ]
                                }
                            ]
                        }
                    },
                },
            }
            self.apply([pv])

    def _delete_all_pods(self) -> None:
        """Pods go first, so kubelet tears down their sandboxes and the CNI plugins free the IPs.

        Their controllers go before them, or the pods come back; whatever kubelet has not torn
        down in time is killed by `cleanup_host`.
        """
        kube = self._kube
        kube.kubectl(
            "delete",
            "deployments,statefulsets,daemonsets,replicasets,jobs,cronjobs",
            "--all",
            "-A",
            "--wait=false",
            check=False,
            timeout=60,
        )
        kube.kubectl("delete", "pods", "--all", "-A", "--wait=false", "--grace-period=5", check=False, timeout=60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            left = kube.kubectl("get", "pods", "-A", "-o", "name", check=False, timeout=30).stdout.strip()
            tasks = (self.ctr("tasks", "ls", "-q", check=False) or "").strip()
            if not left and not tasks:
                return
            time.sleep(1)

    # -- clients ----------------------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self._kube.admin_kubeconfig

    def kubectl(self, *args: str, check: bool = True, input: str | None = None, timeout: float = 300) -> str:
        return self._kube.kubectl(*args, check=check, input=input, timeout=timeout).stdout

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def apply(self, docs: list[dict[str, Any]]) -> None:
        self.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=coinstream-realnode",
            "-f",
            "-",
            input=yaml.safe_dump_all(docs),
        )

    def wait_for(self, what: str, check: Any, timeout: float = 60, interval: float = 1.0) -> Any:
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            with contextlib.suppress(RealNodeError, subprocess.SubprocessError):
                last = check()
                if last:
                    return last
            time.sleep(interval)
        raise RealNodeError(f"timed out after {timeout}s waiting for {what} (last: {last!r})\n{self.diagnostics()}")

    def diagnostics(self) -> str:
        parts = []
        for svc in self._services:
            parts.append(f"--- {svc.name}\n{svc.log_tail(15)}")
        if self.kube is not None:
            parts.append(self.kubectl("get", "pods", "-A", "-o", "wide", check=False))
        return "\n".join(parts)


def normalized(image: str) -> str:
    """The name containerd (and kubelet) give an image: docker.io/ when no registry is named."""
    first = image.split("/", 1)[0]
    if "/" not in image:
        return f"docker.io/library/{image}"
    if "." in first or ":" in first or first == "localhost":
        return image
    return f"docker.io/{image}"


def _tcp(port: int) -> bool:
    from coinstream.devstack.process import port_open

    return port_open(port)


def _http_ok(url: str) -> bool:
    import requests

    with requests.Session() as session:
        session.trust_env = False
        try:
            return session.get(url, timeout=1).status_code == 200
        except requests.RequestException:
            return False


def addon_manifests() -> list[dict[str, Any]]:
    """CoreDNS (a pod, so NetworkPolicies can allow it by label) and kube-network-policies."""
    corefile = """.:53 {
    errors
    ready :8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
}
"""
    dns_labels = {"k8s-app": "kube-dns"}
    np_labels = {"k8s-app": "kube-network-policies"}
    return [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": PROVISIONER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "coredns", "namespace": "kube-system"}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "coinstream-node:coredns"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "system:coredns"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
            ],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "coredns", "namespace": "kube-system"},
            "data": {"Corefile": corefile},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "coredns", "namespace": "kube-system", "labels": dns_labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": dns_labels},
                "template": {
                    "metadata": {"labels": dns_labels},
                    "spec": {
                        "serviceAccountName": "coredns",
                        "dnsPolicy": "Default",
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 65532,
                            "seccompProfile": {"type": "RuntimeDefault"},
                            # Port 53 without a capability (a safe, namespaced sysctl).
                            "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "53"}],
                        },
                        "containers": [
                            {
                                "name": "coredns",
                                "image": COREDNS_IMAGE,
                                "imagePullPolicy": "Never",
                                "args": ["-conf", "/etc/coredns/Corefile"],
                                "ports": [
                                    {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                    {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                                ],
                                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 2},
                                "resources": {
                                    "requests": {"cpu": "10m", "memory": "32Mi"},
                                    "limits": {"memory": "128Mi"},
                                },
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                                "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns"}],
                            }
                        ],
                        "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": dns_labels},
            "spec": {
                "clusterIP": DNS_IP,
                "selector": dns_labels,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                ],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "kube-network-policies", "namespace": "kube-system"},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "coinstream-node:kube-network-policies"},
            "rules": [
                {"apiGroups": [""], "resources": ["pods", "namespaces", "nodes"], "verbs": ["list", "watch", "get"]},
                {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["list", "watch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "coinstream-node:kube-network-policies"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "coinstream-node:kube-network-policies",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "kube-network-policies", "namespace": "kube-system"}],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "kube-network-policies", "namespace": "kube-system", "labels": np_labels},
            "spec": {
                "selector": {"matchLabels": np_labels},
                "template": {
                    "metadata": {"labels": np_labels},
                    "spec": {
                        "serviceAccountName": "kube-network-policies",
                        "hostNetwork": True,
                        "dnsPolicy": "ClusterFirstWithHostNet",
                        "containers": [
                            {
                                "name": "kube-network-policies",
                                "image": NETPOL_IMAGE,
                                "imagePullPolicy": "Never",
                                "args": [
                                    f"--hostname-override={NODE_NAME}",
                                    "--disable-nri",  # containerd 1.6 has no NRI
                                    "--netfilter-bug-1766-fix=false",  # fixed in this kernel (6.12+)
                                    "--metrics-bind-address=127.0.0.1:19080",
                                    "--v=1",
                                ],
                                "resources": {
                                    "requests": {"cpu": "10m", "memory": "32Mi"},
                                    "limits": {"memory": "128Mi"},
                                },
                                "securityContext": {"privileged": True, "capabilities": {"add": ["NET_ADMIN"]}},
                                "readinessProbe": {
                                    "httpGet": {"host": "127.0.0.1", "path": "/metrics", "port": 19080},
                                    "periodSeconds": 2,
                                },
                            }
                        ],
                    },
                },
            },
        },
    ]
