"""A login answer that cannot be read (cut in transit, a proxy's page instead of JSON) is
retried, as logging in twice is harmless, and is never reported as a bad API token
(emulator over real sockets; its clock is moved, not waited)."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive.exceptions import ApiIBMQProtocolError, IBMQAccountCredentialsInvalidToken

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator
TTL = 1209600  # seconds an access token lives (the login answer's `ttl`)
# Faults seed 13 at rate 0.5: the first login answer is cut, the next ones are whole.
CUT_ONCE = {"rate": 0.5, "kinds": ["garbled"], "endpoints": ["login"], "seed": 13}


def test_a_login_answer_cut_once_is_retried():
    with Emulator(seed_jobs=3, seed=1) as emu:
        emu.set_faults(CUT_ONCE)
        provider = jobarchive.connect(emu.url, emu.token, backoff_factor=0.0)
        assert len(provider.jobs(limit=None)) == 3
        assert emu.stats()["login"] == 2


@pytest.mark.parametrize("kind", ["malformed", "garbled"])
def test_a_login_answer_that_is_never_json_is_not_blamed_on_the_token(kind):
    with Emulator(seed_jobs=3, seed=1) as emu:
        emu.set_faults({"rate": 1.0, "kinds": [kind], "endpoints": ["login"], "seed": 2})
        with pytest.raises(ApiIBMQProtocolError) as info:
            jobarchive.connect(emu.url, emu.token, max_retries=2, backoff_factor=0.0)
        assert not isinstance(info.value, IBMQAccountCredentialsInvalidToken)
        message = str(info.value)
        assert "says nothing about the token" in message and "not JSON" in message
        assert emu.token not in message
        assert emu.stats()["login"] == 3  # retried


def test_a_login_again_after_expiry_whose_answer_is_cut_once_still_renews():
    with Emulator(seed_jobs=5, seed=1) as emu:
        provider = jobarchive.connect(emu.url, emu.token, backoff_factor=0.0)
        before = [j.job_id() for j in provider.jobs(limit=5)]
        emu.advance(TTL + 1)  # two weeks pass, on the server's clock and on the client's
        transport = provider.api_client.transport
        real = transport.clock
        transport.clock = lambda: real() + TTL + 1
        emu.set_faults(CUT_ONCE)
        emu.reset_stats()
        assert [j.job_id() for j in provider.jobs(limit=5)] == before
        assert emu.stats()["login"] == 2
