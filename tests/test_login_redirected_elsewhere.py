"""The login sends the API token in its body. A 307 or 308 answer to it (a hijacked or
misconfigured front end) made requests send the same body to wherever ``Location`` pointed:
another host got the API token, or plain http carried it in clear. ``/version`` is where an
auth URL's redirects are followed (``AuthClient.version``); a login redirected past it is
refused before the token leaves. Stdlib servers on 127.0.0.1 port 0, real sockets."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import jobarchive
from jobarchive.exceptions import ApiError

TOKEN = "api-token-never-elsewhere"


class _Capture(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self):  # noqa: N802 - stdlib name
        self.bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        body = json.dumps({"id": "access-token-from-elsewhere", "ttl": 1209600}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        return


def _front(code: int, elsewhere: int) -> type[BaseHTTPRequestHandler]:
    class Front(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - stdlib name
            body = json.dumps({"api-auth": "0.1.0"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(code)
            self.send_header("Location", f"http://localhost:{elsewhere}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            return

    return Front


@pytest.mark.parametrize("code", [307, 308])
def test_a_login_redirected_to_another_host_does_not_send_the_token_there(code):
    _Capture.bodies = []
    elsewhere = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    front = ThreadingHTTPServer(("127.0.0.1", 0), _front(code, elsewhere.server_port))
    for server in (elsewhere, front):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ApiError, match="redirect") as info:
            jobarchive.connect(f"http://127.0.0.1:{front.server_port}/api", TOKEN,
                               max_retries=0)
    finally:
        for server in (elsewhere, front):
            server.shutdown()
            server.server_close()
    assert not any(TOKEN.encode() in body for body in _Capture.bodies), _Capture.bodies
    assert TOKEN not in str(info.value)
    assert f"localhost:{elsewhere.server_port}" in str(info.value)
