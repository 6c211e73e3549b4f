"""The producers' remembered partitioner sends every key where kafka-python's default would."""

from __future__ import annotations

from kafka.partitioner.default import DefaultPartitioner

from coinstream.ingest.kafka import KeyPartitioner


def test_same_partition_as_the_default_for_every_key_and_partition_count():
    default, ours = DefaultPartitioner(), KeyPartitioner(max_keys=50)
    keys = [f"{vs}:coin-{i}".encode() for vs in ("usd", "eur", "btc") for i in range(200)]
    for n in (1, 2, 3, 6, 7, 12):
        parts = list(range(n))
        for _ in range(2):  # the second pass is answered from memory (and past max_keys, refilled)
            assert [ours(k, parts, parts) for k in keys] == [default(k, parts, parts) for k in keys]


def test_a_keyless_record_goes_to_an_available_partition():
    assert KeyPartitioner()(None, [0, 1, 2], [2]) == 2
