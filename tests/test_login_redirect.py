"""An auth URL that redirects (http -> https, an old host name moved) still logs in: requests
resends a POST redirected by 301/302 as a GET without its body, so the login goes straight
to where ``/version`` was redirected (a stdlib redirector in front of the emulator, over
real sockets)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import jobarchive

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator


@pytest.mark.parametrize("code", [301, 302])
def test_connect_through_an_auth_url_that_redirects(code):
    seen: list[str] = []
    with Emulator(seed_jobs=4, seed=1) as emu:
        target = emu.base_url

        class Redirector(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _moved(self) -> None:
                seen.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(code)
                self.send_header("Location", f"{target}{self.path}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = _moved  # noqa: N815 - stdlib names

            def log_message(self, *args):
                return

        front = ThreadingHTTPServer(("127.0.0.1", 0), Redirector)
        threading.Thread(target=front.serve_forever, daemon=True).start()
        try:
            provider = jobarchive.connect(f"http://127.0.0.1:{front.server_port}/api",
                                          emu.token)
            assert len(provider.jobs(limit=None)) == 4
        finally:
            front.shutdown()
            front.server_close()
        assert seen == ["GET /api/version"]  # the API token never went to the old address
        assert emu.stats()["login"] == 1


def test_an_https_auth_url_redirected_to_plain_http_is_refused_before_the_token_is_sent(
        self_signed_cert):
    import ssl

    cert, key = self_signed_cert
    with Emulator(seed_jobs=1, seed=1) as emu:
        target = emu.base_url

        class Downgrader(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - stdlib name
                self.send_response(301)
                self.send_header("Location", f"{target}{self.path}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                return

        front = ThreadingHTTPServer(("127.0.0.1", 0), Downgrader)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        front.socket = context.wrap_socket(front.socket, server_side=True)
        threading.Thread(target=front.serve_forever, daemon=True).start()
        try:
            with pytest.raises(jobarchive.IBMQError, match="not encrypted") as info:
                jobarchive.connect(f"https://127.0.0.1:{front.server_port}/api", emu.token,
                                   verify=str(cert))
        finally:
            front.shutdown()
            front.server_close()
        assert emu.token not in str(info.value)
        assert "login" not in emu.stats()
