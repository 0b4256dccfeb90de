"""``connect(verify=..., proxies=...)`` hold even when the environment names a CA bundle
(REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE: conda, corporate and nix setups set them) or a proxy
(HTTP_PROXY): requests lets those override a session's own settings. Real sockets: a TLS
front (self-signed, made with openssl) and a forward proxy, both stdlib, before the
emulator."""

from __future__ import annotations

import http.client
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

import pytest
from local_http import serving

import jobarchive

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator


def _forwarder(upstream: str, seen: list[str]) -> type[BaseHTTPRequestHandler]:
    """A handler that passes each request on to ``upstream`` (or, for a proxy's absolute
    request target, to the URL it names) and its answer back."""
    base = urlsplit(upstream)

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            seen.append(f"{self.command} {self.path}")
            target = urlsplit(self.path)
            host, port = (target.hostname, target.port) if target.scheme else \
                (base.hostname, base.port)
            path = target.path + (f"?{target.query}" if target.query else "")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "connection", "proxy-connection")}
            conn = http.client.HTTPConnection(host, port, timeout=30)
            try:
                conn.request(self.command, path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
            finally:
                conn.close()
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.getheader("Content-Type") or "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _forward  # noqa: N815 - stdlib names

        def log_message(self, *args):
            return

    return Forward


def test_verify_holds_when_the_environment_names_another_ca_bundle(self_signed_cert, monkeypatch):
    import certifi

    cert, key = self_signed_cert
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())
    seen: list[str] = []
    with Emulator(seed_jobs=3, seed=1) as emu:
        with serving(_forwarder(emu.base_url, seen), tls=(cert, key)) as front:
            # The emulator behind the TLS front speaks plain http, as connect() warns.
            with pytest.warns(UserWarning, match="not encrypted"):
                provider = jobarchive.connect(f"https://127.0.0.1:{front.server_port}/api",
                                              emu.token, verify=str(cert), max_retries=0)
            assert len(provider.jobs(limit=None)) == 3
    assert "GET /api/version" in seen and "POST /api/users/loginWithToken" in seen


def test_proxies_hold_when_the_environment_names_another_proxy(monkeypatch):
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    seen: list[str] = []
    with Emulator(seed_jobs=3, seed=1) as emu:
        with serving(_forwarder(emu.base_url, seen)) as proxy:
            provider = jobarchive.connect(
                emu.url, emu.token, proxies={"http": f"http://127.0.0.1:{proxy.server_port}"},
                max_retries=0)
            assert len(provider.jobs(limit=None)) == 3
        assert f"GET {emu.url}/version" in seen and any("/Jobs/status/v/1" in s for s in seen)
