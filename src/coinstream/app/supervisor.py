"""Keep a set of processes running: restart with backoff when one dies, run one-shots until
they succeed, schedule periodic jobs, stop everything (whole process groups) on request.

Each unit is a child process in its own process group (a Spark job's JVM dies with
its driver) whose output goes to its own log file. The state of every unit
(pid, restarts, last exit, last error line) is what `coinstream up` shows and writes
to its status file; nothing here prints.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from coinstream.logs import get_logger

log = get_logger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM if the supervisor dies without stopping it (kill -9)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Kind(Enum):
    SERVICE = "service"  # runs until stopped; restarted whenever it exits
    ONESHOT = "oneshot"  # runs to success once; retried with backoff on failure
    PERIODIC = "periodic"  # a one-shot run again every `every` seconds


@dataclass
class Unit:
    name: str
    argv: Sequence[str]
    kind: Kind = Kind.SERVICE
    env: dict[str, str] = field(default_factory=dict)
    after: str | None = None  # start only once this one-shot unit has succeeded
    every: float = 0.0  # PERIODIC: seconds between the end of one run and the start of the next


@dataclass
class Backoff:
    """Delay before restart n (1-based): initial * factor^(n-1), capped; reset after a long run."""

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    healthy_after: float = 60.0

    def delay(self, failures: int) -> float:
        return min(self.cap, self.initial * self.factor ** max(0, failures - 1))


@dataclass
class UnitState:
    name: str
    kind: str
    state: str = "waiting"  # waiting | running | backoff | done | stopped
    pid: int | None = None
    starts: int = 0
    restarts: int = 0
    failures: int = 0
    successes: int = 0
    last_exit: int | None = None
    last_error: str = ""
    started_at: float | None = None
    next_start: float = 0.0
    log: str = ""


class Supervisor:
    def __init__(self, units: Sequence[Unit], log_dir: Path, *, backoff: Backoff | None = None,
                 cwd: Path | None = None, clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        names = [u.name for u in units]
        if len(set(names)) != len(names):
            raise ValueError(f"unit names must be unique: {names}")
        self.units = {u.name: u for u in units}
        self.log_dir = log_dir
        self.backoff = backoff or Backoff()
        self.cwd = cwd
        self.clock = clock
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self.states = {u.name: UnitState(u.name, u.kind.value, log=str(log_dir / f"{u.name}.log")) for u in units}
        self.stopping = False

    # -- one pass -------------------------------------------------------------------------------

    def step(self) -> None:
        """Reap what exited, then start what is due. Call every second or so."""
        with self._lock:
            now = self.clock()
            for name in list(self._procs):
                self._reap(name, now)
            if self.stopping:
                return
            for unit in self.units.values():
                st = self.states[unit.name]
                if unit.name in self._procs or st.state == "done" or now < st.next_start:
                    continue
                if unit.after and self.states[unit.after].successes == 0:
                    continue
                self._start(unit, now)

    def _start(self, unit: Unit, now: float) -> None:
        st = self.states[unit.name]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(st.log, "ab") as out:
            out.write(f"\n--- coinstream up: starting {unit.name} ({' '.join(unit.argv[:3])} ...)\n".encode())
            out.flush()
            proc = subprocess.Popen(
                list(unit.argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # only sets a signal; no locks taken
                env={**os.environ, **unit.env},
                cwd=self.cwd,
            )
        self._procs[unit.name] = proc
        if st.starts:
            st.restarts += 1
        st.starts += 1
        st.pid, st.state, st.started_at = proc.pid, "running", now
        log.info("up.unit_started", unit=unit.name, pid=proc.pid, start=st.starts)

    def _reap(self, name: str, now: float) -> None:
        proc = self._procs[name]
        code = proc.poll()
        if code is None:
            return
        del self._procs[name]
        # Whatever the leader left in its group (a Spark driver's JVM) must not outlive it: a
        # restarted stream job would otherwise meet the old one's JVM on the same checkpoint.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        unit, st = self.units[name], self.states[name]
        st.pid, st.last_exit = None, code
        ran = now - (st.started_at or now)
        if self.stopping:
            st.state = "stopped"
            return
        if code == 0 and unit.kind is not Kind.SERVICE:
            st.successes += 1
            st.failures = 0
            st.state = "done" if unit.kind is Kind.ONESHOT else "waiting"
            st.next_start = now + unit.every
            log.info("up.unit_succeeded", unit=name, seconds=round(ran, 1))
            return
        st.failures = 1 if ran >= self.backoff.healthy_after else st.failures + 1
        delay = self.backoff.delay(st.failures)
        st.state, st.next_start = "backoff", now + delay
        st.last_error = _last_line(Path(st.log)) or f"exit {code}"
        log.warning("up.unit_exited", unit=name, code=code, seconds=round(ran, 1), restart_in=delay,
                    error=st.last_error)  # fmt: skip

    # -- stop -----------------------------------------------------------------------------------

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM every process group, SIGKILL what is left after `timeout`; waits for all."""
        with self._lock:
            self.stopping = True
            procs = dict(self._procs)
        for proc in procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
        for proc in procs.values():
            # The group may outlive its leader (a JVM forked by the driver): kill the group anyway.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self.step()

    def pids(self) -> dict[str, int]:
        with self._lock:
            return {name: p.pid for name, p in self._procs.items()}


def _last_line(path: Path, limit: int = 8192) -> str:
    """The last non-empty line of a log (the usual place for the reason a process died)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    lines = [ln for ln in lines if not ln.startswith("--- coinstream up:")]
    return lines[-1][:300] if lines else ""
