"""CLI commands that need no services: validate and schema."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from coinstream.cli import app

ROOT = Path(__file__).resolve().parents[3]
runner = CliRunner()


def test_validate_ok_and_warns():
    res = runner.invoke(app, ["validate", "-f", str(ROOT / "examples" / "coinfeed-coingecko.yaml")])
    assert res.exit_code == 0, res.output
    assert "ok" in res.stdout and "coinstream.quotes.majors" in res.stdout


def test_validate_bad_file_exits_2_naming_fields(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: coinstream.io/v1alpha1\nkind: CoinFeed\nmetadata: {name: x}\n"
        "spec: {coins: [BTC], pollIntervalSeconds: 0}\n"
    )
    res = runner.invoke(app, ["validate", "-f", str(bad)])
    assert res.exit_code == 2
    assert "spec.coins[0]" in res.output and "spec.pollIntervalSeconds" in res.output


def test_schema_commands():
    res = runner.invoke(app, ["schema", "quote"])
    assert res.exit_code == 0 and json.loads(res.stdout)["title"] == "Quote"
    res = runner.invoke(app, ["schema", "spark"])
    assert "price DOUBLE NOT NULL" in res.stdout
    assert runner.invoke(app, ["schema", "avro"]).exit_code == 2


def test_the_packaged_demo_feed_is_the_example():
    from coinstream.app.demo import demo_feed
    from coinstream.models import load_coinfeed

    assert demo_feed() == load_coinfeed(ROOT / "examples" / "coinfeed-simulated.yaml")


def test_step_view_keeps_each_stage_as_a_line(capsys):
    from coinstream.app.demo import Step
    from coinstream.cli.progress import StepView

    with StepView() as view:
        view(Step("stack", "starting"))
        view(Step("stack", "up"))
        for n in (10, 20):
            view(Step("stream", f"{n} rows", n))
    assert [line for line in capsys.readouterr().err.splitlines() if line] == ["starting", "up", "20 rows"]
