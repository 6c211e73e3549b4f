"""How every coinstream Kafka client authenticates: one description, three dialects.

The live producer speaks librdkafka (confluent-kafka); the backfill, `watch`, topic admin and
the readers speak kafka-python; the stream speaks the Java client through Spark. All get their
settings from here, so a broker that asks for SASL_SSL with SCRAM-SHA-512 (Strimzi's secure
listener, `coinstream local up`'s broker) is met the same way by all of them, and the password
is read from a mounted Secret file or the environment only. A Kafka of the user's own (MSK,
Confluent, Redpanda) may ask for SCRAM-SHA-256 or PLAIN instead, and its settings come as one
mounted Secret (`from_client_dir`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from coinstream.errors import UserInputError
from coinstream.platform.secret_files import password_from

Protocol = Literal["PLAINTEXT", "SASL_SSL", "SSL"]
Mechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]
MECHANISM: Mechanism = "SCRAM-SHA-512"
PROTOCOLS: tuple[Protocol, ...] = ("PLAINTEXT", "SASL_SSL", "SSL")
MECHANISMS: tuple[Mechanism, ...] = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
_LOGIN_MODULES = {
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
}

#: The keys of a Kafka client Secret (bring-your-own Kafka), each one file when the Secret is
#: mounted as a directory. Only `username` and `password` are needed (for SASL_SSL); the rest
#: default to SASL_SSL, SCRAM-SHA-512 and the system's trusted CAs.
CLIENT_KEYS = ("security.protocol", "sasl.mechanism", "username", "password", "ca.crt")


class KafkaAuthError(UserInputError):
    """Kafka client settings that cannot work (e.g. SASL without a password)."""


_INCOMPLETE = (
    "Kafka SASL_SSL needs a user and a password: set COINSTREAM_KAFKA_SASL_USERNAME and "
    "COINSTREAM_KAFKA_SASL_PASSWORD_FILE (the KafkaUser's Secret, mounted), or the `username` "
    "and `password` keys of the Kafka client Secret (COINSTREAM_KAFKA_CLIENT_DIR)"
)


class KafkaAuth(BaseModel):
    model_config = ConfigDict(frozen=True)

    protocol: Protocol = "PLAINTEXT"
    mechanism: Mechanism = MECHANISM
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _complete(self) -> KafkaAuth:
        if self.protocol == "SASL_SSL" and (not self.username or self.password is None):
            raise KafkaAuthError(_INCOMPLETE)
        return self

    @classmethod
    def from_parts(
        cls,
        protocol: str,
        username: str | None,
        password: SecretStr | None,
        password_file: Path | None,
        ca_file: Path | None,
        mechanism: str = MECHANISM,
    ) -> KafkaAuth:
        password = password_from(password, password_file, "Kafka", KafkaAuthError)
        if protocol not in PROTOCOLS:
            raise KafkaAuthError(f"unknown Kafka security protocol {protocol!r}: use PLAINTEXT, SASL_SSL or SSL")
        if mechanism not in MECHANISMS:
            raise KafkaAuthError(
                f"unsupported Kafka SASL mechanism {mechanism!r}: use SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN"
            )
        if protocol == "SASL_SSL" and (not username or password is None):
            raise KafkaAuthError(_INCOMPLETE)
        return cls.model_validate(
            {
                "protocol": protocol,
                "mechanism": mechanism,
                "username": username,
                "password": password,
                "ca_file": ca_file,
            }
        )

    @classmethod
    def from_client_dir(cls, directory: Path) -> KafkaAuth:
        """A Kafka client Secret mounted as a directory (one file per key of CLIENT_KEYS).

        The bring-your-own-Kafka mode: pods and the operator read the same Secret, so the
        credentials never appear in a pod spec, an argument or the environment."""
        if not directory.is_dir():
            raise KafkaAuthError(f"the Kafka client directory {directory} does not exist (is the Secret mounted?)")

        def value(key: str, default: str | None = None) -> str | None:
            path = directory / key
            try:
                return path.read_text().strip() if path.exists() else default
            except OSError as exc:
                raise KafkaAuthError(f"cannot read {path}: {exc.strerror}") from None

        ca = directory / "ca.crt"
        return cls.from_parts(
            value("security.protocol", "SASL_SSL") or "SASL_SSL",
            value("username"),
            None,
            directory / "password" if (directory / "password").exists() else None,
            ca if ca.exists() else None,
            value("sasl.mechanism", MECHANISM) or MECHANISM,
        )

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
                sasl_mechanism=self.mechanism,
                sasl_plain_username=self.username,
                sasl_plain_password=self.password.get_secret_value(),
            )
        return out

    def librdkafka(self) -> dict[str, str]:
        """Properties of a librdkafka client (confluent-kafka's Producer): the live producer.

        Hostname verification is librdkafka's default; it is stated so no release can drop it.
        Without a CA file the wheel's statically linked OpenSSL probes the system's CA paths."""
        if not self.secure:
            return {}
        out = {"security.protocol": self.protocol, "ssl.endpoint.identification.algorithm": "https"}
        if self.ca_file is not None:
            out["ssl.ca.location"] = str(self.ca_file)
        if self.protocol == "SASL_SSL":
            assert self.password is not None and self.username is not None
            out.update({
                "sasl.mechanism": self.mechanism,
                "sasl.username": self.username,
                "sasl.password": self.password.get_secret_value(),
            })  # fmt: skip
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
            out["kafka.sasl.mechanism"] = self.mechanism
            # Spark redacts option values matching spark.redaction.regex ("password") in UIs and logs.
            module = _LOGIN_MODULES[self.mechanism]
            out["kafka.sasl.jaas.config"] = f'{module} required username="{user}" password="{pw}";'
        return out


def _jaas_quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
