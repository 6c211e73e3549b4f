"""Tail a feed topic (the original project's watch_kafka.sh), decoding what it can."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import ValidationError

from coinstream.ingest.kafka import reader
from coinstream.models import Quote

#: A Quote is a few hundred bytes; anything far larger is not worth parsing to say so.
MAX_QUOTE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: str | None
    value: dict[str, object] | None
    raw: bytes | None
    problem: str | None = None  # why this is not a valid Quote (a poison record), None when it is


def diagnose(raw: bytes | None) -> tuple[dict[str, object] | None, str | None]:
    """The record's JSON object (if any) and what makes it unusable as a Quote (if anything)."""
    if raw is None:
        return None, "null value (tombstone)"
    if len(raw) > MAX_QUOTE_BYTES:
        return None, f"{len(raw)} bytes, larger than any quote"
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None, "not JSON"
    if not isinstance(value, dict):
        return None, f"JSON {type(value).__name__}, not an object"
    try:
        Quote.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "record"
        return value, f"{where}: {first['msg']}"
    return value, None


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
            value, problem = diagnose(msg.value)
            key = msg.key.decode(errors="replace") if msg.key is not None else None
            yield Record(msg.partition, msg.offset, key, value, msg.value, problem)
    finally:
        consumer.close()
