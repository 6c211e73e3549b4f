"""The Quote's binary wire encoding: Avro (schemaless) behind a two-byte marker.

`python -m coinstream.models.wire OUT` writes its schema (schemas/quote-v1.avsc, by `make generate`).

Why a second encoding: decoding JSON was the streaming job's largest cost per row (`from_json`
with two ISO timestamps to parse); the same quote in Avro is a third of the bytes and Spark
decodes it several times cheaper (bench/README.md, "Stream"). JSON stays a first-class input
(the documented event schema, producers of one's own, the tests): every record says which
encoding it is in its first byte, since JSON text never starts with MAGIC.

A binary record is MAGIC, the schema version (one byte), then the Avro binary encoding of the
Quote with the schema below. The schema is derived from the Quote model through the same
field-to-type mapping as Spark's (`coinstream.models.spark`), so it cannot drift from the JSON
Schema or the table. Timestamps are `timestamp-millis`: the JSON wire format carries
milliseconds, and both encodings of one quote must name the same instant (the dedup identity).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import struct
from typing import Any

from pydantic import BaseModel

from coinstream.errors import UserInputError
from coinstream.models.quote import SCHEMA_VERSION, Quote, iso_ms
from coinstream.models.spark import spark_columns

#: First byte of a binary record: not a byte JSON text (UTF-8, optional whitespace, then `{`) can start with.
MAGIC = 0xC5
HEADER = bytes([MAGIC, SCHEMA_VERSION])
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)

_AVRO_TYPES: dict[str, Any] = {
    "STRING": "string",
    "DOUBLE": "double",
    "INT": "int",
    "BOOLEAN": "boolean",
    "TIMESTAMP": {"type": "long", "logicalType": "timestamp-millis"},
}


class WireError(UserInputError):
    """A record that is not a quote in either encoding (bad input: a ValueError too)."""


def avro_schema(model: type[BaseModel] = Quote, version: int = SCHEMA_VERSION) -> dict[str, Any]:
    """The Avro record schema of `model`: required fields are plain types, optional ones a union with null."""
    fields: list[dict[str, Any]] = []
    for name, spark, nullable in spark_columns(model):
        avro = _AVRO_TYPES[spark]
        field = {"name": name, "type": ["null", avro], "default": None} if nullable else {"name": name, "type": avro}
        fields.append(field)
    return {
        "type": "record",
        "name": model.__name__,
        "namespace": f"io.coinstream.v{version}",
        "doc": f"coinstream {model.__name__} event v{version}, after the header bytes {MAGIC:#04x} {version:#04x}",
        "fields": fields,
    }


def avro_schema_json() -> str:
    """The schema as the text Spark's `from_avro` takes."""
    return json.dumps(avro_schema(), sort_keys=True)


@functools.cache
def _parsed() -> Any:
    from fastavro import parse_schema

    return parse_schema(avro_schema())


def _zigzag(n: int) -> bytes:
    """Avro's int/long: zigzag, then base-128 varint."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class _Cache(dict[Any, bytes]):
    """Encoded bytes of recent values: a snapshot's quotes share their strings and timestamps."""

    def __init__(self, encode: Any) -> None:
        super().__init__()
        self.encode = encode

    def __missing__(self, value: Any) -> bytes:
        if len(self) >= 4096:
            self.clear()
        out = self[value] = self.encode(value)
        return out


def _string(value: str) -> bytes:
    data = value.encode()
    return _zigzag(len(data)) + data


def _timestamp(value: dt.datetime) -> bytes:
    return _zigzag((value - _EPOCH) // _MS)


def _encoder(avro: Any) -> Any:
    """One field's encoder for an Avro type of the schema (the types avro_schema emits)."""
    if isinstance(avro, list):  # ["null", T]: branch index, then the value
        inner = _encoder(avro[1])
        return lambda v: b"\x00" if v is None else b"\x02" + inner(v)
    if avro == "string":
        return _Cache(_string).__getitem__
    if avro == "double":
        return _DOUBLE.pack
    if avro in ("int", "long"):
        return _Cache(_zigzag).__getitem__
    if avro == "boolean":
        return lambda v: b"\x01" if v else b"\x00"
    if isinstance(avro, dict) and avro.get("logicalType") == "timestamp-millis":
        return _Cache(_timestamp).__getitem__
    raise TypeError(f"no encoder for Avro type {avro!r}")


_DOUBLE = struct.Struct("<d")


@functools.cache
def _field_encoders() -> tuple[tuple[str, Any], ...]:
    return tuple((f["name"], _encoder(f["type"])) for f in avro_schema()["fields"])


def encode(quote: Quote) -> bytes:
    """The binary record of a quote (the producer's value).

    Written here rather than by fastavro's schemaless_writer, which cost ~8x `to_json` per
    quote on the producer's hot path; `decode` reads it back with fastavro, and the tests hold
    the two (and Spark's from_avro) to the same bytes.
    """
    values = quote.__dict__
    return HEADER + b"".join([enc(values[name]) for name, enc in _field_encoders()])


def is_binary(raw: bytes) -> bool:
    return raw[:1] == HEADER[:1]


def decode(raw: bytes) -> dict[str, Any]:
    """A binary record as the JSON encoding's object (timestamps as millisecond ISO text).

    Raises WireError for an unknown schema version or a body that does not decode. Bytes after
    the record are ignored, as Avro readers (Spark's `from_avro` too) do: the stream and this
    reader accept the same records.
    """
    from fastavro import schemaless_reader

    if not is_binary(raw):
        raise WireError("not a binary quote record")
    if raw[1:2] != HEADER[1:2]:
        version = raw[1] if len(raw) > 1 else None
        raise WireError(f"unknown binary schema version {version}")
    body = io.BytesIO(raw[len(HEADER) :])
    try:
        record = schemaless_reader(body, _parsed(), None)
    except (EOFError, ValueError, IndexError, OverflowError, MemoryError, UnicodeDecodeError) as exc:
        raise WireError(f"malformed binary quote: {exc or type(exc).__name__}") from None
    if not isinstance(record, dict):
        raise WireError("malformed binary quote")
    return {k: iso_ms(v) if isinstance(v, dt.datetime) else v for k, v in record.items()}


def record_object(raw: bytes) -> dict[str, Any]:
    """A record's quote object in the JSON encoding's form, whichever encoding it came in
    (ValueError if it is in neither)."""
    if is_binary(raw):
        return decode(raw)
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise WireError(f"JSON {type(value).__name__}, not an object")
    return value


def to_quote(raw: bytes) -> Quote:
    """A record as a validated Quote, whichever encoding it came in (ValueError if it is not one)."""
    return Quote.model_validate(decode(raw)) if is_binary(raw) else Quote.model_validate_json(raw)


def render() -> str:
    return json.dumps(avro_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    from coinstream.platform.generated import write_generated

    write_generated(render)
