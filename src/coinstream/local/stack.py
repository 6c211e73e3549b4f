"""The embedded platform on one machine: which local services run, where, and their state.

All state lives under COINSTREAM_STATE_DIR (default ./.state) so `down` + `up`
resumes, and `rm -rf .state` is a full reset. Components are started in
dependency order and stopped in reverse.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coinstream.local.kafka import LocalKafka
from coinstream.models import CoinFeed
from coinstream.settings import Settings


@dataclass
class LocalStack:
    settings: Settings

    @property
    def home(self) -> Path:
        return self.settings.state_dir.resolve()

    @property
    def kafka(self) -> LocalKafka:
        return LocalKafka(self.home / "kafka", self.settings.kafka_port, self.settings.kafka_controller_port)

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    def up(self, feeds: Iterable[CoinFeed] = ()) -> dict[str, Any]:
        started: dict[str, Any] = {"kafka": self.kafka.up()}
        started["topics_created"] = [
            f.topic for f in feeds if self.kafka.ensure_topic(f.topic, f.spec.kafka.partitions, replicas=1)
        ]
        return started

    def down(self) -> list[str]:
        stopped = []
        if self.kafka.down():
            stopped.append("kafka")
        return stopped

    def status(self) -> dict[str, dict[str, object]]:
        return {"kafka": self.kafka.status()}
