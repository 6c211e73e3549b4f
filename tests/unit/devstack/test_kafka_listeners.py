"""Where the local broker listens: clients on its one `host` (loopback unless a test names another
local address, such as the real node's bridge that pods reach), the controller on loopback only,
and never on every address."""

from __future__ import annotations

from pathlib import Path

import pytest

from coinstream.devstack.kafka import LocalKafka
from coinstream.devstack.process import ServiceError


def _props(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_loopback_by_default(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path, port=19092, controller_port=19093)
    props = _props(broker._write_config())
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert broker.bootstrap == "127.0.0.1:19092"


def test_clients_on_the_named_address_the_controller_on_loopback(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path, port=19092, controller_port=19093, host="10.99.0.1")
    props = _props(broker._write_config())
    assert props["listeners"] == "PLAINTEXT://10.99.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://10.99.0.1:19092"
    assert broker.bootstrap == "10.99.0.1:19092"
    # The certificate must name the address clients dial (they verify the hostname).
    assert broker.tls.ips == ("10.99.0.1",)


@pytest.mark.parametrize("wildcard", ["0.0.0.0", "::"])
def test_every_address_is_refused(tmp_path: Path, wildcard: str) -> None:
    with pytest.raises(ServiceError, match="one address"):
        LocalKafka(tmp_path, host=wildcard)._write_config()
