"""Monitoring in the operator chart: rules valid and unit-tested with promtool, objects rendered, dashboard sane."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml
from tests.support.chartlib import CHARTS, REPO, Helm

MONITORING = CHARTS / "coinstream-operator" / "files" / "monitoring"


def _promtool() -> Path:
    out = subprocess.run(
        ["bash", str(REPO / "tools" / "build.sh"), "promtool"], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"tools/build.sh promtool failed:\n{out.stderr[-3000:]}")
    return Path(out.stdout.strip().splitlines()[-1]) / "promtool"


def test_alert_rules_are_valid_and_fire_on_what_they_should() -> None:
    promtool = str(_promtool())
    check = subprocess.run([promtool, "check", "rules", "rules.yaml"], cwd=MONITORING, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 6 rules found" in check.stdout
    unit = subprocess.run(
        [promtool, "test", "rules", "rules_test.yaml"], cwd=MONITORING, capture_output=True, text=True
    )
    assert unit.returncode == 0, unit.stdout + unit.stderr
    assert "SUCCESS" in unit.stdout, unit.stdout


def test_every_alert_has_a_firing_and_a_quiet_rule_test() -> None:
    """promtool only runs the cases that exist: an alert without one would pass untested."""
    rules = yaml.safe_load((MONITORING / "rules.yaml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    cases = [
        c for t in yaml.safe_load((MONITORING / "rules_test.yaml").read_text())["tests"] for c in t["alert_rule_test"]
    ]
    fires = {c["alertname"] for c in cases if c["exp_alerts"]}
    quiet = {c["alertname"] for c in cases if not c["exp_alerts"]}
    assert alerts == fires, f"alerts without a firing case: {alerts - fires}"
    assert alerts == quiet, f"alerts without a case where they stay quiet: {alerts - quiet}"


def test_a_broken_rule_fails_promtool(tmp_path: Path) -> None:
    """The check above can fail: promtool rejects a rule with a bad expression."""
    rules = yaml.safe_load((MONITORING / "rules.yaml").read_text())
    rules["groups"][0]["rules"][1]["expr"] = "coinstream:feed_lag_seconds >"
    bad = tmp_path / "rules.yaml"
    bad.write_text(yaml.safe_dump(rules))
    check = subprocess.run([str(_promtool()), "check", "rules", str(bad)], capture_output=True, text=True)
    assert check.returncode != 0 and "FAILED" in check.stdout + check.stderr, check.stdout + check.stderr


def test_monitoring_objects_render_from_the_checked_files(helm: Helm) -> None:
    assert not [d for d in helm.objects("coinstream-operator") if d["kind"] in ("PrometheusRule", "PodMonitor")]
    docs = helm.objects("coinstream-operator", sets=["monitoring.enabled=true", "monitoring.labels.release=kps"])
    by_kind = {d["kind"]: d for d in docs}
    rule = by_kind["PrometheusRule"]
    assert rule["spec"] == yaml.safe_load((MONITORING / "rules.yaml").read_text()), "the rules promtool checked"
    assert rule["metadata"]["labels"]["release"] == "kps"
    pods = by_kind["PodMonitor"]["spec"]
    assert pods["selector"]["matchExpressions"] == [
        {"key": "app.kubernetes.io/component", "operator": "In", "values": ["producer", "stream"]}
    ]
    assert pods["podMetricsEndpoints"][0]["port"] == "metrics"
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"].endswith("-metrics"))
    selector = by_kind["ServiceMonitor"]["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items(), "the ServiceMonitor selects the metrics Service"
    dashboard = json.loads(by_kind["ConfigMap"]["data"]["coinstream-feeds.json"])
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in (
        "coinstream:feed_lag_seconds",
        "coinstream_delivery_errors_total",
        "coinstream_api_rate_limited_total",
        "coinstream_quarantined_records_total",
        "coinstream_gapfill_quotes_total",
    ):
        assert metric in exprs, metric
