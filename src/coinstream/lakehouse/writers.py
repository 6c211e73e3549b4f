"""Who writes a table: a registry of stream writers in the Iceberg table's own properties.

Why: a writer may append its live rows without reading the table only if nobody
else can insert the same identities. Each stream (one checkpoint = one writer)
registers as `coinstream.writer.<id>` = {"since", "beat", "acks"} and beats every
minute from a driver thread. A writer whose peers beat within the dedup horizon
is *shared* and sends every row through a conflict-checked MERGE; alone, it is
*exclusive* and appends.

The hand-over is safe because a newcomer waits, before its first write, until
every running peer has acknowledged it (`acks`). A peer acknowledges while holding
its batch lock, so its exclusive batch in flight (if any) has committed before the
ack, and each batch after the ack reads the registry, sees the newcomer and goes
through the checked path. A peer that stopped beating (`beat` older than
ACK_HORIZON) has no batch in flight and is not waited for.

A batch decides from the registry as the driver thread last read it (every
POLL_SECONDS), not from a table load of its own: a newcomer is acknowledged by that
same thread, which publishes the registry it acknowledged from before it lets go
of the batch lock, so no batch after an ack can miss the newcomer.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from coinstream.logs import get_logger

log = get_logger(__name__)

PREFIX = "coinstream.writer."
BEAT_SECONDS = 60.0
#: A peer that beat within this long may have a batch in flight: wait for its ack.
ACK_HORIZON_SECONDS = 3 * BEAT_SECONDS
POLL_SECONDS = 2.0


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Entry:
    since: int
    beat: int
    acks: frozenset[str] = frozenset()
    running: bool = True

    def to_json(self) -> str:
        return json.dumps({"since": self.since, "beat": self.beat, "acks": sorted(self.acks), "running": self.running})

    @classmethod
    def parse(cls, text: str) -> Entry | None:
        try:
            raw = json.loads(text)
            acks = frozenset(str(a) for a in raw.get("acks", []))
            return cls(int(raw["since"]), int(raw["beat"]), acks, bool(raw.get("running", True)))
        except (ValueError, KeyError, TypeError):
            return None


def iceberg_table(spark: Any, name: str) -> Any:
    """The org.apache.iceberg.Table behind a catalog name (driver-side Java API)."""
    jvm = spark.sparkContext._jvm
    return jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, name)


def read_entries(table: Any) -> dict[str, Entry]:
    props = table.properties()
    out = {}
    for key in list(props.keySet()):
        if key.startswith(PREFIX):
            entry = Entry.parse(props.get(key))
            if entry is not None:
                out[key[len(PREFIX) :]] = entry
    return out


@dataclass
class Registration:
    """This writer's view of the registry; `lock` is held from a batch's mode decision to its commit."""

    spark: Any
    table_name: str
    writer: str
    horizon_seconds: float
    since: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    query: Any = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _last_beat: float = 0.0
    #: (table, its registry entries, monotonic time) as last loaded by `register` or `tick`;
    #: replaced, never mutated.
    _view: tuple[Any, dict[str, Entry], float] | None = None

    def table(self) -> Any:
        return iceberg_table(self.spark, self.table_name)

    def recent_table(self, max_age: float = 5 * POLL_SECONDS) -> Any:
        """The table as the registry thread last loaded it, or a fresh load if that is older than `max_age`."""
        assert self._view is not None, "register() first"
        table, _, at = self._view
        return table if time.monotonic() - at <= max_age else self.table()

    def _publish(self, table: Any) -> None:
        self._view = (table, read_entries(table), time.monotonic())

    def register(self) -> None:
        table = self.table()
        mine = read_entries(table).get(self.writer)
        self.since = mine.since if mine else now_ms()
        self._write(table, frozenset(mine.acks) if mine else frozenset())
        self._publish(table)

    def _write(self, table: Any, acks: frozenset[str], running: bool = True) -> None:
        entry = Entry(self.since, now_ms(), acks, running)
        table.updateProperties().set(PREFIX + self.writer, entry.to_json()).commit()
        self._last_beat = time.monotonic()

    def peers(self, entries: dict[str, Entry], horizon_seconds: float, running: bool = False) -> dict[str, Entry]:
        cutoff = now_ms() - int(horizon_seconds * 1000)
        return {
            w: e for w, e in entries.items() if w != self.writer and e.beat >= cutoff and (e.running or not running)
        }

    def shared(self) -> bool:
        """Has another writer been active within the dedup horizon? (Call under `lock`.)"""
        assert self._view is not None, "register() first"
        return bool(self.peers(self._view[1], self.horizon_seconds + BEAT_SECONDS))

    def wait_for_acks(self, timeout: float) -> None:
        """Block until every running peer acknowledged this writer (see module doc)."""
        deadline = time.monotonic() + timeout
        while True:
            running = self.peers(read_entries(self.table()), ACK_HORIZON_SECONDS, running=True)
            missing = [w for w, e in running.items() if self.writer not in e.acks]
            if not missing:
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"writers {missing} did not acknowledge writer {self.writer}")
            time.sleep(POLL_SECONDS)

    def tick(self) -> None:
        """Acknowledge new peers (under the batch lock) and beat when due."""
        table = self.table()
        entries = read_entries(table)
        mine = entries.get(self.writer)
        running = frozenset(self.peers(entries, ACK_HORIZON_SECONDS, running=True))
        unacked = running - (mine.acks if mine else frozenset())
        if unacked:
            with self.lock:
                self._write(table, (mine.acks if mine else frozenset()) | running)
                self._publish(table)  # before the lock goes: the next batch sees the newcomer
            log.info("acknowledged writers", writer=self.writer, peers=sorted(unacked))
            return
        if time.monotonic() - self._last_beat >= BEAT_SECONDS:
            self._write(table, mine.acks if mine else frozenset())
        self._publish(table)

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(POLL_SECONDS):
                try:
                    if self.query is not None and not self.query.isActive:
                        self._sign_off()
                        return
                    self.tick()
                except Exception as exc:  # a missed beat is retried; the stream goes on
                    log.warning("writer registry tick failed", writer=self.writer, error=str(exc)[:300])

        self._thread = threading.Thread(target=loop, name=f"coinstream-writer-{self.writer}", daemon=True)
        self._thread.start()

    def _sign_off(self) -> None:
        """A stopped writer has no batch in flight: newcomers need not wait for its ack."""
        table = self.table()
        mine = read_entries(table).get(self.writer)
        self._write(table, mine.acks if mine else frozenset(), running=False)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
