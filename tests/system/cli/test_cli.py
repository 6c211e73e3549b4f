"""The CLI as a user runs it: separate processes, a real broker, a fake CoinGecko."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.support.fake_coingecko import FakeCoinGecko
from tests.support.kafka_topics import duplicates, read_all

from coinstream.devstack.process import free_port

ROOT = Path(__file__).resolve().parents[3]


def cli(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coinstream", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


@pytest.fixture
def stack_env(tmp_path):
    port = free_port()
    env = {
        "COINSTREAM_STATE_DIR": str(tmp_path / "state"),
        "COINSTREAM_KAFKA_PORT": str(port),
        "COINSTREAM_KAFKA_CONTROLLER_PORT": str(free_port()),
        "COINSTREAM_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
        "COINSTREAM_METASTORE_PORT": str(free_port()),  # 9083 may be another run's
    }
    yield env
    cli(env, "local", "down")


def test_local_up_is_idempotent_and_status_reports(stack_env):
    feed = str(ROOT / "examples" / "coinfeed-simulated.yaml")
    first = cli(stack_env, "local", "up", "-f", feed)
    assert first.returncode == 0, first.stderr
    assert "created topic coinstream.quotes.majors-sim" in first.stderr
    pid = Path(stack_env["COINSTREAM_STATE_DIR"], "kafka", "kafka.pid").read_text()
    second = cli(stack_env, "local", "up", "-f", feed)
    assert second.returncode == 0 and "created topic" not in second.stderr
    assert Path(stack_env["COINSTREAM_STATE_DIR"], "kafka", "kafka.pid").read_text() == pid
    status = cli(stack_env, "local", "status")
    assert "coinstream.quotes.majors-sim" in status.stdout and "yes" in status.stdout
    _assert_private_and_loopback(Path(stack_env["COINSTREAM_STATE_DIR"]))
    down = cli(stack_env, "local", "down")
    assert "kafka" in down.stderr
    assert "no" in cli(stack_env, "local", "status").stdout


def _assert_private_and_loopback(state: Path) -> None:
    """Everything under the state dir is the user's alone; every service listens on loopback."""
    from tests.support.sockets import beyond_loopback, listening

    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    shared = [
        f"{p.relative_to(state)} {stat.S_IMODE(p.lstat().st_mode):o}"
        for p in [state, *state.rglob("*")]
        if not p.is_symlink() and stat.S_IMODE(p.lstat().st_mode) & 0o077
    ]
    assert shared == [], f"state files readable by others: {shared[:10]}"
    pids = {name: int((state / name / f"{name}.pid").read_text().split()[0]) for name in ("kafka", "metastore")}
    for name, pid in pids.items():
        assert listening(pid), f"{name} listens nowhere"
        assert beyond_loopback(pid) == [], f"{name} listens beyond loopback: {beyond_loopback(pid)}"


def test_local_up_says_when_the_port_is_taken(stack_env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", int(stack_env["COINSTREAM_KAFKA_PORT"])))
        s.listen()
        res = cli(stack_env, "local", "up")
    assert res.returncode == 1
    assert f"port {stack_env['COINSTREAM_KAFKA_PORT']}" in res.stderr and "already in use" in res.stderr


def test_feed_once_backfill_and_watch_against_coingecko(stack_env, tmp_path):
    # One cache window for the whole test: the second producer must see the very snapshot the
    # first one produced, however long the backfill in between takes on a loaded machine.
    frozen = time.time()
    with FakeCoinGecko(plan="pro", api_key="CG-secret-pro-key", now=lambda: frozen) as fake:
        feed = tmp_path / "feed.yaml"
        feed.write_text(
            "apiVersion: coinstream.io/v1alpha1\nkind: CoinFeed\nmetadata: {name: gecko}\n"
            "spec:\n  coins: [bitcoin, ethereum, solana]\n  vsCurrencies: [usd, eur]\n"
            "  source: {type: coingecko, plan: pro}\n  pollIntervalSeconds: 30\n"
            "  backfill: {from: '2026-01-01', granularity: daily}\n"
        )
        env = {
            **stack_env,
            "COINSTREAM_COINGECKO_BASE_URL": fake.base_url,
            "COINSTREAM_COINGECKO_KEY_HOSTS": "127.0.0.1",
        }
        key_file = tmp_path / "apiKey"
        key_file.write_text("CG-secret-pro-key\n")
        env["COINSTREAM_COINGECKO_API_KEY_FILE"] = str(key_file)  # as the operator mounts the Secret
        assert cli(env, "local", "up").returncode == 0
        once = cli(env, "feed", "run", "-f", str(feed), "--once")
        assert once.returncode == 0, once.stderr
        assert "6 quote(s) produced" in once.stderr
        bf = cli(env, "backfill", "-f", str(feed))
        assert bf.returncode == 0, bf.stderr
        again = cli(env, "backfill", "-f", str(feed))
        assert "0 row(s) produced" in again.stderr
        watch = cli(env, "watch", "-f", str(feed), "--from-beginning", "--max", "5")
        # A restarted producer (new process) learns the newest live quote per series from the
        # topic's tail first: the cached snapshot it polls again is recognised, not re-sent.
        second_run = cli(env, "feed", "run", "-f", str(feed), "--once", "--no-ensure-topic")
    assert watch.returncode == 0 and len(watch.stdout.strip().splitlines()) == 5
    rows = read_all(env["COINSTREAM_KAFKA_BOOTSTRAP"], "coinstream.quotes.gecko")
    backfilled = [r for r in rows if r.value["origin"] == "backfill"]
    assert "0 quote(s) produced" in second_run.stderr, second_run.stderr
    assert len(rows) == 6 + len(backfilled) and len(backfilled) > 6 * 300
    assert duplicates(rows) == {}
    assert duplicates([r for r in rows if r.value["origin"] == "backfill"]) == {}
    for proc in (once, bf, again, watch, second_run):
        assert "CG-secret-pro-key" not in proc.stdout + proc.stderr, "the key never reaches output"
    for req in fake.requests:
        assert req.headers.get("x-cg-pro-api-key") == "CG-secret-pro-key" and "secret" not in req.path


def test_unknown_coin_fails_before_polling(stack_env, tmp_path):
    with FakeCoinGecko(plan="demo", api_key="k") as fake:
        feed = tmp_path / "feed.yaml"
        feed.write_text(
            "apiVersion: coinstream.io/v1alpha1\nkind: CoinFeed\nmetadata: {name: typo}\n"
            "spec: {coins: [bitcoin, etherium], source: {type: coingecko, plan: demo}}\n"
        )
        env = {
            **stack_env,
            "COINSTREAM_COINGECKO_BASE_URL": fake.base_url,
            "COINSTREAM_COINGECKO_API_KEY": "k",
            "COINSTREAM_COINGECKO_KEY_HOSTS": "127.0.0.1",
        }
        assert cli(env, "local", "up").returncode == 0
        res = cli(env, "feed", "run", "-f", str(feed), "--once")
        assert res.returncode == 2 and "unknown CoinGecko coin ids: etherium" in res.stderr
        assert not fake.calls("/coins/markets")
