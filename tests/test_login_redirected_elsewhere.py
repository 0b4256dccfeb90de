"""The login sends the API token in its body. A 307 or 308 answer to it (a hijacked or
misconfigured front end) made requests send the same body to wherever ``Location`` pointed:
another host got the API token, or plain http carried it in clear. ``/version`` is where an
auth URL's redirects are followed (``AuthClient.version``); a login redirected past it is
refused before the token leaves. Stdlib servers on 127.0.0.1 port 0, real sockets."""

from __future__ import annotations

import pytest
from local_http import Handler, serving

import jobarchive
from jobarchive.exceptions import ApiError

TOKEN = "api-token-never-elsewhere"


class _Capture(Handler):
    bodies: list[bytes] = []

    def do_POST(self):  # noqa: N802 - stdlib name
        self.bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.reply(200, {"id": "access-token-from-elsewhere", "ttl": 1209600})


def _front(code: int, elsewhere: int) -> type[Handler]:
    class Front(Handler):
        def do_GET(self):  # noqa: N802 - stdlib name
            self.reply(200, {"api-auth": "0.1.0"})

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(code)
            self.send_header("Location", f"http://localhost:{elsewhere}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Front


@pytest.mark.parametrize("code", [307, 308])
def test_a_login_redirected_to_another_host_does_not_send_the_token_there(code):
    _Capture.bodies = []
    with serving(_Capture) as elsewhere, serving(_front(code, elsewhere.server_port)) as front:
        with pytest.raises(ApiError, match="redirect") as info:
            jobarchive.connect(f"http://127.0.0.1:{front.server_port}/api", TOKEN,
                               max_retries=0)
    assert not any(TOKEN.encode() in body for body in _Capture.bodies), _Capture.bodies
    assert TOKEN not in str(info.value)
    assert f"localhost:{elsewhere.server_port}" in str(info.value)
