"""The CoinFeed resource: what an investor asks coinstream to track.

This model is the single source of truth for the spec. The CRD's OpenAPI schema
(`make generate`), the CLI's `validate` and the operator all derive from it, so a
constraint added here is enforced the same way by `kubectl apply` and locally.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from coinstream.errors import UserInputError

API_GROUP = "coinstream.io"
API_VERSION = "v1alpha1"
KIND = "CoinFeed"
PLURAL = "coinfeeds"

#: CoinGecko caches /coins/markets answers for this long on the public and demo
#: plans; polling faster only re-reads the same snapshot.
SOURCE_CACHE_SECONDS = {"public": 60, "demo": 60, "pro": 20}
#: The first daily price CoinGecko has (bitcoin); nothing older exists anywhere.
EARLIEST_HISTORY = dt.date(2013, 4, 28)
#: Child objects are named `<feed>-producer`, `<feed>-backfill-<hash>`, and spark-operator
#: derives `<app>-driver` and `<app>-ui-svc` (a Service: DNS-1035, must start with a letter).
FEED_NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
FEED_NAME_MAX = 40
#: CoinGecko's own API hosts per plan: the only hosts an API key goes to unless the platform
#: administrator allows more (operator configuration, never the CoinFeed author).
COINGECKO_HOSTS = {"public": "api.coingecko.com", "demo": "api.coingecko.com", "pro": "pro-api.coingecko.com"}
OFFICIAL_KEY_HOSTS = ("api.coingecko.com", "pro-api.coingecko.com")


def key_url_pattern(hosts: tuple[str, ...] | list[str] = ()) -> str:
    """https://<one of the hosts>[:port][/path], nothing else (no user info, no other scheme).

    One regex for pydantic and CEL alike (CEL's url() functions cost too much for the CRD budget);
    the coinstream-crds chart appends the administrator's hosts (value `apiKeyHosts`) to the group.
    """
    alternatives = "|".join(h.lower().replace(".", "[.]") for h in (*OFFICIAL_KEY_HOSTS, *hosts))
    return f"^https://({alternatives})(:[0-9]+)?(/.*)?$"


def _cel(rule: str, message: str, field_path: str | None = None) -> dict[str, Any]:
    """A CRD `x-kubernetes-validations` entry, for rules that span fields.

    The API server enforces these (pydantic cannot run CEL); they live here so the model stays
    the single source of the CRD schema.
    """
    out = {"rule": rule, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    return out


CoinId = Annotated[
    str,
    Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9._-]*$", description="CoinGecko coin id"),
]
Currency = Annotated[str, Field(min_length=2, max_length=10, pattern=r"^[a-z]+$", description="CoinGecko vs_currency")]
_TRIGGER = re.compile(r"^([1-9][0-9]*) (second|seconds|minute|minutes)$")


class _Spec(BaseModel):
    """camelCase on the wire (like every Kubernetes object), snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class SecretKeyRef(_Spec):
    name: str = Field(
        min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", description="Secret name"
    )
    key: str = Field(default="apiKey", min_length=1, max_length=253, description="Key inside the Secret")


KEY_HOST_MESSAGE = (
    "baseUrl with apiKeySecretRef: the API key is sent only over https to CoinGecko "
    f"({', '.join(OFFICIAL_KEY_HOSTS)}) or to a host the platform administrator allows "
    "(coinstream-crds value apiKeyHosts and the operator's COINSTREAM_OPERATOR_API_KEY_HOSTS); "
    "remove baseUrl or ask an administrator to allow the host"
)


def key_host_allowed(url: str, allowed: tuple[str, ...] | list[str] = ()) -> bool:
    """May an API key go to `url`? https to a CoinGecko host or an administrator-allowed one."""
    return re.match(key_url_pattern(allowed), url) is not None


class SourceSpec(_Spec):
    """In a cluster the CoinGecko key can only come from a Secret (no env), hence the CEL rules.

    Whoever writes a CoinFeed picks `baseUrl`, but the key in the Secret belongs to the platform:
    the two together may only point at a host the administrator trusts (validation context
    `key_hosts`, from the operator's or the CLI's settings; the CRD carries the same list).
    """

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "self.type != 'coingecko' || self.plan == 'public' || has(self.apiKeySecretRef)",
                    "the demo and pro plans need an API key: set apiKeySecretRef "
                    "(a Secret in the CoinFeed's namespace), or use plan: public",
                    ".apiKeySecretRef",
                ),
                _cel(
                    "self.type == 'coingecko' || (!has(self.apiKeySecretRef) && !has(self.baseUrl))",
                    "a simulated source calls no API: remove apiKeySecretRef and baseUrl",
                    ".type",
                ),
                _cel(
                    f"!has(self.apiKeySecretRef) || !has(self.baseUrl) || self.baseUrl.matches('{key_url_pattern()}')",
                    KEY_HOST_MESSAGE,
                    ".baseUrl",
                ),
            ]
        }
    )

    type: Literal["coingecko", "simulated"] = Field(
        default="coingecko", description="Where quotes come from; `simulated` works offline"
    )
    plan: Literal["public", "demo", "pro"] = Field(
        default="demo", description="CoinGecko plan: picks the host, key header and history limit"
    )
    api_key_secret_ref: SecretKeyRef | None = Field(
        default=None, description="Secret holding the CoinGecko API key (sent as a header, never logged)"
    )
    base_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        max_length=2048,
        description="Override the API base URL (a proxy or a test server)",
    )
    seed: int = Field(default=42, ge=0, le=2**31 - 1, description="Simulator seed: same seed, same market")

    @model_validator(mode="after")
    def _key_only_to_allowed_hosts(self, info: ValidationInfo) -> SourceSpec:
        if self.api_key_secret_ref is None or self.base_url is None:
            return self
        allowed = tuple((info.context or {}).get("key_hosts", ()))
        if not key_host_allowed(self.base_url, allowed):
            raise ValueError(KEY_HOST_MESSAGE)
        return self


class BackfillSpec(_Spec):
    """CEL has no clock: a start in the future is caught by the operator (pydantic), not the API."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    # `format: date` fields are CEL timestamps.
                    f"self.from >= timestamp('{EARLIEST_HISTORY.isoformat()}T00:00:00Z')",
                    f"no market history exists before {EARLIEST_HISTORY.isoformat()}",
                    ".from",
                )
            ]
        }
    )

    from_: dt.date = Field(alias="from", description="First day of history to load (UTC)")
    granularity: Literal["auto", "daily", "hourly"] = Field(
        default="auto", description="auto: CoinGecko's own (daily beyond 90 days)"
    )

    @field_validator("from_")
    @classmethod
    def _not_future(cls, v: dt.date) -> dt.date:
        if v > dt.datetime.now(dt.UTC).date():
            raise ValueError("backfill start is in the future")
        if v < EARLIEST_HISTORY:
            raise ValueError(f"no market history exists before {EARLIEST_HISTORY.isoformat()}")
        return v


class KafkaSpec(_Spec):
    topic: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$",
        description="Topic name; default coinstream.quotes.<feed name>",
    )
    partitions: int = Field(default=3, ge=1, le=100, description="Partitions; quotes are keyed per coin")
    replicas: int = Field(default=1, ge=1, le=5, description="Replication factor")


class SinkSpec(_Spec):
    table: str = Field(
        default="coinstream.quotes",
        pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$",
        max_length=200,
        description="Iceberg table as namespace.table",
    )
    trigger: str = Field(
        default="10 seconds",
        pattern=_TRIGGER.pattern,
        description="Streaming micro-batch trigger, e.g. '10 seconds'",
    )

    @property
    def trigger_seconds(self) -> int:
        m = _TRIGGER.match(self.trigger)
        assert m is not None  # guaranteed by the pattern
        return int(m.group(1)) * (60 if m.group(2).startswith("minute") else 1)


def _require_source_in_cluster(schema: dict[str, Any]) -> None:
    """Locally the key may come from the environment; in a cluster only from a Secret. So the
    CRD makes `source` explicit: its default (coingecko/demo, no key) could never work there."""
    schema["properties"]["source"].pop("default", None)
    schema.setdefault("required", []).append("source")


class CoinFeedSpec(_Spec):
    model_config = ConfigDict(json_schema_extra=_require_source_in_cluster)

    coins: list[CoinId] = Field(
        min_length=1,
        max_length=250,
        description="CoinGecko coin ids to track",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    vs_currencies: list[Currency] = Field(
        default_factory=lambda: ["usd"],
        min_length=1,
        max_length=10,
        description="Quote currencies",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    source: SourceSpec = Field(default_factory=SourceSpec, description="Where quotes come from")
    poll_interval_seconds: int = Field(
        default=60, ge=5, le=3600, description="Seconds between live polls (the poll budget)"
    )
    backfill: BackfillSpec | None = Field(default=None, description="History to load once")
    kafka: KafkaSpec = Field(default_factory=KafkaSpec, description="The Kafka topic quotes go to")
    sink: SinkSpec = Field(default_factory=SinkSpec, description="The Iceberg table the stream writes")
    suspend: bool = Field(default=False, description="Stop producing and streaming, keep everything")

    @field_validator("coins", "vs_currencies")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        dupes = sorted({x for x in v if v.count(x) > 1})
        if dupes:
            raise ValueError(f"duplicate entries: {', '.join(dupes)}")
        return v

    def warnings(self) -> list[str]:
        """Spec choices that work but waste the poll budget."""
        out = []
        window = SOURCE_CACHE_SECONDS[self.source.plan]
        if self.source.type == "coingecko" and self.poll_interval_seconds < window:
            out.append(
                f"spec.pollIntervalSeconds={self.poll_interval_seconds} is below CoinGecko's "
                f"{window}s cache window on the {self.source.plan} plan: extra polls return the same "
                "snapshot (deduplicated, but they still cost API credits)"
            )
        return out


class ObjectMeta(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = Field(min_length=1, max_length=FEED_NAME_MAX, pattern=FEED_NAME_PATTERN)
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class CoinFeed(BaseModel):
    """The whole document, exactly as `kubectl apply -f` takes it."""

    model_config = ConfigDict(
        extra="allow",
        frozen=True,
        populate_by_name=True,
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    f"size(self.metadata.name) <= {FEED_NAME_MAX} && self.metadata.name.matches('{FEED_NAME_PATTERN}')",
                    f"metadata.name must be at most {FEED_NAME_MAX} characters of a-z, 0-9 and '-', "
                    "starting with a letter (child objects and Spark services derive their names from it)",
                )
            ]
        },
    )
    api_version: Literal["coinstream.io/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["CoinFeed"]
    metadata: ObjectMeta
    spec: CoinFeedSpec

    @model_validator(mode="before")
    @classmethod
    def _drop_status(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k != "status"}
        return data

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def topic(self) -> str:
        return self.spec.kafka.topic or f"coinstream.quotes.{self.metadata.name}"


class CoinFeedError(UserInputError):
    """A CoinFeed that cannot be used; the message names every bad field."""


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def parse_coinfeed(data: Any, origin: str = "<input>", key_hosts: tuple[str, ...] = ()) -> CoinFeed:
    """`key_hosts`: hosts besides CoinGecko's that may receive the API key (administrator's choice)."""
    if not isinstance(data, dict):
        raise CoinFeedError(f"{origin}: expected a CoinFeed mapping, got {type(data).__name__}")
    try:
        return CoinFeed.model_validate(data, context={"key_hosts": key_hosts})
    except ValidationError as exc:
        lines = [
            f"  {_loc(err['loc']) or '<root>'}: {err['msg']}"
            + (f" (got {err['input']!r})" if err["type"] not in {"missing"} and _short(err["input"]) else "")
            for err in exc.errors()
        ]
        raise CoinFeedError(f"{origin}: invalid CoinFeed\n" + "\n".join(lines)) from None


def _short(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and len(repr(value)) < 80


def load_coinfeed(path: str | Path, key_hosts: tuple[str, ...] = ()) -> CoinFeed:
    """Read the one CoinFeed in a YAML file (the same file `kubectl apply` takes)."""
    p = Path(path)
    try:
        docs = [d for d in yaml.safe_load_all(p.read_text()) if d is not None]
    except FileNotFoundError:
        raise CoinFeedError(f"{p}: no such file") from None
    except yaml.YAMLError as exc:
        raise CoinFeedError(f"{p}: not valid YAML: {exc}") from None
    feeds = [d for d in docs if isinstance(d, dict) and d.get("kind") == KIND]
    if len(feeds) != 1:
        raise CoinFeedError(f"{p}: expected exactly one document of kind CoinFeed, found {len(feeds)}")
    return parse_coinfeed(feeds[0], origin=str(p), key_hosts=key_hosts)
