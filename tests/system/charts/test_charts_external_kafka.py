"""Bring-your-own Kafka in the charts: no Strimzi objects, the operator configured for external mode
with its own mounted copy of the client Secret, egress to the brokers and nothing else, and the
schema refusing an external Kafka without its bootstrap servers, Secret or broker addresses."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.chartlib import Helm, HelmError, by_kind_name, matches

from coinfeed_operator.builders import Owner, producer_deployment, spark_application
from coinfeed_operator.config import OperatorConfig
from coinstream.models import parse_coinfeed

PROFILE = "values-external-kafka.yaml"
SECRET = "kafka-client"  # noqa: S105 (the profile's Secret name)
STRIMZI_KINDS = {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"}


def _env(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return list(container["env"])


def test_the_platform_renders_no_strimzi_object(helm: Helm) -> None:
    kinds = {o["kind"] for o in helm.objects("coinstream", PROFILE)}
    assert not kinds & STRIMZI_KINDS
    assert {"Kafka", "KafkaNodePool"} <= {o["kind"] for o in helm.objects("coinstream")}  # the default has them


def test_kafka_pods_get_egress_to_the_brokers_only(helm: Helm) -> None:
    policies = [
        o
        for o in helm.objects("coinstream", PROFILE)
        if o["kind"] == "NetworkPolicy" and "external-kafka" in o["metadata"]["name"]
    ]
    assert len(policies) == 3
    for policy in policies:
        (rule,) = policy["spec"]["egress"]
        assert rule["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]
        assert rule["ports"] == [{"protocol": "TCP", "port": 9096}]
    # The selectors pick the pods the operator really builds, and the operator itself.
    feed = parse_coinfeed(
        {
            "apiVersion": "coinstream.io/v1alpha1",
            "kind": "CoinFeed",
            "metadata": {"name": "f"},
            "spec": {"coins": ["bitcoin"]},
        }
    )
    config = OperatorConfig(kafka_mode="external", kafka_client_secret=SECRET)
    owner = Owner("f", "coinstream", "uid")
    producer = producer_deployment(feed, owner, config)["spec"]["template"]["metadata"]["labels"]
    driver = {**spark_application(feed, owner, config)["spec"]["driver"]["labels"], "spark-role": "driver"}
    operator = helm.objects("coinstream-operator", PROFILE)
    op_labels = by_kind_name(operator, "Deployment", "coinstream-operator")["spec"]["template"]["metadata"]["labels"]
    selected = {
        name: [p["metadata"]["name"] for p in policies if matches(p["spec"]["podSelector"], labels)]
        for name, labels in {"producer": producer, "driver": driver, "operator": op_labels}.items()
    }
    assert all(len(v) == 1 for v in selected.values()), selected


def test_external_kafka_needs_the_brokers_addresses(helm: Helm) -> None:
    with pytest.raises(HelmError, match=r"kafka\.external\.cidrs"):
        helm.template("coinstream", PROFILE, ["kafka.external.cidrs=null"])
    # Without NetworkPolicies there is nothing to open.
    assert helm.objects("coinstream", PROFILE, ["kafka.external.cidrs=null", "networkPolicy.enabled=false"])


def test_the_operator_runs_in_external_mode_with_its_own_mounted_secret(helm: Helm) -> None:
    deployment = by_kind_name(helm.objects("coinstream-operator", PROFILE), "Deployment", "coinstream-operator")
    env = _env(deployment)
    names = [e["name"] for e in env]
    assert names.count("COINSTREAM_OPERATOR_KAFKA_BOOTSTRAP") == 1
    values = {e["name"]: e.get("value") for e in env}
    # The operator's own settings class accepts exactly what the chart sets.
    settings = {
        k.removeprefix("COINSTREAM_OPERATOR_").lower(): v
        for k, v in values.items()
        if k.startswith("COINSTREAM_OPERATOR_")
    }
    config = OperatorConfig(**settings)
    assert config.external_kafka and config.kafka_client_secret == SECRET
    assert config.kafka_bootstrap.startswith("b-1.coinstream.abc123") and config.kafka_bootstrap.endswith(":9096")
    assert str(config.kafka_client_dir) == "/etc/coinstream/kafka-client"
    pod = deployment["spec"]["template"]["spec"]
    assert {"name": "kafka-client", "secret": {"secretName": "kafka-client", "defaultMode": 0o440}} in pod["volumes"]
    (container,) = pod["containers"]
    assert {"name": "kafka-client", "mountPath": "/etc/coinstream/kafka-client", "readOnly": True} in container[
        "volumeMounts"
    ]
    # Mounted, never read into the environment.
    assert not [e for e in env if "valueFrom" in e]


def test_the_operator_may_log_in_as_a_principal_of_its_own(helm: Helm) -> None:
    objs = helm.objects("coinstream-operator", PROFILE, ["kafka.external.operatorSecret=kafka-admin"])
    deployment = by_kind_name(objs, "Deployment", "coinstream-operator")
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "kafka-client")
    assert volume["secret"]["secretName"] == "kafka-admin"
    # The feeds' pods still mount the feeds' Secret.
    assert {"name": "COINSTREAM_OPERATOR_KAFKA_CLIENT_SECRET", "value": SECRET} in _env(deployment)


def test_the_default_operator_stays_on_strimzi(helm: Helm) -> None:
    deployment = by_kind_name(helm.objects("coinstream-operator"), "Deployment", "coinstream-operator")
    values = {e["name"]: e.get("value") for e in _env(deployment)}
    assert "COINSTREAM_OPERATOR_KAFKA_MODE" not in values
    assert values["COINSTREAM_OPERATOR_KAFKA_BOOTSTRAP"] == "coinstream-kafka-bootstrap:9093"
    assert "kafka-client" not in {v["name"] for v in deployment["spec"]["template"]["spec"]["volumes"]}


@pytest.mark.parametrize(
    ("sets", "missing"),
    [
        (["kafka.external.enabled=true", "kafka.external.existingSecret=kafka-client"], "bootstrapServers"),
        (["kafka.external.enabled=true", "kafka.external.bootstrapServers=k:9092"], "existingSecret"),
    ],
)
def test_the_operator_chart_refuses_an_incomplete_external_kafka(helm: Helm, sets: list[str], missing: str) -> None:
    with pytest.raises(HelmError, match=missing):
        helm.template("coinstream-operator", None, sets)


def test_the_schema_refuses_a_bootstrap_without_ports(helm: Helm) -> None:
    with pytest.raises(HelmError, match="bootstrapServers"):
        helm.template("coinstream-operator", PROFILE, ["kafka.external.bootstrapServers=broker-without-port"])
