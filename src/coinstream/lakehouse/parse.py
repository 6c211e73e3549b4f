"""Kafka record → typed quote or a quarantine reason; never a silent drop.

The value is parsed with the schema derived from the Quote model (all fields
nullable, plus a corrupt-record column), then checked in a fixed order so every
bad record gets exactly one reason. Pure column expressions: no UDFs, no Python
round trips per row.
"""

from __future__ import annotations

from typing import Any

from coinstream.models.quote import SCHEMA_VERSION, Quote
from coinstream.models.spark import spark_schema

CORRUPT = "_corrupt_record"
REQUIRED = ("coin_id", "symbol", "name", "vs_currency", "source", "source_ts", "ingest_ts", "feed", "origin")
KNOWN_SCHEMA_VERSIONS = (SCHEMA_VERSION,)

REASONS = (
    "empty_value",
    "oversized_value",
    "unparseable_timestamp",
    "malformed_json",
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


def reason_column(q: Any, raw: Any, future_tolerance_seconds: int) -> Any:
    """First failing check's reason, null when the record is a valid quote.

    Every check of a valid row is evaluated, so the checks that read the raw text (trim,
    character count, JSON path) sit behind a cheap test that only bad rows pass: `And`
    short-circuits.
    """
    from pyspark.sql import functions as F

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
    empty = raw.isNull() | (q.isNull() & (F.length(F.trim(raw)) == 0))
    oversized = (F.octet_length(raw) > MAX_VALUE_CHARS) & (F.length(raw) > MAX_VALUE_CHARS)
    # get_json_object(raw, '$') is null only when the text is not JSON at all: a corrupt
    # record that *is* JSON has a value of the wrong type (e.g. "price": "abc").
    return (
        F.when(empty, F.lit("empty_value"))
        .when(oversized, F.lit("oversized_value"))
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


def parse_records(kafka_df: Any, future_tolerance_seconds: int) -> Any:
    """Kafka rows → parsed columns + `reason` (+ lineage), one row per record."""
    from pyspark.sql import functions as F

    raw = F.col("value").cast("string")
    parsed = kafka_df.select(
        raw.alias("raw_value"),
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_ts"),
        F.from_json(
            raw,
            parse_schema(),
            {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT, "allowNonNumericNumbers": "true"},
        ).alias("q"),
    )
    q = F.col("q")
    with_reason = parsed.withColumn("reason", reason_column(q, F.col("raw_value"), future_tolerance_seconds))
    # Only the quarantine needs the raw text: dropping it from good rows halves what the
    # dedup shuffle and the batch cache carry.
    return with_reason.withColumn("raw_value", F.when(F.col("reason").isNotNull(), F.col("raw_value")))


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
