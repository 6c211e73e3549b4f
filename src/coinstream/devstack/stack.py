"""The embedded platform on one machine: which local services run, where, and their state.

All state lives under COINSTREAM_STATE_DIR (default ./.state) so `down` + `up`
resumes, and `rm -rf .state` is a full reset. Components start in dependency order
(Kafka, HDFS, metastore, Trino) and stop in reverse. Where the warehouse lives
(local disk or hdfs://) is decided on the first `up` and remembered in
`stack.json`: the metastore's tables point into it, so it cannot silently change.

This is the one way the local services are assembled: the CLI uses the configured
ports and state dir; tests and benchmarks use `LocalStack.ephemeral(home)`, the same
stack on free loopback ports under a directory of their own.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coinstream.devstack.hdfs import LocalHDFS
from coinstream.devstack.kafka import LocalKafka
from coinstream.devstack.metastore import LocalMetastore
from coinstream.devstack.process import ServiceError, free_port, private_dir, private_files
from coinstream.devstack.trino import LocalTrino
from coinstream.models import CoinFeed
from coinstream.platform.hdfs_config import HdfsPorts
from coinstream.settings import Settings, get_settings


class _Background:
    """A start running in a thread (Trino takes longer than Spark's warm-up): wait() re-raises its error."""

    def __init__(self, start: Any) -> None:
        self._done = threading.Event()
        self._error: list[BaseException] = []

        def run() -> None:
            try:
                start()
            except BaseException as exc:
                self._error.append(exc)
            finally:
                self._done.set()

        threading.Thread(target=run, name="stack-background-start", daemon=True).start()

    def wait(self, timeout: float) -> None:
        if not self._done.wait(timeout):
            raise ServiceError(f"background start still running after {timeout:.0f}s")
        if self._error:
            raise self._error[0]


@dataclass
class LocalStack:
    settings: Settings
    #: SASL_SSL + SCRAM + ACLs on the broker (`local up --secure-kafka`), decided on its first start.
    secure_kafka: bool = False
    _trino_start: _Background | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def ephemeral(cls, home: Path, settings: Settings | None = None) -> LocalStack:
        """The stack under `home` on free loopback ports (tests, benchmarks: never the CLI's ports)."""
        ports = HdfsPorts(*(free_port() for _ in HdfsPorts().all()))
        kafka_port = free_port()
        update = {
            "state_dir": home,
            "kafka_port": kafka_port,
            "kafka_bootstrap": f"127.0.0.1:{kafka_port}",
            "kafka_controller_port": free_port(),
            "metastore_port": free_port(),
            "trino_port": free_port(),
            "hdfs_namenode_port": ports.namenode_rpc,
            "hdfs_namenode_http_port": ports.namenode_http,
            "hdfs_datanode_port": ports.datanode_data,
            "hdfs_datanode_ipc_port": ports.datanode_ipc,
            "hdfs_datanode_http_port": ports.datanode_http,
        }
        return cls((settings or get_settings()).model_copy(update=update))

    @property
    def home(self) -> Path:
        return self.settings.state_dir.resolve()

    @property
    def kafka(self) -> LocalKafka:
        home = self.home / "kafka"
        # A broker made secure stays secure: its state holds the SCRAM users and certificates.
        secure = self.secure_kafka or (home / "users" / "admin.password").exists()
        return LocalKafka(home, self.settings.kafka_port, self.settings.kafka_controller_port, secure=secure)

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    @property
    def hdfs(self) -> LocalHDFS:
        return LocalHDFS(self.home / "hdfs", self.settings.hdfs_ports())

    @property
    def hadoop_conf(self) -> dict[str, str]:
        """Hadoop settings a Spark job on this stack's warehouse needs (LakeConfig.hadoop_conf)."""
        return self.hdfs.client_site() if self.on_hdfs else {}

    def _state(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.home / "stack.json").read_text()))
        except FileNotFoundError:
            return {}

    @property
    def on_hdfs(self) -> bool:
        return bool(self._state().get("hdfs"))

    @property
    def warehouse(self) -> str:
        return str(self._state().get("warehouse") or (self.home / "warehouse").as_uri())

    @property
    def metastore(self) -> LocalMetastore:
        return LocalMetastore(self.home / "metastore", self.warehouse, port=self.settings.metastore_port)

    @property
    def trino(self) -> LocalTrino:
        """Trino; after `up(trino_in_background=True)`, once it is up (its start's error re-raised)."""
        if self._trino_start is not None:
            self._trino_start.wait(timeout=600)
        m = self.metastore
        return LocalTrino(self.home / "trino", m.uri, m.warehouse, port=self.settings.trino_port)

    def pyiceberg_properties(self) -> dict[str, str]:
        """What pyiceberg/DuckDB need besides the metastore URI (WebHDFS when on hdfs://)."""
        return self.hdfs.pyiceberg_properties() if self.on_hdfs else {}

    def _choose_warehouse(self, hdfs: bool) -> None:
        state = self._state()
        if state and bool(state.get("hdfs")) != hdfs:
            where = "hdfs://" if state.get("hdfs") else "local disk"
            raise ServiceError(
                f"this state dir ({self.home}) keeps its warehouse on {where}; "
                f"run `coinstream local down && rm -rf {self.home}` to switch"
            )
        if not state:
            warehouse = self.hdfs.warehouse() if hdfs else (self.home / "warehouse").as_uri()
            self.home.mkdir(parents=True, exist_ok=True)
            (self.home / "stack.json").write_text(json.dumps({"hdfs": hdfs, "warehouse": warehouse}))

    def up(
        self,
        feeds: Iterable[CoinFeed] = (),
        *,
        trino: bool = False,
        hdfs: bool = False,
        trino_in_background: bool = False,
    ) -> dict[str, Any]:
        """Start what is not running, in dependency order; with `trino_in_background`, return
        before Trino is up (`stack.trino` waits for it). Everything written is the user's alone."""
        with private_files():
            private_dir(self.home)
            return self._up(feeds, trino=trino, hdfs=hdfs, trino_in_background=trino_in_background)

    def _up(self, feeds: Iterable[CoinFeed], *, trino: bool, hdfs: bool, trino_in_background: bool) -> dict[str, Any]:
        hdfs = hdfs or self.on_hdfs
        started: dict[str, Any] = {"kafka": self.kafka.up()}
        started["topics_created"] = [
            f.topic for f in feeds if self.kafka.ensure_topic(f.topic, f.spec.kafka.partitions, replicas=1)
        ]
        if hdfs:
            started["hdfs"] = self.hdfs.up()
        self._choose_warehouse(hdfs)
        started["metastore"] = self.metastore.up()
        if trino and trino_in_background:
            self._trino_start = _Background(self.trino.up)
        elif trino:
            started["trino"] = self.trino.up()
        return started

    def down(self) -> list[str]:
        if self._trino_start is not None:
            with contextlib.suppress(Exception):  # a failed start leaves nothing to wait for
                self._trino_start.wait(timeout=300)
            self._trino_start = None
        stopped = []
        for name, component in (
            ("trino", self.trino),
            ("metastore", self.metastore),
            ("hdfs", self.hdfs),
            ("kafka", self.kafka),
        ):
            if component.down():
                stopped.append(name)
        return stopped

    def status(self) -> dict[str, dict[str, object]]:
        out: dict[str, dict[str, object]] = {"kafka": self.kafka.status()}
        if self.on_hdfs:
            out["hdfs"] = self.hdfs.status()
        out["metastore"] = self.metastore.status()
        out["trino"] = self.trino.status()
        return out
