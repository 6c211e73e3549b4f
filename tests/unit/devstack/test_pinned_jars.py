"""Downloaded jars and archives are the ones pinned in the repository, now and at every later use.

The real Kafka classpath (resolved from Maven Central into the cache) passes; a copy of it with a
jar swapped, added or removed is refused with the jar named; a cached archive whose bytes no
longer match its pinned SHA-256 is refused before it is unpacked.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from coinstream.cache import DownloadError, fetch
from coinstream.devstack.jars import JavaError, resolve_jars, sha256_of
from coinstream.devstack.kafka import KAFKA_VERSION


@pytest.fixture(scope="module")
def kafka_jars() -> Path:
    return resolve_jars("kafka", KAFKA_VERSION)  # verified against poms/kafka.lock: the allowed case


def _copy(src: Path, cache: Path) -> Path:
    dest = cache / "jars" / src.name
    shutil.copytree(src, dest)
    return dest


def test_a_swapped_added_or_missing_jar_is_refused(
    kafka_jars: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COINSTREAM_CACHE", str(tmp_path))
    copy = _copy(kafka_jars, tmp_path)
    assert resolve_jars("kafka", KAFKA_VERSION) == copy  # an intact copy is used as is

    victim = sorted(copy.glob("kafka-clients-*.jar"))[0]
    with victim.open("ab") as f:
        f.write(b"\0")
    with pytest.raises(JavaError, match=re.escape(victim.name) + r": sha256 [0-9a-f]{64} is not the pinned"):
        resolve_jars("kafka", KAFKA_VERSION)
    shutil.copy2(kafka_jars / victim.name, victim)

    (copy / "evil-1.0.jar").write_bytes(b"PK")
    with pytest.raises(JavaError, match=re.escape("unexpected jar evil-1.0.jar")):
        resolve_jars("kafka", KAFKA_VERSION)
    (copy / "evil-1.0.jar").unlink()

    victim.unlink()
    with pytest.raises(JavaError, match=re.escape(f"missing jar {victim.name}")):
        resolve_jars("kafka", KAFKA_VERSION)


def test_a_cached_archive_is_checked_again_before_use(tmp_path: Path) -> None:
    archive = tmp_path / "trino-server-core.tar.gz"
    archive.write_bytes(b"the pinned bytes")
    pinned = sha256_of(archive)
    assert fetch("https://unused.invalid/x", archive, sha256=pinned) == archive  # no download: it matches
    archive.write_bytes(b"something else")
    with pytest.raises(DownloadError, match="does not match the pinned sha256"):
        fetch("https://unused.invalid/x", archive, sha256=pinned)
