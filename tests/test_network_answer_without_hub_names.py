"""GET /Network lists the hubs the account may use. A hub without a usable name (left out,
null or a number: a broken or hostile server) was kept as one: picking a provider then
failed with a bare TypeError from joining the names for the message, or built URLs of a
hub called "None"; a group or project that is no JSON object failed with a bare
AttributeError. Such entries are skipped. A stdlib server on 127.0.0.1 port 0 answers the
login flow (reference §3.1)."""

from __future__ import annotations

import pytest
from local_http import Handler, serving

import jobarchive
from jobarchive.exceptions import IBMQProviderError


def _project(default: bool) -> dict:
    return {"projects": {"main": {"name": "main", "isDefault": default}}}


HUBS = [{"groups": {"open": _project(False)}},                  # no name
        {"name": None, "groups": {"open": _project(True)}},    # null
        {"name": 7, "groups": {"open": _project(False)}},      # a number
        {"name": "ibm-q", "groups": {"open": _project(False), "odd": "not a group",
                                     "odder": {"projects": {"p": ["not a project"]}}}}]


@pytest.fixture(scope="module")
def url():
    class Login(Handler):
        def _answer(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            base = f"http://127.0.0.1:{self.server.server_port}/api"
            self.reply(200, {"/api/version": {"api-auth": "0.1.0"},
                             "/api/users/loginWithToken": {"id": "access-token-n"},
                             "/api/users/me": {"id": "u", "urls": {"http": base}},
                             "/api/Network": HUBS}[self.path])

        do_GET = do_POST = _answer  # noqa: N815 - stdlib names

    with serving(Login) as server:
        yield f"http://127.0.0.1:{server.server_port}/api"


def test_hubs_without_a_name_are_skipped(url):
    provider = jobarchive.connect(url, "api-token-n")
    assert provider.credentials == {"hub": "ibm-q", "group": "open", "project": "main"}
    assert provider.projects == [("ibm-q", "open", "main")]


def test_asking_for_a_missing_hub_names_the_usable_ones(url):
    with pytest.raises(IBMQProviderError, match="Available: ibm-q/open/main"):
        jobarchive.connect(url, "api-token-n", hub="other")
