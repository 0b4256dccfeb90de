"""A server's error text (the error body's message and code, a plain or HTML body, the
status line's reason) went verbatim into ApiError messages, which the CLI prints and
notebooks show: a hostile or broken server (or proxy) could send terminal escape sequences
(retitle the window, clear the screen, fake output) and line breaks that split a log line.
They are escaped at the one boundary. A stdlib server on 127.0.0.1 port 0, real sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from local_http import Handler, serving

from jobarchive.api import ApiClient
from jobarchive.exceptions import ApiError

ESC = "\x1b]0;owned\x07\x1b[2J\x1b[31m"
BODIES = {
    "json": ("application/json", json.dumps(
        {"error": {"message": f"{ESC}Job broken\nFAKE: all good\r", "code": f"E{ESC}1"}})),
    "text": ("text/plain", f"{ESC}upstream failed\x9b31m\nsecond line"),
    "html": ("text/html", f"<html><title>{ESC}Bad</title><body>{ESC}oops</body></html>"),
}


class _Hostile(Handler):
    def do_GET(self):  # noqa: N802 - stdlib name
        kind = self.path.split("/Jobs/")[1].split("/")[0]
        ctype, text = BODIES.get(kind, ("text/plain", ""))
        self.reply(400, text, ctype, reason=f"Bad {ESC}Request" if kind == "reason" else None)


@pytest.fixture(scope="module")
def client() -> Iterator[ApiClient]:
    with serving(_Hostile) as server:
        yield ApiClient(f"http://127.0.0.1:{server.server_port}/api", "access-token-x")


@pytest.mark.parametrize("kind", ["json", "text", "html", "reason"])
def test_control_characters_from_the_server_are_escaped_in_messages(client, kind):
    with pytest.raises(ApiError) as info:
        client.job_get(kind)
    message = str(info.value)
    assert message.isprintable(), repr(message)
    assert "400" in message
    if kind != "reason":
        assert "owned" in message  # the text itself is kept, only made harmless
