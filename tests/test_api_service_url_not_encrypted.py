"""Logged in over https, the client went wherever users/me's ``urls.http`` pointed: a plain
http URL (a misconfigured server) then carried the access token in clear on every call,
silently, while a redirect of the auth URL to plain http is refused
(``AuthClient.version``). It is not refused (a TLS front before the login alone is a known
setup, tests/test_connect_verify_and_proxies.py) but said. A stdlib https server
(self-signed, trusted through ``verify=``) answers the login; the API service it names is
the real emulator over plain http."""

from __future__ import annotations

import pytest
from local_http import Handler, serving

import jobarchive
from jobarchive.emulator import Emulator

ACCESS = "front-access-token-never-in-clear"


def test_an_api_service_url_on_plain_http_is_said(
        self_signed_cert):
    cert, key = self_signed_cert
    with Emulator(seed_jobs=1, seed=1) as emu:
        answers = {"/api/version": {"api-auth": "0.1.0"},
                   "/api/users/loginWithToken": {"id": ACCESS, "ttl": 1209600},
                   "/api/users/me": {"id": "u", "urls": {"http": emu.url}}}

        class Front(Handler):
            def _answer(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.reply(200, answers[self.path])

            do_GET = do_POST = _answer  # noqa: N815 - stdlib names

        with serving(Front, tls=(cert, key)) as front:
            try:
                with pytest.warns(UserWarning, match="not encrypted") as said:
                    jobarchive.connect(f"https://127.0.0.1:{front.server_port}/api", "api-token-1",
                                       verify=str(cert))
            except jobarchive.IBMQError:
                pass  # the emulator does not know the front's access token
        assert all(ACCESS not in str(w.message) for w in said)
        assert emu.url in str(said[0].message)
