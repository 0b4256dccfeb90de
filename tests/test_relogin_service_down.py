"""The access token expires while the login service is down (5xx, unreachable, rate
limiting): the error says the login failed and why, counts as the server's failure, and
never tells the user to check an API token that is fine (emulator over real sockets; its
clock is moved, and backoff sleeps skipped, never waited)."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive import Archive
from jobarchive.exceptions import IBMQError, RequestsApiError

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator
TTL = 1209600  # seconds an access token lives (the login answer's `ttl`)
TOKEN_BLAME = "check that the API token is valid"


def _expire(emu, provider) -> None:
    emu.advance(TTL + 1)
    transport = provider.api_client.transport
    real = transport.clock
    transport.clock = lambda: real() + TTL + 1
    transport.sleep = lambda seconds: None


def _http_error(err: BaseException) -> RequestsApiError:
    while not isinstance(err, RequestsApiError):
        err = err.__cause__
    return err


@pytest.mark.parametrize("kind", ["503", "drop"])
def test_an_expired_token_with_the_login_service_down_is_not_blamed_on_the_token(kind):
    with Emulator(seed_jobs=3, seed=1) as emu:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=2)
        _expire(emu, provider)
        emu.set_faults({"rate": 1.0, "kinds": [kind], "endpoints": ["login"]})
        with pytest.raises(IBMQError) as info:
            provider.retrieve_job(emu.job_docs()[0]["id"])
        message = str(info.value)
        assert "logging in again failed" in message and TOKEN_BLAME not in message, message
        assert _http_error(info.value).status_code == (503 if kind == "503" else -1)
        assert emu.token not in message
        emu.set_faults(None)  # the service is back: the same provider logs in and goes on
        assert provider.retrieve_job(emu.job_docs()[0]["id"]).job_id()


def test_a_sync_whose_token_expires_during_a_login_outage_says_run_again(tmp_path):
    with Emulator(seed_jobs=5, seed_active=12, seed=2, time_scale=1e-6) as emu, \
            Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=1)
        assert arc.sync(provider, progress=False).pending == 12
        _expire(emu, provider)
        emu.set_faults({"rate": 1.0, "kinds": ["502"], "endpoints": ["login"]})
        with pytest.raises(IBMQError) as info:
            arc.sync(provider, progress=False, workers=2)
        message = str(info.value)
        assert "logging in again failed" in message and TOKEN_BLAME not in message, message
        assert "valid token" not in message


def test_a_deadline_passing_while_logging_in_again_is_still_a_timeout():
    # IBMQJob.wait_for_final_state(timeout=...) tells its timeout from other API errors by
    # the class (a TimeoutError): a re-login cut by the deadline must keep it.
    with Emulator(seed_jobs=3, seed=1) as emu:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=3)
        client = provider.api_client
        emu.advance(TTL + 1)
        transport = client.transport
        real, waited = transport.clock, [0.0]
        transport.clock = lambda: real() + TTL + 1 + waited[0]
        transport.sleep = lambda seconds: waited.__setitem__(0, waited[0] + seconds)
        transport.random = lambda: 0.5
        emu.set_faults({"rate": 1.0, "kinds": ["503"], "endpoints": ["login"]})
        with client.deadline(1.2), pytest.raises(TimeoutError):
            client.job_get(emu.job_docs()[0]["id"])
