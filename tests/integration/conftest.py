"""A real Kafka broker for the integration tests, on free ports, in a temp dir."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from coinstream.local.kafka import LocalKafka
from coinstream.local.process import free_port


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    broker = LocalKafka(tmp_path_factory.mktemp("kafka"), port=free_port(), controller_port=free_port())
    broker.up()  # fails loudly (Java missing, jars unresolvable, port taken): never a silent skip
    yield broker
    broker.down()
