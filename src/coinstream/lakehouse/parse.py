"""Kafka record → typed quote or a quarantine reason; never a silent drop.

A value is either JSON (the documented event schema) or the binary encoding
(`coinstream.models.wire`: a marker byte, the schema version, Avro), told apart per
record by its first byte. JSON is parsed with the schema derived from the Quote model
(all fields nullable, plus a corrupt-record column), binary with the Avro schema derived
from the same model; both land in one struct and go through the same checks, in a fixed
order, so every bad record gets exactly one reason. Pure column expressions: no UDFs,
no Python round trips per row.
"""

from __future__ import annotations

from typing import Any

from coinstream.models.quote import SCHEMA_VERSION, Quote
from coinstream.models.spark import spark_schema
from coinstream.models.wire import HEADER, avro_schema, avro_schema_json

CORRUPT = "_corrupt_record"
REQUIRED = ("coin_id", "symbol", "name", "vs_currency", "source", "source_ts", "ingest_ts", "feed", "origin")
KNOWN_SCHEMA_VERSIONS = (SCHEMA_VERSION,)

REASONS = (
    "empty_value",
    "oversized_value",
    "unparseable_timestamp",
    "malformed_json",
    "malformed_binary",
    "invalid_type",
    "unknown_schema_version",
    "missing_field",
    "missing_price",
    "invalid_price",
    "future_timestamp",
    "ancient_timestamp",
)
#: A quote is a few hundred bytes; anything this large is not one (and is kept whole in quarantine).
MAX_VALUE_CHARS = 64 * 1024
#: How the quarantine keeps a record's bytes (column raw_encoding): JSON as its text, binary in base64.
RAW_TEXT, RAW_BASE64 = "text", "base64"
#: Nothing was priced before Bitcoin's genesis block; older times are corrupt data.
EARLIEST_TS = "2009-01-03 00:00:00"


def parse_schema() -> Any:
    from pyspark.sql import types as T

    schema = spark_schema(Quote, all_nullable=True)
    return T.StructType([*schema.fields, T.StructField(CORRUPT, T.StringType(), True)])


def _missing(q: Any, schema: Any) -> Any:
    """A required field is null, or an empty string.

    `octet_length` reads the string's byte count (no pass over its characters), and a
    timestamp or number is never empty: casting one to text only to measure it cost every
    row two timestamp formats.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    types = {f.name: f.dataType for f in schema.fields}
    missing = F.lit(False)
    for name in REQUIRED:
        missing = missing | q[name].isNull()
        if isinstance(types[name], T.StringType):
            missing = missing | (F.octet_length(q[name]) == 0)
    return missing


def _starts_with(value: Any, prefix: bytes) -> Any:
    from pyspark.sql import functions as F

    return F.startswith(value, F.lit(bytearray(prefix)))


def reason_column(q: Any, value: Any, binary: Any, future_tolerance_seconds: int) -> Any:
    """First failing check's reason, null when the record is a valid quote.

    Every check of a valid row is evaluated, so the checks that read the raw text (trim,
    character count, JSON path) sit behind a cheap test that only bad rows pass: `And`
    short-circuits. A binary record has no text checks: its timestamps and types are
    checked by the Avro decoding (a record it cannot decode is `malformed_binary`).
    """
    from pyspark.sql import functions as F

    raw = value.cast("string")

    def raw_field(name: str) -> Any:
        return F.get_json_object(raw, f"$.{name}" if name else "$")

    bad_ts = F.lit(False)
    for ts in ("source_ts", "ingest_ts"):
        # The parsed column first: And short-circuits, so valid rows never re-parse the JSON.
        bad_ts = bad_ts | (q[ts].isNull() & raw_field(ts).isNotNull())
    horizon = F.current_timestamp() + F.make_interval(secs=F.lit(future_tolerance_seconds))
    price = q["price"]
    version = q["schema_version"]
    # from_json gives a null struct for empty or blank text and nothing else; a character
    # count can only exceed the limit if the byte count does.
    empty = value.isNull() | (q.isNull() & ~binary & (F.length(F.trim(raw)) == 0))
    oversized = (F.octet_length(value) > MAX_VALUE_CHARS) & (binary | (F.length(raw) > MAX_VALUE_CHARS))
    # get_json_object(raw, '$') is null only when the text is not JSON at all: a corrupt
    # record that *is* JSON has a value of the wrong type (e.g. "price": "abc").
    return (
        F.when(empty, F.lit("empty_value"))
        .when(oversized, F.lit("oversized_value"))
        .when(binary & ~_starts_with(value, HEADER), F.lit("unknown_schema_version"))
        # from_avro answers a record it cannot decode with every field null, which a decoded
        # record never has (the schema's required fields are not unions with null).
        .when(binary & q[REQUIRED[0]].isNull(), F.lit("malformed_binary"))
        .when(bad_ts, F.lit("unparseable_timestamp"))
        .when(q[CORRUPT].isNotNull() & raw_field("").isNull(), F.lit("malformed_json"))
        .when(q[CORRUPT].isNotNull(), F.lit("invalid_type"))
        .when(version.isNotNull() & ~version.isin(*KNOWN_SCHEMA_VERSIONS), F.lit("unknown_schema_version"))
        .when(_missing(q, parse_schema()) | version.isNull(), F.lit("missing_field"))
        .when(price.isNull(), F.lit("missing_price"))
        .when(F.isnan(price) | (price <= 0) | (price == float("inf")), F.lit("invalid_price"))
        .when(q["source_ts"] > horizon, F.lit("future_timestamp"))
        .when(q["source_ts"] < F.to_timestamp(F.lit(EARLIEST_TS)), F.lit("ancient_timestamp"))
    )


def _reader_schema() -> str:
    """The Avro schema the stream reads binary records with: the writer's, plus the JSON
    decoder's corrupt-record column (always null), so both decoders give `q` one type."""
    import json

    schema = avro_schema()
    schema["fields"] = [*schema["fields"], {"name": CORRUPT, "type": ["null", "string"], "default": None}]
    return json.dumps(schema, sort_keys=True)


def parse_records(kafka_df: Any, future_tolerance_seconds: int) -> Any:
    """Kafka rows → parsed columns + `reason` (+ lineage), one row per record.

    Each record pays for one decoder (`when` evaluates one branch). JSON decoding gets a
    projection of its own, right over the Kafka rows: Spark compiles no whole-stage code for
    a projection that holds `from_json`, and the Avro decoding and the checks, with it, ran
    ~1 us a row slower. Referencing its column twice keeps Spark from merging it into the next.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.avro.functions import from_avro

    value = F.col("value")
    binary = F.coalesce(_starts_with(value, HEADER[:1]), F.lit(False))
    text = F.from_json(
        value.cast("string"),
        parse_schema(),
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT, "allowNonNumericNumbers": "true"},
    )
    with_text = kafka_df.select(
        value,
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_ts"),
        binary.alias("binary"),
        F.when(~binary, text).alias("text"),
    )
    body = F.substring(value, len(HEADER) + 1, 1 << 30)
    # from_avro's schema argument is the writer's; its `avroSchema` option the one to read as.
    avro = from_avro(body, avro_schema_json(), {"mode": "PERMISSIVE", "avroSchema": _reader_schema()})
    binary, decoded = F.col("binary"), F.col("text")
    parsed = with_text.select(
        *[c for c in with_text.columns if c != "text"],
        F.when(decoded.isNotNull(), decoded).when(_starts_with(value, HEADER), avro).alias("q"),
    )
    reason = reason_column(F.col("q"), value, binary, future_tolerance_seconds)
    with_reason = parsed.withColumn("reason", reason)
    # Only the quarantine needs the record's bytes: dropping them from good rows halves what
    # the dedup shuffle and the batch cache carry. Binary records are kept in base64 (lossless,
    # and the quarantine's column stays valid text for every engine).
    bad = F.col("reason").isNotNull()
    return with_reason.select(
        F.when(bad, F.when(binary, F.base64(value)).otherwise(value.cast("string"))).alias("raw_value"),
        F.when(bad, F.when(binary, F.lit(RAW_BASE64)).otherwise(F.lit(RAW_TEXT))).alias("raw_encoding"),
        *[c for c in with_reason.columns if c not in ("value", "binary")],
    )


def identity_key() -> Any:
    """Dedup key: the quote identity for valid rows, the Kafka position for quarantined ones
    (so two different bad records are never collapsed into one)."""
    from pyspark.sql import functions as F

    good = F.concat_ws(
        "|",
        F.col("q.vs_currency"),
        F.col("q.coin_id"),
        F.col("q.source"),
        F.unix_micros(F.col("q.source_ts")).cast("string"),
    )
    bad = F.concat_ws("|", F.lit("!"), F.col("kafka_topic"), F.col("kafka_partition"), F.col("kafka_offset"))
    return F.when(F.col("reason").isNull(), good).otherwise(bad)
