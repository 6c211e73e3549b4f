"""The embedded platform on one machine: which local services run, where, and their state.

All state lives under COINSTREAM_STATE_DIR (default ./.state) so `down` + `up`
resumes, and `rm -rf .state` is a full reset. Components start in dependency order
(Kafka, HDFS, metastore, Trino) and stop in reverse. Where the warehouse lives
(local disk or hdfs://) is decided on the first `up` and remembered in
`stack.json`: the metastore's tables point into it, so it cannot silently change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coinstream.devstack.hdfs import LocalHDFS
from coinstream.devstack.kafka import LocalKafka
from coinstream.devstack.metastore import LocalMetastore
from coinstream.devstack.process import ServiceError, private_dir, private_files
from coinstream.devstack.trino import LocalTrino
from coinstream.models import CoinFeed
from coinstream.settings import Settings


@dataclass
class LocalStack:
    settings: Settings
    #: SASL_SSL + SCRAM + ACLs on the broker (`local up --secure-kafka`), decided on its first start.
    secure_kafka: bool = False

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
        s = self.settings
        return LocalHDFS(
            self.home / "hdfs",
            namenode_port=s.hdfs_namenode_port,
            namenode_http_port=s.hdfs_namenode_http_port,
            datanode_port=s.hdfs_datanode_port,
            datanode_ipc_port=s.hdfs_datanode_ipc_port,
            datanode_http_port=s.hdfs_datanode_http_port,
        )

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

    def up(self, feeds: Iterable[CoinFeed] = (), *, trino: bool = False, hdfs: bool = False) -> dict[str, Any]:
        with private_files():
            private_dir(self.home)
            return self._up(feeds, trino=trino, hdfs=hdfs)

    def _up(self, feeds: Iterable[CoinFeed], *, trino: bool, hdfs: bool) -> dict[str, Any]:
        hdfs = hdfs or self.on_hdfs
        started: dict[str, Any] = {"kafka": self.kafka.up()}
        started["topics_created"] = [
            f.topic for f in feeds if self.kafka.ensure_topic(f.topic, f.spec.kafka.partitions, replicas=1)
        ]
        if hdfs:
            started["hdfs"] = self.hdfs.up()
        self._choose_warehouse(hdfs)
        started["metastore"] = self.metastore.up()
        if trino:
            started["trino"] = self.trino.up()
        return started

    def down(self) -> list[str]:
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
