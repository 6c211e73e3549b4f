"""Tail a feed topic (the original project's watch_kafka.sh), decoding what it can."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from coinstream.ingest.kafka import reader


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: str | None
    value: dict[str, object] | None
    raw: bytes | None


def tail(
    bootstrap: str, topic: str, *, from_beginning: bool = False, idle_timeout: float | None = None
) -> Iterator[Record]:
    """Records as they arrive; stops after `idle_timeout` seconds without one (None = never)."""
    consumer = reader(
        bootstrap,
        topic,
        auto_offset_reset="earliest" if from_beginning else "latest",
        consumer_timeout_ms=int(idle_timeout * 1000) if idle_timeout else float("inf"),
    )
    try:
        for msg in consumer:
            try:
                value = json.loads(msg.value) if msg.value is not None else None
            except ValueError:
                value = None
            key = msg.key.decode(errors="replace") if msg.key is not None else None
            yield Record(msg.partition, msg.offset, key, value if isinstance(value, dict) else None, msg.value)
    finally:
        consumer.close()
