"""Process configuration from the environment (COINSTREAM_*), frozen once read.

The CoinFeed says *what* to track; Settings say *where this process runs*:
brokers, ports, cache and state dirs, and the CoinGecko key, which only ever
comes from the environment or a mounted Secret file.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COINSTREAM_", frozen=True, extra="ignore")

    cache_dir: Path = Field(default=Path.home() / ".cache" / "coinstream", alias="COINSTREAM_CACHE")
    state_dir: Path = Path(".state")
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    metastore_port: int = 9083
    trino_port: int = 8080
    hdfs_namenode_port: int = 8020
    hdfs_namenode_http_port: int = 9870
    hdfs_datanode_port: int = 9866
    hdfs_datanode_ipc_port: int = 9867
    hdfs_datanode_http_port: int = 9864
    metrics_port: int = 0
    log_level: str = "INFO"
    log_json: bool = False
    coingecko_api_key: SecretStr | None = None
    coingecko_api_key_file: Path | None = None
    coingecko_base_url: str | None = None
    http_connect_timeout: float = 3.05
    http_read_timeout: float = 10.0
    http_deadline: float = 120.0
    #: How long a stopping producer may spend delivering what it queued (below the pod's grace period).
    shutdown_grace_seconds: float = 25.0

    def api_key(self) -> SecretStr | None:
        """The key from the env, else from the Secret file the operator mounts."""
        if self.coingecko_api_key is not None:
            return self.coingecko_api_key
        if self.coingecko_api_key_file is not None:
            return SecretStr(self.coingecko_api_key_file.read_text().strip())
        return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
