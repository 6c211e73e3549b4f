"""One root error, one CLI error boundary: exit 2 for bad input, 1 for runtime failures, no tracebacks."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

from typer.testing import CliRunner

import coinfeed_operator
import coinstream
from coinstream.cli import app
from coinstream.errors import CoinstreamError

ROOT = Path(__file__).resolve().parents[3]
runner = CliRunner()


def test_every_error_class_derives_from_the_root():
    own = []
    for pkg in (coinstream, coinfeed_operator):
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            own += [c for _, c in inspect.getmembers(module, inspect.isclass)
                    if c.__module__ == module.__name__ and issubclass(c, BaseException)]  # fmt: skip
    assert len(own) >= 15
    assert [c for c in own if not issubclass(c, CoinstreamError)] == []


def test_bad_input_exits_2_and_prints_user_text_literally():
    res = runner.invoke(app, ["schema", "[bold]avro[/bold]"])
    assert res.exit_code == 2
    assert "error: unknown schema '[bold]avro[/bold]'" in res.stderr
    assert "Traceback" not in res.output


def test_runtime_failure_exits_1_without_a_traceback(monkeypatch, tmp_path):
    """A source that cannot be reached is a runtime error: one line, exit 1, nothing else."""
    from coinstream.devstack.process import free_port

    monkeypatch.setenv("COINSTREAM_COINGECKO_BASE_URL", f"http://127.0.0.1:{free_port()}/api/v3")
    monkeypatch.setenv("COINSTREAM_HTTP_DEADLINE", "1")
    res = runner.invoke(
        app, ["backfill", "-f", str(ROOT / "examples" / "coinfeed-coingecko.yaml"), "--no-ensure-topic"]
    )
    assert res.exit_code == 1, res.output
    assert "\nerror: coins_list: connection" in res.stderr and "Traceback" not in res.output
    assert isinstance(res.exception, SystemExit)
