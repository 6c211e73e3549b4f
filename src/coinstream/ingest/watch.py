"""Tail a feed topic (the original project's watch_kafka.sh), decoding what it can."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import ValidationError

from coinstream.ingest.kafka import reader
from coinstream.models import Quote, wire

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
    """The record as the JSON encoding's object (if it decodes, from either encoding) and what
    makes it unusable as a Quote (if anything)."""
    if raw is None:
        return None, "null value (tombstone)"
    if len(raw) > MAX_QUOTE_BYTES:
        return None, f"{len(raw)} bytes, larger than any quote"
    try:
        value = wire.record_object(raw)
    except wire.WireError as exc:  # a binary record that does not decode, or JSON that is not an object
        return None, str(exc)
    except (ValueError, UnicodeDecodeError):
        return None, "not JSON"
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


@dataclass(frozen=True)
class SeriesCount:
    """One (coin, currency) series of a topic: quotes by origin, first day, latest price."""

    coin_id: str
    vs_currency: str
    backfill: int
    live: int
    first_day: str
    latest_price: float

    @property
    def quotes(self) -> int:
        return self.backfill + self.live


def count_series(bootstrap: str, topic: str, idle_timeout: float = 3.0) -> list[SeriesCount]:
    """Read the whole topic back and count it per series (what really landed, not what was sent)."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    first: dict[tuple[str, str], str] = {}
    latest: dict[tuple[str, str], tuple[str, float]] = {}
    for rec in tail(bootstrap, topic, from_beginning=True, idle_timeout=idle_timeout):
        v = rec.value
        if v is None:
            continue
        key = (str(v["coin_id"]), str(v["vs_currency"]))
        by_origin = counts.setdefault(key, {"backfill": 0, "live": 0})
        by_origin[str(v["origin"])] = by_origin.get(str(v["origin"]), 0) + 1
        ts = str(v["source_ts"])
        first[key] = min(first.get(key, ts), ts)
        if key not in latest or ts > latest[key][0]:
            latest[key] = (ts, float(v["price"]))  # type: ignore[arg-type]
    return [
        SeriesCount(key[0], key[1], counts[key]["backfill"], counts[key]["live"], first[key][:10], latest[key][1])
        for key in sorted(counts)
    ]
