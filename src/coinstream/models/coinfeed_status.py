"""CoinFeed `.status`: what the operator observed, in the shape `kubectl` and dashboards expect.

Like the spec, this model is the source of the CRD's status schema, so the operator cannot
write a field the API server would prune.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

ConditionType = Literal["Ready", "Progressing", "Degraded", "DataFresh"]


class _Status(BaseModel):
    # extra="ignore": a status read back from an older operator must still parse.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class Condition(_Status):
    """metav1.Condition, the convention `kubectl wait --for=condition=Ready` relies on."""

    type: ConditionType
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    message: str = Field(default="", max_length=32768)
    last_transition_time: dt.datetime
    observed_generation: int | None = Field(default=None, ge=0)


class ChildNames(_Status):
    """Names of the objects this feed owns (all in the feed's namespace)."""

    topic: str | None = None
    config_map: str | None = None
    deployment: str | None = None
    backfill_job: str | None = None
    spark_application: str | None = None


class CoinFeedStatus(_Status):
    observed_generation: int | None = Field(default=None, ge=0)
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    children: ChildNames = Field(default_factory=ChildNames)
    coin_count: int | None = Field(default=None, ge=0, description="Coins tracked (printer column)")
    topic_ready: bool | None = Field(
        default=None, description="The KafkaTopic's Ready condition; with an external Kafka: its topics match the spec"
    )
    topics_held: bool | None = Field(
        default=None,
        description=(
            "With an external Kafka: this feed has made its topics, and keeps them against any other feed "
            "that would share them, whatever their creation times (which the API server keeps to the second)"
        ),
    )
    producer_available_replicas: int | None = Field(default=None, ge=0)
    spark_state: str | None = Field(default=None, description="SparkApplication applicationState.state")
    backfill_succeeded: bool | None = Field(
        default=None, description="The current backfill Job completed; it is not re-created"
    )

    def condition(self, type_: ConditionType) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)
