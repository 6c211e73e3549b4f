"""The supervisor on real (tiny) processes: restart with backoff, one-shots, order, periodic runs,
and a stop that leaves no process of any group behind."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from coinstream.app.supervisor import Backoff, Kind, Supervisor, Unit
from coinstream.devstack.process import pid_alive

PY = sys.executable


def run_until(sup: Supervisor, done: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, {n: s.state for n, s in sup.states.items()}
        sup.step()
        time.sleep(0.05)


def test_backoff_grows_and_caps() -> None:
    b = Backoff(initial=1, factor=2, cap=10)
    assert [b.delay(n) for n in (1, 2, 3, 4, 5, 9)] == [1, 2, 4, 8, 10, 10]


def test_a_killed_service_is_restarted_after_its_backoff(tmp_path: Path) -> None:
    sup = Supervisor([Unit("svc", [PY, "-c", "import time; time.sleep(60)"])], tmp_path,
                     backoff=Backoff(initial=0.5))  # fmt: skip
    try:
        run_until(sup, lambda: sup.states["svc"].state == "running")
        first = sup.states["svc"].pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        run_until(sup, lambda: sup.states["svc"].state == "backoff")
        waited = time.monotonic()
        run_until(sup, lambda: sup.states["svc"].restarts == 1 and sup.states["svc"].state == "running")
        assert time.monotonic() - waited >= 0.4  # it waited for its backoff, not at once
        assert sup.states["svc"].pid != first and sup.states["svc"].last_exit == -signal.SIGKILL
    finally:
        sup.stop(timeout=5)
    assert sup.states["svc"].state == "stopped"


def test_oneshot_retries_until_success_then_its_dependant_starts(tmp_path: Path) -> None:
    marker = tmp_path / "tries"
    flaky = f"import pathlib,sys; p=pathlib.Path({str(marker)!r}); n=len(p.read_text()) if p.exists() else 0; " \
            "p.write_text('x'*(n+1)); print('try', n+1); sys.exit(0 if n >= 2 else 3)"  # fmt: skip
    units = [
        Unit("load", [PY, "-c", flaky], Kind.ONESHOT),
        Unit("serve", [PY, "-c", "import time; time.sleep(60)"], after="load"),
    ]
    sup = Supervisor(units, tmp_path, backoff=Backoff(initial=0.1))
    try:
        sup.step()
        assert sup.states["serve"].state == "waiting"  # not before its one-shot succeeded
        run_until(sup, lambda: sup.states["serve"].state == "running")
        load = sup.states["load"]
        assert (load.state, load.starts, load.successes, load.last_exit) == ("done", 3, 1, 0)
        assert load.last_error == "try 2"  # the last line the failed run printed
    finally:
        sup.stop(timeout=5)


def test_periodic_unit_runs_again_after_its_period(tmp_path: Path) -> None:
    sup = Supervisor([Unit("tick", [PY, "-c", "pass"], Kind.PERIODIC, every=0.5)], tmp_path)
    began = time.monotonic()
    run_until(sup, lambda: sup.states["tick"].successes >= 3)
    assert time.monotonic() - began >= 1.0  # two full periods between three runs
    assert sup.states["tick"].failures == 0


def test_stop_kills_whole_process_groups(tmp_path: Path) -> None:
    # The unit forks a grandchild that ignores SIGTERM, like a JVM started by a driver.
    pidfile = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time; "
        "g = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)']); "
        f"open({str(pidfile)!r}, 'w').write(str(g.pid)); time.sleep(120)"
    )
    sup = Supervisor([Unit("driver", [PY, "-c", code])], tmp_path)
    run_until(sup, lambda: pidfile.exists() and pidfile.read_text() != "")
    leader, grandchild = sup.states["driver"].pid, int(pidfile.read_text())
    sup.stop(timeout=2)
    assert leader is not None and not pid_alive(leader)
    deadline = time.monotonic() + 5
    while pid_alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(grandchild), "a process of the unit's group outlived stop()"
