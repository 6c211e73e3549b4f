"""How every coinstream Kafka client authenticates: one description, two dialects.

The producer, the backfill and `watch` speak kafka-python; the stream speaks the Java client
through Spark. Both get their settings from here, so a broker that asks for SASL_SSL with
SCRAM-SHA-512 (Strimzi's secure listener, `coinstream local up`'s broker) is met the same way
by all of them, and the password is read from a mounted Secret file or the environment only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from coinstream.errors import UserInputError
from coinstream.platform.secret_files import password_from

Protocol = Literal["PLAINTEXT", "SASL_SSL", "SSL"]
MECHANISM = "SCRAM-SHA-512"


class KafkaAuthError(UserInputError):
    """Kafka client settings that cannot work (e.g. SASL without a password)."""


class KafkaAuth(BaseModel):
    model_config = ConfigDict(frozen=True)

    protocol: Protocol = "PLAINTEXT"
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _complete(self) -> KafkaAuth:
        if self.protocol == "SASL_SSL" and (not self.username or self.password is None):
            raise KafkaAuthError(
                "Kafka SASL_SSL needs a user and a password: set COINSTREAM_KAFKA_SASL_USERNAME and "
                "COINSTREAM_KAFKA_SASL_PASSWORD_FILE (the KafkaUser's Secret, mounted)"
            )
        return self

    @classmethod
    def from_parts(
        cls,
        protocol: str,
        username: str | None,
        password: SecretStr | None,
        password_file: Path | None,
        ca_file: Path | None,
    ) -> KafkaAuth:
        password = password_from(password, password_file, "Kafka", KafkaAuthError)
        if protocol not in ("PLAINTEXT", "SASL_SSL", "SSL"):
            raise KafkaAuthError(f"unknown Kafka security protocol {protocol!r}: use PLAINTEXT, SASL_SSL or SSL")
        return cls(protocol=protocol, username=username, password=password, ca_file=ca_file)

    @property
    def secure(self) -> bool:
        return self.protocol != "PLAINTEXT"

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for KafkaProducer / KafkaConsumer / KafkaAdminClient."""
        if not self.secure:
            return {}
        out: dict[str, Any] = {"security_protocol": self.protocol, "ssl_check_hostname": True}
        if self.ca_file is not None:
            out["ssl_cafile"] = str(self.ca_file)
        if self.protocol == "SASL_SSL":
            assert self.password is not None
            out.update(
                sasl_mechanism=MECHANISM,
                sasl_plain_username=self.username,
                sasl_plain_password=self.password.get_secret_value(),
            )
        return out

    def spark_options(self) -> dict[str, str]:
        """`kafka.*` options of Spark's Kafka source (the Java client; PEM trust store)."""
        if not self.secure:
            return {}
        out: dict[str, str] = {"kafka.security.protocol": self.protocol}
        if self.ca_file is not None:
            out["kafka.ssl.truststore.type"] = "PEM"
            out["kafka.ssl.truststore.location"] = str(self.ca_file)
        if self.protocol == "SASL_SSL":
            assert self.password is not None and self.username is not None
            user, pw = _jaas_quote(self.username), _jaas_quote(self.password.get_secret_value())
            out["kafka.sasl.mechanism"] = MECHANISM
            # Spark redacts option values matching spark.redaction.regex ("password") in UIs and logs.
            out["kafka.sasl.jaas.config"] = (
                f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{user}" password="{pw}";'
            )
        return out


def _jaas_quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
