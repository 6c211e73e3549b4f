"""`coinstream up`: the whole pipeline on one machine, kept running until stopped.

The local services (Kafka, the Hive metastore, optionally Trino) come up first. Then,
per feed, the backfill runs to success and the live producer starts after it; one
streaming job lands every feed's topic in Iceberg; table maintenance runs on a schedule.
Each is its own supervised process, restarted with backoff when it dies (the services
are watched and restarted too). The same commands run in the cluster as a Job,
Deployments, a SparkApplication and a scheduled SparkApplication.

What a user watches — per feed: the newest live quote, rows committed, freshness lag,
errors — is read from the lakehouse through the SQL layer, like the dashboard, and
written to `<state>/up/status.json` for scripts and tests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from coinstream.app.supervisor import Backoff, Kind, Supervisor, Unit, UnitState
from coinstream.devstack.process import ServiceError
from coinstream.devstack.stack import LocalStack
from coinstream.lakehouse.cli_args import config_to_argv
from coinstream.lakehouse.config import LakeConfig
from coinstream.lakehouse.job import JOBS_PACKAGE
from coinstream.logs import get_logger
from coinstream.models import CoinFeed
from coinstream.settings import Settings

log = get_logger(__name__)


@dataclass(frozen=True)
class UpOptions:
    maintain_every: float = 1800.0  # seconds between maintenance runs (0: never)
    trino: bool = False
    backoff: Backoff = field(default_factory=Backoff)
    stop_services: bool = True  # stop, on the way out, the services this run started
    start_attempts: int = 3  # tries to bring the local services up before giving up


@dataclass
class FeedStatus:
    feed: str
    source: str
    topic: str
    last_quote: str = ""
    last_quote_ts: str | None = None
    rows: int | None = None
    lag_s: float | None = None
    errors: int = 0
    last_error: str = ""


@dataclass
class UpStatus:
    at: str
    units: list[UnitState]
    feeds: list[FeedStatus]
    lakehouse: str = ""  # why the feed figures are missing, when they are

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def _sink(feed: CoinFeed) -> tuple[str, str]:
    namespace, _, table = feed.spec.sink.table.partition(".")
    return namespace, table


class Pipeline:
    """Start, tick, stop. `tick()` is cheap except when a service must be restarted."""

    def __init__(self, feeds: list[tuple[Path, CoinFeed]], settings: Settings, options: UpOptions | None = None):
        if not feeds:
            raise ValueError("give at least one CoinFeed")
        sinks = {_sink(f) for _, f in feeds}
        if len(sinks) != 1:
            raise ValueError(f"all feeds must write one table; got {sorted('.'.join(s) for s in sinks)}")
        self.feeds = feeds
        self.settings = settings
        self.options = options or UpOptions()
        self.stack = LocalStack(settings)
        self.home = self.stack.home / "up"
        self.status_file = self.home / "status.json"
        self._started_services: list[str] = []
        self.services: dict[str, UnitState] = {}
        self.supervisor: Supervisor | None = None
        self._engine: Any = None
        self._last_status: UpStatus | None = None

    # -- start ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Bring the local services up (idempotent), then hand the jobs to the supervisor."""
        before = {name for name, st in self.stack.status().items() if st.get("running")}
        for attempt in range(1, self.options.start_attempts + 1):
            try:
                self.stack.up([f for _, f in self.feeds], trino=self.options.trino)
                break
            except ServiceError as exc:  # a slow first start (a loaded machine): try again, then say why
                if attempt == self.options.start_attempts:
                    raise
                delay = self.options.backoff.delay(attempt)
                log.warning("up.services_start_failed", attempt=attempt, retry_in=delay, error=str(exc)[:300])
                time.sleep(delay)
        self._started_services = [n for n in self._service_names() if n not in before]
        for name in self._service_names():
            pid = self._component(name).service.pid()
            self.services[name] = UnitState(name, "local service", state="running", pid=pid, starts=1,
                                            log=str(self._component(name).service.log_file))  # fmt: skip
        self.home.mkdir(parents=True, exist_ok=True)
        self.supervisor = Supervisor(self.units(), self.home / "logs", backoff=self.options.backoff)
        if "maintain" in self.supervisor.states:  # the first run waits a full period: nothing to compact yet
            self.supervisor.states["maintain"].next_start = self.supervisor.clock() + self.options.maintain_every

    def _service_names(self) -> list[str]:
        return ["kafka", "metastore"] + (["trino"] if self.options.trino else [])

    def _component(self, name: str) -> Any:
        return getattr(self.stack, name)

    def lake_config(self, trigger: str) -> LakeConfig:
        namespace, table = _sink(self.feeds[0][1])
        topics = "|".join(re.escape(f.topic) for _, f in self.feeds)
        return LakeConfig(
            bootstrap=self.stack.bootstrap,
            topics=topics,
            warehouse=self.stack.warehouse,
            metastore_uri=self.stack.metastore.uri,
            namespace=namespace,
            table=table,
            checkpoint=(self.stack.home / "checkpoints" / f"{namespace}.{table}").as_uri(),
            trigger=trigger,
            master="local[2]",
            hadoop_conf=self.stack.hadoop_conf,
        )

    def units(self) -> list[Unit]:
        cli = [sys.executable, "-m", "coinstream"]
        bootstrap = self.stack.bootstrap
        env = {"COINSTREAM_KAFKA_BOOTSTRAP": bootstrap}
        out: list[Unit] = []
        for path, feed in self.feeds:
            f = str(path.resolve())
            out.append(Unit(f"backfill-{feed.name}", [*cli, "backfill", "-f", f, "--bootstrap", bootstrap],
                            Kind.ONESHOT, env))  # fmt: skip
            out.append(Unit(f"producer-{feed.name}", [*cli, "feed", "run", "-f", f, "--bootstrap", bootstrap],
                            Kind.SERVICE, env, after=f"backfill-{feed.name}"))  # fmt: skip
        stream = self.lake_config(self.feeds[0][1].spec.sink.trigger)
        out.append(Unit("stream", [sys.executable, "-m", f"{JOBS_PACKAGE}.stream_quotes", *config_to_argv(stream)]))
        if self.options.maintain_every > 0:
            maintain = self.lake_config("availableNow")
            argv = [sys.executable, "-m", f"{JOBS_PACKAGE}.maintain_tables", *config_to_argv(maintain)]
            out.append(Unit("maintain", argv, Kind.PERIODIC, every=self.options.maintain_every))
        return out

    # -- run ------------------------------------------------------------------------------------

    def tick(self) -> UpStatus:
        assert self.supervisor is not None, "start() first"
        self._watch_services()
        self.supervisor.step()
        status = self.status()
        tmp = self.status_file.with_suffix(".tmp")
        tmp.write_text(status.to_json())
        tmp.replace(self.status_file)
        return status

    def _watch_services(self) -> None:
        """A local service that died is started again (its data is on disk), with backoff."""
        now = time.monotonic()
        for name, st in self.services.items():
            component = self._component(name)
            pid = component.service.pid()
            if pid is not None:
                st.pid, st.state = pid, "running"
                continue
            if st.state == "running":
                st.failures += 1
                st.last_error = f"{name} died: {component.service.log_tail(1)[:200]}"
                st.state, st.next_start = "backoff", now + self.options.backoff.delay(st.failures)
                log.warning("up.service_died", service=name, restart_in=st.next_start - now)
            if now < st.next_start:
                continue
            try:
                st.pid = component.up()
                st.state, st.restarts, st.starts = "running", st.restarts + 1, st.starts + 1
                log.info("up.service_restarted", service=name, pid=st.pid)
            except Exception as exc:  # keep trying: the next tick backs off further
                st.failures += 1
                st.last_error = str(exc).splitlines()[0][:200]
                st.next_start = now + self.options.backoff.delay(st.failures)

    def status(self, *, lake: bool = True) -> UpStatus:
        assert self.supervisor is not None
        units = list(self.services.values()) + list(self.supervisor.states.values())
        feeds = [FeedStatus(f.name, f.spec.source.type, f.topic) for _, f in self.feeds]
        by_name = {s.feed: s for s in feeds}
        for st in self.supervisor.states.values():
            for prefix in ("backfill-", "producer-"):
                if st.name.startswith(prefix) and (fs := by_name.get(st.name[len(prefix) :])):
                    fs.errors += st.restarts + (1 if st.state == "backoff" and not st.restarts else 0)
                    fs.last_error = st.last_error or fs.last_error
        note = self._lake_figures(by_name) if lake else "stopped"
        maintain = self.supervisor.states.get("maintain")
        if (
            (note or not any(f.rows for f in feeds))
            and maintain is not None
            and maintain.state in ("waiting", "backoff")
        ):
            # Nothing to maintain before the first rows land: do not spend a Spark start on it.
            maintain.next_start = self.supervisor.clock() + self.options.maintain_every
        return UpStatus(dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), units, feeds, note)

    def _lake_figures(self, by_name: dict[str, FeedStatus]) -> str:
        """Rows, newest quote and lag per feed, from the table as committed (DuckDB over Iceberg)."""
        from coinstream.sql import DuckDBEngine
        from coinstream.sql.live import LiveQueries

        namespace, table = _sink(self.feeds[0][1])
        try:
            if self._engine is None:
                self._engine = DuckDBEngine(self.stack.metastore.uri, self.stack.warehouse, namespace=namespace,
                                            tables={"quotes": table},
                                            hadoop_conf=self.stack.pyiceberg_properties())  # fmt: skip
            else:
                self._engine.refresh()
            live = LiveQueries(self._engine)
            fresh, last = live.freshness(), live.last_quotes()
        except Exception as exc:  # no table before the first commit; metastore restarting
            self._close_engine()
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return f"lakehouse not readable yet: {first[:160]}"
        now = dt.datetime.now(dt.UTC)
        for row in fresh.itertuples(index=False):
            if (fs := by_name.get(str(row.feed))) is not None:
                fs.rows = (fs.rows or 0) + int(row.rows)
        for row in last.itertuples(index=False):
            if (fs := by_name.get(str(row.feed))) is not None:
                ts = row.source_ts.to_pydatetime()
                fs.last_quote = f"{row.coin_id} {float(row.price):,.6g} {row.vs_currency}"
                fs.last_quote_ts = ts.isoformat()
                fs.lag_s = (now - ts).total_seconds()
        return ""

    def _close_engine(self) -> None:
        if self._engine is not None:
            with contextlib.suppress(Exception):
                self._engine.close()
            self._engine = None

    # -- stop -----------------------------------------------------------------------------------

    def stop(self) -> list[str]:
        """Stop every job (process groups), then the services this run started; returns those."""
        if self.supervisor is not None:
            self.supervisor.stop()
        self._close_engine()
        stopped = []
        if self.options.stop_services:
            for name in reversed(self._service_names()):
                if name in self._started_services and self._component(name).down():
                    stopped.append(name)
        if self.supervisor is not None:
            self.status_file.write_text(self.status(lake=False).to_json())
        return stopped
