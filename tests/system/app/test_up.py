"""`coinstream up` for real, as a user runs it: a subprocess on a simulated feed.

It must land rows and keep them fresh, restart a child that is killed, run the
scheduled maintenance, and on SIGINT stop everything it started: no process left.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from coinstream.devstack.process import free_port, pid_alive

pytestmark = pytest.mark.integration

FEED = """
apiVersion: coinstream.io/v1alpha1
kind: CoinFeed
metadata:
  name: up-sim
spec:
  coins: [bitcoin, ethereum, litecoin]
  vsCurrencies: [usd]
  source: {{type: simulated, seed: 11}}
  pollIntervalSeconds: 5
  backfill: {{from: "{start}", granularity: daily}}
  kafka: {{partitions: 2}}
  sink: {{table: coinstream.quotes, trigger: "5 seconds"}}
"""


def wait_for(what: str, check: Callable[[], Any], timeout: float, proc: subprocess.Popen[bytes], log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"coinstream up exited ({proc.returncode}) while waiting for {what}:\n{tail(log)}")
        if result := check():
            return result
        time.sleep(1.0)
    raise AssertionError(f"no {what} after {timeout:.0f}s:\n{tail(log)}")


def tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except FileNotFoundError:
        return "(no output)"


def read_status(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def unit(status: dict[str, Any], name: str) -> dict[str, Any]:
    return next((u for u in status.get("units", []) if u["name"] == name), {})


def feed(status: dict[str, Any]) -> dict[str, Any]:
    return next(iter(status.get("feeds", [])), {})


def processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            found.append(f"{proc.name}: {cmd[:200]}")
    return found


@pytest.mark.timeout(1800)  # two Spark JVMs, Kafka and the metastore on 2 shared cores
def test_up_runs_supervises_and_stops_cleanly(tmp_path: Path) -> None:
    state = tmp_path / "state"
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(days=20)).date().isoformat()
    feed_file = tmp_path / "feed.yaml"
    feed_file.write_text(FEED.format(start=start))
    env = {
        **os.environ,
        "COINSTREAM_STATE_DIR": str(state),
        "COINSTREAM_KAFKA_PORT": str(free_port()),
        "COINSTREAM_KAFKA_CONTROLLER_PORT": str(free_port()),
        "COINSTREAM_METASTORE_PORT": str(free_port()),
        "COINSTREAM_TRINO_PORT": str(free_port()),
    }
    log = tmp_path / "up.out"
    status_file = state / "up" / "status.json"
    began = time.monotonic()
    with log.open("wb") as out:
        argv = [sys.executable, "-m", "coinstream", "up", "-f", str(feed_file), "--maintain-every", "60"]
        proc = subprocess.Popen(
            [*argv, "--refresh", "1"], stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        # Backfill (20 daily points x 3 coins) then live ticks, committed and fresh.
        def live_and_fresh() -> dict[str, Any] | None:
            s = read_status(status_file)
            f = feed(s)
            ok = f.get("rows") and f["rows"] > 60 and f.get("lag_s") is not None and f["lag_s"] < 60
            return s if ok else None

        s = wait_for("fresh live rows", live_and_fresh, 900, proc, log)
        first_rows, first_lag = feed(s)["rows"], feed(s)["lag_s"]
        fresh_s = time.monotonic() - began
        assert unit(s, "backfill-up-sim")["state"] == "done"
        assert unit(s, "stream")["state"] == "running"

        # Kill the live producer: the supervisor restarts it and rows keep coming.
        victim = unit(s, "producer-up-sim")["pid"]
        killed_at = dt.datetime.now(dt.UTC)
        os.kill(victim, signal.SIGKILL)

        def restarted() -> dict[str, Any] | None:
            u = unit(read_status(status_file), "producer-up-sim")
            return u if u.get("restarts", 0) >= 1 and u.get("state") == "running" and u.get("pid") != victim else None

        u = wait_for("producer restart", restarted, 120, proc, log)
        assert pid_alive(u["pid"]) and not pid_alive(victim)

        def newer_quote() -> dict[str, Any] | None:
            f = feed(read_status(status_file))
            ts = f.get("last_quote_ts")
            return f if ts and dt.datetime.fromisoformat(ts) > killed_at and f["rows"] > first_rows else None

        after = wait_for("quotes after the restart", newer_quote, 300, proc, log)

        # The scheduled maintenance (every 60 s here) ran to success at least once.
        def maintained() -> dict[str, Any] | None:
            m = unit(read_status(status_file), "maintain")
            return m if m.get("successes", 0) >= 1 else None

        wait_for("a maintenance run", maintained, 600, proc, log)
        s = read_status(status_file)
        pids = [u["pid"] for u in s["units"] if u.get("pid")]
        assert len(pids) >= 4  # kafka, metastore, producer, stream (maintain may be between runs)

        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=180)
        assert code == 0, tail(log)
        left = [p for p in pids if pid_alive(p)]
        assert not left, f"still running after SIGINT: {left}"
        assert not processes_mentioning(str(state)), processes_mentioning(str(state))
        final = read_status(status_file)
        assert {u["state"] for u in final["units"] if u["kind"] != "local service"} <= {"stopped", "done", "waiting"}
        print(
            f"\nup: fresh live rows after {fresh_s:.0f}s ({first_rows} rows, lag {first_lag:.0f}s); "
            f"producer restarted, {after['rows']} rows, lag {after['lag_s']:.0f}s; stopped cleanly"
        )
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for line in processes_mentioning(str(state)):
            os.kill(int(line.split(":")[0]), signal.SIGKILL)
