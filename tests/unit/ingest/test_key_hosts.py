"""The CoinGecko key reaches only allowed hosts: never a CoinFeed's own host, never a redirect target.

Two real local HTTP servers: the first answers with a redirect to the second, which records the
headers it receives. Plain `requests` forwards the custom key header across that redirect (the
reproduction); the client's session does not.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from pydantic import SecretStr
from typer.testing import CliRunner

from coinstream.cli import app
from coinstream.ingest.sources.coingecko import CoinGeckoClient
from coinstream.ingest.sources.errors import KeyHostError
from coinstream.metrics import Metrics
from coinstream.models import CoinFeedError, parse_coinfeed

KEY = "CG-exfil-test-key"
HEADER = "x-cg-demo-api-key"


class Recorder:
    """A local server: GET /api/v3/ping -> 302 to `redirect_to` when set, else a CoinGecko-shaped
    answer (so a redirect to another path of the same server ends there)."""

    def __init__(self, redirect_to: str | None = None) -> None:
        self.redirect_to = redirect_to
        self.seen: list[dict[str, str]] = []
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                rec.seen.append({k.lower(): v for k, v in self.headers.items()})
                if rec.redirect_to is not None and self.path == "/api/v3/ping":
                    self.send_response(302)
                    self.send_header("Location", rec.redirect_to)
                    self.end_headers()
                    return
                body = json.dumps({"gecko_says": "(V3) To the Moon!"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/v3"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def servers() -> Iterator[tuple[Recorder, Recorder]]:
    target = Recorder()
    bouncer = Recorder(redirect_to=target.url + "/ping")
    yield bouncer, target
    bouncer.close()
    target.close()


def _client(base_url: str, key_hosts: tuple[str, ...] = ("127.0.0.1",)) -> CoinGeckoClient:
    return CoinGeckoClient(
        "demo", SecretStr(KEY), base_url, metrics=Metrics(), calls_per_minute=6000, deadline=3, key_hosts=key_hosts
    )


def test_plain_requests_leaks_the_key_on_a_cross_host_redirect(servers: tuple[Recorder, Recorder]) -> None:
    """The reproduction: what the client must prevent really happens with a plain session."""
    bouncer, target = servers
    requests.get(bouncer.url + "/ping", headers={HEADER: KEY}, timeout=3)
    assert target.seen[-1].get(HEADER) == KEY


def test_key_is_not_forwarded_to_the_redirect_target(servers: tuple[Recorder, Recorder]) -> None:
    bouncer, target = servers
    assert _client(bouncer.url).ping()  # the redirect is followed...
    assert bouncer.seen[0][HEADER] == KEY  # ...the allowed host got the key...
    assert len(target.seen) == 1 and HEADER not in target.seen[0]  # ...the other host did not


def test_key_is_kept_on_a_same_host_redirect() -> None:
    server = Recorder()
    server.redirect_to = server.url + "/ping?again=1"
    try:
        assert _client(server.url).ping()
        assert [h.get(HEADER) for h in server.seen] == [KEY, KEY]
    finally:
        server.close()


def test_key_refused_for_a_host_nobody_allowed(servers: tuple[Recorder, Recorder]) -> None:
    bouncer, _ = servers
    with pytest.raises(KeyHostError, match=re.escape("refusing to send the CoinGecko API key to http://127.0.0.1")):
        _client(bouncer.url, key_hosts=())
    assert bouncer.seen == []  # refused before any request
    with pytest.raises(KeyHostError, match=re.escape("evil.example")):
        _client("https://evil.example/api/v3", key_hosts=())
    with pytest.raises(KeyHostError, match="plan demo"):  # a demo key never goes to the pro host
        _client("https://pro-api.coingecko.com/api/v3", key_hosts=())
    with pytest.raises(KeyHostError):  # an allowed remote host still needs https
        _client("http://proxy.example/api/v3", key_hosts=("proxy.example",))
    # Allowed: the plan's own host, an administrator's https proxy; a keyless public client anywhere.
    _client("https://api.coingecko.com/api/v3", key_hosts=())
    _client("https://proxy.example/api/v3", key_hosts=("proxy.example",))
    CoinGeckoClient("public", None, "https://anywhere.example/api/v3", metrics=Metrics())


def _feed(base_url: str) -> dict[str, object]:
    source = {"type": "coingecko", "plan": "demo", "apiKeySecretRef": {"name": "cg"}, "baseUrl": base_url}
    return {"apiVersion": "coinstream.io/v1alpha1", "kind": "CoinFeed", "metadata": {"name": "f"},
            "spec": {"coins": ["bitcoin"], "source": source}}  # fmt: skip


def test_model_refuses_a_key_reference_with_an_unlisted_host() -> None:
    with pytest.raises(CoinFeedError, match="the API key is sent only over https to CoinGecko"):
        parse_coinfeed(_feed("https://evil.example/api/v3"))
    with pytest.raises(CoinFeedError, match="apiKeyHosts"):
        parse_coinfeed(_feed("http://api.coingecko.com/api/v3"))
    parse_coinfeed(_feed("https://pro-api.coingecko.com/api/v3"))
    parse_coinfeed(_feed("https://proxy.example/api/v3"), key_hosts=("proxy.example",))
    # Without a key reference any host is fine: nothing secret goes there.
    doc = _feed("https://evil.example/api/v3")
    del doc["spec"]["source"]["apiKeySecretRef"]  # type: ignore[index]
    doc["spec"]["source"]["plan"] = "public"  # type: ignore[index]
    parse_coinfeed(doc)


def test_validate_cli_refuses_and_admin_setting_allows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from coinstream.settings import get_settings

    path = tmp_path / "feed.yaml"
    path.write_text(yaml.safe_dump(_feed("https://proxy.example/api/v3")))
    get_settings.cache_clear()
    monkeypatch.delenv("COINSTREAM_COINGECKO_KEY_HOSTS", raising=False)
    refused = CliRunner().invoke(app, ["validate", "-f", str(path)])
    assert refused.exit_code == 2 and "administrator allows" in refused.output, refused.output
    monkeypatch.setenv("COINSTREAM_COINGECKO_KEY_HOSTS", "proxy.example")
    get_settings.cache_clear()
    try:
        allowed = CliRunner().invoke(app, ["validate", "-f", str(path)])
    finally:
        get_settings.cache_clear()
    assert allowed.exit_code == 0, allowed.output
