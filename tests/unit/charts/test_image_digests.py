"""Image digests: the check flags every unpinned image of the production profile; `pin` fills them
from a registry speaking the OCI distribution API (a local one here: the real ones are offline)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[3]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("image_digests", REPO / "tools" / "image_digests.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _tool()


def digest_of(repo: str, tag: str) -> str:
    return "sha256:" + hashlib.sha256(f"{repo}:{tag}".encode()).hexdigest()


@pytest.fixture
def registry() -> Iterator[str]:
    """A registry that wants an anonymous bearer token, like Docker Hub and ghcr.io."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the token endpoint
            body = json.dumps({"token": "anon"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_HEAD(self) -> None:
            if self.headers.get("Authorization") != "Bearer anon":
                self.send_response(401)
                realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
                self.send_header("WWW-Authenticate", f'Bearer realm="{realm}",service="test"')
                self.end_headers()
                return
            _, _, repo_and_ref = self.path.partition("/v2/")
            repo, _, tag = repo_and_ref.partition("/manifests/")
            self.send_response(200)
            self.send_header("Docker-Content-Digest", digest_of(repo, tag))
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_check_flags_every_unpinned_image_of_the_production_profile() -> None:
    missing = tool.unpinned(REPO / "charts" / "coinstream", "values-production.yaml")
    assert any("apache/hadoop:3.5.0" in m for m in missing), missing
    assert any("postgres:17.6-bookworm" in m for m in missing), missing
    assert tool.main(["check", "--chart", str(REPO / "charts" / "coinstream"), "--profile", "values-production.yaml"])


def test_pin_resolves_digests_and_the_check_then_passes(tmp_path: Path, registry: str) -> None:
    chart = tmp_path / "coinstream"
    shutil.copytree(REPO / "charts" / "coinstream", chart, ignore=shutil.ignore_patterns("charts"))
    count = tool.pin(chart, "values-production.yaml", registry=registry, scheme="http")
    assert count >= 5
    overlay = (chart / tool.OVERLAY).read_text()
    assert overlay.startswith(tool.HEADER)
    assert digest_of("apache/hadoop", "3.5.0") in overlay  # the registry's answer, not a made-up value
    assert tool.unpinned(chart, "values-production.yaml") == []
    assert tool.main(["check", "--chart", str(chart), "--profile", "values-production.yaml"]) == 0


def test_docker_hub_defaults() -> None:
    assert tool.split_reference("postgres") == ("registry-1.docker.io", "library/postgres")
    assert tool.split_reference("apache/hadoop") == ("registry-1.docker.io", "apache/hadoop")
    assert tool.split_reference("ghcr.io/coinstream/notebook") == ("ghcr.io", "coinstream/notebook")
